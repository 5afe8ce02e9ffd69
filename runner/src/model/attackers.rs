//! The results-schema types of a test attacked from several hosts (`--attackers`): the agreed start, how
//! far the attackers' windows lay apart, and one record per attacker with its share of the rate, its clock
//! offset, its own CPU, schedule lag and validity, and its failure. The test's own metrics are those of the
//! merged requests. Absent in tests attacked by the one local vegeta (every run before `--attackers`).

use serde::{Deserialize, Serialize};

use super::{CpuRecord, Measured, ScheduleLagRecord, TestStatus, Validity};

/// The name `--attackers` gives this machine: local is an attacker only when it is named.
pub const LOCAL_ATTACKER: &str = "local";

/// The attackers of one test and how their windows lay against each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackSet {
    /// When every attacker was told to start (UTC, RFC 3339, on the runner's clock).
    pub start_at: String,
    /// Latest first send minus earliest first send, on the runner's clock; absent when nothing was sent.
    pub start_spread_ms: Option<f64>,
    /// Share of the merged span (earliest to latest send) during which every attacker was sending, 0-100.
    pub overlap_pct: Option<f64>,
    pub attackers: Vec<AttackerRecord>,
}

/// One attacker of a test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackerRecord {
    /// `local`, or the `[user@]host` it was named by.
    pub host: String,
    /// Its share of the test's rate, requests per second.
    pub rate: u32,
    /// Its clock minus the runner's, milliseconds (0 for local); its timestamps were corrected by it.
    pub clock_offset_ms: f64,
    /// The true offset is within `clock_offset_ms ± clock_offset_uncertainty_ms` (half the round trip).
    pub clock_offset_uncertainty_ms: f64,
    /// Its first send after `start_at`, milliseconds on the runner's clock; absent when it sent nothing.
    pub first_send_ms: Option<f64>,
    pub requests: u64,
    /// Its own send rate: its requests over its own first-to-last send.
    pub send_rate_rps: f64,
    /// Its vegeta's CPU over its attack, read from `/proc` on its host, with µs per request it sent.
    pub cpu: Measured<CpuRecord>,
    /// How late it sent against its own plan.
    pub schedule_lag: Option<ScheduleLagRecord>,
    /// The validity rules on its own results; the test's validity names each reason with the host.
    pub validity: Validity,
    pub status: TestStatus,
    /// Why it failed (unreachable, killed, vegeta failed); its requests are then not in the merged set.
    pub failure: Option<String>,
    /// Its raw vegeta results, brought back into the run folder (relative to it; `vegeta report` reads it).
    pub raw: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SEND_RATE_TOLERANCE, TestRecord};

    const README: &str = include_str!("../../../results/README.md");

    fn record() -> AttackerRecord {
        AttackerRecord {
            host: "bench@h2".to_owned(),
            rate: 50,
            clock_offset_ms: 1.5,
            clock_offset_uncertainty_ms: 0.2,
            first_send_ms: Some(20.0),
            requests: 100,
            send_rate_rps: 50.0 * (1.0 - SEND_RATE_TOLERANCE / 2.0),
            cpu: Measured::Absent("not read".to_owned()),
            schedule_lag: None,
            validity: Validity::from_reasons(Vec::new(), false),
            status: TestStatus::Ok,
            failure: None,
            raw: "t_h2.bin".to_owned(),
        }
    }

    /// Every key an attack set writes, nested ones included.
    fn keys(value: &serde_json::Value, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, inner) in map {
                    found.push(key.clone());
                    keys(inner, found);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|item| keys(item, found)),
            _ => {}
        }
    }

    #[test]
    fn every_attack_set_field_is_documented_in_the_results_readme() {
        let set = AttackSet {
            start_at: "2026-12-01T23:00:00Z".to_owned(),
            start_spread_ms: Some(3.0),
            overlap_pct: Some(99.9),
            attackers: vec![record()],
        };
        let mut found = vec!["attack_set".to_owned()];
        keys(&serde_json::to_value(&set).expect("serializes"), &mut found);
        let section = README.split("attack_set (").nth(1).unwrap_or_default();
        let missing: Vec<&String> = found.iter().filter(|key| !README.contains(key.as_str())).collect();
        assert!(missing.is_empty(), "document these attack_set fields in results/README.md: {missing:?}");
        for key in ["start_spread_ms", "clock_offset_uncertainty_ms", "first_send_ms", "raw"] {
            assert!(section.contains(key), "{key} is documented in the attack_set section");
        }
    }

    #[test]
    fn a_record_without_an_attack_set_loads_and_writes_none() {
        let text = include_str!("../../tests/fixtures/one_record.json");
        let record: TestRecord = serde_json::from_str(text).expect("an older record loads");
        assert_eq!(record.attack_set, None);
        let written = serde_json::to_string(&record).expect("serializes");
        assert!(!written.contains("attack_set"), "the one local vegeta writes what it always wrote");
    }
}
