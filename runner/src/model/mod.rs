//! The results schema: the contract between measuring and reporting. `results.json` holds one
//! [`RunResults`]; each test also gets its own metrics, raw and samples files. Reports are pure functions of
//! these types, so `runner report` re-renders any run folder without re-running it.
//!
//! This module imports nothing else from the crate (only `shared`'s catalogue enums and health type): the
//! measuring layers depend on it, never the other way round. `schema_version` 1: the typed fields serialize
//! to the same JSON words as before (a test checks it on the fixture run).

mod arm;
mod attackers;
mod capacity;
mod limits;
mod machine;
mod run;
mod store;
mod test;

pub use arm::Arm;
pub use attackers::{AttackSet, AttackerRecord, LOCAL_ATTACKER};
pub use capacity::{CALIBRATION_FILE, Calibration, CapacityResult, ProbeRecord, ProbeVerdict};
pub use limits::{
    Accounting, CpuRecord, GENERATOR_LATENCY_MARKER, GeneratorFloorRecord, GeneratorProbeRecord, KeptUpRecord,
    Measured, PROJECTION_LABEL, ProcessAccounting, ProjectedCapacityRecord, RunQueueRecord, ScheduleLagRecord,
};
pub use machine::{Machine, ServerHost};
pub use run::{
    AbsentCell, CoreLayout, ExternalArmConfig, Placement, RESULTS_FILE, RunConfig, RunMetadata, RunResults, RunStatus,
    SCHEMA_VERSION, SearchConfig, StudyConfig, Versions,
};
pub use store::{StoreError, newest_run_dir, write_json_atomic};
pub use test::{
    EndpointRef, LATENCY_CURVE_PERCENTILES, LatencyStats, Metrics, PercentilePoint, Resources, SEND_RATE_TOLERANCE,
    SUSTAINED_ACHIEVED_SHARE, SUSTAINED_SUCCESS_PCT, Sample, SampleSeries, StatusCode, TestFiles, TestRecord,
    TestStatus, UsageSummary, Validity, WriteAudit, operation_word, style_word, sustains, test_stem,
};
