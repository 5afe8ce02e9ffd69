//! A test's load as a set of attacks. Without `--attackers` the set is the one local vegeta, started at once
//! and pinned as always. With it, every named attacker runs vegeta at its share of the rate on one
//! schedule: an agreed start a little ahead, which each remote attacker waits for on its own clock (the
//! runner's plus its measured offset) and the local one, when named, on the runner's. The start is agreed
//! only once every remote attack is staged (clock measured, targets copied), so the lead covers only the
//! starts themselves. The attacks are
//! watched together (Ctrl-C or a dead server stops them all); one that fails or is killed is that
//! attacker's failure, named with its host, while the others run on.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime};

use anyhow::{Result, bail};

use super::backend::{Attack, Backend, ClockOffset, Sampler, Server, StagedAttack};
use crate::config::{Attacker, Plan, TestCase, shares};
use crate::defaults::{ATTACK_OVERRUN, ATTACK_POLL, ATTACKERS_START_LEAD};
use crate::model::SampleSeries;
use crate::sampling::Accounts;
use crate::sampling::account::CpuWindow;
use crate::tools::process::poll_until;
use crate::tools::vegeta::AttackSpec;

/// One attack of the set, before it starts.
#[derive(Debug, Clone)]
pub(super) struct Member {
    /// `None`: the one local vegeta of a run without `--attackers`.
    pub attacker: Option<Attacker>,
    pub spec: AttackSpec,
}

/// One attack of the set, once it ended.
#[derive(Debug)]
pub(super) struct MemberRun {
    pub attacker: Option<Attacker>,
    pub spec: AttackSpec,
    pub clock: ClockOffset,
    /// Why this attacker failed (it never started, died, or its results could not be brought back).
    pub failure: Option<String>,
    /// A remote attacker's CPU, read on its host, and the CPUs it had.
    pub remote_cpu: Option<(Result<CpuWindow, String>, Option<usize>)>,
}

/// What a finished set of attacks left behind.
pub(super) struct AttackRun {
    pub samples: Option<SampleSeries>,
    /// The exact accounting of the window (the server, and the local attacker when there is one).
    pub accounts: Option<Accounts>,
    /// The test's failure that is no one attacker's (the server died, Ctrl-C).
    pub failure: Option<String>,
    /// Ctrl-C stopped it before its end.
    pub cut_short: bool,
    /// The agreed start, when there were attackers.
    pub start_at: Option<SystemTime>,
    pub members: Vec<MemberRun>,
}

/// A remote attack ready to start, or why it is not.
struct Staged {
    member: Member,
    clock: ClockOffset,
    attack: Result<Box<dyn StagedAttack>, String>,
}

/// A started attack and what is known of it so far.
struct Running {
    member: Member,
    clock: ClockOffset,
    attack: Option<Box<dyn Attack>>,
    failure: Option<String>,
}

/// What running a set of attacks needs from its test: the plan, the outside world and the Ctrl-C flag.
pub(super) struct Attacks<'a> {
    pub plan: &'a Plan,
    pub backend: &'a dyn Backend,
    pub interrupted: &'a AtomicBool,
}

impl Attacks<'_> {
    fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// The attacks of one test: the one local vegeta with the whole rate, or each attacker with its share,
    /// its results in a file of its own (`{stem}_{host}.bin`).
    pub(super) fn members(&self, spec: AttackSpec) -> Vec<Member> {
        if self.plan.attackers.is_empty() {
            return vec![Member { attacker: None, spec }];
        }
        let split = shares(spec.rate, self.plan.attackers.len());
        let outputs = attacker_outputs(&spec.output, &self.plan.attackers);
        self.plan
            .attackers
            .iter()
            .zip(split)
            .zip(outputs)
            .map(|((attacker, rate), output)| {
                let cpus = if attacker.is_remote() { Vec::new() } else { spec.cpus.clone() };
                let spec = AttackSpec { rate, output, cpus, name: format!("{}@{attacker}", spec.name), ..spec.clone() };
                Member { attacker: Some(attacker.clone()), spec }
            })
            .collect()
    }

    /// Runs a set of attacks to their end, sampling when asked; stops them early on Ctrl-C or when the
    /// server dies (a failure, not an error: what was measured until then is kept).
    pub(super) fn attack(
        &self,
        server: &dyn Server,
        case: &TestCase<'_>,
        members: Vec<Member>,
        sample: bool,
    ) -> Result<AttackRun> {
        let several = members.iter().any(|m| m.attacker.is_some());
        let (staged, local) = self.stage_remotes(members);
        // Agreed once every attacker is ready: the lead covers only starting them.
        let start_at = several.then(|| SystemTime::now() + ATTACKERS_START_LEAD);
        let mut running = start_at.map(|at| Self::start_remotes(staged, at)).unwrap_or_default();
        // The local window opens before the local vegeta exists: everything it does counts.
        let opened;
        let local_pid = match local {
            Some(member) => {
                if let Some(at) = start_at {
                    std::thread::sleep(at.duration_since(SystemTime::now()).unwrap_or_default());
                }
                opened = Instant::now();
                let started = self.backend.start_attack(&member.spec);
                let started = match (started, several) {
                    (Ok(attack), _) => Ok(attack),
                    // The one local vegeta failing to start is the test's error, as it always was.
                    (Err(error), false) => return Err(error),
                    (Err(error), true) => Err(format!("{error:#}")),
                };
                let pid = started.as_ref().ok().map(|attack| attack.pid());
                let (attack, failure) = match started {
                    Ok(attack) => (Some(attack), None),
                    Err(why) => (None, Some(why)),
                };
                running.push(Running { member, clock: ClockOffset::default(), attack, failure });
                pid
            }
            None => {
                // Only remote attackers: the server's window opens at their agreed start, not the lead
                // before it (2 s of idle would halve its CPU % and dilute its run-queue share).
                if let Some(at) = start_at {
                    std::thread::sleep(at.duration_since(SystemTime::now()).unwrap_or_default());
                }
                opened = Instant::now();
                None
            }
        };
        let sampler = sample.then(|| self.backend.start_sampling(server.pid(), local_pid, opened));
        let longest = running.iter().map(|r| r.member.spec.duration + r.member.spec.timeout).max().unwrap_or_default();
        let lead = start_at.and_then(|at| at.duration_since(SystemTime::now()).ok()).unwrap_or_default();
        let deadline = Instant::now() + lead + longest + ATTACK_OVERRUN;
        let failure = self.watch(server, case, &running, deadline)?;
        self.finish(running, sampler, failure, start_at)
    }

    /// Measures each remote attacker's clock and stages its attack (its targets copied there): the slow
    /// part, done before a start is agreed. The local member (if any) is returned to be started last.
    fn stage_remotes(&self, members: Vec<Member>) -> (Vec<Staged>, Option<Member>) {
        let mut staged = Vec::new();
        let mut local = None;
        for member in members {
            let Some(attacker) = member.attacker.clone().filter(Attacker::is_remote) else {
                local = Some(member);
                continue;
            };
            let ready = self
                .backend
                .clock_offset(&attacker)
                .and_then(|clock| Ok((clock, self.backend.stage_remote_attack(&attacker, &member.spec)?)));
            staged.push(match ready {
                Ok((clock, attack)) => Staged { member, clock, attack: Ok(attack) },
                Err(error) => Staged { member, clock: ClockOffset::default(), attack: Err(format!("{error:#}")) },
            });
        }
        (staged, local)
    }

    /// Starts every staged remote attack from `start_at` on.
    fn start_remotes(staged: Vec<Staged>, start_at: SystemTime) -> Vec<Running> {
        staged
            .into_iter()
            .map(|Staged { member, clock, attack }| {
                match attack.and_then(|staged| staged.start(start_at, clock).map_err(|error| format!("{error:#}"))) {
                    Ok(attack) => Running { member, clock, attack: Some(attack), failure: None },
                    Err(why) => Running { member, clock, attack: None, failure: Some(why) },
                }
            })
            .collect()
    }

    /// Polls every attack until all have ended; the test's own failure (a dead server, Ctrl-C) when one
    /// stopped them.
    fn watch(
        &self,
        server: &dyn Server,
        case: &TestCase<'_>,
        running: &[Running],
        deadline: Instant,
    ) -> Result<Option<String>> {
        let attacks: Vec<&dyn Attack> = running.iter().filter_map(|r| r.attack.as_deref()).collect();
        let interrupt_all = || attacks.iter().for_each(|attack| attack.interrupt());
        let mut failure = None;
        let mut asked_to_stop = false;
        let ended = poll_until(deadline, ATTACK_POLL, || {
            if !asked_to_stop && self.is_interrupted() {
                interrupt_all();
                asked_to_stop = true;
            }
            if failure.is_none() {
                match server.exited() {
                    Ok(Some(status)) => {
                        failure = Some(format!(
                            "the {} server exited during the test ({status}); its stderr ends with:\n{}",
                            case.server,
                            server.stderr_tail()
                        ));
                        interrupt_all();
                        asked_to_stop = true;
                    }
                    Ok(None) => {}
                    Err(error) => return Some(Err(error)),
                }
            }
            let mut all = true;
            for attack in &attacks {
                match attack.finished() {
                    Ok(finished) => all &= finished,
                    Err(error) => return Some(Err(error)),
                }
            }
            all.then_some(Ok(()))
        });
        match ended {
            Some(result) => result?,
            None => {
                for attack in &attacks {
                    attack.stop_overrun()?;
                }
                bail!("vegeta ran {ATTACK_OVERRUN:?} past its duration plus timeout and was stopped");
            }
        }
        Ok(failure)
    }

    /// Closes the window and reaps every attack: an attacker's own failure stays its own, except for the
    /// one local vegeta of a run without attackers, whose failure is the test's error as it always was.
    fn finish(
        &self,
        running: Vec<Running>,
        sampler: Option<Box<dyn Sampler>>,
        mut failure: Option<String>,
        start_at: Option<SystemTime>,
    ) -> Result<AttackRun> {
        // Before `outcome` reaps vegeta: its final CPU time still reads.
        let (samples, accounts) = sampler.map(|sampler| sampler.stop()).unzip();
        let accounts = accounts.flatten();
        let mut members = Vec::new();
        for Running { member, clock, attack, failure: start_failure } in running {
            let mut member_failure = start_failure;
            let mut remote_cpu = None;
            if let Some(attack) = attack {
                let ended = attack.outcome().and_then(|()| attack.collect());
                match (ended, &member.attacker) {
                    (Ok(()), _) => {}
                    (Err(error), None) => return Err(error),
                    (Err(error), Some(_)) => member_failure = Some(format!("{error:#}")),
                }
                remote_cpu = attack.remote_cpu();
            }
            members.push(MemberRun {
                attacker: member.attacker,
                spec: member.spec,
                clock,
                failure: member_failure,
                remote_cpu,
            });
        }
        // Started remote first; recorded in the order they were named.
        members.sort_by_key(|m| self.plan.attackers.iter().position(|a| Some(a) == m.attacker.as_ref()));
        let cut_short = self.is_interrupted();
        if cut_short && failure.is_none() {
            failure = Some("interrupted by the user during the attack".to_owned());
        }
        Ok(AttackRun { samples, accounts, failure, cut_short, start_at, members })
    }
}

/// Each attacker's results file, one per attacker: names that differ only in characters a file name cannot
/// keep (`a_b`, `a-b`) would share a file and one attacker's results would be merged twice, so then every file
/// also carries its attacker's index (`{stem}_{host}.{index}.bin`).
fn attacker_outputs(output: &std::path::Path, attackers: &[Attacker]) -> Vec<PathBuf> {
    let outputs: Vec<PathBuf> = attackers.iter().map(|attacker| attacker_output(output, attacker)).collect();
    let distinct = outputs.iter().collect::<std::collections::BTreeSet<_>>().len() == outputs.len();
    if distinct {
        return outputs;
    }
    outputs.iter().enumerate().map(|(index, path)| path.with_extension(format!("{index}.bin"))).collect()
}

/// `{stem}_{host}.bin` beside `{stem}.bin`: each attacker's raw results, readable by `vegeta report`.
pub(super) fn attacker_output(output: &std::path::Path, attacker: &Attacker) -> PathBuf {
    let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let host: String =
        attacker.to_string().chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' }).collect();
    output.with_file_name(format!("{stem}_{host}.bin"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn attackers_whose_names_map_to_one_file_get_one_file_each() {
        let parse = |names: &str| {
            let names: Vec<String> = names.split(',').map(str::to_owned).collect();
            crate::config::attackers::resolve_attackers(&names).expect("valid names")
        };
        let output = Path::new("/run/axum_w1_simple_noop_100.bin");
        let plain = attacker_outputs(output, &parse("h1,h2"));
        assert_eq!(
            plain,
            [Path::new("/run/axum_w1_simple_noop_100_h1.bin"), Path::new("/run/axum_w1_simple_noop_100_h2.bin")]
        );
        let clashing = attacker_outputs(output, &parse("a_b,a-b"));
        assert_eq!(clashing.len(), 2);
        assert_ne!(clashing[0], clashing[1], "{clashing:?}");
    }
}
