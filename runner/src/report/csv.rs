//! `results.csv`: one row per test, one column per number or word of the test's record in `results.json`,
//! for spreadsheets, pandas or R. The record's JSON is flattened generically (nested keys joined with `.`,
//! map keys such as status codes becoming columns of their own), so a field anyone adds to the schema
//! appears here with no code change; arrays (the latency curve, notes, validity reasons) stay out. A value
//! absent from a record (`null`, such as the write audit of a read test) is an empty cell in its row; a
//! column exists when at least one test has a value for it. Columns are in the order serde_json writes a
//! record's keys (sorted by name at every level), so they are the same in every run.

use std::path::Path;

use serde_json::Value;

use crate::model::{RunResults, TestRecord};

/// File name of the CSV inside a run folder, written whenever `results.json` is.
pub const CSV_FILE: &str = "results.csv";

/// One flattened record: `(column, cell)` in the record's own field order.
pub type FlatRecord = Vec<(String, String)>;

/// The record as `column -> cell`: every number, word (string) and boolean of its JSON, nested keys joined
/// with `.`; `null` gives no cell (the row's cell in that column stays empty).
pub fn flatten_record(record: &TestRecord) -> FlatRecord {
    let mut cells = Vec::new();
    match serde_json::to_value(record) {
        Ok(value) => flatten_into(&value, "", &mut cells),
        Err(error) => cells.push(("id".to_owned(), format!("{} (not encodable: {error})", record.id))),
    }
    cells
}

fn flatten_into(value: &Value, prefix: &str, cells: &mut FlatRecord) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten_into(field, &name, cells);
            }
        }
        Value::Array(_) | Value::Null => {}
        Value::Bool(flag) => cells.push((prefix.to_owned(), flag.to_string())),
        Value::Number(number) => cells.push((prefix.to_owned(), number.to_string())),
        Value::String(text) => cells.push((prefix.to_owned(), text.clone())),
    }
}

/// The columns of all rows, in the order the rows first name them.
pub fn columns(rows: &[FlatRecord]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (column, _) in rows.iter().flatten() {
        if seen.insert(column.as_str()) {
            columns.push(column.clone());
        }
    }
    columns
}

/// The whole CSV: a header row, then one row per test in run order (RFC 4180 quoting, `\n` line ends).
pub fn render_csv(results: &RunResults) -> String {
    let rows: Vec<FlatRecord> = results.tests.iter().map(flatten_record).collect();
    let columns = columns(&rows);
    let mut text = line(columns.iter().map(String::as_str));
    for row in &rows {
        let cell = |column: &String| row.iter().find(|(name, _)| name == column).map_or("", |(_, cell)| cell.as_str());
        text.push_str(&line(columns.iter().map(cell)));
    }
    text
}

fn line<'a>(cells: impl Iterator<Item = &'a str>) -> String {
    let mut text = cells.map(quote).collect::<Vec<_>>().join(",");
    text.push('\n');
    text
}

/// A cell as CSV writes it: quoted (with `"` doubled) when it holds a comma, a quote or a line break.
fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) { format!("\"{}\"", cell.replace('"', "\"\"")) } else { cell.to_owned() }
}

/// Writes the CSV atomically (temp file, then rename), like `results.json`.
pub fn write_csv(results: &RunResults, path: &Path) -> std::io::Result<()> {
    let tmp = path.with_extension("csv.tmp");
    std::fs::write(&tmp, render_csv(results))?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/bench_fixture/results.json");
    const README: &str = include_str!("../../../results/README.md");
    /// A record of a real run (a write test, with the CPU accounting, schedule lag and kept-up figures), so
    /// the documented columns are checked against every part of the schema, not only the fixture's.
    const FULL_RECORD: &str = include_str!("../../tests/fixtures/record_with_accounting.json");

    fn fixture() -> RunResults {
        serde_json::from_str(FIXTURE).expect("the fixture parses")
    }

    /// A naive reader for RFC 4180 CSV, enough to check the writer: rows of cells.
    fn parse(text: &str) -> Vec<Vec<String>> {
        let mut rows = vec![Vec::new()];
        let (mut cell, mut quoted, mut chars) = (String::new(), false, text.chars().peekable());
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    cell.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => rows.last_mut().expect("a row").push(std::mem::take(&mut cell)),
                ('\n', false) => {
                    rows.last_mut().expect("a row").push(std::mem::take(&mut cell));
                    rows.push(Vec::new());
                }
                (c, _) => cell.push(c),
            }
        }
        rows.pop();
        rows
    }

    #[test]
    fn one_row_per_test_with_every_number_and_word_of_its_record() {
        let mut results = fixture();
        results.tests[0].failure = Some("it said \"no\", twice\nthen stopped".to_owned());
        let rows = parse(&render_csv(&results));
        let header = &rows[0];
        assert_eq!(rows.len(), results.tests.len() + 1, "a header and one row per test");
        assert!(rows.iter().all(|row| row.len() == header.len()), "every row has every column");
        let at = |column: &str| header.iter().position(|c| c == column).unwrap_or_else(|| panic!("no {column}"));
        let first = &rows[1];
        let test = &results.tests[0];
        let metrics = test.metrics.as_ref().expect("measured");
        assert_eq!(first[at("id")], test.id);
        assert_eq!(first[at("endpoint.style")], "non_blocking");
        assert_eq!(first[at("metrics.latency_ms.p99")].parse::<f64>().ok(), Some(metrics.latency_ms.p99));
        assert_eq!(first[at("metrics.status_codes.200")].parse::<u64>().ok(), Some(metrics.successes));
        assert_eq!(first[at("validity.valid")], test.validity.valid.to_string());
        assert_eq!(first[at("failure")], "it said \"no\", twice\nthen stopped", "quoting survives a round trip");
        assert!(header.iter().all(|c| !c.contains("latency_curve_ms") && !c.contains("notes")), "arrays stay out");
        let unmeasured = results.tests.iter().position(|t| t.resources.is_none()).expect("the fixture has one");
        assert_eq!(rows[unmeasured + 1][at("resources.server.cpu_mean_pct")], "", "absent is empty, never 0");
        assert!(!header.iter().any(|c| c == "write_audit" || c == "metrics"), "an absent object adds no column");
    }

    #[test]
    fn a_field_added_to_the_schema_appears_with_no_code_change() {
        let results = fixture();
        let mut value = serde_json::to_value(&results.tests[0]).expect("encodes");
        value["accounting"] = serde_json::json!({"server": {"us_per_request": 19.5}});
        let mut cells = Vec::new();
        flatten_into(&value, "", &mut cells);
        assert!(cells.iter().any(|(c, v)| c == "accounting.server.us_per_request" && v == "19.5"), "{cells:?}");
    }

    /// The column names `results/README.md` documents, between its `csv-columns` markers; `<...>` stands for
    /// the rest of a name (a status code, an error message).
    fn documented_columns() -> Vec<String> {
        let block = README.split("<!-- csv-columns -->").nth(1).expect("README has the csv-columns block");
        let block = block.split("<!-- /csv-columns -->").next().unwrap_or(block);
        block
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- "))
            .flat_map(|l| l.split(": ").next().unwrap_or(l).split('`').skip(1).step_by(2))
            .map(str::to_owned)
            .collect()
    }

    fn is_documented(column: &str, documented: &[String]) -> bool {
        documented.iter().any(|doc| match doc.split_once('<') {
            Some((stem, _)) => column.starts_with(stem) && column.len() > stem.len(),
            None => doc == column,
        })
    }

    #[test]
    fn every_column_is_documented_in_the_results_readme() {
        let mut results = fixture();
        let health = r#"{"server":"axum","runtime":"tokio","workers":1,"io_driver":"epoll","sleep_ms":50,
            "pool_size":40,"blocking_threads":40,"async_connections":4,"header_timeout_ms":10000,
            "idle_timeout_ms":60000,"db":"x.db","pid":1,"in_flight":0}"#;
        results.tests[0].server_health = Some(serde_json::from_str(health).expect("a health"));
        results.tests.push(serde_json::from_str(FULL_RECORD).expect("a record of the current schema"));
        let rows: Vec<FlatRecord> = results.tests.iter().map(flatten_record).collect();
        let documented = documented_columns();
        let missing: Vec<String> = columns(&rows).into_iter().filter(|c| !is_documented(c, &documented)).collect();
        assert!(
            missing.is_empty(),
            "document these columns in results/README.md (csv-columns):\n{}",
            missing.join("\n")
        );
        assert!(!is_documented("metrics.nothing_like_it", &documented), "the check can fail");
    }
}
