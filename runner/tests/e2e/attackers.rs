//! Several attackers end to end: the real runner, with vegeta on hosts this test creates (`sshd` in network
//! namespaces, [`crate::common::netns`]), reached only over ssh, attacking a server on this machine's
//! address towards them. Needs root, like every namespace test (it fails, naming it, without).

use std::path::Path;
use std::time::{Duration, Instant};

use runner::model::{RunResults, TestStatus};
use runner::tools::vegeta::{INSTALL_COMMAND, Vegeta};

use super::{describe, only_run_dir, quiet_vegeta_cpus, run_runner, vegeta_report};
use crate::common::netns::TestHosts;

/// The vegeta the attackers run: this checkout's (the namespaces share its filesystem).
fn vegeta_path() -> String {
    let vegeta = Vegeta::locate(None).expect("vegeta is installed (scripts/install-vegeta.sh)");
    std::fs::canonicalize(vegeta.path()).expect("vegeta's path").display().to_string()
}

/// `--attackers` naming every test host, with the fixture's ssh config and vegeta's path there.
fn attacker_args(hosts: &TestHosts, count: usize) -> Vec<String> {
    let names: Vec<String> = (0..count).map(|i| hosts.address(i).to_string()).collect();
    vec![
        "--attackers".to_owned(),
        names.join(","),
        "--ssh-config".to_owned(),
        hosts.ssh_config().display().to_string(),
        "--attacker-vegeta".to_owned(),
        vegeta_path(),
    ]
}

fn run_with(out: &Path, base: &[&str], extra: &[String]) -> std::process::Output {
    let args: Vec<&str> = base.iter().copied().chain(extra.iter().map(String::as_str)).collect();
    run_runner(out, &args)
}

const SHORT: [&str; 10] =
    ["--servers", "axum", "--filter", "/api/simple/noop", "--warmup", "0", "--duration", "4s", "--no-html", "--no-pin"];

#[test]
fn two_attackers_at_half_the_rate_each_merge_to_the_total_count_and_rate() {
    let _quiet = quiet_vegeta_cpus();
    let hosts = TestHosts::create(2);
    let out = tempfile::tempdir().expect("temp dir");
    let output = run_with(out.path(), &[&SHORT[..], &["--rates", "200"]].concat(), &attacker_args(&hosts, 2));
    assert!(output.status.success(), "{}", describe(&output));
    let run_dir = only_run_dir(out.path());
    let results = RunResults::load(&run_dir).expect("results.json");
    let test = &results.tests[0];
    assert_eq!(test.status, TestStatus::Ok, "{:?}", test.failure);
    let metrics = test.metrics.as_ref().expect("metrics");
    assert_eq!(metrics.requests, 800, "200 req/s for 4 s, from two attackers at 100 each");
    let error = (metrics.send_rate_rps - 200.0).abs() / 200.0;
    let set = test.attack_set.as_ref().expect("an attack set");
    println!("send rate {:.2}/s, start spread {:?} ms: {set:?}", metrics.send_rate_rps, set.start_spread_ms);
    assert!(error < 0.01, "merged send rate {} is not within 1% of 200", metrics.send_rate_rps);
    assert_eq!(set.attackers.len(), 2);
    let server: std::net::SocketAddr = test.server_addr.as_deref().unwrap_or_default().parse().expect("ip:port");
    let in_test_range =
        matches!(server.ip(), std::net::IpAddr::V4(ip) if ip.octets()[0] == 198 && ip.octets()[1] & 0xfe == 18);
    assert!(in_test_range, "the server listened where the attackers reach it (198.18.0.0/15): {server}");
    for (i, attacker) in set.attackers.iter().enumerate() {
        assert_eq!((attacker.host.as_str(), attacker.rate), (hosts.address(i).to_string().as_str(), 100));
        assert_eq!((attacker.requests, attacker.status), (400, TestStatus::Ok), "{attacker:?}");
        assert!(attacker.clock_offset_uncertainty_ms < 1000.0 && attacker.cpu.value().is_some(), "{attacker:?}");
        let report = vegeta_report(&run_dir.join(&attacker.raw));
        assert_eq!(report["requests"], 400, "vegeta reads {}'s own results file", attacker.host);
    }
}

/// The pid of the vegeta attacking as `name` (its `-name` argument), polling until `deadline`.
fn attacker_vegeta(name: &str, deadline: Instant) -> Option<i32> {
    loop {
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline);
            if cmdline.split('\0').next().is_some_and(|bin| bin.ends_with("vegeta")) && cmdline.contains(name) {
                return Some(pid);
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_attacker_killed_mid_run_fails_its_test_by_name_and_the_run_goes_on() {
    let _quiet = quiet_vegeta_cpus();
    let hosts = TestHosts::create(2);
    let out = tempfile::tempdir().expect("temp dir");
    let victim = hosts.address(1).to_string();
    let killer = {
        let name = format!("axum_w1_simple_noop_100@{victim}");
        std::thread::spawn(move || {
            let pid = attacker_vegeta(&name, Instant::now() + Duration::from_secs(60))?;
            std::thread::sleep(Duration::from_secs(1));
            // SAFETY: kill only sends a signal, to the vegeta this test's runner started.
            (unsafe { libc::kill(pid, libc::SIGKILL) } == 0).then_some(pid)
        })
    };
    let output = run_with(out.path(), &[&SHORT[..], &["--rates", "100,120"]].concat(), &attacker_args(&hosts, 2));
    let killed = killer.join().expect("the killer thread ends");
    assert!(killed.is_some(), "the second attacker's vegeta was found and killed");
    assert!(output.status.success(), "{}", describe(&output));
    let results = RunResults::load(&only_run_dir(out.path())).expect("results.json");
    assert_eq!(results.tests.len(), 2, "the run went on to the next test");
    let (first, second) = (&results.tests[0], &results.tests[1]);
    assert_eq!(first.status, TestStatus::Failed);
    let failure = first.failure.as_deref().unwrap_or_default();
    assert!(failure.contains(&format!("attacker {victim} failed")), "{failure}");
    let set = first.attack_set.as_ref().expect("an attack set");
    assert_eq!((set.attackers[0].status, set.attackers[1].status), (TestStatus::Ok, TestStatus::Failed));
    assert_eq!(second.status, TestStatus::Ok, "{:?}", second.failure);
    assert_eq!(second.metrics.as_ref().map(|m| m.requests), Some(480));
}

#[test]
fn an_attacker_without_vegeta_exits_2_naming_the_install_command() {
    let hosts = TestHosts::create(1);
    let out = tempfile::tempdir().expect("temp dir");
    let mut args = attacker_args(&hosts, 1);
    args.truncate(4); // no --attacker-vegeta: the host's PATH has none
    let output = run_with(out.path(), &[&SHORT[..], &["--rates", "100"]].concat(), &args);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(INSTALL_COMMAND) && stderr.contains(&hosts.address(0).to_string()), "{stderr}");
    assert!(std::fs::read_dir(out.path()).map_or(0, Iterator::count) == 0, "nothing started: no run folder");
}
