//! Reading and writing run folders: atomic JSON writes, `results.json` with its schema check, the newest
//! run folder, and the calibration beside the run folders.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::capacity::{CALIBRATION_FILE, Calibration};
use super::machine::Machine;
use super::run::{RESULTS_FILE, RunResults, SCHEMA_VERSION};

/// What can go wrong reading or writing a run folder; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no readable {RESULTS_FILE} in {dir} (is it a run folder?): {source}")]
    NoResults { dir: PathBuf, source: std::io::Error },
    #[error("{path} is not valid JSON: {source}")]
    NotJson { path: PathBuf, source: serde_json::Error },
    #[error(
        "{path} has schema version {found}, this runner reads version {SCHEMA_VERSION}; re-run the benchmark or \
         use the runner that wrote it"
    )]
    OtherSchema { path: PathBuf, found: String },
    #[error("{path} does not match the results schema: {source}")]
    Schema { path: PathBuf, source: serde_json::Error },
    #[error("encoding {path} as JSON: {source}")]
    Encode { path: PathBuf, source: serde_json::Error },
    #[error("{action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("no bench_* run folder in {dir}; run a benchmark first")]
    NoRunFolder { dir: PathBuf },
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

impl Calibration {
    /// Reads `<results_dir>/calibration.json`: `Ok(None)` when there is none or it was made on another
    /// machine, an error naming the file when it exists but cannot be read (the caller warns: a corrupt
    /// calibration must not be ignored silently).
    pub fn load_for(results_dir: &Path, machine: &Machine) -> Result<Option<Calibration>> {
        let path = results_dir.join(CALIBRATION_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Io { action: "reading", path, source }),
        };
        let calibration: Calibration =
            serde_json::from_str(&text).map_err(|source| StoreError::Schema { path: path.clone(), source })?;
        let same_machine =
            calibration.machine.cpu_model == machine.cpu_model && calibration.machine.cores == machine.cores;
        Ok(same_machine.then_some(calibration))
    }
}

/// Writes JSON atomically (temp file, then rename), so a crash never leaves a half-written file behind.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text =
        serde_json::to_vec_pretty(value).map_err(|source| StoreError::Encode { path: path.to_owned(), source })?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|source| StoreError::Io { action: "writing", path: tmp.clone(), source })?;
    std::fs::rename(&tmp, path).map_err(|source| StoreError::Io {
        action: "renaming into",
        path: path.to_owned(),
        source,
    })
}

impl RunResults {
    /// Writes `results.json` into `run_dir`.
    pub fn save(&self, run_dir: &Path) -> Result<()> {
        write_json_atomic(&run_dir.join(RESULTS_FILE), self)
    }

    /// Reads a run folder's `results.json`, refusing other schema versions with a clear message.
    pub fn load(run_dir: &Path) -> Result<RunResults> {
        let path = run_dir.join(RESULTS_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|source| StoreError::NoResults { dir: run_dir.to_owned(), source })?;
        let probe: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| StoreError::NotJson { path: path.clone(), source })?;
        let version = probe.get("schema_version").and_then(serde_json::Value::as_u64);
        if version != Some(u64::from(SCHEMA_VERSION)) {
            let found = version.map_or_else(|| "(none)".to_owned(), |v| v.to_string());
            return Err(StoreError::OtherSchema { path, found });
        }
        serde_json::from_value(probe).map_err(|source| StoreError::Schema { path, source })
    }
}

/// The newest `bench_*` folder under `results_dir`.
pub fn newest_run_dir(results_dir: &Path) -> Result<PathBuf> {
    let entries = std::fs::read_dir(results_dir).map_err(|source| StoreError::Io {
        action: "reading the results folder",
        path: results_dir.to_owned(),
        source,
    })?;
    let mut runs: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_dir() && path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("bench_")))
        .collect();
    runs.sort();
    runs.pop().ok_or_else(|| StoreError::NoRunFolder { dir: results_dir.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunStatus;

    const FIXTURE: &str = include_str!("../../tests/fixtures/bench_fixture/results.json");

    fn run_dir_with(text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(RESULTS_FILE), text).expect("written");
        dir
    }

    #[test]
    fn results_survive_a_round_trip() {
        let results: RunResults = serde_json::from_str(FIXTURE).expect("fixture parses");
        let dir = tempfile::tempdir().expect("temp dir");
        results.save(dir.path()).expect("saved");
        assert_eq!(RunResults::load(dir.path()).expect("loaded"), results);
        assert!(!dir.path().join("results.json.tmp").exists(), "no temp file left behind");
    }

    #[test]
    fn unreadable_folders_say_what_is_wrong() {
        let empty = tempfile::tempdir().expect("temp dir");
        let message = format!("{:#}", RunResults::load(empty.path()).expect_err("no file"));
        assert!(message.contains("is it a run folder"), "{message}");

        let garbage = run_dir_with("{ half written");
        let message = format!("{:#}", RunResults::load(garbage.path()).expect_err("not JSON"));
        assert!(message.contains("not valid JSON"), "{message}");

        let old = run_dir_with(&FIXTURE.replacen("\"schema_version\": 1", "\"schema_version\": 0", 1));
        let message = format!("{:#}", RunResults::load(old.path()).expect_err("old schema"));
        assert!(message.contains("schema version 0") && message.contains("reads version 1"), "{message}");
    }

    #[test]
    fn an_interrupted_run_still_loads() {
        let mut results: RunResults = serde_json::from_str(FIXTURE).expect("fixture parses");
        results.run.status = RunStatus::Running;
        results.run.finished_at = None;
        results.tests.truncate(1);
        let dir = tempfile::tempdir().expect("temp dir");
        results.save(dir.path()).expect("saved");
        let loaded = RunResults::load(dir.path()).expect("a run killed mid-way is readable");
        assert_eq!((loaded.run.status, loaded.tests.len()), (RunStatus::Running, 1));
    }

    #[test]
    fn the_newest_run_folder_is_found() {
        let out = tempfile::tempdir().expect("temp dir");
        for name in ["bench_20260101_000000", "bench_20261128_120000", "notes"] {
            std::fs::create_dir(out.path().join(name)).expect("created");
        }
        let newest = newest_run_dir(out.path()).expect("found");
        assert!(newest.ends_with("bench_20261128_120000"));
        let none = tempfile::tempdir().expect("temp dir");
        assert!(format!("{:#}", newest_run_dir(none.path()).expect_err("none")).contains("run a benchmark first"));
    }

    #[test]
    fn the_typed_schema_writes_the_fixtures_own_words() {
        let results: RunResults = serde_json::from_str(FIXTURE).expect("fixture parses into the typed schema");
        let written = serde_json::to_value(&results).expect("encodes");
        let original: serde_json::Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
        let mut differences = Vec::new();
        same_words(&original, &written, "", &mut differences);
        assert!(differences.is_empty(), "the typed schema writes other words:\n{}", differences.join("\n"));
        let first = &results.tests[0];
        assert!(first.metrics.as_ref().is_some_and(|m| m.status_codes.contains_key(&crate::model::StatusCode::OK)));
    }

    /// Every value of `original` is in `written` under the same key (numbers compared as numbers: `10` and
    /// `10.0` are one value); `written` may add keys an older run did not have (defaults such as `null`).
    fn same_words(original: &serde_json::Value, written: &serde_json::Value, at: &str, out: &mut Vec<String>) {
        use serde_json::Value;
        match (original, written) {
            (Value::Object(before), Value::Object(after)) => {
                for (key, value) in before {
                    match after.get(key) {
                        Some(now) => same_words(value, now, &format!("{at}.{key}"), out),
                        None => out.push(format!("{at}.{key} is no longer written")),
                    }
                }
            }
            (Value::Array(before), Value::Array(after)) if before.len() == after.len() => {
                for (index, (value, now)) in before.iter().zip(after).enumerate() {
                    same_words(value, now, &format!("{at}[{index}]"), out);
                }
            }
            (Value::Number(before), Value::Number(after)) if before.as_f64() == after.as_f64() => {}
            (before, after) if before == after => {}
            (before, after) => out.push(format!("{at}: {before} became {after}")),
        }
    }

    #[test]
    fn a_corrupt_calibration_is_an_error_naming_its_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let results: RunResults = serde_json::from_str(FIXTURE).expect("fixture parses");
        let machine = results.run.machine.clone();
        assert!(matches!(Calibration::load_for(dir.path(), &machine), Ok(None)), "no file: nothing to apply");
        std::fs::write(dir.path().join(CALIBRATION_FILE), "{ not json").expect("written");
        let message = Calibration::load_for(dir.path(), &machine).expect_err("corrupt").to_string();
        assert!(message.contains(CALIBRATION_FILE) && message.contains(&dir.path().display().to_string()), "{message}");
    }
}
