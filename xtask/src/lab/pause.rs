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
        match lab.get(&n.address, lab.topo.ports.etcd_client, "/metrics") {
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
    pub fn pause(&mut self, node: &str, service: &str, seconds: f64) -> Result<Vec<u32>> {
        let (comm, _) = target(service)?;
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
        eprintln!("    paused {service} on {node} (pids {stopped:?}) for {seconds} s");
        self.list.push(One {
            node: node.to_string(),
            service: service.to_string(),
            pids: stopped.clone(),
            seconds,
            started,
            cancel,
            handle: Some(handle),
            resumed_after_s: None,
        });
        Ok(stopped)
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
                "resumed_after_s": o.resumed_after_s,
            }))
            .collect::<Vec<_>>())
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
