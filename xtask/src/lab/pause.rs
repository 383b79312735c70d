//! The `pause` action and the role selectors it needs: a component that is
//! alive but does not answer (SIGSTOP), resumed (SIGCONT) after the step's
//! time while the scenario goes on. A pause is always resumed: by its own
//! timer, or at once when the scenario ends first or fails (`Pauses` resumes
//! whatever is still stopped when it is dropped).

use super::cluster::Lab;
use super::topology::Role;
use super::{net, procs};
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const SIGCONT: i32 = 18;

/// What a pause step may stop, by the processes' name (comm) in the node's
/// namespace: `postgresql` is every PostgreSQL process (postmaster and
/// every backend and auxiliary process), the others are the service's own
/// processes (HAProxy: master and workers).
pub const TARGETS: &[(&str, &str, Role)] = &[
    ("postgresql", "postgres", Role::Db),
    ("patroni", "patroni", Role::Db),
    ("etcd", "etcd", Role::Db),
    ("twofa", "twofa", Role::App),
    ("haproxy", "haproxy", Role::Proxy),
    ("keepalived", "keepalived", Role::Proxy),
];

pub fn target(service: &str) -> Result<(&'static str, Role)> {
    match TARGETS.iter().find(|(s, _, _)| *s == service) {
        Some((_, comm, role)) => Ok((comm, role.clone())),
        None => bail!(
            "pause: service {service:?} is not one of {}",
            TARGETS.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn with_comm(node: &str, comm: &str) -> Vec<u32> {
    let mut pids: Vec<u32> = net::pids(&net::ns(node))
        .into_iter()
        .filter(|&p| procs::comm_ppid(p).is_some_and(|(c, _)| c == comm))
        .collect();
    pids.sort();
    pids
}

/// The etcd member that says it leads (`etcd_server_is_leader 1` on its
/// /metrics), asked from the client's namespace; a paused leader does not
/// answer, so resolve before pausing.
pub fn etcd_leader(lab: &Lab) -> Option<String> {
    lab.topo.by_role(Role::Db).find_map(|n| {
        match lab.get_tls(&n.address, lab.topo.ports.etcd_client, "/metrics") {
            Ok((200, body)) if body.lines().any(|l| l.trim() == "etcd_server_is_leader 1") => {
                Some(n.name.clone())
            }
            _ => None,
        }
    })
}

struct One {
    node: String,
    service: String,
    pids: Vec<u32>,
    seconds: f64,
    started: Instant,
    /// Unix ms just before the first SIGSTOP, for the load's accounting.
    at_ms: u64,
    /// A paused HAProxy on the proxy holding the VIP at that moment.
    held_vip: bool,
    cancel: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<f64>>,
    resumed_after_s: Option<f64>,
}

/// The pauses of one scenario run.
#[derive(Default)]
pub struct Pauses {
    list: Vec<One>,
}

impl Pauses {
    /// SIGSTOPs every `service` process of `node` and starts the timer that
    /// resumes them after `seconds`. New processes forked while the first
    /// ones were being stopped (a postmaster starting a backend) are caught
    /// by looking again until nothing new appears.
    /// `held_vip`: `node` held the VIP when it was paused (for HAProxy).
    pub fn pause(
        &mut self,
        node: &str,
        service: &str,
        seconds: f64,
        held_vip: bool,
    ) -> Result<Vec<u32>> {
        let (comm, _) = target(service)?;
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut stopped: Vec<u32> = Vec::new();
        for _ in 0..5 {
            let new: Vec<u32> = with_comm(node, comm)
                .into_iter()
                .filter(|p| !stopped.contains(p))
                .collect();
            if new.is_empty() {
                break;
            }
            for &p in &new {
                procs::signal(p, procs::SIGSTOP);
            }
            stopped.extend(new);
        }
        if stopped.is_empty() {
            bail!("{node}: no {service} process ({comm}) to pause");
        }
        eprintln!("    paused {service} on {node} (pids {stopped:?}) for {seconds} s");
        self.resume_later(node, service, stopped.clone(), seconds, at_ms, held_vip);
        Ok(stopped)
    }

    /// Starts the timer that SIGCONTs `stopped` after `seconds`.
    fn resume_later(
        &mut self,
        node: &str,
        service: &str,
        stopped: Vec<u32>,
        seconds: f64,
        at_ms: u64,
        held_vip: bool,
    ) {
        let cancel = Arc::new(AtomicBool::new(false));
        let (c, pids) = (cancel.clone(), stopped.clone());
        let started = Instant::now();
        let end = started + Duration::from_secs_f64(seconds);
        let handle = std::thread::spawn(move || {
            while Instant::now() < end && !c.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            for &p in &pids {
                procs::signal(p, SIGCONT);
            }
            started.elapsed().as_secs_f64()
        });
        self.list.push(One {
            node: node.to_string(),
            service: service.to_string(),
            pids: stopped,
            seconds,
            started,
            at_ms,
            held_vip,
            cancel,
            handle: Some(handle),
            resumed_after_s: None,
        });
    }

    /// Resumes every pause still running, now.
    pub fn resume_all(&mut self) {
        for one in &mut self.list {
            if let Some(h) = one.handle.take() {
                one.cancel.store(true, Ordering::SeqCst);
                let after = h
                    .join()
                    .unwrap_or_else(|_| one.started.elapsed().as_secs_f64());
                one.resumed_after_s = Some((after * 10.0).round() / 10.0);
            }
        }
    }

    /// Waits for every pause to end on its own timer.
    pub fn wait_all(&mut self) {
        for one in &mut self.list {
            if let Some(h) = one.handle.take() {
                let after = h
                    .join()
                    .unwrap_or_else(|_| one.started.elapsed().as_secs_f64());
                one.resumed_after_s = Some((after * 10.0).round() / 10.0);
            }
        }
    }

    /// What was paused, for the result file (after resume_all).
    pub fn record(&self) -> Value {
        json!(self
            .list
            .iter()
            .map(|o| json!({
                "node": o.node,
                "service": o.service,
                "pids": o.pids,
                "seconds": o.seconds,
                "at_ms": o.at_ms,
                "held_vip": o.held_vip,
                "resumed_after_s": o.resumed_after_s,
            }))
            .collect::<Vec<_>>())
    }

    /// The windows (unix ms, from the SIGSTOP to the SIGCONT, or to its
    /// planned time while it still runs) in which HAProxy was paused on
    /// the proxy holding the VIP.
    pub fn haproxy_hangs(&self) -> Vec<(u64, u64)> {
        self.list
            .iter()
            .filter(|o| o.service == "haproxy" && o.held_vip)
            .map(|o| {
                let s = o.resumed_after_s.unwrap_or(o.seconds);
                (o.at_ms, o.at_ms + (s * 1000.0).round() as u64)
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl Drop for Pauses {
    fn drop(&mut self) {
        self.resume_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    /// The state letter of /proc/<pid>/stat: T when stopped.
    fn state(pid: u32) -> char {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        s.rsplit_once(") ").unwrap().1.chars().next().unwrap()
    }

    fn stopped_sleep() -> std::process::Child {
        let child = Command::new("sleep")
            .arg("60")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        procs::signal(child.id(), procs::SIGSTOP);
        let start = Instant::now();
        while state(child.id()) != 'T' && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(state(child.id()), 'T');
        child
    }

    fn wait_running(pid: u32) -> bool {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if state(pid) != 'T' {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn a_pause_is_resumed_by_its_timer_and_recorded() {
        let mut child = stopped_sleep();
        let mut p = Pauses::default();
        p.resume_later("n", "test", vec![child.id()], 0.3, 0, false);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(state(child.id()), 'T', "resumed before its time");
        p.wait_all();
        assert!(wait_running(child.id()), "not resumed after its time");
        let rec = p.record();
        let after = rec[0]["resumed_after_s"].as_f64().unwrap();
        assert!(after >= 0.3, "resumed after {after} s");
        assert_eq!(rec[0]["pids"][0], child.id());
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn a_scenario_that_ends_first_resumes_its_pauses_at_once() {
        let mut child = stopped_sleep();
        let start = Instant::now();
        {
            let mut p = Pauses::default();
            p.resume_later("n", "test", vec![child.id()], 600.0, 0, false);
            // Dropped here, as when a scenario fails mid-way.
        }
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(
            wait_running(child.id()),
            "a dropped pause left its process stopped"
        );
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn only_known_services_can_be_paused() {
        assert_eq!(target("postgresql").unwrap().0, "postgres");
        assert_eq!(target("haproxy").unwrap().1, Role::Proxy);
        assert!(target("postgres").is_err());
    }
}
