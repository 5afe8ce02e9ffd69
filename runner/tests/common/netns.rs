//! Test hosts on this machine: N network namespaces, each joined by a veth pair to a bridge in the root
//! namespace and addressed in 198.18.0.0/15 (the range set aside for benchmark tests; never routed), each
//! running Debian's `sshd` with a host key and an authorized key generated for this fixture, and an ssh
//! config file for the runner (`--ssh-config`). Everything is torn down on drop, also when the test panics:
//! every process in each namespace is killed, the namespaces and the bridge deleted.
//!
//! Names carry this process's pid (`rb-<pid>-<n>-<i>`, interfaces `rb<pid>b<n>` / `rb<pid>n<n>h<i>`), so a
//! run that crashed earlier does not collide; leftovers of that scheme whose pid is dead are removed first.
//! The namespaces share the filesystem and the pid namespace with the root one; the runner still reaches
//! them only over ssh.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Fixtures created by this process so far: part of every name, so several fixtures never collide.
static CREATED: AtomicU32 = AtomicU32::new(0);
const SSHD: &str = "/usr/sbin/sshd";

/// The hosts; dropping it removes them.
pub struct TestHosts {
    bridge: String,
    hosts: Vec<TestHost>,
    dir: TempDir,
    ssh_config: PathBuf,
    key: PathBuf,
}

struct TestHost {
    namespace: String,
    address: Ipv4Addr,
    sshd: Option<Child>,
}

/// Panics unless the tests run as root: namespaces and sshd need it, and CI runs as root. A test that needs
/// these hosts must fail on a normal user's machine, not pass without testing anything.
pub fn require_root(what: &str) {
    // SAFETY: geteuid only reads the process's credentials.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(root, "{what} needs root (network namespaces and sshd); CI runs as root: run the e2e tests with sudo");
}

impl TestHosts {
    /// Creates `count` hosts and waits until each accepts the generated key over ssh.
    pub fn create(count: usize) -> TestHosts {
        require_root("this test's network-namespace hosts");
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install Debian's openssh-server (scripts/install-deps.sh)"
        );
        remove_leftovers();
        let n = CREATED.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let dir = tempfile::Builder::new().prefix("runtime-bench-hosts-").tempdir().expect("a temporary directory");
        let (key, host_key) = (dir.path().join("id_ed25519"), dir.path().join("host_ed25519"));
        keygen(&key);
        keygen(&host_key);
        let ssh_config = dir.path().join("ssh_config");
        std::fs::write(&ssh_config, client_config(&key)).expect("writing the ssh config");
        let subnet = subnet_for(pid, n);
        let mut hosts = TestHosts { bridge: format!("rb{pid}b{n}"), hosts: Vec::new(), dir, ssh_config, key };
        ip(&["link", "add", &hosts.bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("{}/24", subnet_address(subnet, 1)), "dev", &hosts.bridge]);
        ip(&["link", "set", &hosts.bridge, "up"]);
        for i in 0..count {
            let address = subnet_address(subnet, 10 + u8::try_from(i).expect("fewer than 200 hosts"));
            let host = hosts.add_host(pid, n, i, address, &host_key);
            hosts.hosts.push(host);
        }
        for i in 0..count {
            hosts.await_ssh(i);
        }
        hosts
    }

    /// Host `i`'s address (ssh and servers there listen on it).
    pub fn address(&self, i: usize) -> Ipv4Addr {
        self.hosts[i].address
    }

    /// Host `i`'s network namespace.
    pub fn namespace(&self, i: usize) -> &str {
        &self.hosts[i].namespace
    }

    /// The ssh config file for the runner: key, no known-hosts checks, user root.
    pub fn ssh_config(&self) -> &Path {
        &self.ssh_config
    }

    /// The private key the hosts accept.
    pub fn key(&self) -> &Path {
        &self.key
    }

    /// A scratch directory that lives as long as the hosts.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every name this fixture made (namespaces, bridge), to check they are gone after the drop.
    pub fn names(&self) -> Vec<String> {
        std::iter::once(self.bridge.clone()).chain(self.hosts.iter().map(|h| h.namespace.clone())).collect()
    }

    fn add_host(&self, pid: u32, n: u32, i: usize, address: Ipv4Addr, host_key: &Path) -> TestHost {
        let namespace = format!("rb-{pid}-{n}-{i}");
        let (outside, inside) = (format!("rb{pid}n{n}h{i}"), format!("rb{pid}n{n}g{i}"));
        ip(&["netns", "add", &namespace]);
        let mut host = TestHost { namespace, address, sshd: None };
        ip(&["link", "add", &outside, "type", "veth", "peer", "name", &inside]);
        ip(&["link", "set", &inside, "netns", &host.namespace]);
        ip(&["link", "set", &outside, "master", &self.bridge, "up"]);
        ip(&["-n", &host.namespace, "addr", "add", &format!("{address}/24"), "dev", &inside]);
        ip(&["-n", &host.namespace, "link", "set", &inside, "up"]);
        ip(&["-n", &host.namespace, "link", "set", "lo", "up"]);
        let config = self.dir.path().join(format!("sshd_config_{i}"));
        std::fs::write(&config, server_config(address, host_key, &self.key.with_extension("pub")))
            .expect("writing sshd_config");
        std::fs::create_dir_all("/run/sshd").expect("sshd's privilege separation directory");
        let log = std::fs::File::create(self.dir.path().join(format!("sshd_{i}.log"))).expect("sshd log");
        let sshd = Command::new("ip")
            .args(["netns", "exec", &host.namespace, SSHD, "-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting sshd in the namespace");
        host.sshd = Some(sshd);
        host
    }

    fn await_ssh(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let address = self.address(i).to_string();
        loop {
            let status = Command::new("ssh")
                .arg("-F")
                .arg(&self.ssh_config)
                .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=2", &address, "true"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if status.is_ok_and(|s| s.success()) {
                return;
            }
            let log = std::fs::read_to_string(self.dir.path().join(format!("sshd_{i}.log"))).unwrap_or_default();
            assert!(Instant::now() < deadline, "sshd on {address} did not accept the key within 15 s; its log:\n{log}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for TestHosts {
    fn drop(&mut self) {
        for host in &mut self.hosts {
            if let Some(mut sshd) = host.sshd.take() {
                let _ = sshd.kill();
                let _ = sshd.wait();
            }
            remove_namespace(&host.namespace);
        }
        let _ = quiet_ip(&["link", "del", &self.bridge]);
    }
}

/// Kills every process in a namespace (sshd's sessions and whatever they started), then deletes it; its
/// veth pair goes with it.
fn remove_namespace(namespace: &str) {
    let pids = Command::new("ip").args(["netns", "pids", namespace]).output().map(|o| o.stdout).unwrap_or_default();
    for pid in String::from_utf8_lossy(&pids).split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
        // SAFETY: kill(2) on a pid the kernel listed in our own test namespace.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    let _ = quiet_ip(&["netns", "del", namespace]);
}

/// Namespaces and links of this naming scheme left by a test process that no longer runs.
fn remove_leftovers() {
    let dead = |pid: &str| pid.parse::<u32>().is_ok_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
    let listed = Command::new("ip").args(["netns", "list"]).output().map(|o| o.stdout).unwrap_or_default();
    for line in String::from_utf8_lossy(&listed).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        if let Some(pid) = name.strip_prefix("rb-").and_then(|rest| rest.split('-').next())
            && dead(pid)
        {
            remove_namespace(name);
        }
    }
    let links = Command::new("ip").args(["-o", "link", "show"]).output().map(|o| o.stdout).unwrap_or_default();
    for line in String::from_utf8_lossy(&links).lines() {
        let name = line.split(": ").nth(1).unwrap_or_default().split('@').next().unwrap_or_default();
        let pid: String =
            name.strip_prefix("rb").unwrap_or_default().chars().take_while(char::is_ascii_digit).collect();
        if !pid.is_empty() && name.len() > 2 + pid.len() && dead(&pid) {
            let _ = quiet_ip(&["link", "del", name]);
        }
    }
}

/// A /24 of 198.18.0.0/15 for fixture `n` of process `pid`: different processes (several test runs at once)
/// get different subnets, so their routes do not overlap.
fn subnet_for(pid: u32, n: u32) -> u16 {
    u16::try_from((pid.wrapping_mul(7).wrapping_add(n)) % 512).expect("below 512")
}

fn subnet_address(subnet: u16, host: u8) -> Ipv4Addr {
    let [high, low] = subnet.to_be_bytes();
    Ipv4Addr::new(198, 18 + high, low, host)
}

fn ip(args: &[&str]) {
    let output = quiet_ip(args).expect("running ip");
    assert!(output.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
}

fn quiet_ip(args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new("ip").args(args).stdin(Stdio::null()).output()
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "runtime-bench-test", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("running ssh-keygen (Debian's openssh-client)");
    assert!(status.success(), "ssh-keygen failed");
}

fn server_config(address: Ipv4Addr, host_key: &Path, authorized: &Path) -> String {
    format!(
        "ListenAddress {address}\nPort 22\nHostKey {}\nAuthorizedKeysFile {}\nPermitRootLogin prohibit-password\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile none\n\
         MaxSessions 100\nMaxStartups 100:30:200\nLogLevel ERROR\n",
        host_key.display(),
        authorized.display()
    )
}

fn client_config(key: &Path) -> String {
    format!(
        "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  \
         User root\n  LogLevel ERROR\n",
        key.display()
    )
}
