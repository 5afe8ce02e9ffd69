use std::os::unix::process::ExitStatusExt;

use super::*;

fn host(text: &str) -> SshHost {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn destinations_parse_with_and_without_a_user() {
    let plain = host("bench-1.example.org");
    assert_eq!((plain.user(), plain.host()), (None, "bench-1.example.org"));
    let with_user = host("ci_user@198.18.0.10");
    assert_eq!((with_user.user(), with_user.host()), (Some("ci_user"), "198.18.0.10"));
    assert_eq!(with_user.to_string(), "ci_user@198.18.0.10");
    assert_eq!(host("[fd00::1]").host(), "fd00::1");
    assert_eq!(host("root@fd00::1").host(), "fd00::1");
}

#[test]
fn junk_is_refused_with_the_reason() {
    for junk in ["", "@host", "user@", "-oProxyCommand=x", "host name", "a;b", "x@-y", "-u@host", "h..x", "ho$t"] {
        let error = junk.parse::<SshHost>().expect_err(junk);
        assert!(error.to_string().contains("is not an ssh destination"), "{junk}: {error}");
    }
}

#[test]
fn arguments_survive_the_remote_shell_as_single_words() {
    assert_eq!(shell_quote("/usr/bin/server"), "/usr/bin/server");
    assert_eq!(shell_quote("--port=80"), "--port=80");
    assert_eq!(shell_quote(""), "''");
    assert_eq!(shell_quote("a b"), "'a b'");
    assert_eq!(shell_quote("it's $HOME"), r"'it'\''s $HOME'");
    // The real check: a shell splits the line back into exactly the arguments.
    let argv = ["printf", "%s|", "a b", "it's", "$(id)", "`x`", "*", "", "\"q\"", "new\nline"];
    let output = std::process::Command::new("sh").args(["-c", &remote_command_line(&argv)]).output().expect("sh");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "a b|it's|$(id)|`x`|*||\"q\"|new\nline|");
}

fn exit(code: i32) -> ExitStatus {
    ExitStatus::from_raw(code << 8)
}

#[test]
fn ssh_failures_are_told_apart() {
    let h = host("root@198.18.0.10");
    assert!(classify(&h, "true", exit(0), "").is_ok());
    let refused = classify(&h, "true", exit(255), "root@198.18.0.10: Permission denied (publickey).");
    assert!(matches!(refused, Err(SshError::KeyRefused { .. })), "{refused:?}");
    let down = classify(&h, "true", exit(255), "ssh: connect to host 198.18.0.10 port 22: Connection refused");
    assert!(matches!(down, Err(SshError::Unreachable { .. })), "{down:?}");
    let failed = classify(&h, "false", exit(1), "boom");
    let Err(SshError::RemoteFailed { command, stderr, .. }) = failed else { panic!("{failed:?}") };
    assert_eq!((command.as_str(), stderr.as_str()), ("false", "boom"));
}

#[test]
fn every_command_is_batch_mode_with_a_timeout_and_the_config_file() {
    let options = SshOptions { config: Some(PathBuf::from("/etc/bench ssh")), connect_timeout: Duration::from_secs(3) };
    let inner = Inner { host: host("u@h"), options, control_dir: PathBuf::from("/tmp/x"), master: None };
    let ssh = Ssh { inner: Arc::new(inner) };
    let command = ssh.command(&["echo", "a b"]);
    let args: Vec<String> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let joined = args.join(" ");
    assert!(joined.starts_with("-F /etc/bench ssh -o BatchMode=yes -o ConnectTimeout=3"), "{joined}");
    assert!(joined.ends_with("-T -- u@h echo 'a b'"), "{joined}");
    assert_eq!(command.get_program(), "ssh");
}
