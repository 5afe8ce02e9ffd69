//! Progress over a whole run: a bar with ETA on a terminal (tests done, or search budget used), one line per
//! test otherwise, and printing that does not tear the bar.

use std::time::Duration;

use crate::model::TestRecord;
use crate::search::Verdict;

/// Progress over the whole run: a bar with ETA on a terminal (tests done, or search budget used), one line
/// per test otherwise.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: Option<usize>,
}

impl Progress {
    pub fn counting(total: usize) -> Progress {
        let bar = Self::bar(total as u64, "{elapsed_precise} [{bar:30}] {pos}/{len} tests, ETA {eta} | {msg}");
        Progress { bar, total: Some(total) }
    }

    pub fn budgeted(budget: Duration) -> Progress {
        let template = "{elapsed_precise} [{bar:30}] search budget {pos}/{len} s, ETA {eta} | {msg}";
        Progress { bar: Self::bar(budget.as_secs().max(1), template), total: None }
    }

    fn bar(length: u64, template: &str) -> Option<indicatif::ProgressBar> {
        use std::io::IsTerminal;
        std::io::stderr().is_terminal().then(|| {
            let style = indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ");
            indicatif::ProgressBar::new(length).with_style(style)
        })
    }

    pub fn start_test(&self, index: usize, what: &str) {
        match (&self.bar, self.total) {
            (Some(bar), _) => bar.set_message(what.to_owned()),
            (None, Some(total)) => eprintln!("[{}/{total}] {what}", index + 1),
            (None, None) => eprintln!("[probe {}] {what}", index + 1),
        }
    }

    pub fn finish_test(&self, record: &TestRecord) {
        self.report_failure(record);
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    pub fn finish_probe(&self, record: &TestRecord, verdict: &Verdict, elapsed: Duration) {
        let line = format!("  {} req/s: {} {}", record.rate, verdict.word(), verdict.detail());
        self.print(line.trim_end());
        if let Some(bar) = &self.bar {
            bar.set_position(elapsed.as_secs().min(bar.length().unwrap_or(u64::MAX)));
        }
    }

    fn report_failure(&self, record: &TestRecord) {
        if let Some(failure) = &record.failure {
            self.print(&format!("{} FAILED: {}", record.id, failure));
        }
    }

    pub fn print(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{text}")),
            None => println!("{text}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Whether stdout is a terminal (colours and clickable links only then).
pub fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}
