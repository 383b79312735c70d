//! `cargo xtask lab overload`: the service bench's password overload sent
//! through the VIP, with three, two and then one app in HAProxy's rotation,
//! to see whether the shed rate falls as apps are added (issue #15).
//!
//! HAProxy refuses more than `rate_limit_per_10s` requests per source
//! address, so the load cannot come from the client's one address: the
//! client namespace gets extra addresses of the lab's own subnet, one per
//! load client, and each client binds its connections to its own. Apps are
//! taken out of the rotation the way an operator would, by stopping their
//! `twofa` (SIGTERM); HAProxy's health checks notice it. The images and the
//! rendered configuration are left as they are.

use super::cluster::{Lab, Service};
use super::{interrupted, net, procs};
use crate::{bench, util};
use anyhow::{bail, Context, Result};
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::Duration;

pub struct Options {
    pub clients: usize,
    pub seconds: u64,
    pub accounts: usize,
    /// CPU share of each app's `twofa` (cores), standing in for hosts of
    /// their own: None leaves the apps to share the machine's cores.
    pub app_cpu: Option<f64>,
}

/// The cgroup (v1 `cpu` controller) that caps one app's CPU.
const CPU_CGROUPS: &str = "/sys/fs/cgroup/cpu";

fn cap_app_cpu(lab: &Lab, app: &str, cores: f64) -> Result<()> {
    let root = std::path::Path::new(CPU_CGROUPS);
    if !root.join("cpu.cfs_quota_us").exists() {
        bail!("--app-cpu needs the cgroup v1 cpu controller at {CPU_CGROUPS}");
    }
    if !(0.05..=64.0).contains(&cores) {
        bail!("--app-cpu {cores}: give a share of cores between 0.05 and 64");
    }
    let Some(pid) = lab.service_pid(app, Service::Twofa) else {
        bail!("{app}: twofa is not running");
    };
    let dir = root.join(format!("{}lab-{app}", net::PREFIX));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("cpu.cfs_period_us"), "100000")?;
    std::fs::write(
        dir.join("cpu.cfs_quota_us"),
        ((cores * 100_000.0) as u64).to_string(),
    )?;
    std::fs::write(dir.join("cgroup.procs"), pid.to_string())
        .with_context(|| format!("moving {app}'s twofa (pid {pid}) into {}", dir.display()))?;
    Ok(())
}

/// Moves whatever is left in the apps' cgroups back and removes them.
fn uncap_apps(apps: &[String]) {
    let root = std::path::Path::new(CPU_CGROUPS);
    for app in apps {
        let dir = root.join(format!("{}lab-{app}", net::PREFIX));
        if !dir.exists() {
            continue;
        }
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.split_whitespace() {
            let _ = std::fs::write(root.join("cgroup.procs"), pid);
        }
        let _ = std::fs::remove_dir(&dir);
    }
}

/// Long enough for HAProxy to mark a stopped app down (`check_fall`
/// checks `check_inter_ms` apart, 2 × 500 ms in the topology) with margin.
const OUT_OF_ROTATION: Duration = Duration::from_secs(3);
/// Between two runs: the apps' hash queues drain.
const SETTLE: Duration = Duration::from_secs(3);

/// Free host addresses of the lab's subnet for the load clients: above the
/// client's own address first, then below it, never a node's or the VIP.
pub fn source_addresses(lab: &Lab, n: usize) -> Result<Vec<Ipv4Addr>> {
    let client: Ipv4Addr = lab.topo.client().address.parse()?;
    let prefix = lab.topo.network.prefix_length;
    if !(8..=30).contains(&prefix) {
        bail!("prefix length {prefix} of the lab's subnet is not supported here");
    }
    let mask = u32::MAX << (32 - prefix);
    let net = u32::from(client) & mask;
    let last = net | !mask; // broadcast
    let used: Vec<u32> = lab
        .topo
        .nodes
        .iter()
        .map(|n| n.address.as_str())
        .chain([lab.topo.network.vip.as_str()])
        .filter_map(|a| a.parse::<Ipv4Addr>().ok())
        .map(u32::from)
        .collect();
    let c = u32::from(client);
    let out: Vec<Ipv4Addr> = (c + 1..last)
        .chain(net + 2..c)
        .filter(|a| !used.contains(a))
        .take(n)
        .map(Ipv4Addr::from)
        .collect();
    if out.is_empty() {
        bail!("no free address left in the lab's subnet for the load clients");
    }
    Ok(out)
}

/// One free host address of the lab's subnet for a client that must be a
/// source of its own (`{spare_address}` in a scenario's `run` command): the
/// highest, the far end of the block the load clients take upwards from the
/// client's address (an overload reaches it only with that many clients).
pub fn spare_address(lab: &Lab) -> Result<Ipv4Addr> {
    source_addresses(lab, usize::MAX)?
        .into_iter()
        .max()
        .context("no free address in the lab's subnet")
}

/// Adds host addresses of the lab's subnet to a node's eth0, so that a
/// program there can bind its connections to them.
pub fn add_addresses(lab: &Lab, node: &str, addrs: &[Ipv4Addr]) -> Result<()> {
    let ns = net::ns(node);
    for a in addrs {
        let cidr = format!("{a}/{}", lab.topo.network.prefix_length);
        let out = Command::new("ip")
            .args(["-n", &ns, "addr", "replace", &cidr, "dev", "eth0"])
            .output()
            .context("running ip")?;
        if !out.status.success() {
            bail!(
                "adding {cidr} to {ns}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    Ok(())
}

pub fn remove_addresses(lab: &Lab, node: &str, addrs: &[Ipv4Addr]) {
    for a in addrs {
        net::drop_address(node, &format!("{a}/{}", lab.topo.network.prefix_length));
    }
}

/// The three runs against a lab that is up and healthy. Apps stopped for
/// the smaller runs are started again before returning.
pub fn run(lab: &Lab, o: &Options) -> Result<Vec<bench::VipRun>> {
    let apps: Vec<String> = lab
        .topo
        .by_role(super::topology::Role::App)
        .map(|n| n.name.clone())
        .collect();
    let addrs = source_addresses(lab, o.clients)?;
    let client = lab.topo.client().name.clone();
    {
        let _t = util::step(&format!(
            "adding {} source addresses ({}–{}) to the client namespace",
            addrs.len(),
            addrs.first().expect("not empty"),
            addrs.last().expect("not empty")
        ));
        add_addresses(lab, &client, &addrs)?;
    }
    if let Some(cores) = o.app_cpu {
        let _t = util::step(&format!("capping each app's twofa at {cores} core(s)"));
        for a in &apps {
            if let Err(e) = cap_app_cpu(lab, a, cores) {
                uncap_apps(&apps);
                remove_addresses(lab, &client, &addrs);
                return Err(e);
            }
        }
    }
    let base = format!("http://{}:{}", lab.topo.network.vip, lab.topo.ports.http);
    let sources: Vec<IpAddr> = addrs.iter().map(|&a| IpAddr::V4(a)).collect();
    let (clients, seconds, accounts) = (o.clients, o.seconds, o.accounts);
    let order = apps.clone();
    let result = net::in_ns(&lab.client_ns(), move || -> Result<Vec<bench::VipRun>> {
        // A Lab of this thread: stopping a service only signals its pid.
        let lab = Lab::new()?;
        let driver = bench::VipDriver::new(&base, &sources)?;
        {
            let _t = util::step(&format!(
                "registering and enrolling {accounts} accounts through the VIP"
            ));
            driver.register(accounts, 8)?;
        }
        let mut runs = Vec::new();
        for n in (1..=order.len()).rev() {
            if n < order.len() {
                let out = &order[n];
                let _t = util::step(&format!(
                    "taking {out} out of the rotation (stopping its twofa)"
                ));
                lab.stop_service(out, Service::Twofa, procs::SIGTERM)?;
                std::thread::sleep(OUT_OF_ROTATION);
            }
            if interrupted() || util::interrupted() {
                bail!("interrupted");
            }
            let _t = util::step(&format!(
                "overload through the VIP, {n} app(s): {clients} clients for {seconds} s"
            ));
            let run = driver.overload(n, clients, seconds)?;
            eprintln!("    {}", run.summary());
            runs.push(run);
            std::thread::sleep(SETTLE);
        }
        Ok(runs)
    });
    uncap_apps(&apps);
    let restarted = (|| -> Result<()> {
        for a in &apps {
            if lab.service_pid(a, Service::Twofa).is_none() {
                lab.start_service(a, Service::Twofa)?;
            }
        }
        Ok(())
    })();
    remove_addresses(lab, &client, &addrs);
    let runs = result??;
    restarted?;
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_are_free_hosts_of_the_labs_subnet() {
        let lab = Lab::new().expect("topology");
        let taken: Vec<Ipv4Addr> = lab
            .topo
            .nodes
            .iter()
            .map(|n| n.address.as_str())
            .chain([lab.topo.network.vip.as_str()])
            .map(|a| a.parse().expect("an address"))
            .collect();
        let client: Ipv4Addr = lab.topo.client().address.parse().expect("an address");
        let all = source_addresses(&lab, 10_000).expect("some free");
        let mask = u32::MAX << (32 - lab.topo.network.prefix_length);
        let host_bits = !mask;
        // Every host of the subnet but the network, .1, broadcast and the taken ones.
        assert_eq!(all.len() as u32, host_bits - 2 - taken.len() as u32);
        let mut seen = std::collections::HashSet::new();
        for a in &all {
            assert!(seen.insert(*a), "{a} twice");
            assert!(!taken.contains(a), "{a} belongs to a node or the VIP");
            let h = u32::from(*a) & host_bits;
            assert!(h >= 2 && h < host_bits, "{a} is not a plain host address");
            assert_eq!(u32::from(*a) & mask, u32::from(client) & mask);
        }
        // Above the client's own address first.
        assert!(u32::from(all[0]) > u32::from(client));
        assert_eq!(source_addresses(&lab, 3).expect("three").len(), 3);
        assert_eq!(&source_addresses(&lab, 200).expect("200")[..], &all[..200]);
        // The spare address is the highest free one, out of the way of an
        // overload's hundred clients.
        let spare = spare_address(&lab).expect("a spare");
        assert_eq!(all.iter().copied().max(), Some(spare));
        assert!(!source_addresses(&lab, 100).expect("100").contains(&spare));
    }
}
