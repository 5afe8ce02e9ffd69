//! A session runs the plan: the matrix of fixed rates, or one saturation search per server x workers x
//! endpoint, and persists `results.json` after every test, so a crash, a Ctrl-C or a dead server never loses
//! what was already measured. A test that Ctrl-C cut short is not kept as a result.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::backend::Backend;
use super::clock::now;
use super::discovery::{self, Discovery};
use super::measure::{Finished, TestRunner};
use super::progress::{Progress, stdout_is_terminal};
use crate::config::{Plan, SearchPlan, TestCase};
use crate::defaults::{CLEAN_P99_BOUND, PER_TEST_OVERHEAD, STUDY_MIN_PROBES};
use crate::host::affinity::placement_for;
use crate::host::loopback;
use crate::judge::Slo;
use crate::judge::capacity::{Searched, capacity_line, capacity_result};
use crate::judge::validity::Invalidity;
use crate::judge::verdict;
use crate::model::{CoreLayout, Placement, RunResults, RunStatus, TestRecord, TestStatus};
use crate::report;
use crate::search::{self, Budget, Prober, Verdict};

pub struct Session<'a> {
    plan: &'a Plan,
    backend: &'a dyn Backend,
    run_dir: PathBuf,
    layout: CoreLayout,
    interrupted: Arc<AtomicBool>,
    results: RunResults,
    /// The id of the test Ctrl-C cut short, if one was running.
    discarded: Option<String>,
    /// Tests started so far: the next one's index, which picks its loopback address.
    started_tests: std::cell::Cell<u32>,
    /// The cells external arms lack, skipped.
    discovery: Discovery,
    /// Where every server listens when remote attackers must reach it (this machine's address towards them).
    attacked_address: Option<String>,
}

impl<'a> Session<'a> {
    pub(super) fn new(
        plan: &'a Plan,
        backend: &'a dyn Backend,
        run_dir: PathBuf,
        layout: CoreLayout,
        interrupted: Arc<AtomicBool>,
        results: RunResults,
        attacked_address: Option<String>,
    ) -> Session<'a> {
        Session {
            plan,
            backend,
            run_dir,
            layout,
            interrupted,
            results,
            discarded: None,
            started_tests: Default::default(),
            discovery: Discovery::default(),
            attacked_address,
        }
    }

    pub(super) fn run_all(&mut self) -> Result<()> {
        self.save()?;
        self.discover_external_catalogues()?;
        match (self.plan.study().cloned(), self.plan.search().cloned()) {
            (Some(study), _) => {
                self.run_matrix()?;
                if !self.is_interrupted() {
                    self.run_searches(&study.search)?;
                }
            }
            (None, Some(search)) => self.run_searches(&search)?,
            (None, None) => self.run_matrix()?,
        }
        self.finish()
    }

    pub(super) fn into_results(self) -> (PathBuf, RunResults) {
        (self.run_dir, self.results)
    }

    /// Reads every external arm's catalogue once; the cells it lacks are recorded as absent and skipped.
    fn discover_external_catalogues(&mut self) -> Result<()> {
        if self.plan.external.is_empty() {
            return Ok(());
        }
        let discovery = discovery::discover(self.plan, self.backend, &self.run_dir, &|| self.next_host());
        self.results.run.absent.clone_from(&discovery.absent);
        self.results.run.notes.extend(discovery.notes.iter().cloned());
        self.discovery = discovery;
        self.save()
    }

    fn run_matrix(&mut self) -> Result<()> {
        let tests: Vec<TestCase<'_>> =
            self.plan.tests().into_iter().filter(|case| !self.discovery.skips(case)).collect();
        let progress = Progress::counting(tests.len());
        let mut finished_rate = None;
        for (index, case) in tests.iter().enumerate() {
            if self.is_interrupted() {
                break;
            }
            if let Some(rate) = finished_rate.filter(|&rate| rate != case.rate) {
                progress.print(&report::rate_table(&self.results, rate, stdout_is_terminal()));
            }
            finished_rate = Some(case.rate);
            progress.start_test(index, &describe(case));
            let finished = self.run_test(case);
            progress.finish_test(&finished.record);
            self.keep(finished)?;
        }
        if let Some(rate) = finished_rate {
            progress.print(&report::rate_table(&self.results, rate, stdout_is_terminal()));
        }
        progress.finish();
        Ok(())
    }

    /// Keeps a finished test and persists; a test Ctrl-C cut short is discarded (its files stay on disk).
    fn keep(&mut self, finished: Finished) -> Result<()> {
        if finished.interrupted {
            self.discarded = Some(finished.record.id);
            return Ok(());
        }
        self.results.tests.push(finished.record);
        self.save()
    }

    /// The saturation search for every server x endpoint x workers. The budget is shared: each search gets
    /// an even share of what is left, so time a quick search leaves over goes to the later ones.
    ///
    /// A calibration runs two searches on its combination: the throughput ceiling (no latency bound), then
    /// the clean ceiling (the no-op's p99 within [`CLEAN_P99_BOUND`]). A rate the first one probed is not
    /// measured again: the second judges the same test against its own bound.
    fn run_searches(&mut self, search: &SearchPlan) -> Result<()> {
        let slos = if self.plan.is_calibration() {
            vec![search.slo, Slo { p99: CLEAN_P99_BOUND, ..search.slo }]
        } else {
            vec![search.slo]
        };
        let combos: Vec<TestCase<'_>> =
            self.plan.combinations().into_iter().filter(|case| !self.discovery.skips(case)).collect();
        let searches: Vec<(TestCase<'_>, Slo)> =
            combos.iter().flat_map(|combo| slos.iter().map(move |slo| (*combo, *slo))).collect();
        let progress = Progress::budgeted(search.budget);
        let started = Instant::now();
        let mut measured = BTreeMap::new();
        for (index, (combo, slo)) in searches.iter().enumerate() {
            if self.is_interrupted() {
                break;
            }
            let previous = index.checked_sub(1).map(|i| &searches[i].0);
            // Probes are shared only between the searches of one arm (server and I/O driver), workers and endpoint.
            if previous.is_some_and(|p| {
                (p.arm(), p.workers, p.endpoint.name) != (combo.arm(), combo.workers, combo.endpoint.name)
            }) {
                measured.clear();
            }
            let left = search.budget.saturating_sub(started.elapsed());
            let share = search_share(left, searches.len() - index, self.search_reserve());
            let budget = Budget { deadline: Instant::now() + share, probe_cost: self.probe_cost() };
            // A study's search starts where the endpoint's design puts its capacity.
            let range = self.plan.study().and_then(|s| s.search_range(combo.endpoint.name)).unwrap_or(search.range);
            let mut prober = SessionProber {
                session: self,
                combo: *combo,
                slo: *slo,
                progress: &progress,
                started,
                measured: &mut measured,
            };
            let outcome = search::find_max(&mut prober, range, budget, Instant::now);
            let shared_cores = self.placement(combo.workers).shared;
            let searched = Searched { arm: combo.arm(), workers: combo.workers, endpoint: combo.endpoint };
            let capacity = capacity_result(searched, &outcome, &self.results.tests, shared_cores);
            let bound = if slos.len() > 1 { format!(" (p99 within {:?})", slo.p99) } else { String::new() };
            progress.print(&format!("{}{bound}: {}", describe_combo(combo), capacity_line(&capacity)));
            self.results.capacity.push(capacity);
            self.save()?;
        }
        progress.finish();
        Ok(())
    }

    /// What each later search of a study keeps when an earlier one needs more than its even share (a probe
    /// the load generator limited is measured twice): [`STUDY_MIN_PROBES`] probes, enough to bracket a
    /// capacity where the design predicts it. A `--find-max` search keeps its even share.
    fn search_reserve(&self) -> Option<Duration> {
        self.plan.study().map(|_| self.probe_cost() * STUDY_MIN_PROBES)
    }

    /// What one probe is expected to cost: warm-up, attack, and the start, seed, stop and decode around them.
    fn probe_cost(&self) -> Duration {
        self.plan.warmup + self.plan.duration + PER_TEST_OVERHEAD
    }

    fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    fn finish(&mut self) -> Result<()> {
        // Every database was deleted after its audit (unless --keep-db); an empty folder is not left behind.
        let _ = std::fs::remove_dir(self.run_dir.join(super::measure::DB_FOLDER));
        let _ = std::fs::remove_dir(self.run_dir.join(super::measure::TARGETS_FOLDER));
        let interrupted = self.is_interrupted();
        let run = &mut self.results.run;
        run.status = if interrupted { RunStatus::Interrupted } else { RunStatus::Complete };
        run.finished_at = Some(now());
        run.notes.extend(run_notes(&self.results.tests));
        if interrupted {
            let cut = self.discarded.as_ref().map(|id| format!(" ({id}, cut short, is not kept)")).unwrap_or_default();
            run.notes.push(format!("the run was interrupted; only the tests listed were measured{cut}"));
        }
        self.save()
    }

    /// `results.json`, and `results.csv` beside it, so the two never disagree.
    fn save(&self) -> Result<()> {
        self.results.save(&self.run_dir)?;
        let csv = self.run_dir.join(report::CSV_FILE);
        report::write_csv(&self.results, &csv).with_context(|| format!("writing {}", csv.display()))
    }

    fn placement(&self, workers: u16) -> Placement {
        placement_for(&self.layout, workers)
    }

    /// The address the next test's server listens on: the `--server-host`'s, else `--host` when given, else
    /// the address remote attackers reach, else a loopback address of its own.
    fn next_host(&self) -> String {
        let index = self.started_tests.get();
        self.started_tests.set(index.wrapping_add(1));
        match (&self.plan.server_host, &self.plan.host, &self.attacked_address) {
            (Some(remote), _, _) => remote.address.to_string(),
            (None, Some(host), _) | (None, None, Some(host)) => host.clone(),
            (None, None, None) => loopback::test_address(&self.results.run.id, index).to_string(),
        }
    }

    /// Runs one test of this session.
    fn run_test(&self, case: &TestCase<'_>) -> Finished {
        let runner = TestRunner {
            plan: self.plan,
            backend: self.backend,
            run_dir: &self.run_dir,
            layout: &self.layout,
            interrupted: &self.interrupted,
            calibration: self.results.run.calibration.as_ref(),
        };
        runner.run_test(case, &self.next_host())
    }
}

/// Measures search probes as ordinary tests of the session: every probe is persisted like any test.
struct SessionProber<'s, 'a, 'p> {
    session: &'s mut Session<'a>,
    combo: TestCase<'p>,
    slo: Slo,
    progress: &'s Progress,
    started: Instant,
    /// Probes already measured for this combination (by rate): a second search judges them again instead
    /// of measuring them twice.
    measured: &'s mut BTreeMap<u32, (TestRecord, Vec<Invalidity>)>,
}

impl SessionProber<'_, '_, '_> {
    fn verdict(&self, record: &TestRecord, found: &[Invalidity]) -> Verdict {
        let judged = verdict::judge(record, found, &self.slo);
        if self.session.plan.is_calibration() { verdict::for_calibration(judged) } else { judged }
    }
}

impl Prober for SessionProber<'_, '_, '_> {
    /// Measures `rate`. A probe the load generator limited is measured once more (as repeat 2, both kept):
    /// a generator that cannot hold the rate fails again, one that a busy machine disturbed once does not.
    /// A calibration does not repeat: there a limited probe is the very ceiling it looks for.
    fn probe(&mut self, rate: u32) -> Option<Verdict> {
        if let Some((record, found)) = self.measured.get(&rate) {
            return Some(self.verdict(record, found));
        }
        // In a study the cost tests already hold repeats 1..=N of some rates: probes number on from there, so
        // a probe never takes a cost test's files.
        let first = self.session.plan.study().map_or(1, |study| study.repeat + 1);
        let verdict = self.measure(TestCase { rate, repeat: first, ..self.combo })?;
        let limited = matches!(&verdict, Verdict::Invalid(why) if why.starts_with(verdict::GENERATOR_LIMITED));
        if limited && !self.session.plan.is_calibration() {
            return self.measure(TestCase { rate, repeat: first + 1, ..self.combo });
        }
        Some(verdict)
    }
}

impl SessionProber<'_, '_, '_> {
    /// Runs one probe test, keeps it and judges it; `None` when the user interrupted the run.
    fn measure(&mut self, case: TestCase<'_>) -> Option<Verdict> {
        if self.session.is_interrupted() {
            return None;
        }
        self.progress.start_test(self.session.results.tests.len(), &describe(&case));
        let finished = self.session.run_test(&case);
        let verdict = self.verdict(&finished.record, &finished.invalidities);
        self.progress.finish_probe(&finished.record, &verdict, self.started.elapsed());
        let interrupted = finished.interrupted;
        if !interrupted {
            self.measured.insert(case.rate, (finished.record.clone(), finished.invalidities.clone()));
        }
        if let Err(error) = self.session.keep(finished) {
            eprintln!("warning: {error:#}");
        }
        if interrupted { None } else { Some(verdict) }
    }
}

/// The budget of the next search, with `left` to share among `remaining` searches: an even share, or, with a
/// `reserve`, more when the later ones can still each keep it.
pub(in crate::run) fn search_share(left: Duration, remaining: usize, reserve: Option<Duration>) -> Duration {
    let remaining = u32::try_from(remaining.max(1)).unwrap_or(u32::MAX);
    let even = left / remaining;
    reserve.map_or(even, |reserve| even.max(left.saturating_sub(reserve * (remaining - 1))))
}

/// Run-wide notes for the report header.
fn run_notes(tests: &[TestRecord]) -> Vec<String> {
    let mut notes = Vec::new();
    let failed = tests.iter().filter(|t| t.status == TestStatus::Failed).count();
    if failed > 0 {
        notes.push(format!("{failed} of {} tests failed; see their failure messages", tests.len()));
    }
    let invalid = tests.iter().filter(|t| t.status == TestStatus::Ok && !t.validity.valid).count();
    if invalid > 0 {
        notes.push(format!("{invalid} results are marked invalid (see their reasons)"));
    }
    let lost: u64 = tests.iter().filter_map(|t| t.write_audit.as_ref()).map(|a| a.lost).sum();
    if lost > 0 {
        notes.push(format!("{lost} acknowledged writes are missing from the database"));
    }
    notes
}

fn describe(case: &TestCase<'_>) -> String {
    format!("{} w{} {} @ {}/s", case.arm(), case.workers, case.endpoint.name, case.rate)
}

fn describe_combo(case: &TestCase<'_>) -> String {
    format!("{} w{} {}", case.arm(), case.workers, case.endpoint.name)
}
