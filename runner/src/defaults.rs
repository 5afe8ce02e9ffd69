//! Every default and threshold of the runner, in one place: the help text reads its defaults from here, and
//! the layers below read their limits from here, so a number is never written twice. A leaf module: it
//! imports nothing from the crate, so any layer may use it. (The one rule the reports also apply, "the load
//! generator kept up", lives in the results schema: [`crate::model::SEND_RATE_TOLERANCE`].)

use std::time::Duration;

// --- The benchmark's flags ------------------------------------------------------------------------------

/// Target rates, requests per second.
pub const RATES: [u32; 2] = [1000, 2000];
/// I/O drivers of the arms that take `--io-driver` (the monoio arms): their own default only.
pub const IO_DRIVERS: &str = "io_uring";
/// Server worker counts.
pub const WORKERS: [u16; 1] = [1];
/// Length of a measured attack.
pub const DURATION: &str = "10s";
/// Length of one probe of the saturation search.
pub const PROBE_DURATION: &str = "3s";
/// Per-request timeout of a measured attack.
pub const TIMEOUT: &str = "10s";
/// Per-request timeout of a search probe: an overloaded probe would otherwise wait out long timeouts.
pub const PROBE_TIMEOUT: &str = "2s";
/// Warm-up attack before each test.
pub const WARMUP: &str = "2s";
/// Most repeats of one test.
pub const MAX_REPEAT: u32 = 100;
/// The p99 a sustainable rate must stay under.
pub const SLO_P99: &str = "100ms";
/// The success percentage a sustainable rate must reach.
pub const SLO_SUCCESS_PCT: f64 = 99.9;
/// The time a whole saturation search may take.
pub const BUDGET: &str = "10m";
/// The first rate a search probes.
pub const START_RATE: u32 = 100;
/// No probe goes above this rate unless told otherwise.
pub const MAX_RATE: u32 = 1_000_000;
/// Cap on vegeta's connections per server: far above what a healthy test needs (rate x latency, e.g. 2000
/// req/s x 50 ms = 100), far below the ~28,000 ephemeral ports.
pub const MAX_CONNECTIONS: u32 = 1000;
/// Folder the run folders go to.
pub const OUT: &str = "results";
/// No duration flag goes beyond this (it keeps every deadline computation far from overflow).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

// --- The default study (`runner` with no rate flags) ------------------------------------------------------

/// The whole study, with its quick calibration, should end within this: the issue asks for 7 minutes of
/// `./scripts/bench.sh` on this machine, and the build check, start-up and report take the rest.
pub const STUDY_LIMIT: Duration = Duration::from_secs(390);
/// A default run writes at most this (the limit).
pub const STUDY_DISK_LIMIT_BYTES: u64 = 100_000_000;
/// vegeta's binary results per request, as measured here with bodies off: 84.7 MB for the 365,607 requests
/// of a default study (4.15 MB for 20,000 no-op requests).
pub const RESULT_BYTES_PER_REQUEST: u64 = 232;
/// A test's record and CPU samples (JSON), with a margin (5-7 KB measured).
pub const RECORD_BYTES: u64 = 10_000;
/// The HTML report (plotly inline, ~4.7 MB) with results.json and results.csv, with a margin.
pub const REPORT_BYTES: u64 = 6_000_000;
/// Repeats of every cost test: enough for a min–max spread.
pub const STUDY_REPEAT: u32 = 3;
/// Rate of the cost tests: half the ~4,000 req/s up to which vegeta's own latency stays clean here, and high
/// enough that idle wake-ups do not dominate CPU per request.
pub const STUDY_COST_RATE: u32 = 2000;
/// Length of one cost test and of one capacity probe: 3,400 requests at 2,000 req/s, so CPU µs per request is
/// known to ±5.9 µs (two 10 ms clock ticks), and 96 cost tests store ~76 MB. Disk, not time, is the bound:
/// at ~232 bytes per request, longer tests would not fit the 100 MB a default run may write with its first
/// calibration (1.8 s tests wrote 89 MB per run folder here, plus 3.4 MB of calibration).
pub const STUDY_DURATION: &str = "1700ms";
/// Warm-up before each cost test and probe.
pub const STUDY_WARMUP: &str = "500ms";
/// What one study test costs beyond its attacks, as measured here (0.2-0.3 s), with a margin.
pub const STUDY_TEST_OVERHEAD: Duration = Duration::from_millis(400);
/// A capacity search of the study starts at the capacity the endpoint's design predicts and steps by this
/// factor: a 10% overload queues ~100 ms of backlog per second at 20 req/s (50 ms sleeps), which a 1.7 s probe
/// sees in its p99, so 1.1 brackets the capacity in two or three probes where doubling needs six or seven.
pub const STUDY_SEARCH_STEP: f64 = 1.1;
/// Probes' worth of budget each study search gets (three when it lands where its design predicts).
pub const STUDY_PROBES_PER_SEARCH: u32 = 4;
/// ... and what each later search keeps when an earlier one needs more (a probe the load generator limited
/// is measured twice, which took a search over its even share in a run here).
pub const STUDY_MIN_PROBES: u32 = 3;
/// The quick calibration a study runs first when the results folder has none: probes long enough for
/// [`CLEAN_MIN_REQUESTS`] at the cost rate, within this budget.
pub const QUICK_CALIBRATION_DURATION: &str = "1s";
pub const QUICK_CALIBRATION_WARMUP: &str = "500ms";
pub const QUICK_CALIBRATION_BUDGET: &str = "20s";
/// Where the quick calibration's run folder goes, inside the results folder (apart from the run folders).
pub const QUICK_CALIBRATION_FOLDER: &str = "calibration";

// --- `runner calibrate` ---------------------------------------------------------------------------------

pub const CALIBRATE_DURATION: &str = "3s";
pub const CALIBRATE_WARMUP: &str = "1s";
pub const CALIBRATE_BUDGET: &str = "5m";
pub const CALIBRATE_START_RATE: u32 = 1000;
/// A calibration has no latency bound: the ceiling is where the generator stops holding the rate.
pub const CALIBRATE_SLO_P99: Duration = Duration::from_secs(3600);

// --- The saturation search ------------------------------------------------------------------------------

/// Rate multiplier while no probe has missed yet.
pub const SEARCH_GROWTH: f64 = 2.0;
/// The search stops once the lowest missing rate is within this fraction above the highest meeting one.
pub const SEARCH_PRECISION: f64 = 0.05;

// --- `runner compare` ------------------------------------------------------------------------------------

/// A figure counts as changed when its median moved by more than this many percent (and, with repeats on
/// both sides, their min–max ranges do not overlap). Run-to-run noise here is about ±10% on throughput and
/// more on p99; 25% leaves a margin so the gate does not fail on noise.
pub const COMPARE_THRESHOLD_PCT: f64 = 25.0;
/// Latency differences smaller than this are noise, whatever their percentage: sub-millisecond latencies move
/// by more than any threshold with scheduling noise alone. `runner compare` never counts them, and a chart
/// whose lines differ by less says so.
pub const LATENCY_NOISE_FLOOR_MS: f64 = 0.5;
/// `runner compare` judges a p99 only over at least this many requests on both sides: with fewer, the p99 is
/// one of the slowest few requests, which one scheduler hiccup decides (a sleep endpoint's 15-request cost
/// test at 10 req/s moved its p99 by 40% between two runs of the same study).
pub const COMPARE_P99_MIN_REQUESTS: u64 = 1000;
/// Two single measurements closer than this share of the larger one are the same within run-to-run noise
/// (about ±10% on this machine): a chart whose lines all agree that closely says so, on an axis from zero.
pub const NOISE_SHARE: f64 = 0.10;

// --- Validity ---------------------------------------------------------------------------------------------

/// Mean CPU of the load generator, as a fraction of the CPUs it may use, above which it counts as starved.
pub const LOAD_GENERATOR_STARVED: f64 = 0.9;

// --- What limits a measurement (issue 9) ------------------------------------------------------------------

/// A schedule lag p99 above this means the load generator fell behind: the result is invalid.
///
/// 5 ms is five times the lag of a generator that keeps its schedule: vegeta's pacer sleeps through Go's
/// timers, which wake with about a millisecond of granularity, so on schedule its lag is ~0.5 ms at p50 and
/// ~1-1.5 ms at p99 (measured here at 50-1,000 req/s, other builds running). A preemption by another task on
/// a shared core adds at most about one scheduler slice, a few milliseconds. A generator that has fallen
/// behind is far beyond it: its lag grows with every request it cannot send, hundreds of milliseconds within
/// a second. At 5 ms late, more than 1% of the requests went out in bursts the plan did not contain.
pub const LAG_P99_BOUND: Duration = Duration::from_millis(5);
/// ... and at least this many requests later than it: in a short probe (25 requests) the p99 is the maximum,
/// and one preemption of a busy machine is not a generator that fell behind, which is late for every request
/// after the moment it fell behind. From 300 requests on, the rule is the p99 alone.
pub const LAG_MIN_LATE: u64 = 3;
/// Completions must reach this share of the rate actually sent for the server to count as keeping up.
pub const KEPT_UP_SHARE: f64 = 0.99;
/// A growing backlog: the last third's median latency above this many times the first third's ...
pub const BACKLOG_GROWTH_FACTOR: f64 = 1.5;
/// ... plus this much (scheduler noise on sub-millisecond latencies is not a backlog). A server that keeps
/// up has the same latency distribution throughout a probe; one that falls behind adds a queue growing with
/// every request (23 req/s into 20 req/s of capacity: +150 ms per second).
pub const BACKLOG_GROWTH_SLACK: Duration = Duration::from_millis(2);
/// Fewer requests than this cannot show whether the server kept up (one per third, at least).
pub const KEPT_UP_MIN_REQUESTS: usize = 3;
/// A process whose busiest thread spent more than this share of the window waiting on a run queue makes the
/// result invalid.
///
/// The busiest thread, not the sum over threads: a server's own threads hand work to each other on its one
/// core (the event loop wakes a SQLite connection thread, which wakes it back), and each hand-off leaves the
/// woken thread runnable until the other blocks. That is the design being measured, not contention, yet
/// summed over the five threads of the non-blocking DB path it reached 29-36% of the window at 4,000 req/s
/// with nothing else on the server's core. A process short of CPU because other tasks run on its cores
/// makes every one of its busy threads wait, the busiest most.
///
/// 25%: on CPUs of its own a process waits microseconds per wake-up, well under 1% of a window even at tens
/// of thousands of wake-ups per second. Measured here with other builds running on the same two cores,
/// vegeta waited 5-8% at 50-1,000 req/s and 24% at 4,000, the server 1-20%; vegeta sharing its core with
/// three busy loops waited 45%. Above a quarter, the process was short of CPU for much of the test and its
/// figures contain other tasks' timeslices.
pub const RUN_QUEUE_SHARE_LIMIT: f64 = 0.25;
/// vegeta's p99 against the no-op may reach this for a rate to count as clean (calibration).
///
/// 2 ms: on this kind of machine vegeta's no-op p99 is about 1.4 ms at 4,000 req/s, where the server
/// spends ~20 µs per request. A p99 above 2 ms against a handler that takes microseconds is queueing inside
/// the generator (goroutine scheduling, its own connection pool), and it would sit inside every server's
/// figures at that rate.
pub const CLEAN_P99_BOUND: Duration = Duration::from_millis(2);
/// Requests a calibration probe needs before its p99 is held against [`CLEAN_P99_BOUND`]: with 1,000, the p99
/// is the 10th-worst request rather than the single worst, which one scheduler hiccup decides.
pub const CLEAN_MIN_REQUESTS: u64 = 1000;

// --- One test ---------------------------------------------------------------------------------------------

/// Time a test costs beyond its attacks: server start, seed, stop, decoding, audit (for estimates). Measured
/// at 0.2-0.3 s here for 500 req/s x 3 s tests; 1 s covers decoding and seeding at higher rates.
pub const PER_TEST_OVERHEAD: Duration = Duration::from_secs(1);
/// How long past its duration plus timeout an attack may run before it is stopped.
pub const ATTACK_OVERRUN: Duration = Duration::from_secs(10);
/// How often the scheduler checks the attack, the server and Ctrl-C during an attack.
pub const ATTACK_POLL: Duration = Duration::from_millis(50);
/// How often CPU and memory are sampled: fine enough for a 10 s attack, coarse enough to cost nothing.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(500);
/// Above this share of the ephemeral ports in TIME_WAIT, `connect()` slows down (the kernel scans for a free
/// port) and the load generator with it: a test waits for them to expire first. (Seen here: with 58% of them
/// taken, vegeta fell from 16,000 to 500 req/s; 40% leaves a margin.)
pub const TIME_WAIT_CEILING: f64 = 0.4;
/// TIME_WAIT lasts 60 s on Linux; a little more covers the timer's granularity.
pub const TIME_WAIT_LIMIT: Duration = Duration::from_secs(70);
/// How long a server may take to drain what a warm-up left queued.
pub const QUIESCE_LIMIT: Duration = Duration::from_secs(10);
/// A health check answered faster than this means nothing is queued ahead of it.
pub const QUIET_HEALTH: Duration = Duration::from_millis(50);

/// With several attackers, the share of the merged span during which all of them must have been sending:
/// below it their windows lay too far apart for the merged rate to be what the server was offered (the
/// send-rate tolerance, 1%, so a start spread the send-rate rule would not notice is not a reason either).
pub const ATTACKERS_OVERLAP_SHARE: f64 = 0.99;
/// How far ahead the agreed start of several attackers is set: long enough for every attacker's ssh session
/// to be up and its `sleep` running before the start (a session over an open ControlMaster takes tens of
/// milliseconds; a fresh one a few hundred).
pub const ATTACKERS_START_LEAD: Duration = Duration::from_secs(2);
