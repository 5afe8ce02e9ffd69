//! The plan: defaults, filters, bad input, modes and run order, resolved from real command lines.
use clap::Parser;
use shared::CATALOGUE;
use shared::binaries::SERVERS;

use super::*;
use crate::cli::Cli;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("runner").chain(args.iter().copied()))
}

fn plan(args: &[&str]) -> Result<Plan, PlanError> {
    Plan::resolve(&parse(args).expect("parses").run)
}

/// The flag clap names when it refuses a value.
fn refused_by_clap(args: &[&str]) -> String {
    parse(args).expect_err("clap refuses it").to_string()
}

#[test]
fn defaults_cover_every_server_and_benchmarked_endpoint() {
    let plan = plan(&["--rates", "1000,2000"]).expect("valid");
    assert_eq!(plan.servers, SERVERS);
    assert_eq!(plan.rates(), defaults::RATES);
    assert_eq!(plan.workers, [1]);
    assert_eq!(plan.duration, Duration::from_secs(10));
    assert_eq!(plan.warmup, Duration::from_secs(2));
    assert_eq!(plan.endpoints.len(), CATALOGUE.iter().filter(|e| e.benchmarked).count());
    assert!(plan.endpoints.iter().all(|e| e.name != "seed"));
    assert_eq!(plan.tests().len(), SERVERS.len() * 2 * plan.endpoints.len());
}

#[test]
fn no_rate_flags_run_the_study_and_rates_run_the_matrix_as_before() {
    let study = plan(&[]).expect("valid");
    let Mode::Study(ref plan_of_study) = study.mode else { panic!("no rate flags: the study, got {:?}", study.mode) };
    assert!(plan_of_study.repeat >= 3);
    let tests = study.tests();
    let searched = plan_of_study.capacity_endpoints.len();
    assert_eq!(searched, 2, "the two sleeps that hold a thread");
    assert_eq!(tests.len(), SERVERS.len() * (study.endpoints.len() - searched) * 3, "arm x cost endpoint x 3");
    let rate_of = |name: &str| tests.iter().find(|t| t.endpoint.name == name).map(|t| t.rate);
    assert_eq!(rate_of("simple_async_blocking"), None, "measured by its capacity");
    assert_eq!(rate_of("get_item_async_read"), Some(defaults::STUDY_COST_RATE));
    let searched: Vec<&str> = study.combinations().iter().map(|c| c.endpoint.name).collect();
    assert!(searched.iter().all(|name| ["simple_sync_threadpool", "simple_async_blocking"].contains(name)));
    assert_eq!(searched.len(), SERVERS.len() * 2);
    assert!(study.estimated_duration() <= Duration::from_secs(7 * 60), "{:?}", study.estimated_duration());
    assert!(study.describe().contains("capacity"), "{}", study.describe());
    let repeated = plan(&["--repeat", "5"]).expect("valid");
    assert_eq!(repeated.repeat(), 5, "--repeat raises the study's repeats");
    let matrix = plan(&["--rates", "500"]).expect("valid");
    assert!(matches!(matrix.mode, Mode::Matrix { .. }) && matrix.study().is_none());
}

#[test]
fn every_builtin_duration_parses() {
    for literal in [defaults::DURATION, defaults::PROBE_DURATION, defaults::TIMEOUT, defaults::PROBE_TIMEOUT] {
        assert!(crate::cli::positive_duration(literal).is_ok(), "{literal}");
    }
    let find_max = plan(&["--find-max"]).expect("valid");
    assert_eq!((find_max.duration, find_max.timeout), (Duration::from_secs(3), Duration::from_secs(2)));
    assert!(find_max.rates().is_empty() && find_max.tests().is_empty());
}

#[test]
fn filter_selects_by_path_prefix() {
    let db = plan(&["--filter", "/api/db"]).expect("valid");
    assert_eq!(db.endpoints.len(), 6);
    let read = plan(&["--filter", "/api/db/async/read"]).expect("valid");
    assert_eq!(read.endpoints.iter().map(|e| e.name).collect::<Vec<_>>(), ["get_item_async_read"]);
    let two = plan(&["--filter", "/api/simple/async/", "--filter", "/api/db/async/read"]).expect("valid");
    assert_eq!(two.endpoints.len(), 2);
}

#[test]
fn bad_input_is_rejected_with_what_to_change() {
    assert!(matches!(plan(&["--servers", "nginx"]), Err(PlanError::UnknownServer { .. })));
    assert!(matches!(plan(&["--filter", "/api/nothing"]), Err(PlanError::FilterMatchesNothing { .. })));
    assert!(matches!(plan(&["--filter", "api/db"]), Err(PlanError::FilterNotAPath { .. })));
    assert!(matches!(plan(&["--rates", "0"]), Err(PlanError::NonPositiveRate { rate: 0 })));
    assert!(refused_by_clap(&["--workers", "0"]).contains("--workers"));
    assert!(refused_by_clap(&["--duration", "ten"]).contains("not a duration"));
    assert!(refused_by_clap(&["--duration", "0s"]).contains("longer than zero"));
    assert!(refused_by_clap(&["--duration", "2days"]).contains("longer than a day"));
    assert!(matches!(plan(&["--host", "10.0.0.1"]), Err(PlanError::NotLoopback { .. })));
    assert!(plan(&["--host", "::1"]).is_ok());
    assert_eq!(plan(&["--host", "[::1]"]).map(|p| p.host), Ok(Some("::1".to_owned())));
    assert_eq!(plan(&[]).map(|p| p.host), Ok(None), "an address of its own per test");
    assert!(matches!(plan(&["--find-max", "--repeat", "3"]), Err(PlanError::RepeatWithSearch)));
    assert_eq!(plan(&["--warmup", "0"]).map(|p| p.warmup), Ok(Duration::ZERO));
    let message = plan(&["--filter", "/nope"]).expect_err("no match").to_string();
    assert!(message.contains("/api/db/async/read/{item_id}"), "{message}");
}

#[test]
fn what_cannot_run_is_refused_naming_the_flag() {
    let too_many = shared::config::MAX_WORKERS + 1;
    let message = refused_by_clap(&["--workers", &too_many.to_string()]);
    assert!(message.contains("--workers") && message.contains("1024"), "{message}");
    assert!(plan(&["--workers", &shared::config::MAX_WORKERS.to_string()]).is_ok());

    let zero_max = plan(&["--find-max", "--max-rate", "0"]).expect_err("no rate allowed");
    assert_eq!(zero_max, PlanError::NoMaxRate);
    assert!(zero_max.to_string().contains("--max-rate"));
    let inverted = plan(&["--find-max", "--start-rate", "500", "--max-rate", "100"]).expect_err("start above max");
    assert_eq!(inverted, PlanError::StartAboveMax { start: 500, max: 100 });
    assert!(inverted.to_string().contains("--start-rate 500") && inverted.to_string().contains("--max-rate 100"));
    let capped = plan(&["--find-max", "--start-rate", "50", "--max-rate", "400"]).expect("valid");
    assert_eq!(capped.search().map(|s| s.range), Some(Range::doubling(50, 400)));

    let short = plan(&["--duration", "1ns", "--rates", "10"]).expect_err("no request fits");
    assert!(matches!(short, PlanError::DurationTooShort { rate: 10, .. }), "{short:?}");
    assert!(short.to_string().contains("--duration"), "{short}");
    assert!(plan(&["--duration", "100ms", "--rates", "10"]).is_ok(), "one request at 10 req/s fits in 100 ms");
    let short_probe = plan(&["--find-max", "--duration", "1ms", "--start-rate", "100"]).expect_err("too short");
    assert!(matches!(short_probe, PlanError::DurationTooShort { rate: 100, .. }));

    let empty = plan(&["--servers", ""]).expect_err("no server named");
    assert!(matches!(empty, PlanError::NoServers { .. }) && empty.to_string().contains("--servers"), "{empty}");
}

#[test]
fn an_output_that_is_a_file_or_unwritable_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("results");
    std::fs::write(&file, "a file").expect("written");
    let mut plan = plan(&[]).expect("valid");
    plan.out = file.clone();
    let refused = plan.check_output().expect_err("a regular file");
    assert!(matches!(refused, PlanError::OutNotAFolder { .. }));
    assert!(refused.to_string().contains(&file.display().to_string()) && refused.to_string().contains("--out"));
    plan.out = file.join("below");
    assert!(matches!(plan.check_output(), Err(PlanError::OutNotAFolder { .. })), "below a regular file");
    plan.out = dir.path().join("new/deeper");
    assert_eq!(plan.check_output(), Ok(()));
    assert!(!plan.out.exists(), "the check creates nothing");
    // Root may write anywhere; a read-only folder is only refused for other users.
    if is_root() {
        return;
    }
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).expect("created");
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o500)).expect("chmod");
    plan.out = locked.join("out");
    assert!(matches!(plan.check_output(), Err(PlanError::OutNotWritable { .. })));
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|status| status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
}

#[test]
fn calibration_is_a_mode_of_its_own() {
    let cli = Cli::try_parse_from(["runner", "calibrate"]).expect("parses");
    let Some(crate::cli::Command::Calibrate(args)) = cli.command else { panic!("calibrate subcommand") };
    let plan = Plan::for_calibration(&args).expect("valid");
    assert!(plan.is_calibration());
    assert_eq!(plan.servers, [SERVERS[0]]);
    assert_eq!(plan.endpoints.iter().map(|e| e.name).collect::<Vec<_>>(), ["simple_noop"]);
    assert_eq!(plan.search().map(|s| s.range.start), Some(defaults::CALIBRATE_START_RATE));
}

#[test]
fn the_io_driver_axis_doubles_only_the_arms_that_take_a_driver() {
    let one = plan(&["--filter", "/api/db", "--rates", "2000"]).expect("valid");
    let both = plan(&["--filter", "/api/db", "--rates", "2000", "--io-drivers", "io_uring,epoll"]).expect("valid");
    let arms = |plan: &Plan| plan.arms().iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(arms(&one), ["axum", "tokio-per-core", "monoio-hyper/io_uring", "monoio/io_uring"]);
    assert_eq!(
        arms(&both),
        ["axum", "tokio-per-core", "monoio-hyper/io_uring", "monoio-hyper/epoll", "monoio/io_uring", "monoio/epoll"]
    );
    let per_server = |plan: &Plan, server: &str| plan.tests().iter().filter(|t| t.server == server).count();
    for server in SERVERS {
        let factor = if shared::binaries::arm(server).is_some_and(|a| a.takes_io_driver()) { 2 } else { 1 };
        assert_eq!(per_server(&both, server), factor * per_server(&one, server), "{server}");
    }
    assert_eq!(one.tests().len(), 4 * 6);
    assert_eq!(both.tests().len(), 6 * 6);
    assert!(both.describe().contains("36 tests = 6 arms"), "{}", both.describe());
    assert!(both.describe().contains("monoio/epoll"), "{}", both.describe());
    let epoll_only = plan(&["--servers", "axum,monoio", "--io-drivers", "epoll"]).expect("valid");
    assert_eq!(arms(&epoll_only), ["axum", "monoio/epoll"]);
    assert_eq!(plan(&[]).expect("valid").io_drivers, [IoDriver::IoUring], "io_uring only by default");
    let repeated = plan(&["--io-drivers", "epoll,io_uring,epoll"]).expect("valid");
    assert_eq!(repeated.io_drivers, [IoDriver::Epoll, IoDriver::IoUring], "given order, each once");
    let searches = plan(&["--find-max", "--servers", "monoio", "--io-drivers", "io_uring,epoll"]).expect("valid");
    let drivers: Vec<_> = searches.combinations().iter().map(|c| c.io_driver).collect();
    assert_eq!(drivers.len(), 2 * searches.endpoints.len());
    assert_eq!(drivers[..2], [Some(IoDriver::IoUring), Some(IoDriver::Epoll)], "drivers innermost");
}

#[test]
fn an_unknown_io_driver_is_refused_naming_the_flag() {
    let message = refused_by_clap(&["--io-drivers", "uring"]);
    assert!(message.contains("--io-drivers") && message.contains("io_uring"), "{message}");
    let error = parse(&["--io-drivers", "io_uring,uring"]).expect_err("refused");
    assert_eq!(error.exit_code(), 2);
}

#[test]
fn servers_alternate_innermost_and_duplicates_collapse() {
    let (first, second) = (SERVERS[0], SERVERS[1]);
    let servers = format!("{second},{first},{second}");
    let plan = plan(&["--servers", &servers, "--rates", "20", "10", "--filter", "/api/simple/async/"]).expect("valid");
    let order: Vec<(u32, &str)> = plan.tests().iter().map(|t| (t.rate, t.server)).collect();
    assert_eq!(order, [(10, second), (10, first), (20, second), (20, first)]);
    assert!(plan.describe().contains("4 tests"));
}

#[test]
fn attackers_are_named_or_absent_and_each_gets_a_request_per_second() {
    assert!(plan(&["--rates", "100"]).expect("valid").attackers.is_empty(), "no flag: the one local vegeta");
    let plan_of = |args: &[&str]| plan(args).map(|p| p.attackers.iter().map(ToString::to_string).collect::<Vec<_>>());
    assert_eq!(
        plan_of(&["--rates", "100", "--attackers", "local,bench@h2"]),
        Ok(vec!["local".into(), "bench@h2".into()])
    );
    assert_eq!(
        plan(&["--rates", "2", "--attackers", "h1,h2,h3"]),
        Err(PlanError::RateBelowAttackers { rate: 2, attackers: 3 })
    );
    let loopback = plan(&["--rates", "100", "--host", "127.0.0.1", "--attackers", "h1"]);
    assert!(matches!(loopback, Err(PlanError::LoopbackHostForRemoteAttackers { .. })), "{loopback:?}");
    assert!(plan(&["--rates", "100", "--host", "127.0.0.1", "--attackers", "local"]).is_ok(), "local reaches it");
    let study = plan(&["--host", "127.0.0.1", "--attackers", "h1"]);
    assert!(matches!(study, Err(PlanError::LoopbackHostForRemoteAttackers { .. })), "the study checks too: {study:?}");
    let server_host = plan(&["--rates", "100", "--server-host", "127.0.0.1", "--attackers", "h1"]);
    assert!(matches!(server_host, Err(PlanError::LoopbackServerHostForRemoteAttackers { .. })), "{server_host:?}");
    let text = plan(&["--rates", "100", "--attackers", "local,h2"]).expect("valid").describe();
    assert!(text.contains("attackers: local, h2 (each rate split evenly between them)"), "{text}");
}
