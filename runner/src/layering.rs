//! The dependency direction of the layout in `lib.rs`, checked on the source: a module may only use modules
//! listed below it. A violation names the file and the import, so a cycle cannot creep back in unnoticed.

use std::path::{Path, PathBuf};

/// Top to bottom. A module may use any module after it in this list, never one before it.
const LAYERS: &[&str] = &[
    "run", "config", "cli", "metrics", "tools", "host", "sampling", "judge", "search", "report", "model", "defaults",
    "poll",
];

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
#[test]
fn no_source_file_grows_past_500_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).ok()?.lines().count();
            (lines > 500).then(|| format!("{}: {lines} lines", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these:\n{}", long.join("\n"));
}

/// A source file's module path: `run/session.rs` -> `run::session`, `run/mod.rs` -> `run`.
fn module_of(relative: &Path) -> String {
    let mut parts: Vec<String> =
        relative.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

/// The modules `text` (the code of module `module`) refers to through `crate::` and `super::` paths, each
/// resolved to the longest prefix that is a module of the crate.
fn module_uses(module: &str, text: &str, modules: &[String]) -> Vec<String> {
    let parent = module.rsplit_once("::").map_or("", |(parent, _)| parent);
    let mut found = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (prefix, base) in [("crate::", String::new()), ("super::", parent.to_owned())] {
            for (at, _) in line.match_indices(prefix) {
                if line[..at].ends_with("super::") || line[..at].ends_with(char::is_alphanumeric) {
                    continue;
                }
                let rest = &line[at + prefix.len()..];
                let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
                let mut target = base.clone();
                let mut best = base.clone();
                for segment in path.split("::").filter(|s| !s.is_empty()) {
                    target = if target.is_empty() { segment.to_owned() } else { format!("{target}::{segment}") };
                    if modules.contains(&target) {
                        best = target.clone();
                    }
                }
                // A module's own ancestors count only when named through `super::` (a child using its
                // parent's items); `crate::` paths through an ancestor just name its descendants.
                let ancestor = module.starts_with(&format!("{best}::"));
                if !best.is_empty() && best != module && (!ancestor || prefix == "super::") {
                    found.push(best);
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn no_module_imports_itself_through_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let shipped: Vec<(String, String)> = files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "tests.rs" && n != "main.rs" && n != "layering.rs"))
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("readable");
            let code = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or(&text).to_owned();
            (module_of(f.strip_prefix(&src).expect("under src")), code)
        })
        .collect();
    let modules: Vec<String> = shipped.iter().map(|(m, _)| m.clone()).collect();
    let edges: Vec<(String, Vec<String>)> =
        shipped.iter().map(|(m, code)| (m.clone(), module_uses(m, code, &modules))).collect();
    let mut cycles = Vec::new();
    for (start, _) in &edges {
        // Depth-first from `start`: reaching `start` again is a cycle.
        let mut stack: Vec<Vec<String>> = vec![vec![start.clone()]];
        let mut seen: Vec<String> = Vec::new();
        while let Some(path) = stack.pop() {
            let last = path.last().expect("non-empty").clone();
            let next = edges.iter().find(|(m, _)| *m == last).map(|(_, uses)| uses.clone()).unwrap_or_default();
            for used in next {
                if used == *start {
                    cycles.push(format!("{} -> {start}", path.join(" -> ")));
                } else if !seen.contains(&used) {
                    seen.push(used.clone());
                    let mut longer = path.clone();
                    longer.push(used);
                    stack.push(longer);
                }
            }
        }
    }
    cycles.sort();
    cycles.dedup();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}
