//! `--server-host` resolved: the ssh destination (checked), the address the servers listen on there and the
//! load targets, how to reach it (`--ssh-config`), and where its binaries and databases are. Nothing here
//! touches the network beyond resolving the name; reaching the host is checked by the backend before any
//! test starts.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;

use super::PlanError;
use crate::cli::RunArgs;
use crate::tools::remote::SshHost;

/// Where every test's server runs when it is not this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHostPlan {
    pub destination: SshHost,
    /// The host's address: the servers bind it and the load targets it.
    pub address: IpAddr,
    pub ssh_config: Option<PathBuf>,
    /// Folder of the server binaries there.
    pub bin_dir: PathBuf,
    /// Folder for the databases there; `None`: a fresh temporary folder, removed at the end.
    pub work_dir: Option<PathBuf>,
}

/// `None` without `--server-host`; the remote-only flags without it are refused rather than ignored
/// (`--ssh-config` also serves `--attackers`).
pub fn resolve_server_host(args: &RunArgs) -> Result<Option<ServerHostPlan>, PlanError> {
    if let Some(config) = &args.ssh_config
        && !config.is_file()
    {
        return Err(PlanError::SshConfigMissing { path: config.display().to_string() });
    }
    let Some(given) = args.server_host.as_deref() else {
        let ssh_config_unused = args.ssh_config.is_some() && args.attackers.is_empty();
        let stray = [("--ssh-config", ssh_config_unused), ("--remote-bin-dir", args.remote_bin_dir.is_some())]
            .into_iter()
            .chain([("--remote-work-dir", args.remote_work_dir.is_some())])
            .find_map(|(flag, given)| given.then_some(flag));
        return match stray {
            Some(flag) => Err(PlanError::RemoteFlagWithoutHost { flag: flag.to_owned() }),
            None => Ok(None),
        };
    };
    if args.host.is_some() {
        return Err(PlanError::HostWithServerHost);
    }
    let destination: SshHost =
        given.parse().map_err(|e: crate::tools::remote::BadHost| PlanError::BadServerHost { detail: e.to_string() })?;
    let address = resolve_address(destination.host())
        .ok_or_else(|| PlanError::UnresolvableServerHost { host: destination.host().to_owned() })?;
    let bin_dir = match &args.remote_bin_dir {
        Some(dir) => dir.clone(),
        None => local_build_dir().ok_or(PlanError::NoBuildDir)?,
    };
    let absolute = |dir: &PathBuf, flag: &str| {
        if dir.is_absolute() { Ok(()) } else { Err(PlanError::RemotePathNotAbsolute { flag: flag.to_owned() }) }
    };
    absolute(&bin_dir, "--remote-bin-dir")?;
    if let Some(dir) = &args.remote_work_dir {
        absolute(dir, "--remote-work-dir")?;
    }
    Ok(Some(ServerHostPlan {
        destination,
        address,
        ssh_config: args.ssh_config.clone(),
        bin_dir,
        work_dir: args.remote_work_dir.clone(),
    }))
}

/// An address literal as it is, a name through the resolver (its first address).
fn resolve_address(host: &str) -> Option<IpAddr> {
    if let Ok(address) = host.parse::<IpAddr>() {
        return Some(address);
    }
    (host, 22).to_socket_addrs().ok()?.map(|socket| socket.ip()).next()
}

/// The folder this runner's server binaries are in (the remote default: the same path there).
fn local_build_dir() -> Option<PathBuf> {
    let any = shared::binaries::SERVERS.first()?;
    shared::binaries::server_binary_path(any)?.parent().map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;
    use crate::config::Plan;

    fn plan(args: &[&str]) -> Result<Plan, PlanError> {
        let cli = Cli::try_parse_from(std::iter::once("runner").chain(args.iter().copied())).expect("parses");
        Plan::resolve(&cli.run)
    }

    #[test]
    fn a_server_host_is_only_ever_the_one_named() {
        let local = plan(&["--rates", "100"]).expect("valid");
        assert_eq!(local.server_host, None, "local stays the default");
        let remote = plan(&["--rates", "100", "--server-host", "bench@198.18.0.10"]).expect("valid");
        let host = remote.server_host.expect("a server host");
        assert_eq!(
            (host.destination.to_string().as_str(), host.address.to_string().as_str()),
            ("bench@198.18.0.10", "198.18.0.10")
        );
        assert!(host.bin_dir.is_absolute() && host.work_dir.is_none() && host.ssh_config.is_none());
        // --host never leaves loopback, with or without a server host.
        assert!(matches!(plan(&["--rates", "100", "--host", "198.18.0.10"]), Err(PlanError::NotLoopback { .. })));
        let both = plan(&["--rates", "100", "--host", "127.0.0.1", "--server-host", "198.18.0.10"]);
        assert_eq!(both, Err(PlanError::HostWithServerHost));
    }

    #[test]
    fn bad_server_host_input_is_refused_before_anything_starts() {
        let refused = |extra: &[&str]| plan(&[&["--rates", "100"], extra].concat()).expect_err("refused").to_string();
        assert!(refused(&["--server-host=-oProxyCommand=x"]).contains("not an ssh destination"));
        assert!(refused(&["--server-host", "no-such-host.invalid"]).contains("does not resolve"));
        assert!(refused(&["--ssh-config", "/etc/passwd"]).contains("only applies with --server-host"));
        assert!(refused(&["--server-host", "198.18.0.10", "--ssh-config", "/nope"]).contains("is not a file"));
        let relative = refused(&["--server-host", "198.18.0.10", "--remote-work-dir", "db"]);
        assert!(relative.contains("--remote-work-dir must be an absolute path"), "{relative}");
    }
}
