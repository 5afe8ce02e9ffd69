use super::*;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn reading(pid: u32, start_ticks: u64, cpu_ticks: u64, at: Instant) -> CpuReading {
    CpuReading { pid, start_ticks, cpu_ticks, group_cpu: None, at }
}

#[test]
fn cpu_over_a_window_is_the_tick_difference_with_a_two_tick_bound() {
    let t0 = Instant::now();
    let start = reading(7, 100, 250, t0);
    let end = reading(7, 100, 400, t0 + Duration::from_secs(3));
    let window = cpu_between(Some(&start), t0, &end, 100).expect("measured");
    assert_eq!(window.cpu, Duration::from_millis(1500));
    assert_eq!(window.uncertainty, Duration::from_millis(20));
    assert_eq!(window.wall, Duration::from_secs(3));
    assert!((window.percent_of_one_core() - 50.0).abs() < 1e-9);
}

#[test]
fn a_process_in_its_own_cgroup_is_counted_to_the_nanosecond_not_in_ticks() {
    let t0 = Instant::now();
    let grouped =
        |ticks, nanos| CpuReading { group_cpu: Some(Duration::from_nanos(nanos)), ..reading(7, 100, ticks, t0) };
    let mut end = grouped(400, 1_501_234_567);
    end.at = t0 + Duration::from_secs(3);
    let window = cpu_between(Some(&grouped(250, 1_234_567)), t0, &end, 100).expect("measured");
    assert_eq!(window.cpu, Duration::from_millis(1500), "the group's difference, not the ticks'");
    assert!(window.uncertainty <= Duration::from_micros(1), "{:?}", window.uncertainty);
    let ticks_only = cpu_between(Some(&reading(7, 100, 250, t0)), t0, &end, 100).expect("measured");
    assert_eq!(ticks_only.uncertainty, Duration::from_millis(20), "one end without the group: ticks, ±2 of them");
}

#[test]
fn a_process_born_in_the_window_counts_everything_it_used() {
    let opened = Instant::now();
    let end = reading(9, 5000, 37, opened + Duration::from_secs(2));
    let window = cpu_between(None, opened, &end, 100).expect("measured");
    assert_eq!((window.cpu, window.wall), (Duration::from_millis(370), Duration::from_secs(2)));
}

#[test]
fn a_reused_pid_or_an_empty_window_is_unmeasured_not_zero() {
    let t0 = Instant::now();
    let start = reading(7, 100, 250, t0);
    let other = reading(7, 900, 3, t0 + Duration::from_secs(1));
    assert!(matches!(cpu_between(Some(&start), t0, &other, 100), Err(Unmeasured::PidReused { pid: 7, .. })));
    assert_eq!(cpu_between(Some(&start), t0, &start, 100), Err(Unmeasured::EmptyWindow));
}

/// Spins `threads` threads of this process until the returned flag is cleared (or 5 s pass).
fn spin(threads: usize) -> (Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>) {
    let busy = Arc::new(AtomicBool::new(true));
    let handles = (0..threads)
        .map(|_| {
            let busy = busy.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(5);
                let mut x: u64 = 0;
                while busy.load(Ordering::Relaxed) && Instant::now() < deadline {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
            })
        })
        .collect();
    (busy, handles)
}

#[test]
fn the_cpu_of_exited_threads_still_counts() {
    let ticks = clock_ticks_per_second().expect("CLK_TCK");
    let pid = std::process::id();
    let start = read_cpu(pid).expect("own stat");
    let (busy, handles) = spin(1);
    std::thread::sleep(Duration::from_millis(400));
    busy.store(false, Ordering::Relaxed);
    for handle in handles {
        let _ = handle.join();
    }
    // The spinning thread has exited: only the process total still knows its CPU.
    let end = read_cpu(pid).expect("own stat");
    let window = cpu_between(Some(&start), start.at, &end, ticks).expect("measured");
    println!("{window:?}");
    // A loaded 2-core machine can leave the spinner a fraction of a core; 50 ms of 400 is plenty.
    assert!(window.cpu >= Duration::from_millis(50), "{window:?}");
    assert!(window.cpu <= window.wall * 2 + window.uncertainty, "{window:?}");
}

#[test]
fn a_real_child_reads_the_same_as_a_zombie_until_reaped() {
    let ticks = clock_ticks_per_second().expect("CLK_TCK");
    let opened = Instant::now();
    let mut child = Command::new("sh")
        .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
        .stdin(Stdio::null())
        .spawn()
        .expect("sh runs");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !exited_unreaped(pid).expect("waitid") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let zombie = read_cpu(pid).expect("a zombie's stat still reads");
    let window = cpu_between(None, opened, &zombie, ticks).expect("measured");
    let _ = child.wait();
    println!("{window:?}");
    assert!(window.cpu > Duration::ZERO, "a busy shell used CPU: {window:?}");
    assert!(matches!(read_cpu(pid), Err(Unmeasured::ProcessGone { .. })), "reaped: gone");
}

#[test]
fn run_queue_delay_of_real_threads_competing_for_one_cpu() {
    // Three spinners on this process's CPUs wait for each other; pin them all to one CPU via the
    // affinity of the spawning thread, so they must queue even on an idle machine.
    let pid = std::process::id();
    let first = read_threads(pid).expect("own threads");
    let mut account = RunQueueAccount::open(&first);
    let (busy, handles) = {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: zeroed cpu_set_t values are valid empty sets; CPU_SET writes within one.
        let (mut one_cpu, mut saved): (libc::cpu_set_t, libc::cpu_set_t) = unsafe { std::mem::zeroed() };
        unsafe { libc::CPU_SET(0, &mut one_cpu) };
        // SAFETY: valid pointers to sets of the size given; 0 is the calling thread. New threads inherit
        // the mask, so the spinners share CPU 0; this thread gets its own mask back right after.
        unsafe { libc::sched_getaffinity(0, size, &mut saved) };
        unsafe { libc::sched_setaffinity(0, size, &one_cpu) };
        let spun = spin(3);
        unsafe { libc::sched_setaffinity(0, size, &saved) };
        spun
    };
    std::thread::sleep(Duration::from_millis(300));
    account.observe(&read_threads(pid).expect("own threads"));
    busy.store(false, Ordering::Relaxed);
    for handle in handles {
        let _ = handle.join();
    }
    std::thread::sleep(Duration::from_millis(50));
    account.observe(&read_threads(pid).expect("own threads"));
    let delay = account.delay().expect("measured");
    println!("{delay:?} share {:.2}", delay.share_of_window());
    // Other tests of this binary may start and end threads of their own meanwhile: at least these three.
    assert!(delay.threads_born >= 3 && delay.threads_exited >= 3, "{delay:?}");
    // Three runnable threads on one CPU: two wait whenever one runs, for most of 300 ms.
    assert!(delay.delay >= Duration::from_millis(150), "{delay:?}");
    assert!(delay.missing_at_most <= Duration::from_millis(3 * 400), "{delay:?}");
}

fn threads(at: Instant, delays: &[(u32, u64)]) -> ThreadsReading {
    let threads = delays.iter().map(|&(tid, d)| (tid, ThreadSchedstat { on_cpu_ns: 0, run_delay_ns: d })).collect();
    ThreadsReading { at, threads }
}

#[test]
fn threads_born_exited_and_reused_are_accounted_honestly() {
    let t0 = Instant::now();
    let s = Duration::from_secs;
    let mut account = RunQueueAccount::open(&threads(t0, &[(1, 1000), (2, 5000), (3, 700)]));
    // 1 waits 500 ns more, 2 exits, 3's id is reused by a new thread (value went down), 4 is born.
    account.observe(&threads(t0 + s(1), &[(1, 1500), (2, 5200), (3, 900), (4, 300)]));
    account.observe(&threads(t0 + s(2), &[(1, 1600), (3, 50), (4, 400)]));
    let delay = account.delay().expect("measured");
    // 1: 600; 2: 200 (until last seen); old 3: 200; new 3: 50; 4: 400.
    assert_eq!(delay.delay, Duration::from_nanos(600 + 200 + 200 + 50 + 400));
    assert_eq!(delay.busiest_thread, Duration::from_nanos(600), "the thread that waited longest");
    assert_eq!((delay.threads_seen, delay.threads_born, delay.threads_exited), (5, 2, 2));
    // Thread 2 and old thread 3 were last seen at 1 s and missed at 2 s: up to 1 s each is missing.
    assert_eq!(delay.missing_at_most, s(2));
    assert_eq!(delay.wall, s(2));
    assert!((delay.share_of_window() - 1450e-9 / 2.0).abs() < 1e-15);
    // A stale reading changes nothing; a window of one reading has no duration.
    let before = account.delay();
    account.observe(&threads(t0, &[(9, 1_000_000)]));
    assert_eq!(account.delay(), before);
    assert_eq!(RunQueueAccount::open(&threads(t0, &[(1, 5)])).delay(), Err(Unmeasured::EmptyWindow));
}
#[test]
fn a_child_followed_from_its_birth_to_its_exit() {
    let opened = Instant::now();
    let mut child = Command::new("sh")
        .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
        .stdin(Stdio::null())
        .spawn()
        .expect("sh runs");
    let mut account = ProcessAccount::born(child.id(), opened);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !exited_unreaped(child.id()).expect("waitid") && Instant::now() < deadline {
        account.observe();
        std::thread::sleep(Duration::from_millis(20));
    }
    let window = account.close(clock_ticks_per_second());
    let _ = child.wait();
    println!("{window:?}");
    let cpu = window.cpu.expect("a zombie's CPU reads");
    assert!(cpu.cpu > Duration::ZERO && cpu.wall > Duration::ZERO, "{cpu:?}");
    let run_queue = window.run_queue.expect("a zombie's threads read");
    assert_eq!((run_queue.threads_seen, run_queue.threads_born), (1, 1), "{run_queue:?}");
}

#[test]
fn a_process_gone_at_the_close_is_absent_not_zero() {
    let mut child = Command::new("sleep").arg("5").stdin(Stdio::null()).spawn().expect("sleep runs");
    let account = ProcessAccount::open(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let window = account.close(clock_ticks_per_second());
    assert!(matches!(window.cpu, Err(Unmeasured::ProcessGone { .. })), "{window:?}");
    assert!(matches!(window.run_queue, Err(Unmeasured::ProcessGone { .. })), "{window:?}");
    let never = ProcessAccount::open(u32::MAX - 1).close(Ok(100));
    assert!(matches!(never.cpu, Err(Unmeasured::ProcessGone { .. })), "{never:?}");
    let no_ticks = ProcessAccount::open(std::process::id()).close(Err(Unmeasured::EmptyWindow));
    assert_eq!(no_ticks.cpu, Err(Unmeasured::EmptyWindow));
}
