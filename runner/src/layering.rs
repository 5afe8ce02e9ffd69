//! The dependency direction of the layout in `lib.rs`, checked on the source: a module may only use modules
//! listed below it. A violation names the file and the import, so a cycle cannot creep back in unnoticed.

use std::path::{Path, PathBuf};

/// Top to bottom. A module may use any module after it in this list, never one before it.
const LAYERS: &[&str] =
    &["run", "config", "cli", "metrics", "tools", "host", "sampling", "judge", "search", "report", "model", "defaults"];

/// Whether `from` may use `to`: only modules at or below it in [`LAYERS`].
fn allowed(from: &str, to: &str) -> bool {
    let rank = |name: &str| LAYERS.iter().position(|layer| *layer == name);
    match (rank(from), rank(to)) {
        (Some(from), Some(to)) => from <= to,
        _ => true,
    }
}

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The crate modules a source file names as `crate::<module>` in code (comments and docs do not count).
fn crate_uses(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .flat_map(|line| {
            line.match_indices("crate::").filter_map(move |(at, _)| {
                let rest = &line[at + "crate::".len()..];
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                (!name.is_empty()).then_some(name)
            })
        })
        .collect()
}

#[test]
fn modules_depend_downwards_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let layer = relative.components().next().and_then(|c| c.as_os_str().to_str()).unwrap_or_default();
        let layer = layer.trim_end_matches(".rs");
        // A whole file of tests may reach up to build fixtures; the rule is about the code that ships.
        if !LAYERS.contains(&layer) || file.file_name().is_some_and(|name| name == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("readable");
        let shipped = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or(&text);
        for used in crate_uses(shipped) {
            if used != layer && !allowed(layer, &used) {
                violations.push(format!("{} uses crate::{used}", relative.display()));
            }
        }
    }
    assert!(violations.is_empty(), "imports against the layer order:\n{}", violations.join("\n"));
    assert!(files.len() > 20, "found the sources");
}

#[test]
fn the_check_sees_an_upward_import() {
    assert_eq!(crate_uses("use crate::run::Tools;\nlet x = crate::model::SCHEMA_VERSION;"), ["run", "model"]);
    assert!(crate_uses("//! see [`crate::run`]").is_empty());
    assert!(!allowed("model", "run") && allowed("run", "model") && allowed("judge", "search"));
}
