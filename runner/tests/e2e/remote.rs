//! The ssh transport and the remote reader against real hosts: `sshd` in network namespaces this test
//! creates ([`crate::common::netns`]), reached only over ssh.

use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

use runner::sampling::account::{ProcessAccount, clock_ticks_per_second};
use runner::sampling::procfs::{LocalProc, ProcReader};
use runner::tools::remote::process::RemoteProcess;
use runner::tools::remote::procfs::RemoteProc;
use runner::tools::remote::{Ssh, SshError, SshHost, SshOptions, clock};

use crate::common::netns::TestHosts;

fn connect(hosts: &TestHosts, i: usize) -> Ssh {
    let host: SshHost = hosts.address(i).to_string().parse().expect("an address");
    let options = SshOptions { config: Some(hosts.ssh_config().to_owned()), ..SshOptions::default() };
    Ssh::connect(host, options).unwrap_or_else(|e| panic!("{e}"))
}

fn alive(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    !status.is_empty() && !status.contains("State:\tZ")
}

#[test]
fn commands_files_and_clocks_over_ssh() {
    let hosts = TestHosts::create(1);
    let names = hosts.names();
    // A control directory left by a killed process (the highest pid the kernel hands out: not running).
    let stale = Path::new("/tmp/rb-ssh-4194303-0");
    let _ = std::fs::create_dir(stale);
    {
        let ssh = connect(&hosts, 0);
        assert!(alive(4_194_303) || !stale.exists(), "a dead process's control directory is removed");
        // Quoting: every argument arrives as one word.
        let printed = ssh.run(&["printf", "%s|", "a b", "it's", "$(id)", ""], Duration::from_secs(10)).expect("runs");
        assert_eq!(printed, "a b|it's|$(id)||");
        let failed = ssh.run(&["sh", "-c", "echo nope >&2; exit 3"], Duration::from_secs(10));
        let Err(SshError::RemoteFailed { status, stderr, .. }) = failed else { panic!("{failed:?}") };
        assert!(status.contains('3') && stderr == "nope", "{status} {stderr}");
        // Copying a file back.
        let remote = hosts.dir().join("remote.txt");
        std::fs::write(&remote, "catalogue\n").expect("writes");
        let local = hosts.dir().join("fetched.txt");
        let bytes = ssh.fetch(&remote.display().to_string(), &local, Duration::from_secs(10)).expect("fetched");
        assert_eq!((bytes, std::fs::read_to_string(&local).expect("reads").as_str()), (10, "catalogue\n"));
        // Same machine, same clock: the offset is within its own bound (plus a little scheduling noise).
        let offset = clock::measure(&ssh, clock::ROUNDS).expect("measured");
        println!("{offset:?}");
        assert_eq!(offset.rounds, clock::ROUNDS);
        // Over one session: no shell start-up inside a round trip.
        assert!(offset.round_trip < Duration::from_millis(100), "{offset:?}");
        let bound = i64::try_from((offset.uncertainty + Duration::from_millis(1)).as_nanos()).expect("small");
        assert!(offset.offset_ns.abs() <= bound, "{offset:?}");
        // Multiplexed: a further command costs a round trip, not a handshake.
        ssh.multiplexed().expect("the master connection is up");
        let started = Instant::now();
        for _ in 0..5 {
            ssh.run(&["true"], Duration::from_secs(10)).expect("runs");
        }
        println!("5 commands in {:?}", started.elapsed());
    }
    drop(hosts);
    assert_all_gone(&names);
}

#[test]
fn bad_hosts_and_keys_are_told_apart() {
    let hosts = TestHosts::create(1);
    let options = SshOptions { config: Some(hosts.ssh_config().to_owned()), ..SshOptions::default() };
    // Nobody listens on .99 of the fixture's subnet.
    let nobody: SshHost = hosts.address(0).to_string().replace(".10", ".99").parse().expect("an address");
    let unreachable = Ssh::connect(nobody, SshOptions { connect_timeout: Duration::from_secs(1), ..options.clone() });
    assert!(matches!(unreachable, Err(SshError::Unreachable { .. })), "{unreachable:?}");
    // A key the host does not know.
    let other_key = hosts.dir().join("other_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key)
        .status()
        .expect("ssh-keygen");
    assert!(status.success());
    let config = std::fs::read_to_string(hosts.ssh_config()).expect("reads");
    let wrong = hosts.dir().join("wrong_config");
    std::fs::write(&wrong, config.replace(&hosts.key().display().to_string(), &other_key.display().to_string()))
        .expect("writes");
    let host: SshHost = hosts.address(0).to_string().parse().expect("an address");
    let refused = Ssh::connect(host, SshOptions { config: Some(wrong), ..options });
    let Err(error @ SshError::KeyRefused { .. }) = refused else { panic!("{refused:?}") };
    assert!(error.to_string().contains("--ssh-config"), "{error}");
}

#[test]
fn a_remote_process_has_its_pid_streams_stops_and_dies_with_its_handle() {
    let hosts = TestHosts::create(1);
    let ssh = connect(&hosts, 0);
    let script = "echo ready; echo oops >&2; trap 'echo stopping; exit 0' TERM; while :; do sleep 0.1; done";
    let process = RemoteProcess::spawn(&ssh, &["sh", "-c", script], Duration::from_secs(10)).expect("starts");
    let pid = process.remote_pid();
    // The namespaces share the pid namespace, so the test (not the runner) can look at the remote pid.
    assert!(alive(pid), "remote pid {pid} is a live process");
    assert!(in_namespace(pid, hosts.namespace(0)), "pid {pid} runs inside the namespace");
    let mut stdout = process.take_stdout().expect("stdout");
    let mut line = String::new();
    stdout.read_line(&mut line).expect("a line");
    assert_eq!(line, "ready\n");
    let status = process.stop(libc::SIGTERM, Duration::from_secs(5)).expect("stopped");
    assert!(status.success(), "{status}: {}", process.final_stderr_tail());
    assert!(process.final_stderr_tail().contains("oops"));
    assert!(!alive(pid));

    // Dropping the handle kills a process that ignores SIGTERM.
    let stubborn = RemoteProcess::spawn(&ssh, &["sh", "-c", "trap '' TERM; exec sleep 60"], Duration::from_secs(10))
        .expect("starts");
    let pid = stubborn.remote_pid();
    assert!(alive(pid));
    drop(stubborn);
    assert!(poll(|| !alive(pid)), "dropping the handle killed remote pid {pid}");

    // A runner that dies without cleaning up: its ssh session ends, and the watcher kills the process.
    let orphan = RemoteProcess::spawn(&ssh, &["sleep", "60"], Duration::from_secs(10)).expect("starts");
    let pid = orphan.remote_pid();
    let session = libc::pid_t::try_from(orphan.session_pid()).expect("a pid");
    // SAFETY: kill(2) on the local ssh child this handle started (it is reaped by the handle's drop).
    unsafe { libc::kill(session, libc::SIGKILL) };
    assert!(poll(|| !alive(pid)), "remote pid {pid} died with its ssh session");
    // Its session has ended, so the drop sends nothing to the (possibly reused) pid.
    drop(orphan);
}

fn poll(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn in_namespace(pid: u32, namespace: &str) -> bool {
    let ours = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
    let theirs = std::fs::metadata(Path::new("/run/netns").join(namespace)).ok();
    let mine = std::fs::read_link("/proc/self/ns/net").ok();
    theirs.is_some() && ours.is_some() && ours != mine
}

#[test]
fn a_remote_process_reads_like_a_local_one() {
    let hosts = TestHosts::create(1);
    let ssh = connect(&hosts, 0);
    // Two busy shells' worth of work in one process would need threads; one busy loop is enough to compare.
    let busy =
        RemoteProcess::spawn(&ssh, &["sh", "-c", "while :; do :; done"], Duration::from_secs(10)).expect("starts");
    let pid = busy.remote_pid();
    let mut remote = RemoteProc::start(&ssh, pid, Duration::from_secs(60)).expect("reader");
    let first = remote.snapshot(pid, true);
    let account = ProcessAccount::open_at(pid, first.clone());
    let local_first = LocalProc.snapshot(pid, true);
    std::thread::sleep(Duration::from_millis(1500));
    let last = remote.snapshot(pid, true);
    let local_last = LocalProc.snapshot(pid, true);
    let window = account.close_at(last.clone(), remote.ticks_per_second());
    let local_window = ProcessAccount::open_at(pid, local_first).close_at(local_last.clone(), clock_ticks_per_second());
    println!("remote {window:?}\nlocal {local_window:?}");
    let (cpu, local_cpu) = (window.cpu.expect("remote CPU"), local_window.cpu.expect("local CPU"));
    assert!(cpu.cpu > Duration::from_millis(300), "{cpu:?}");
    // Both see the same process over nearly the same window.
    let gap = cpu.cpu.abs_diff(local_cpu.cpu);
    assert!(gap <= Duration::from_millis(150), "remote {cpu:?} local {local_cpu:?}");
    assert!(window.run_queue.is_ok(), "{:?}", window.run_queue);
    assert!(last.rss_bytes.is_some_and(|rss| rss > 0) && last.rss_bytes == local_last.rss_bytes.or(last.rss_bytes));
    drop(busy);
    assert!(poll(|| !alive(pid)));
    // Once the process is gone the reader says so, and its loop has ended.
    let gone = remote.snapshot(pid, true);
    assert!(gone.exited && gone.cpu.is_err(), "{gone:?}");
}

/// Every name a fixture made is gone after its drop.
pub fn assert_all_gone(names: &[String]) {
    let netns = std::process::Command::new("ip").args(["netns", "list"]).output().expect("ip").stdout;
    let links = std::process::Command::new("ip").args(["-o", "link", "show"]).output().expect("ip").stdout;
    let (netns, links) = (String::from_utf8_lossy(&netns), String::from_utf8_lossy(&links));
    for name in names {
        assert!(!netns.contains(name.as_str()) && !links.contains(&format!(" {name}:")), "{name} is left over");
    }
}

#[test]
fn the_hosts_are_torn_down_when_a_test_panics() {
    let (names_out, names_in) = std::sync::mpsc::channel();
    let failed = std::thread::spawn(move || {
        let hosts = TestHosts::create(2);
        let _ = names_out.send(hosts.names());
        panic!("a failing test");
    })
    .join();
    assert!(failed.is_err());
    let names = names_in.recv().expect("the fixture was created");
    assert_eq!(names.len(), 3, "{names:?}");
    assert_all_gone(&names);
}
