//! The manifest parser: what it accepts, and the file, line and field it names for what it refuses.

use super::*;

const RESERVED: &[&str] = &["axum", "monoio"];

const GOOD: &str = r#"
# an external arm
[[server]]
name = "fastapi"
command = [".venv/bin/python", "serve.py", "--host", "{host}", "--port", "{port}", "--db", "{db}",
           "--workers", "{workers}", "--sleep-ms", "{sleep_ms}"]
ready = "/openapi.json"
openapi = "/openapi.json"
health = "/healthz"
ready_timeout = "45s"

[[server]]
name = "contract-arm"
command = ["my-server", "--listen={host}:{port}"]
ready = "/healthz"
catalogue = "/api/endpoints"
"#;

fn parse_good() -> Vec<ExternalArm> {
    parse(GOOD, "servers.toml", Path::new("/srv/arms"), RESERVED).expect("a valid manifest")
}

fn refused(text: &str) -> ManifestError {
    parse(text, "servers.toml", Path::new("/srv"), RESERVED).expect_err("refused")
}

#[test]
fn a_valid_manifest_gives_each_arm_with_its_line_and_catalogue() {
    let arms = parse_good();
    assert_eq!(arms.len(), 2);
    let fastapi = &arms[0];
    assert_eq!((fastapi.name.as_str(), fastapi.line), ("fastapi", 4));
    assert_eq!(fastapi.catalogue, CatalogueSource::OpenApi("/openapi.json".to_owned()));
    assert_eq!(fastapi.health.as_deref(), Some("/healthz"));
    assert_eq!(fastapi.ready_timeout, Duration::from_secs(45));
    assert_eq!(fastapi.dir, Path::new("/srv/arms"));
    assert!(fastapi.takes_db());
    let contract = &arms[1];
    assert_eq!(contract.catalogue, CatalogueSource::Contract("/api/endpoints".to_owned()));
    assert_eq!((contract.health.as_ref(), contract.ready_timeout), (None, DEFAULT_READY_TIMEOUT));
    assert!(!contract.takes_db());
}

#[test]
fn every_placeholder_is_replaced() {
    let arms = parse_good();
    let values =
        Placeholders { host: "127.0.0.9".into(), port: 8123, db: "/tmp/t.db".into(), workers: 3, sleep_ms: 50 };
    let argv = arms[0].argv(&values);
    assert_eq!(
        argv[2..],
        ["--host", "127.0.0.9", "--port", "8123", "--db", "/tmp/t.db", "--workers", "3", "--sleep-ms", "50"]
    );
    assert_eq!(arms[1].argv(&values)[1], "--listen=127.0.0.9:8123");
}

#[test]
fn an_unknown_placeholder_names_its_line_field_and_the_known_ones() {
    let text = GOOD.replace("\"--port\", \"{port}\"", "\"--port\", \"{prot}\"");
    let error = refused(&text);
    assert!(matches!(error.problem(), ManifestProblem::UnknownPlaceholder { line: 5, .. }), "{error:?}");
    let message = error.to_string();
    for part in ["servers.toml:5", "fastapi", "command[5]", "{prot}", "{host}, {port}, {db}, {workers}, {sleep_ms}"] {
        assert!(message.contains(part), "{part} missing from: {message}");
    }
    let unclosed = refused(&GOOD.replace("\"{db}\"", "\"{db\""));
    assert!(unclosed.to_string().contains("unclosed"), "{unclosed}");
}

#[test]
fn a_missing_or_empty_command_is_refused_at_its_table() {
    let without: String =
        GOOD.lines().filter(|line| !line.starts_with("command = [\"my-server\"")).collect::<Vec<_>>().join("\n");
    let error = refused(&without);
    assert!(matches!(error.problem(), ManifestProblem::MissingField { field: "command", line: 12, .. }), "{error:?}");
    assert!(error.to_string().starts_with("servers.toml:12: contract-arm: `command` is missing"), "{error}");
    let empty = refused(&GOOD.replace("command = [\"my-server\", \"--listen={host}:{port}\"]", "command = []"));
    assert!(matches!(empty.problem(), ManifestProblem::MissingField { field: "command", .. }), "{empty:?}");
}

#[test]
fn names_must_be_new_unique_and_usable_in_file_names() {
    let reserved = refused(&GOOD.replace("\"fastapi\"", "\"axum\""));
    assert!(matches!(reserved.problem(), ManifestProblem::ReservedName { line: 4, .. }), "{reserved:?}");
    assert!(reserved.to_string().contains("workspace's own arms (axum, monoio)"), "{reserved}");
    let duplicate = refused(&GOOD.replace("\"contract-arm\"", "\"fastapi\""));
    assert!(matches!(duplicate.problem(), ManifestProblem::DuplicateName { line: 13, first: 4, .. }), "{duplicate:?}");
    let slash = refused(&GOOD.replace("\"fastapi\"", "\"fast/api\""));
    assert!(matches!(slash.problem(), ManifestProblem::BadName { .. }), "{slash:?}");
}

#[test]
fn catalogue_readiness_and_timeout_are_checked() {
    let both =
        refused(&GOOD.replace("catalogue = \"/api/endpoints\"", "catalogue = \"/api/endpoints\"\nopenapi = \"/o\""));
    assert!(matches!(both.problem(), ManifestProblem::CatalogueChoice { line: 12, .. }), "{both:?}");
    let neither = refused(&GOOD.replace("catalogue = \"/api/endpoints\"", ""));
    assert!(matches!(neither.problem(), ManifestProblem::CatalogueChoice { .. }), "{neither:?}");
    let url = refused(&GOOD.replace("ready = \"/healthz\"", "ready = \"healthz\""));
    assert!(matches!(url.problem(), ManifestProblem::NotAPath { field: "ready", line: 15, .. }), "{url:?}");
    let unbounded = refused(&GOOD.replace("\"45s\"", "\"1h\""));
    assert!(matches!(unbounded.problem(), ManifestProblem::BadTimeout { line: 10, .. }), "{unbounded:?}");
    let missing_ready = refused(&GOOD.replace("ready = \"/healthz\"", ""));
    assert!(
        matches!(missing_ready.problem(), ManifestProblem::MissingField { field: "ready", .. }),
        "{missing_ready:?}"
    );
}

#[test]
fn typos_and_bad_toml_are_refused_with_the_parser_position() {
    let typo = refused(&GOOD.replace("health =", "heatlh ="));
    assert!(matches!(typo.problem(), ManifestProblem::Syntax { .. }) && typo.to_string().contains("heatlh"), "{typo}");
    let broken = refused("[[server]\nname = 1");
    assert!(matches!(broken.problem(), ManifestProblem::Syntax { .. }), "{broken:?}");
    assert!(matches!(refused("# nothing\n").problem(), ManifestProblem::NoServers { .. }));
}

#[test]
fn a_program_is_found_beside_the_manifest_or_on_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let arms = parse(GOOD, "servers.toml", dir.path(), RESERVED).expect("valid");
    let missing = arms[0].program().expect_err("no venv there");
    assert!(missing.to_string().contains(".venv/bin/python") && missing.to_string().contains(":4:"), "{missing}");
    let mut on_path = arms[1].clone();
    on_path.command[0] = "sh".to_owned();
    assert!(on_path.program().is_ok_and(|p| p.ends_with("sh")));
    on_path.command[0] = "no-such-program-anywhere".to_owned();
    assert!(on_path.program().is_err_and(|e| e.to_string().contains("not on PATH")));
}
