//! The password-hashing pool: a fixed number of OS threads that do nothing
//! but argon2id, run at a lower scheduling priority than the threads that
//! serve requests, behind a queue that refuses work it could not start in
//! time.
//!
//! Why its own threads: argon2id at the OWASP baseline is ~60 ms of one core
//! and 19 MiB of memory. Run on tokio's blocking pool it competes as an equal
//! with the runtime threads that answer code posts, page GETs and health
//! checks, so those queue behind hashes. Here each worker lowers its own
//! priority (`SCHED_BATCH` and a positive nice value, per thread), so the
//! kernel runs request handling first and hashing with what is left.
//!
//! Why a bounded queue: past capacity, waiting longer helps nobody. A job is
//! admitted when a worker is idle, or when its answer is expected within
//! `max_wait` (the jobs ahead, spread over the workers, plus its own hash,
//! times the recent cost of one hash) and the queue is shorter than its hard
//! bound; otherwise the caller gets [`HashError::Busy`] at once, with the
//! seconds to suggest in `Retry-After`. A queued job keeps that deadline:
//! when the workers turn out slower than estimated, the jobs that can no
//! longer be answered in time are shed as soon as that is known (each time a
//! hash finishes), not after waiting out the maximum.
//!
//! Memory: each worker owns at most one argon2 buffer, reused between hashes
//! and released after a second without work, so memory is bounded by
//! `workers × m_cost` under any load and returns to idle afterwards.

use crate::metrics::METRICS;
use argon2::Block;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// An idle worker gives its argon2 buffer back to the system after this long.
const RELEASE_IDLE_BUFFER_AFTER: Duration = Duration::from_secs(1);

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The queue is full: try again after this many seconds. Nothing was
    /// checked, so nothing may be counted against the account.
    #[error("password hashing is at capacity; retry after {retry_after_s} s")]
    Busy { retry_after_s: u64 },
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// How the workers lower their priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    /// Nice value set on each worker thread (0 = unchanged, up to 19).
    pub nice: i32,
    /// Put each worker in the `SCHED_BATCH` class (no wake-up preemption of
    /// request threads).
    pub sched_batch: bool,
}

impl Priority {
    pub const NORMAL: Priority = Priority {
        nice: 0,
        sched_batch: false,
    };

    /// Applies to the calling thread only. Lowering one's own priority
    /// needs no privilege; a failure is returned for the caller to log.
    pub fn apply_to_current_thread(self) -> Result<(), String> {
        #[cfg(target_os = "linux")]
        {
            if self.sched_batch {
                let param = libc::sched_param { sched_priority: 0 };
                // SAFETY: pid 0 is the calling thread; param is a valid struct.
                if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0 {
                    return Err(format!("SCHED_BATCH: {}", std::io::Error::last_os_error()));
                }
            }
            if self.nice != 0 {
                // SAFETY: gettid has no preconditions; on Linux a thread id
                // names that one thread for setpriority.
                let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
                // SAFETY: plain syscall on our own thread.
                if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, self.nice) } != 0 {
                    return Err(format!(
                        "nice {}: {}",
                        self.nice,
                        std::io::Error::last_os_error()
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A worker's private state, handed to every job it runs.
pub struct Scratch {
    /// The argon2 memory kept between hashes (None: released or not reused).
    pub memory: Option<Vec<Block>>,
    pub reuse: bool,
}

/// Runs with the worker's scratch, or with `None` when it waited past its
/// deadline and is answered `Busy` instead.
type Job = Box<dyn FnOnce(Option<&mut Scratch>) + Send>;

struct Queued {
    job: Job,
    at: Instant,
    /// Set when every worker was busy at admission: the instant its answer
    /// is due. A queued job that could no longer be hashed by then (the
    /// workers ran slower than estimated) is shed instead of answered late.
    deadline: Option<Instant>,
}

struct State {
    queue: VecDeque<Queued>,
    busy: usize,
    /// The longest the queue has been.
    peak: usize,
    stopping: bool,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    workers: usize,
    max_wait: Duration,
    /// Hard bound on queued jobs, whatever the cost estimate says.
    max_queue: usize,
    /// Recent wall time of one job, microseconds (moving average).
    cost_micros: AtomicU64,
}

impl Shared {
    fn cost(&self) -> Duration {
        Duration::from_micros(self.cost_micros.load(Ordering::Relaxed))
    }

    /// When every worker is taken, how long until a job handed in now is
    /// answered: the running jobs and the `ahead` queued ones finish,
    /// `workers` at a time, then its own hash runs.
    fn expected_answer(&self, ahead: usize) -> Duration {
        let rounds = (ahead / self.workers) as f64 + 2.0;
        self.cost().mul_f64(rounds)
    }

    /// Whether a job handed in with `ahead` queued jobs is refused.
    fn refuses(&self, ahead: usize) -> Option<u64> {
        let expected = self.expected_answer(ahead);
        (expected > self.max_wait || ahead >= self.max_queue)
            .then(|| expected.as_secs_f64().ceil().max(1.0) as u64)
    }
}

/// Stops the workers when the last handle to the pool goes away.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.state.lock() {
            s.stopping = true;
        }
        self.0.work.notify_all();
    }
}

/// Handle to the pool; cheap to clone.
#[derive(Clone)]
pub struct HashPool {
    shared: Arc<Shared>,
    _stop: Arc<StopOnDrop>,
}

impl HashPool {
    /// Starts `workers` threads. `first_cost` is the cost estimate used
    /// until the first job finishes.
    pub fn start(
        workers: usize,
        max_wait: Duration,
        first_cost: Duration,
        priority: Priority,
        reuse_memory: bool,
    ) -> std::io::Result<HashPool> {
        let workers = workers.max(1);
        // The queue can never need more places than jobs of 1 ms that fit
        // in the wait, per worker; at least one per worker.
        let max_queue = workers * (max_wait.as_millis() as usize).max(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                busy: 0,
                peak: 0,
                stopping: false,
            }),
            work: Condvar::new(),
            workers,
            max_wait,
            max_queue,
            cost_micros: AtomicU64::new((first_cost.as_micros() as u64).max(1)),
        });
        for i in 0..workers {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("twofa-hash-{i}"))
                .spawn(move || worker(shared, priority, reuse_memory))?;
        }
        METRICS.hash_workers.add(workers as i64);
        Ok(HashPool {
            _stop: Arc::new(StopOnDrop(shared.clone())),
            shared,
        })
    }

    pub fn workers(&self) -> usize {
        self.shared.workers
    }

    /// The hard bound on queued jobs.
    pub fn max_queue(&self) -> usize {
        self.shared.max_queue
    }

    /// Jobs waiting for a worker right now.
    pub fn queued(&self) -> usize {
        self.shared.state.lock().map_or(0, |s| s.queue.len())
    }

    /// The longest this pool's queue has been since it started.
    pub fn peak_queued(&self) -> usize {
        self.shared.state.lock().map_or(0, |s| s.peak)
    }

    /// Jobs running right now.
    pub fn busy(&self) -> usize {
        self.shared.state.lock().map_or(0, |s| s.busy)
    }

    /// The current estimate of one job's wall time.
    pub fn cost(&self) -> Duration {
        self.shared.cost()
    }

    /// The admission decision of [`HashPool::run`] taken ahead of time,
    /// without queueing anything: `Some(retry_after_s)` when a job handed
    /// in now would be shed. Lets a handler refuse before it does any other
    /// work (database round trips) for a post that cannot be hashed; the
    /// answer can change before `run`, which still decides.
    pub fn would_shed(&self) -> Option<u64> {
        let sh = &self.shared;
        let s = sh.state.lock().ok()?;
        let ahead = s.queue.len();
        if s.busy + ahead < sh.workers {
            return None;
        }
        sh.refuses(ahead)
    }

    /// Runs `f` on a worker, or refuses at once with [`HashError::Busy`]
    /// when it could not start within the maximum wait.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Scratch) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (tx, rx) = oneshot::channel();
        let retry_after_s = self.shared.max_wait.as_secs_f64().ceil().max(1.0) as u64;
        let job: Job = Box::new(move |scratch| {
            let _ = tx.send(match scratch {
                Some(scratch) => Ok(f(scratch)),
                None => Err(HashError::Busy { retry_after_s }),
            });
        });
        self.admit(job)?;
        rx.await
            .map_err(|_| HashError::Failed(anyhow::anyhow!("password hashing job failed")))?
    }

    fn admit(&self, job: Job) -> Result<(), HashError> {
        let sh = &self.shared;
        let mut s = sh
            .state
            .lock()
            .map_err(|_| HashError::Failed(anyhow::anyhow!("hash pool poisoned")))?;
        if s.stopping {
            return Err(HashError::Failed(anyhow::anyhow!(
                "password hashing is shutting down"
            )));
        }
        let ahead = s.queue.len();
        let all_busy = s.busy + ahead >= sh.workers;
        if all_busy {
            // Every worker is taken: refused unless its answer is expected
            // within the maximum; the suggested retry is when the queue
            // ahead will have drained.
            if let Some(retry_after_s) = sh.refuses(ahead) {
                drop(s);
                METRICS.hash_shed.inc();
                return Err(HashError::Busy { retry_after_s });
            }
        }
        let at = Instant::now();
        s.queue.push_back(Queued {
            job,
            at,
            deadline: all_busy.then(|| at + sh.max_wait),
        });
        s.peak = s.peak.max(s.queue.len());
        let len = s.queue.len() as i64;
        METRICS.hash_queue.set(len);
        METRICS.hash_queue_peak.max(len);
        drop(s);
        sh.work.notify_one();
        Ok(())
    }
}

fn worker(shared: Arc<Shared>, priority: Priority, reuse: bool) {
    if let Err(e) = priority.apply_to_current_thread() {
        tracing::warn!(error = %e, "cannot lower the priority of a password-hashing thread");
    }
    let mut scratch = Scratch {
        memory: None,
        reuse,
    };
    loop {
        let next = {
            let Ok(mut s) = shared.state.lock() else {
                return;
            };
            loop {
                if let Some(q) = s.queue.pop_front() {
                    s.busy += 1;
                    METRICS.hash_queue.set(s.queue.len() as i64);
                    break Some(q);
                }
                if s.stopping {
                    break None;
                }
                let Ok((guard, timeout)) = shared.work.wait_timeout(s, RELEASE_IDLE_BUFFER_AFTER)
                else {
                    return;
                };
                s = guard;
                if timeout.timed_out() && s.queue.is_empty() && scratch.memory.is_some() {
                    // Idle: give the buffer back (freed outside the lock),
                    // and what the allocator kept of the load with it.
                    let memory = scratch.memory.take();
                    drop(s);
                    drop(memory);
                    trim_heap();
                    s = match shared.state.lock() {
                        Ok(s) => s,
                        Err(_) => return,
                    };
                }
            }
        };
        let Some(Queued { job, at, deadline }) = next else {
            return;
        };
        let started = Instant::now();
        METRICS.hash_wait.observe((started - at).as_secs_f64());
        if deadline.is_some_and(|d| started + shared.cost() > d) {
            // Its hash could not be done by its deadline: shed now rather
            // than answer late.
            METRICS.hash_shed.inc();
            job(None);
            if let Ok(mut s) = shared.state.lock() {
                s.busy -= 1;
            }
            continue;
        }
        METRICS.hash_busy.add(1);
        // A panicking job must not take its worker with it; its caller sees
        // the dropped channel as a failure.
        let _ = catch_unwind(AssertUnwindSafe(|| job(Some(&mut scratch))));
        METRICS.hash_busy.add(-1);
        let took = started.elapsed().as_micros() as u64;
        let old = shared.cost_micros.load(Ordering::Relaxed);
        // A moving average over the last few jobs: follows a machine that
        // gets busier without jumping at one slow hash.
        shared
            .cost_micros
            .store(((old * 3 + took) / 4).max(1), Ordering::Relaxed);
        if let Ok(mut s) = shared.state.lock() {
            s.busy -= 1;
        }
        shed_the_late(&shared);
    }
}

/// Sheds every queued job that, at the current cost estimate, could not be
/// hashed by its deadline: its caller hears now instead of at the deadline.
fn shed_the_late(shared: &Shared) {
    let (now, cost) = (Instant::now(), shared.cost());
    let mut late = Vec::new();
    if let Ok(mut s) = shared.state.lock() {
        if s.queue.iter().all(|q| q.deadline.is_none()) {
            return;
        }
        let queue = std::mem::take(&mut s.queue);
        for (k, q) in queue.into_iter().enumerate() {
            // The k-th in line starts once the k ahead of it have run,
            // `workers` at a time.
            let done = now + cost.mul_f64((k / shared.workers) as f64 + 1.0);
            if q.deadline.is_some_and(|d| done > d) {
                late.push(q.job);
            } else {
                s.queue.push_back(q);
            }
        }
        METRICS.hash_queue.set(s.queue.len() as i64);
    }
    for job in late {
        METRICS.hash_shed.inc();
        job(None);
    }
}

/// Hands memory the allocator kept after a load back to the system (glibc
/// keeps freed blocks of many small allocations in its arenas).
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sheds_what_cannot_start_in_time_and_bounds_the_queue() {
        // One worker, jobs of 2 s, answers due within 5 s: one job runs and
        // one waits (answered after 4 s expected); a third would be answered
        // after 6 s, so it and the rest are shed.
        let pool = HashPool::start(
            1,
            Duration::from_secs(5),
            Duration::from_secs(2),
            Priority::NORMAL,
            true,
        )
        .unwrap();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let mut tasks = Vec::new();
        for i in 0..10 {
            let (p, rx) = (pool.clone(), release_rx.clone());
            tasks.push(tokio::spawn(async move {
                p.run(move |_| {
                    // Held until the test lets it go: the queue's state is
                    // fixed while the other jobs arrive.
                    let _ = rx.lock().unwrap().recv();
                })
                .await
            }));
            // The worker has taken the first job before the others come.
            while i == 0 && pool.busy() == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        // Every job has been admitted (queued or running) or refused.
        let deadline = Instant::now() + Duration::from_secs(20);
        while tasks.iter().filter(|t| t.is_finished()).count() + pool.queued() + pool.busy() < 10
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(pool.queued() <= 1, "queued {}", pool.queued());
        assert_eq!(pool.peak_queued(), 1);
        for _ in 0..10 {
            let _ = release_tx.send(());
        }
        let mut served = 0;
        let mut shed = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => served += 1,
                Err(HashError::Busy { retry_after_s }) => {
                    assert!(retry_after_s >= 1);
                    shed += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!((served, shed), (2, 8));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_queued_past_the_maximum_wait_is_shed_not_run() {
        // The estimate (1 ms) admits a second job behind one that really
        // takes 600 ms; by the time the worker is free it has waited past
        // the 200 ms maximum, so it is answered Busy instead of run late.
        let pool = HashPool::start(
            1,
            Duration::from_millis(200),
            Duration::from_millis(1),
            Priority::NORMAL,
            true,
        )
        .unwrap();
        let slow = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(|_| std::thread::sleep(Duration::from_millis(600)))
                    .await
            })
        };
        while pool.busy() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let late = pool.run(|_| "ran").await;
        assert!(
            matches!(late, Err(HashError::Busy { retry_after_s: 1 })),
            "{late:?}"
        );
        assert!(slow.await.unwrap().is_ok());
        assert_eq!(pool.run(|_| "ran").await.unwrap(), "ran");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_that_can_no_longer_be_answered_in_time_are_shed_when_a_hash_ends() {
        // The first estimate (10 ms) admits ten jobs behind a held one. The
        // held job then takes at least 800 ms, so the estimate rises to at
        // least 200 ms: with answers due 2 s after admission, at most five
        // of the ten can still be hashed in time. The others must be shed
        // as the held job ends, before the next job even starts — not one
        // by one as each reaches a worker.
        let pool = HashPool::start(
            1,
            Duration::from_secs(2),
            Duration::from_millis(10),
            Priority::NORMAL,
            true,
        )
        .unwrap();
        let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate_rx));
        let (started_tx, started_rx) = std::sync::mpsc::channel::<usize>();
        let spawn = |i: usize| {
            let (pool, gate, started) = (pool.clone(), gate.clone(), started_tx.clone());
            tokio::spawn(async move {
                pool.run(move |_| {
                    let _ = started.send(i);
                    let _ = gate.lock().unwrap().recv();
                })
                .await
            })
        };
        let held = spawn(0);
        assert_eq!(started_rx.recv().unwrap(), 0);
        let queued: Vec<_> = (1..=10).map(spawn).collect();
        while pool.queued() < 10 {
            assert!(
                !queued.iter().any(|t| t.is_finished()),
                "all ten are admitted on the first estimate"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        std::thread::sleep(Duration::from_millis(800));
        gate_tx.send(()).unwrap();
        held.await.unwrap().unwrap();
        // Either the next job starts (and is held at the gate), or every
        // queued job was shed.
        let mut next_started = false;
        for _ in 0..4000 {
            if started_rx.try_recv().is_ok() {
                next_started = true;
                break;
            }
            if queued.iter().all(|t| t.is_finished()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let still_queued = pool.queued();
        if next_started {
            assert!(
                still_queued <= 4,
                "a 200 ms hash, 1.2 s left: {still_queued} still queued behind the running one"
            );
        }
        for _ in 0..10 {
            let _ = gate_tx.send(());
        }
        let (mut served, mut shed) = (0, 0);
        for t in queued {
            match t.await.unwrap() {
                Ok(()) => served += 1,
                Err(HashError::Busy { .. }) => shed += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(served + shed, 10);
        assert!(shed >= 5, "{shed} shed, {served} served");
    }

    #[tokio::test]
    async fn an_idle_worker_always_takes_the_job() {
        // A maximum wait of zero still serves one request at a time.
        let pool = HashPool::start(
            2,
            Duration::ZERO,
            Duration::from_secs(10),
            Priority::NORMAL,
            true,
        )
        .unwrap();
        for _ in 0..3 {
            assert_eq!(pool.run(|_| 7).await.unwrap(), 7);
        }
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone() {
        let pool = HashPool::start(
            1,
            Duration::from_secs(1),
            Duration::from_millis(1),
            Priority::NORMAL,
            true,
        )
        .unwrap();
        let r = pool.run(|_| -> u8 { panic!("boom") }).await;
        assert!(matches!(r, Err(HashError::Failed(_))));
        assert_eq!(pool.run(|_| 1).await.unwrap(), 1, "the worker survived");
    }

    #[tokio::test]
    async fn workers_can_lower_their_priority() {
        let pool = HashPool::start(
            1,
            Duration::from_secs(1),
            Duration::from_millis(1),
            Priority {
                nice: 10,
                sched_batch: true,
            },
            true,
        )
        .unwrap();
        let (policy, nice) = pool
            .run(|_| {
                // SAFETY: reads the calling thread's own scheduling state.
                unsafe {
                    let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                    (
                        libc::sched_getscheduler(0),
                        libc::getpriority(libc::PRIO_PROCESS, tid),
                    )
                }
            })
            .await
            .unwrap();
        assert_eq!(policy, libc::SCHED_BATCH);
        assert_eq!(nice, 10);
    }
}
