//! Network namespaces, veth links and the switch, plus small helpers that
//! run code or raw HTTP requests inside a namespace.

use super::topology::{Role, Topology};
use crate::util;
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

/// Every namespace of the lab starts with this, so a leftover lab is found
/// by name and nothing else on the machine is touched.
pub const PREFIX: &str = "twofa-";
pub const SWITCH: &str = "twofa-sw";
const BRIDGE: &str = "br0";

pub fn ns(node: &str) -> String {
    format!("{PREFIX}{node}")
}

/// The switch-side end of a node's link.
fn port(node: &str) -> String {
    format!("v{node}")
}

/// Namespaces of this lab that exist now (ours by name).
pub fn existing() -> Result<Vec<String>> {
    let out = util::output(Command::new("ip").args(["netns", "list"]))?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(PREFIX))
        .map(str::to_string)
        .collect())
}

fn ip(args: &[&str]) -> Result<()> {
    util::output(Command::new("ip").args(args)).map(|_| ())
}

pub fn sysctl(ns: &str, key: &str, value: &str) -> Result<()> {
    util::output(Command::new("ip").args([
        "netns",
        "exec",
        ns,
        "sysctl",
        "-qw",
        &format!("{key}={value}"),
    ]))
    .map(|_| ())
}

/// Creates the switch and one namespace per node, each with `eth0` wired
/// into the switch's bridge and its topology address.
pub fn create(topo: &Topology) -> Result<()> {
    ip(&["netns", "add", SWITCH]).context(
        "could not create a network namespace: the kernel needs CONFIG_NET_NS and `ip netns` needs root",
    )?;
    ip(&["-n", SWITCH, "link", "set", "lo", "up"])?;
    ip(&["-n", SWITCH, "link", "add", BRIDGE, "type", "bridge"]).context(
        "could not create a bridge: the kernel needs the `bridge` module (modprobe bridge)",
    )?;
    ip(&["-n", SWITCH, "link", "set", BRIDGE, "up"])?;
    for node in &topo.nodes {
        let n = ns(&node.name);
        ip(&["netns", "add", &n])?;
        ip(&["-n", &n, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            SWITCH,
            "link",
            "add",
            &port(&node.name),
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &n,
        ])
        .context(
            "could not create a veth pair: the kernel needs the `veth` module (modprobe veth)",
        )?;
        ip(&[
            "-n",
            SWITCH,
            "link",
            "set",
            &port(&node.name),
            "master",
            BRIDGE,
            "up",
        ])?;
        sysctl(&n, "net.ipv6.conf.all.disable_ipv6", "1")?;
        sysctl(&n, "net.ipv6.conf.default.disable_ipv6", "1")?;
        if node.role == Role::Proxy {
            // The backup's HAProxy may bind the VIP before it holds it.
            sysctl(&n, "net.ipv4.ip_nonlocal_bind", "1")?;
        }
        let cidr = format!("{}/{}", node.address, topo.network.prefix_length);
        ip(&["-n", &n, "addr", "add", &cidr, "dev", "eth0"])?;
        ip(&["-n", &n, "link", "set", "eth0", "up"])?;
    }
    Ok(())
}

/// Sets a node's link down (`block`) or up (`unblock`) on the switch side,
/// like unplugging its cable: the node sees its carrier go.
pub fn set_link(node: &str, up: bool) -> Result<()> {
    ip(&[
        "-n",
        SWITCH,
        "link",
        "set",
        &port(node),
        if up { "up" } else { "down" },
    ])
}

pub fn link_is_up(node: &str) -> bool {
    util::output(Command::new("ip").args(["-n", SWITCH, "-o", "link", "show", &port(node)]))
        .map(|s| s.contains(",UP"))
        .unwrap_or(false)
}

/// Removes an address from a node's eth0 if present (the VIP a killed
/// keepalived leaves behind).
pub fn drop_address(node: &str, cidr: &str) {
    let _ = ip(&["-n", &ns(node), "addr", "del", cidr, "dev", "eth0"]);
}

pub fn has_address(node: &str, addr: &str) -> bool {
    util::output(Command::new("ip").args([
        "-n",
        &ns(node),
        "-o",
        "-4",
        "addr",
        "show",
        "dev",
        "eth0",
    ]))
    .map(|s| {
        s.split_whitespace()
            .any(|w| w.split('/').next() == Some(addr))
    })
    .unwrap_or(false)
}

/// Process ids of everything running inside a namespace.
pub fn pids(ns: &str) -> Vec<u32> {
    util::output(Command::new("ip").args(["netns", "pids", ns]))
        .map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

pub fn delete(ns: &str) -> Result<()> {
    ip(&["netns", "del", ns])
}

extern "C" {
    fn setns(fd: i32, nstype: i32) -> i32;
}
const CLONE_NEWNET: i32 = 0x4000_0000;

/// Runs `f` on a thread that has entered the namespace `ns`: sockets it
/// opens live there. The calling thread is untouched.
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let path = format!("/run/netns/{ns}");
    let file = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
    let handle = std::thread::spawn(move || {
        // SAFETY: plain syscall on a valid descriptor; affects this thread only.
        let rc = unsafe { setns(file.as_raw_fd(), CLONE_NEWNET) };
        if rc != 0 {
            return Err(anyhow::anyhow!(
                "setns: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(f())
    });
    handle
        .join()
        .map_err(|_| anyhow::anyhow!("thread in {ns} panicked"))?
}

/// A minimal HTTP/1.0 GET: status code and body, or an error on any
/// transport failure within `timeout`.
pub fn http_get(addr: &str, port: u16, path: &str, timeout: Duration) -> Result<(u16, String)> {
    let sa: SocketAddr = format!("{addr}:{port}").parse()?;
    let mut s = TcpStream::connect_timeout(&sa, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let code: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no HTTP status line")?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// GET from inside the client namespace; Err means unreachable.
pub fn get_from(
    ns_name: &str,
    addr: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String)> {
    let (a, p) = (addr.to_string(), path.to_string());
    in_ns(ns_name, move || http_get(&a, port, &p, timeout))?
}

pub fn require_root(what: &str) -> Result<()> {
    if !util::is_root() {
        bail!("{what} needs root (network namespaces, veth links, VRRP): run it as root, e.g. `sudo -E cargo xtask lab …`");
    }
    Ok(())
}
