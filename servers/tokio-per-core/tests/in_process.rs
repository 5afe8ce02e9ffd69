//! The server started in-process on port 0 and talked to over real sockets: what it reports, that its
//! workers are pinned where planned, and that a shutdown stops it. The HTTP contract itself is checked
//! against the real binary by the runner's conformance suite.

use std::time::Duration;

use clap::Parser;
use shared::ServerArgs;
use shared::api::Health;
use shared::client;

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Parser)]
struct TestCli {
    #[command(flatten)]
    server: ServerArgs,
}

#[test]
fn a_started_server_reports_itself_serves_and_stops() {
    let db = std::env::temp_dir().join(format!("tokio-per-core-test-{}.db", std::process::id()));
    let db_text = db.display().to_string();
    let args = TestCli::parse_from(["test", "--port", "0", "--workers", "2", "--db", &db_text]).server;
    let server = tokio_per_core_server::start(args).expect("server starts");
    let addr = server.local_addr();

    let health: Health =
        serde_json::from_slice(&client::get(addr, "/healthz", TIMEOUT).expect("health").body).expect("health JSON");
    assert_eq!((health.server.as_str(), health.io_driver.as_str(), health.workers), ("tokio-per-core", "epoll", 2));
    let allowed = shared::cpus::allowed_cpus().expect("affinity");
    let planned: Vec<_> = (0..2).filter_map(|index| shared::cpus::cpu_for_worker(&allowed, index)).collect();
    assert_eq!(server.worker_cpus(), planned);
    assert_eq!(client::get(addr, "/api/simple/sync_threadpool/3", TIMEOUT).expect("pooled sleep").status, 200);

    server.shutdown().expect("clean shutdown");
    assert!(client::get(addr, "/healthz", Duration::from_secs(1)).is_err(), "still answering after shutdown");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{db_text}{suffix}"));
    }
}
