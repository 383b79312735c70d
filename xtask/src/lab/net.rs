//! Network namespaces, veth links and the switch, plus small helpers that
//! run code or raw HTTP requests inside a namespace.

use super::topology::{Role, Topology};
use crate::util;
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
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
    let mut s = connect(addr, port, timeout)?;
    get_over(&mut s, addr, path)
}

fn connect(addr: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
    let sa: SocketAddr = format!("{addr}:{port}").parse()?;
    let s = TcpStream::connect_timeout(&sa, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    Ok(s)
}

/// The same GET over TLS: the server's certificate must chain to the CA in
/// `tls` and name `addr` (an IP address); `tls` may carry a client
/// certificate (etcd asks every client for one).
pub fn https_get(
    addr: &str,
    port: u16,
    path: &str,
    timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
) -> Result<(u16, String)> {
    let name = rustls::pki_types::ServerName::try_from(addr.to_string())
        .with_context(|| format!("{addr:?} is no server name"))?;
    let conn = rustls::ClientConnection::new(tls, name)?;
    let mut s = rustls::StreamOwned::new(conn, connect(addr, port, timeout)?);
    get_over(&mut s, addr, path)
}

/// A TLS client that trusts only the CA in `ca` and shows the certificate
/// and key in `cert` and `key` (PEM files).
pub fn tls_client(ca: &Path, cert: &Path, key: &Path) -> Result<Arc<rustls::ClientConfig>> {
    tls_client_with(ca, Some((cert, key)))
}

/// As [`tls_client`], showing a client certificate only if given one.
pub fn tls_client_with(
    ca: &Path,
    client: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in
        CertificateDer::pem_file_iter(ca).with_context(|| format!("reading {}", ca.display()))?
    {
        roots.add(c.with_context(|| format!("a certificate in {}", ca.display()))?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let Some((cert, key)) = client else {
        return Ok(Arc::new(builder.with_no_client_auth()));
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("a certificate in {}", cert.display()))?;
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
    Ok(Arc::new(builder.with_client_auth_cert(chain, key)?))
}

fn get_over(s: &mut impl ReadWrite, addr: &str, path: &str) -> Result<(u16, String)> {
    // One write: `write!` would hand the pieces of the format to the TLS
    // stream one by one, each its own record, and a server that answers
    // after its first read and closes would reset the rest (a broken pipe
    // here, seen in the unit tests' one-read server).
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes())?;
    s.flush()?;
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Ok(_) => {}
        // Some servers close without TLS's close_notify once the body is sent.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => {}
        Err(e) => return Err(e.into()),
    }
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

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

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

/// [`https_get`] from inside a namespace; Err means unreachable or refused.
pub fn https_get_from(
    ns_name: &str,
    addr: &str,
    port: u16,
    path: &str,
    timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
) -> Result<(u16, String)> {
    let (a, p) = (addr.to_string(), path.to_string());
    in_ns(ns_name, move || https_get(&a, port, &p, timeout, tls))?
}

pub fn require_root(what: &str) -> Result<()> {
    if !util::is_root() {
        bail!("{what} needs root (network namespaces, veth links, VRRP): run it as root, e.g. `sudo -E cargo xtask lab …`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::Ca;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::net::TcpListener;

    /// A one-request HTTPS server on 127.0.0.1 that wants a client
    /// certificate from `client_ca`; answers 200 "ok".
    fn server(ca: &Ca, names: &[&str], client_ca: &Ca) -> u16 {
        let issued = ca.issue("server", names).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(client_ca.cert_pem().as_bytes()).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_client_cert_verifier(verifier)
                .with_single_cert(
                    vec![CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).unwrap()],
                    PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).unwrap(),
                )
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let conn = rustls::ServerConnection::new(config).unwrap();
            let mut s = rustls::StreamOwned::new(conn, tcp);
            let mut req = [0u8; 512];
            if s.read(&mut req).is_ok() {
                let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\nok");
                s.conn.send_close_notify();
                let _ = s.flush();
            }
        });
        port
    }

    fn client(dir: &Path, ca: &Ca, client_ca: &Ca) -> Arc<rustls::ClientConfig> {
        let me = client_ca.issue("observer", &["observer"]).unwrap();
        std::fs::write(dir.join("ca"), ca.cert_pem()).unwrap();
        std::fs::write(dir.join("cert"), me.cert_pem).unwrap();
        std::fs::write(dir.join("key"), me.key_pem).unwrap();
        tls_client(&dir.join("ca"), &dir.join("cert"), &dir.join("key")).unwrap()
    }

    /// One GET of `path` from the test server on 127.0.0.1.
    fn get(port: u16, path: &str, tls: Arc<rustls::ClientConfig>) -> Result<(u16, String)> {
        https_get("127.0.0.1", port, path, Duration::from_secs(5), tls)
    }

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = util::target_dir()
            .join("xtask-test")
            .join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn https_get_checks_the_server_and_shows_its_certificate() {
        let ca = Ca::new("test cluster CA").unwrap();
        let d = tmp("https-ok");
        let port = server(&ca, &["127.0.0.1"], &ca);
        let got = get(port, "/health", client(&d, &ca, &ca));
        assert_eq!(got.unwrap(), (200, "ok".to_string()));
    }

    #[test]
    fn https_get_refuses_a_server_that_does_not_name_the_address() {
        let ca = Ca::new("test cluster CA").unwrap();
        let d = tmp("https-name");
        let port = server(&ca, &["10.9.9.9", "db9"], &ca);
        let err = get(port, "/health", client(&d, &ca, &ca)).unwrap_err();
        assert!(format!("{err:#}").contains("certificate"), "{err:#}");
    }

    #[test]
    fn https_get_refuses_a_server_from_another_ca_and_is_refused_without_ours() {
        let ca = Ca::new("test cluster CA").unwrap();
        let impostor = Ca::new("test cluster CA").unwrap();
        let d = tmp("https-ca");
        let port = server(&impostor, &["127.0.0.1"], &ca);
        assert!(get(port, "/", client(&d, &ca, &ca)).is_err());
        // No client certificate at all.
        let port = server(&ca, &["127.0.0.1"], &ca);
        std::fs::write(d.join("ca"), ca.cert_pem()).unwrap();
        let anonymous = tls_client_with(&d.join("ca"), None).unwrap();
        assert!(get(port, "/", anonymous).is_err());
        // The server's CA trusted, but the client's certificate from another CA.
        let port = server(&ca, &["127.0.0.1"], &ca);
        assert!(get(port, "/", client(&d, &ca, &impostor)).is_err());
    }
}
