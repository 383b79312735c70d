//! The lab's cluster: configuration generated from the topology, the
//! processes of each node, bring-up, teardown and status.

use super::config;
use super::interrupted;
use super::net;
use super::procs::{self, Spec};
use super::topology::{Node, Role, Topology};
use super::KEEPALIVED_SCRIPT_USER;
use crate::{deps, util};
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Patroni, pinned to the version nixpkgs 25.11 ships
/// (pkgs/by-name/pa/patroni/package.nix), so the lab and the images run the
/// same code. Debian 12's 3.0.2 loses acknowledged writes after a healed
/// partition.
pub const PATRONI_VERSION: &str = "4.1.0";

/// What the images run (nixpkgs 25.11, the flake's pin) for each component
/// the lab takes from Debian 12 instead, as a release line: the lab names,
/// in its results, every component whose line differs (compared on as many
/// components as given here: PostgreSQL's major, etcd's 3.x minor).
/// Patroni must be equal. Patroni, PostgreSQL and etcd are the pin's
/// (docs/nix.md); HAProxy's and keepalived's lines are nixos-25.11's as
/// known when this was written: `nix eval nixpkgs#haproxy.version` on a
/// machine with the pinned nixpkgs confirms them.
const IMAGE_VERSIONS: &[(&str, &str)] = &[
    ("patroni", PATRONI_VERSION),
    ("postgresql", "15"),
    ("etcd", "3.6"),
    ("haproxy", "3.2"),
    ("keepalived", "2.3"),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Service {
    Etcd,
    Patroni,
    Twofa,
    Haproxy,
    Keepalived,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Etcd => "etcd",
            Service::Patroni => "patroni",
            Service::Twofa => "twofa",
            Service::Haproxy => "haproxy",
            Service::Keepalived => "keepalived",
        }
    }

    pub fn parse(s: &str) -> Result<Service> {
        Ok(match s {
            "etcd" => Service::Etcd,
            "patroni" => Service::Patroni,
            "twofa" => Service::Twofa,
            "haproxy" => Service::Haproxy,
            "keepalived" => Service::Keepalived,
            _ => bail!("unknown service {s:?} (haproxy, keepalived, twofa, patroni, etcd)"),
        })
    }

    /// In start order.
    pub fn for_role(role: &Role) -> &'static [Service] {
        match role {
            Role::Proxy => &[Service::Haproxy, Service::Keepalived],
            Role::App => &[Service::Twofa],
            Role::Db => &[Service::Etcd, Service::Patroni],
            Role::Client => &[],
        }
    }
}

pub struct Lab {
    pub topo: Topology,
    pub dir: PathBuf,
}

fn short() -> Duration {
    Duration::from_millis(800)
}

impl Lab {
    pub fn new() -> Result<Lab> {
        let topo = Topology::load(&util::root().join("vm-tests/topology.toml"))?;
        Ok(Lab {
            topo,
            dir: util::target_dir().join("lab"),
        })
    }

    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.dir.join(node)
    }

    fn secrets(&self) -> PathBuf {
        self.dir.join("secrets")
    }

    fn secret(&self, name: &str) -> Result<String> {
        let p = self.secrets().join(name);
        Ok(std::fs::read_to_string(&p)
            .with_context(|| format!("reading {} (is the lab up?)", p.display()))?
            .trim()
            .to_string())
    }

    pub fn twofa_bin(&self) -> PathBuf {
        self.dir.join("bin/twofa")
    }

    fn venv(&self) -> PathBuf {
        util::target_dir().join("lab-venv")
    }

    pub fn client_ns(&self) -> String {
        net::ns(&self.topo.client().name)
    }

    /// GET from the client's namespace.
    pub fn get(&self, addr: &str, port: u16, path: &str) -> Result<(u16, String)> {
        net::get_from(&self.client_ns(), addr, port, path, short())
    }

    /// The lab's TLS client for etcd and Patroni's REST API: their
    /// certificates checked against the lab's cluster CA and the address
    /// dialled, the lab's own client certificate shown (neither takes a
    /// client without one).
    pub fn observer_tls(&self) -> Result<Arc<rustls::ClientConfig>> {
        let sec = self.secrets();
        net::tls_client(
            &sec.join("cluster-ca"),
            &sec.join("observer-cert"),
            &sec.join("observer-key"),
        )
    }

    /// GET over TLS from the client's namespace (etcd, Patroni's REST API).
    pub fn get_tls(&self, addr: &str, port: u16, path: &str) -> Result<(u16, String)> {
        net::https_get_from(
            &self.client_ns(),
            addr,
            port,
            path,
            short(),
            self.observer_tls()?,
        )
    }

    // ---------------------------------------------------------------- setup

    /// Everything that does not depend on the network: packages, users, the
    /// Patroni virtualenv, the twofa binary.
    pub fn install(&self, build: bool) -> Result<()> {
        deps::ensure(
            "the fault-tolerance lab",
            &[
                deps::pkg("haproxy", "/usr/sbin/haproxy"),
                deps::pkg("keepalived", "/usr/sbin/keepalived"),
                deps::pkg("etcd-server", "/usr/bin/etcd"),
                deps::pkg("etcd-client", "/usr/bin/etcdctl"),
                deps::pkg("postgresql-15", "/usr/lib/postgresql/15/bin/postgres"),
                deps::pkg("postgresql-client-15", "/usr/bin/psql"),
                deps::pkg("python3-venv", "/usr/lib/python3.11/ensurepip/__init__.py"),
                deps::pkg("iproute2", "/usr/bin/ip"),
                deps::pkg("util-linux", "/usr/bin/setpriv"),
                deps::pkg("openssl", "/usr/bin/openssl"),
                // The configuration comes from evaluating the NixOS modules.
                deps::pkg("nix-bin", "/usr/bin/nix-instantiate"),
            ],
        )?;
        // Debian's own cluster must never compete with the lab's.
        let start_conf = Path::new("/etc/postgresql/15/main/start.conf");
        if start_conf.exists()
            && std::fs::read_to_string(start_conf)?
                .lines()
                .any(|l| l.trim() == "auto")
        {
            std::fs::write(start_conf, "manual\n")?;
        }
        deps::system_user(
            KEEPALIVED_SCRIPT_USER,
            "keepalived runs its check scripts as this user",
        )?;
        deps::system_user("twofa", "the lab's app servers run as this user")?;
        self.ensure_patroni()?;
        if build {
            self.build_twofa()
        } else {
            self.copy_twofa()
        }
    }

    fn ensure_patroni(&self) -> Result<()> {
        let venv = self.venv();
        let patroni = venv.join("bin/patroni");
        let version = Command::new(&patroni).arg("--version").output();
        if let Ok(out) = version {
            if String::from_utf8_lossy(&out.stdout).trim() == format!("patroni {PATRONI_VERSION}") {
                return Ok(());
            }
        }
        let _t = util::step(&format!(
            "installing Patroni {PATRONI_VERSION} from PyPI into {}",
            venv.display()
        ));
        // Debian's python3, not a pyenv shim that may come first on PATH.
        util::run(
            Command::new("/usr/bin/python3")
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
        )?;
        util::run(
            Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .arg(format!("patroni[etcd3,psycopg2-binary]=={PATRONI_VERSION}")),
        )
    }

    pub fn build_twofa(&self) -> Result<()> {
        let _t = util::step("building twofa (release) for the app nodes and the client");
        util::run(
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(util::root())
                .args([
                    "build",
                    "--release",
                    "--quiet",
                    "-p",
                    "twofa",
                    "--bin",
                    "twofa",
                ]),
        )?;
        self.copy_twofa()
    }

    fn copy_twofa(&self) -> Result<()> {
        let bin_dir = self.dir.join("bin");
        std::fs::create_dir_all(&bin_dir)?;
        let dst = self.twofa_bin();
        let tmp = bin_dir.join("twofa.new");
        std::fs::copy(util::target_dir().join("release/twofa"), &tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&tmp, &dst)?;
        Ok(())
    }

    fn vars(&self, node: &str) -> config::Vars {
        config::Vars {
            node_dir: self.node_dir(node).display().to_string(),
            twofa_bin: self.twofa_bin().display().to_string(),
            repo: util::root().display().to_string(),
            address: self
                .topo
                .node(node)
                .map(|n| n.address.clone())
                .unwrap_or_default(),
        }
    }

    /// A node's files as the lab wrote them (what its processes read).
    fn node_file(&self, node: &str, name: &str) -> Result<Value> {
        let path = self.node_dir(node).join(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (is the lab up?)", path.display()))?;
        match config::parse(name, &text, false)? {
            config::Content::Data(v) => Ok(v),
            config::Content::Text(_) => bail!("{name} is not a data file"),
        }
    }

    /// Fresh per-node directories, secrets, and each node's configuration:
    /// the NixOS modules' files changed only by vm-tests/lab-substitutions.toml
    /// (checked again on what was written).
    fn write_configs(&self) -> Result<()> {
        for n in &self.topo.nodes {
            let d = self.node_dir(&n.name);
            if d.exists() {
                std::fs::remove_dir_all(&d).with_context(|| format!("removing {}", d.display()))?;
            }
            std::fs::create_dir_all(&d)?;
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755))?;
        }
        for d in [&self.dir, &self.dir.join("bin")] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
        }
        let sec = self.secrets();
        std::fs::create_dir_all(&sec)?;
        std::fs::set_permissions(&sec, std::fs::Permissions::from_mode(0o700))?;
        for name in ["superuser", "replication", "rewind", "app-db"] {
            write_private(&sec.join(name), &random_hex(16)?, None)?;
        }
        write_private(&sec.join("secret-key"), &random_hex(32)?, None)?;
        // The cluster CA the operator provides on the images (docs/nix.md,
        // "TLS between the nodes"), made afresh at every `lab up`.
        let ca = crate::certs::Ca::new("twofa lab cluster CA")?;
        std::fs::write(sec.join("cluster-ca"), ca.cert_pem())?;
        // The lab's own client certificate, for what it asks etcd.
        let observer = ca.issue("twofa lab observer", &["lab-observer"])?;
        write_private(&sec.join("observer-cert"), &observer.cert_pem, None)?;
        write_private(&sec.join("observer-key"), &observer.key_pem, None)?;

        let root = util::root();
        let subs = config::Substitutions::load(&root)?;
        let modules = {
            let _t = util::step("evaluating the NixOS modules for every node");
            config::module_files(&root)?
        };
        for n in &self.topo.nodes {
            let module = modules
                .get(&n.name)
                .with_context(|| format!("the modules rendered nothing for {}", n.name))?;
            let vars = self.vars(&n.name);
            let files = subs.apply(&n.name, module, &vars)?;
            match n.role {
                Role::Db => self.prepare_db(n, &ca)?,
                Role::Proxy => self.prepare_proxy(n)?,
                Role::App => self.prepare_app(n)?,
                Role::Client => {}
            }
            let d = self.node_dir(&n.name);
            for (name, content) in &files {
                std::fs::write(d.join(name), config::serialize(name, content)?)?;
            }
            config::verify(
                &n.name,
                module,
                &config::read_back(&d, module)?,
                &subs,
                &vars,
            )?;
        }
        std::fs::create_dir_all(self.dir.join("results"))?;
        Ok(())
    }

    fn prepare_db(&self, n: &Node, ca: &crate::certs::Ca) -> Result<()> {
        let d = self.node_dir(&n.name);
        for (sub, owner) in [
            ("etcd", "etcd"),
            ("pgdata", "postgres"),
            ("patroni", "postgres"),
            ("tls", "postgres"),
        ] {
            let p = d.join(sub);
            std::fs::create_dir_all(&p)?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700))?;
            chown(&p, owner)?;
        }
        // What the operator passes each db node as credentials: its own
        // certificate (its address and name) and key, and the cluster CA.
        let issued = ca.issue(&n.name, &[&n.address, &n.name])?;
        let tls = d.join("tls");
        write_owned(
            &tls,
            &[
                ("db-tls-cert", issued.cert_pem.as_str()),
                ("db-tls-key", issued.key_pem.as_str()),
                ("cluster-ca", ca.cert_pem().as_str()),
            ],
            "postgres",
        )?;
        // What etcd's LoadCredential= gives it: the same certificate, key
        // and CA, readable by the etcd user.
        let creds = d.join("etcd-credentials");
        std::fs::create_dir_all(&creds)?;
        write_owned(
            &creds,
            &[
                ("etcd-cert", issued.cert_pem.as_str()),
                ("etcd-key", issued.key_pem.as_str()),
                ("etcd-ca", ca.cert_pem().as_str()),
            ],
            "etcd",
        )?;
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o500))?;
        chown(&creds, "etcd")?;
        Ok(())
    }

    /// What the unit's LoadCredential= gives twofa: a directory of secrets
    /// only the service's user reads ($CREDENTIALS_DIRECTORY).
    fn prepare_app(&self, n: &Node) -> Result<()> {
        let creds = self.node_dir(&n.name).join("credentials");
        std::fs::create_dir_all(&creds)?;
        for (name, secret) in [
            ("secret-key", "secret-key"),
            ("database-password", "app-db"),
            ("database-ca", "cluster-ca"),
        ] {
            let p = creds.join(name);
            std::fs::write(&p, format!("{}\n", self.secret(secret)?))?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400))?;
            chown(&p, "twofa")?;
        }
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o500))?;
        chown(&creds, "twofa")
    }

    /// HAProxy's runtime directory and the self-signed certificate the
    /// proxy role's twofa-proxy-certificate unit makes at first boot.
    fn prepare_proxy(&self, n: &Node) -> Result<()> {
        let d = self.node_dir(&n.name);
        let run = d.join("haproxy");
        std::fs::create_dir_all(&run)?;
        chown(&run, "haproxy")?;
        let vip = &self.topo.network.vip;
        let (key, crt) = (d.join("key.pem"), d.join("cert.pem"));
        util::output(
            Command::new("openssl")
                .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
                .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650"])
                .arg("-subj")
                .arg(format!("/CN={vip}"))
                .arg("-addext")
                .arg(format!("subjectAltName=IP:{vip},DNS:{}", n.name))
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&crt),
        )?;
        let pem = d.join("haproxy.pem");
        std::fs::write(
            &pem,
            std::fs::read_to_string(&crt)? + &std::fs::read_to_string(&key)?,
        )?;
        std::fs::remove_file(&key)?;
        std::fs::remove_file(&crt)?;
        util::run(Command::new("chgrp").arg("haproxy").arg(&pem))?;
        std::fs::set_permissions(&pem, std::fs::Permissions::from_mode(0o640))?;
        Ok(())
    }

    // ------------------------------------------------------------ processes

    fn pid_file(&self, node: &str, svc: Service) -> PathBuf {
        self.node_dir(node).join(format!("{}.pid", svc.name()))
    }

    pub fn service_pid(&self, node: &str, svc: Service) -> Option<u32> {
        procs::read_pid(&self.pid_file(node, svc)).filter(|&p| procs::alive(p))
    }

    /// Starts a service the way its unit does: the same program, the files
    /// the modules render (see write_configs), secrets as the unit hands
    /// them over. The lab supervises nothing: a service that dies stays
    /// dead until a scenario starts it (vm-tests/README.md).
    pub fn start_service(&self, node: &str, svc: Service) -> Result<u32> {
        self.topo.node(node)?;
        let t = &self.topo;
        let d = self.node_dir(node);
        let ns = net::ns(node);
        let log = d.join(format!("{}.log", svc.name()));
        let pid_file = self.pid_file(node, svc);
        let _ = std::fs::remove_file(&pid_file);
        let s = |x: &str| x.to_string();
        let p = |x: &Path| x.display().to_string();
        let (user, argv, env): (Option<&str>, Vec<String>, Vec<(String, String)>) = match svc {
            // The unit runs etcd with no arguments and its settings in ETCD_*.
            Service::Etcd => {
                let env = self.node_file(node, "etcd.env")?;
                let env = env
                    .as_object()
                    .context("etcd.env holds no variables")?
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect();
                (Some("etcd"), vec![s("/usr/bin/etcd")], env)
            }
            // The unit's environmentFiles carry the passwords.
            Service::Patroni => (
                Some("postgres"),
                vec![
                    p(&self.venv().join("bin/patroni")),
                    p(&d.join("patroni.yml")),
                ],
                vec![
                    (s("HOME"), p(&d.join("patroni"))),
                    (s("PATRONI_SUPERUSER_PASSWORD"), self.secret("superuser")?),
                    (
                        s("PATRONI_REPLICATION_PASSWORD"),
                        self.secret("replication")?,
                    ),
                    (s("PATRONI_REWIND_PASSWORD"), self.secret("rewind")?),
                ],
            ),
            // `twofa serve --config` with LoadCredential's directory.
            Service::Twofa => (
                Some("twofa"),
                vec![
                    p(&self.twofa_bin()),
                    s("serve"),
                    s("--config"),
                    p(&d.join("twofa.toml")),
                ],
                vec![(s("CREDENTIALS_DIRECTORY"), p(&d.join("credentials")))],
            ),
            // The unit: `haproxy -Ws -f …` as the haproxy user with
            // CAP_NET_BIND_SERVICE (here: unprivileged ports in the
            // namespace), ExecStartPost= and ExecStopPost= writing the
            // keepalived track file; this shell does what systemd does.
            Service::Haproxy => {
                net::sysctl(&ns, "net.ipv4.ip_unprivileged_port_start", "0")?;
                let state = self.node_file(node, "haproxy-state.json")?;
                let field = |k: &str| -> Result<String> {
                    state[k]
                        .as_str()
                        .map(str::to_owned)
                        .with_context(|| format!("haproxy-state.json has no {k}"))
                };
                let script = format!(
                    "setpriv --reuid haproxy --regid haproxy --init-groups -- /usr/sbin/haproxy -Ws -f {cfg} & child=$!; \
                     echo {running} > {track}; echo $child > {pid}; wait $child; rc=$?; echo {stopped} > {track}; exit $rc",
                    cfg = p(&d.join("haproxy.cfg")),
                    pid = p(&pid_file),
                    track = field("file")?,
                    running = field("running")?,
                    stopped = field("stopped")?,
                );
                // The track file is written before the pid file, so a
                // keepalived started after this returns never finds it
                // missing (its init_file would then race the wrapper).
                let wrapper_pid = d.join("haproxy-wrapper.pid");
                procs::spawn(Spec {
                    ns: &ns,
                    user: None,
                    argv: vec![s("/bin/sh"), s("-c"), script],
                    env: vec![],
                    log: &log,
                    pid_file: &wrapper_pid,
                })?;
                let start = Instant::now();
                while start.elapsed() < Duration::from_secs(3) {
                    if let Some(pid) = procs::read_pid(&pid_file) {
                        return Ok(pid);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                bail!("{node}: HAProxy did not start; see {}", log.display());
            }
            Service::Keepalived => {
                // A keepalived killed with -9 leaves the VIP behind.
                net::drop_address(
                    node,
                    &format!("{}/{}", t.network.vip, t.network.prefix_length),
                );
                (
                    None,
                    vec![
                        s("/usr/sbin/keepalived"),
                        s("--dont-fork"),
                        s("--log-console"),
                        s("--log-detail"),
                        s("--vrrp"),
                        s("-f"),
                        p(&d.join("keepalived.conf")),
                        s("-p"),
                        p(&d.join("keepalived-main.pid")),
                        s("-r"),
                        p(&d.join("keepalived-vrrp.pid")),
                        s("-c"),
                        p(&d.join("keepalived-checkers.pid")),
                    ],
                    vec![],
                )
            }
        };
        let pid_tmp = d.join(format!("{}.spawn.pid", svc.name()));
        let pid = procs::spawn(Spec {
            ns: &ns,
            user,
            argv,
            env,
            log: &log,
            pid_file: &pid_tmp,
        })?;
        // keepalived writes its own pid file too; ours is authoritative.
        std::fs::rename(&pid_tmp, &pid_file)?;
        Ok(pid)
    }

    /// Sends `sig` to a service; with SIGTERM waits for it to exit.
    pub fn stop_service(&self, node: &str, svc: Service, sig: i32) -> Result<()> {
        let Some(pid) = self.service_pid(node, svc) else {
            bail!("{node}: {} is not running", svc.name());
        };
        // Children first would race; signal the service's main process.
        procs::signal(pid, sig);
        let limit = if sig == procs::SIGKILL { 5 } else { 30 };
        if !procs::wait_gone(pid, Duration::from_secs(limit)) {
            bail!(
                "{node}: {} (pid {pid}) did not exit within {limit} s of signal {sig}",
                svc.name()
            );
        }
        if svc == Service::Patroni {
            // Patroni stops its PostgreSQL on TERM; after KILL the postmaster
            // lives on, as on a real machine when only the agent dies.
        }
        Ok(())
    }

    pub fn start_node(&self, node: &str) -> Result<()> {
        let n = self.topo.node(node)?.clone();
        if n.role == Role::Proxy {
            net::drop_address(
                node,
                &format!(
                    "{}/{}",
                    self.topo.network.vip, self.topo.network.prefix_length
                ),
            );
        }
        net::set_link(node, true)?;
        for &svc in Service::for_role(&n.role) {
            if self.service_pid(node, svc).is_none() {
                self.start_service(node, svc)?;
            }
        }
        Ok(())
    }

    /// A node dies: its cable goes, every process in it freezes and dies.
    pub fn crash_node(&self, node: &str) -> Result<()> {
        self.topo.node(node)?;
        net::set_link(node, false)?;
        procs::freeze_and_kill(&net::pids(&net::ns(node)));
        Ok(())
    }

    // ---------------------------------------------------------- observation

    /// The Patroni leader, asked of every reachable member's REST API.
    pub fn db_leader(&self) -> Option<String> {
        self.topo.by_role(Role::Db).find_map(|n| {
            match self.get_tls(&n.address, self.topo.ports.patroni_api, "/primary") {
                Ok((200, _)) => Some(n.name.clone()),
                _ => None,
            }
        })
    }

    pub fn patroni_cluster(&self) -> Option<Value> {
        self.topo.by_role(Role::Db).find_map(|n| {
            match self.get_tls(&n.address, self.topo.ports.patroni_api, "/cluster") {
                Ok((200, body)) => serde_json::from_str(&body).ok(),
                _ => None,
            }
        })
    }

    pub fn patroni_config(&self) -> Option<Value> {
        self.topo.by_role(Role::Db).find_map(|n| {
            match self.get_tls(&n.address, self.topo.ports.patroni_api, "/config") {
                Ok((200, body)) => serde_json::from_str(&body).ok(),
                _ => None,
            }
        })
    }

    /// The proxies holding the VIP on their eth0 (one when healthy).
    pub fn vip_holders(&self) -> Vec<String> {
        self.topo
            .by_role(Role::Proxy)
            .filter(|n| net::has_address(&n.name, &self.topo.network.vip))
            .map(|n| n.name.clone())
            .collect()
    }

    pub fn proxy_master(&self) -> Option<String> {
        self.vip_holders().into_iter().find(|n| net::link_is_up(n))
    }

    /// Why the cluster is not healthy yet, or None when it is.
    pub fn unhealthy(&self) -> Option<String> {
        for n in &self.topo.nodes {
            if !net::link_is_up(&n.name) {
                return Some(format!("{}: link down", n.name));
            }
            for &svc in Service::for_role(&n.role) {
                if self.service_pid(&n.name, svc).is_none() {
                    return Some(format!("{}: {} not running", n.name, svc.name()));
                }
            }
        }
        if let Some(why) = self.db_unhealthy() {
            return Some(why);
        }
        for a in self.topo.by_role(Role::App) {
            match self.get(&a.address, self.topo.ports.app, "/readyz") {
                Ok((200, _)) => {}
                Ok((c, _)) => return Some(format!("{}: /readyz answers {c}", a.name)),
                Err(e) => return Some(format!("{}: /readyz: {e}", a.name)),
            }
        }
        let holders = self.vip_holders();
        if holders.len() != 1 {
            return Some(format!("VIP held by {holders:?}"));
        }
        match self.get(&self.topo.network.vip, self.topo.ports.http, "/readyz") {
            Ok((200, _)) => None,
            Ok((c, _)) => Some(format!("VIP /readyz answers {c}")),
            Err(e) => Some(format!("VIP /readyz: {e}")),
        }
    }

    /// A leader, a synchronous standby, every other member streaming with no lag.
    fn db_unhealthy(&self) -> Option<String> {
        let Some(c) = self.patroni_cluster() else {
            return Some("no Patroni REST API answers".into());
        };
        let members = c["members"].as_array().cloned().unwrap_or_default();
        let dbs = self.topo.by_role(Role::Db).count();
        if members.len() != dbs {
            return Some(format!("Patroni sees {} of {dbs} members", members.len()));
        }
        let leaders = members.iter().filter(|m| m["role"] == "leader").count();
        if leaders != 1 {
            return Some(format!("{leaders} Patroni leaders"));
        }
        if self.topo.patroni.synchronous_mode
            && !members.iter().any(|m| m["role"] == "sync_standby")
        {
            return Some("no synchronous standby yet".into());
        }
        for m in &members {
            if m["role"] == "leader" {
                if m["state"] != "running" {
                    return Some(format!("leader {} is {}", m["name"], m["state"]));
                }
                // The member list comes from etcd and can name a leader that
                // has not yet (or no longer) taken the role itself; a fault
                // aimed at `@db-leader` needs the leader's own word.
                let name = m["name"].as_str().unwrap_or_default();
                let Some(node) = self.topo.by_role(Role::Db).find(|n| n.name == name) else {
                    return Some(format!("leader {name} is not a lab node"));
                };
                match self.get_tls(&node.address, self.topo.ports.patroni_api, "/primary") {
                    Ok((200, _)) => {}
                    other => return Some(format!("leader {name}: /primary: {}", show(&other))),
                }
                continue;
            }
            if m["state"] != "streaming" {
                return Some(format!("{} is {}, not streaming", m["name"], m["state"]));
            }
            if m["lag"].as_u64() != Some(0) {
                return Some(format!("{} lags {}", m["name"], m["lag"]));
            }
        }
        None
    }

    pub fn wait_healthy(&self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let mut why = String::new();
        while start.elapsed() < timeout {
            if interrupted() {
                bail!("interrupted");
            }
            match self.unhealthy() {
                None => return Ok(()),
                Some(w) => why = w,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        bail!(
            "the cluster was not healthy within {} s: {why}",
            timeout.as_secs()
        )
    }

    // ------------------------------------------------------------ bring-up

    /// Brings the whole lab up from nothing; returns per-phase timings.
    pub fn up(&self) -> Result<Value> {
        let mut phases = serde_json::Map::new();
        let t0 = Instant::now();
        let mut mark = |name: &str, since: &mut Instant| {
            let s = since.elapsed().as_secs_f64();
            eprintln!(
                "    {name} ready after {s:.1} s (total {:.1} s)",
                t0.elapsed().as_secs_f64()
            );
            phases.insert(name.to_string(), json!((s * 10.0).round() / 10.0));
            *since = Instant::now();
        };
        let versions = self.versions()?;
        let mut since = Instant::now();
        self.write_configs()?;
        net::create(&self.topo)?;
        mark("network", &mut since);

        let dbs: Vec<Node> = self.topo.by_role(Role::Db).cloned().collect();
        for n in &dbs {
            self.start_service(&n.name, Service::Etcd)?;
        }
        self.wait_for("etcd", Duration::from_secs(30), |lab| {
            for n in &dbs {
                lab.alive_or_fail(&n.name, Service::Etcd)?;
                match lab.get_tls(&n.address, lab.topo.ports.etcd_client, "/health") {
                    Ok((200, b)) if b.contains("true") => {}
                    other => {
                        return Ok(Some(format!("{}: etcd /health: {}", n.name, show(&other))))
                    }
                }
            }
            Ok(None)
        })?;
        mark("etcd", &mut since);

        for n in &dbs {
            self.start_service(&n.name, Service::Patroni)?;
        }
        self.wait_for("a Patroni leader", Duration::from_secs(60), |lab| {
            for n in &dbs {
                lab.alive_or_fail(&n.name, Service::Patroni)?;
            }
            Ok(match lab.db_leader() {
                Some(_) => None,
                None => Some("no member answers /primary".into()),
            })
        })?;
        mark("patroni leader", &mut since);
        self.create_app_database()?;
        self.wait_for("the Patroni replicas", Duration::from_secs(90), |lab| {
            for n in &dbs {
                lab.alive_or_fail(&n.name, Service::Patroni)?;
            }
            Ok(lab.db_unhealthy())
        })?;
        mark("patroni replicas", &mut since);
        let replication_tls = self.check_replication_tls()?;
        eprintln!("==> replication over TLS: {replication_tls}");
        let control_plane_tls = self.check_control_plane_tls()?;
        eprintln!("==> etcd and Patroni's REST API over TLS: {control_plane_tls}");
        // The check is not part of the bring-up's phases.
        since = Instant::now();

        let apps: Vec<Node> = self.topo.by_role(Role::App).cloned().collect();
        for n in &apps {
            self.start_service(&n.name, Service::Twofa)?;
        }
        self.wait_for("the app servers", Duration::from_secs(60), |lab| {
            for n in &apps {
                lab.alive_or_fail(&n.name, Service::Twofa)?;
                match lab.get(&n.address, lab.topo.ports.app, "/readyz") {
                    Ok((200, _)) => {}
                    other => return Ok(Some(format!("{}: /readyz: {}", n.name, show(&other)))),
                }
            }
            Ok(None)
        })?;
        mark("apps", &mut since);

        for n in self.topo.by_role(Role::Proxy) {
            self.start_service(&n.name, Service::Haproxy)?;
            self.start_service(&n.name, Service::Keepalived)?;
        }
        self.wait_for("the proxies and the VIP", Duration::from_secs(30), |lab| {
            for n in lab.topo.by_role(Role::Proxy) {
                lab.alive_or_fail(&n.name, Service::Haproxy)?;
                lab.alive_or_fail(&n.name, Service::Keepalived)?;
            }
            Ok(lab.unhealthy())
        })?;
        mark("proxies", &mut since);
        let total = t0.elapsed().as_secs_f64();
        eprintln!("==> lab up in {total:.1} s: {} (VIP)", self.topo.vip_url());
        Ok(json!({
            "bring_up_s": (total * 10.0).round() / 10.0,
            "phases_s": phases,
            "patroni_version": PATRONI_VERSION,
            "versions": versions,
            "replication_tls": replication_tls,
            "control_plane_tls": control_plane_tls,
        }))
    }

    /// Each component's version here and on the images; refuses a Patroni
    /// other than the images' (its leader-key handling decides whether a
    /// healed partition loses writes).
    pub fn versions(&self) -> Result<Value> {
        let probe = |program: PathBuf, arg: &str| -> Result<String> {
            let out = Command::new(&program)
                .arg(arg)
                .output()
                .with_context(|| format!("running {} {arg}", program.display()))?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            version_in(&text)
                .with_context(|| format!("no version in `{} {arg}`: {text}", program.display()))
        };
        let lab = [
            (
                "patroni",
                probe(self.venv().join("bin/patroni"), "--version")?,
            ),
            (
                "postgresql",
                probe("/usr/lib/postgresql/15/bin/postgres".into(), "--version")?,
            ),
            ("etcd", probe("/usr/bin/etcd".into(), "--version")?),
            ("haproxy", probe("/usr/sbin/haproxy".into(), "-v")?),
            (
                "keepalived",
                probe("/usr/sbin/keepalived".into(), "--version")?,
            ),
        ];
        let mut out = serde_json::Map::new();
        let mut differ = Vec::new();
        for (name, here) in lab {
            let image = IMAGE_VERSIONS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| *v)
                .unwrap_or("?");
            let parts = image.split('.').count();
            let line = |v: &str| v.split('.').take(parts).collect::<Vec<_>>().join(".");
            let line_differs = line(&here) != line(image);
            if line_differs {
                differ.push(format!("{name} {here} (images: {image})"));
            }
            out.insert(
                name.into(),
                json!({"lab": here, "images": image, "line_differs": line_differs}),
            );
        }
        if out["patroni"]["lab"] != PATRONI_VERSION {
            bail!(
                "the lab's Patroni is {}, the images' is {PATRONI_VERSION}: rerun `cargo xtask lab up` to reinstall it",
                out["patroni"]["lab"]
            );
        }
        if !differ.is_empty() {
            eprintln!(
                "    release lines differ from the images': {}",
                differ.join(", ")
            );
        }
        out.insert("differ_from_images".into(), json!(differ));
        Ok(Value::Object(out))
    }

    fn alive_or_fail(&self, node: &str, svc: Service) -> Result<()> {
        if self.service_pid(node, svc).is_none() {
            bail!(
                "{node}: {} exited during bring-up; see {}",
                svc.name(),
                self.node_dir(node)
                    .join(format!("{}.log", svc.name()))
                    .display()
            );
        }
        Ok(())
    }

    fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Lab) -> Result<Option<String>>,
    ) -> Result<()> {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < timeout {
            if interrupted() {
                bail!("interrupted while waiting for {what}");
            }
            match check(self)? {
                None => return Ok(()),
                Some(why) => last = why,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "{what} did not come up within {} s: {last}\n(logs under {})",
            timeout.as_secs(),
            self.dir.display()
        )
    }

    /// Replication between the db nodes goes over TLS with a client
    /// certificate, and nothing else gets in: every walsender on the leader
    /// shows TLS and the replica's certificate (`pg_stat_ssl.client_dn`),
    /// and from a replica's namespace a replication connection without TLS,
    /// or with TLS but no certificate, is refused by the server's host-based authentication.
    fn check_replication_tls(&self) -> Result<Value> {
        let leader = self.db_leader().context("no leader")?;
        let replicas: Vec<Node> = self
            .topo
            .by_role(Role::Db)
            .filter(|n| n.name != leader)
            .cloned()
            .collect();
        let counts = self.psql(
            &leader,
            "postgres",
            "SELECT count(*), count(*) FILTER (WHERE s.ssl AND s.client_dn IS NOT NULL) \
             FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)",
        )?;
        let (all, tls) = counts
            .trim()
            .split_once('|')
            .with_context(|| format!("pg_stat_replication: {counts:?}"))?;
        ensure!(
            all == replicas.len().to_string() && tls == all,
            "{leader}: {tls} of {all} walsenders over TLS with a client certificate, \
             {} replicas expected",
            replicas.len()
        );
        let address = &self.topo.node(&leader)?.address;
        let from = &replicas.first().context("no replica")?.name;
        let mut refused = serde_json::Map::new();
        for (what, mode, expect) in [
            ("without TLS", "sslmode=disable", "no encryption"),
            (
                "TLS without a client certificate",
                "sslmode=require sslcert=/nonexistent sslkey=/nonexistent",
                "certificate",
            ),
        ] {
            let conn = format!(
                "host={address} port={} user=replicator dbname=replication replication=true \
                 connect_timeout=3 {mode}",
                self.topo.ports.postgres
            );
            match self.psql_conn(from, &conn, &self.secret("replication")?, "IDENTIFY_SYSTEM") {
                Ok(out) => {
                    bail!("{from} → {leader}: a replication connection {what} was accepted: {out}")
                }
                Err(e) => {
                    let e = format!("{e:#}");
                    ensure!(
                        e.contains(expect),
                        "{from} → {leader}: a replication connection {what} failed, but not as the host-based authentication refuses it: {e}"
                    );
                    refused.insert(what.to_string(), Value::String(e));
                }
            }
        }
        Ok(json!({
            "walsenders_with_tls_and_client_certificate": format!("{tls} of {all}"),
            "refused": refused,
        }))
    }

    /// etcd (client port) and Patroni's REST API take only TLS clients that
    /// show a certificate from the cluster CA: on every db node a plain
    /// HTTP request and a TLS request without a client certificate get no
    /// answer (an error, or etcd's 400 to plain HTTP), while the lab's own
    /// requests (every wait and observation) go over TLS with one.
    fn check_control_plane_tls(&self) -> Result<Value> {
        let sec = self.secrets();
        let anonymous = net::tls_client_with(&sec.join("cluster-ca"), None)?;
        let ns = self.client_ns();
        let mut out = serde_json::Map::new();
        for n in self.topo.by_role(Role::Db) {
            for (service, port, path) in [
                ("etcd", self.topo.ports.etcd_client, "/health"),
                ("patroni", self.topo.ports.patroni_api, "/cluster"),
            ] {
                let shown = |r: &Result<(u16, String)>| match r {
                    Ok((code, _)) => format!("HTTP {code}"),
                    Err(e) => format!("refused: {e:#}"),
                };
                let plain = net::get_from(&ns, &n.address, port, path, short());
                let no_cert =
                    net::https_get_from(&ns, &n.address, port, path, short(), anonymous.clone());
                let with_cert = self.get_tls(&n.address, port, path);
                let answered = |r: &Result<(u16, String)>| matches!(r, Ok((200, _)));
                ensure!(
                    !answered(&plain) && !answered(&no_cert) && answered(&with_cert),
                    "{} {service}: plain HTTP {}, TLS without a client certificate {}, \
                     with the lab's certificate {}",
                    n.name,
                    shown(&plain),
                    shown(&no_cert),
                    shown(&with_cert)
                );
                out.insert(
                    format!("{}/{service}", n.name),
                    json!({"plain": shown(&plain), "tls_without_client_certificate": shown(&no_cert)}),
                );
            }
        }
        Ok(Value::Object(out))
    }

    /// The app's role and database, created once on the new leader.
    fn create_app_database(&self) -> Result<()> {
        let leader = self.db_leader().context("no leader")?;
        let pw = self.secret("app-db")?;
        let user = &self.topo.app.database_user;
        let db = &self.topo.app.database;
        for sql in [
            "SET password_encryption = 'scram-sha-256'".to_string(),
            format!("CREATE ROLE {user} LOGIN PASSWORD '{pw}'"),
            format!("CREATE DATABASE {db} OWNER {user}"),
        ] {
            self.psql(&leader, "postgres", &sql)
                .context("creating the app's role and database")?;
        }
        Ok(())
    }

    /// Runs SQL as the superuser on a db node over its loopback.
    pub fn psql(&self, node: &str, db: &str, sql: &str) -> Result<String> {
        let conn = format!(
            "host=127.0.0.1 port={} user=postgres dbname={db} connect_timeout=3",
            self.topo.ports.postgres
        );
        self.psql_conn(node, &conn, &self.secret("superuser")?, sql)
    }

    /// Runs SQL with psql in a node's namespace over the connection `conn`.
    fn psql_conn(&self, node: &str, conn: &str, password: &str, sql: &str) -> Result<String> {
        // Not util::output: its error message would show the password.
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &net::ns(node),
                "psql",
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
                conn,
                "-c",
                sql,
            ])
            .env("PGPASSWORD", password)
            .output()
            .context("running psql")?;
        if !out.status.success() {
            bail!(
                "psql on {node} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    // ------------------------------------------------------------- teardown

    /// Stops every process in the lab's namespaces (by the ids found in
    /// them) and deletes the namespaces.
    pub fn down(&self) -> Result<bool> {
        let namespaces = net::existing()?;
        if namespaces.is_empty() {
            return Ok(false);
        }
        let all: Vec<u32> = namespaces.iter().flat_map(|n| net::pids(n)).collect();
        procs::freeze_and_kill(&all);
        for ns in &namespaces {
            let left = net::pids(ns);
            if !left.is_empty() {
                procs::freeze_and_kill(&left);
            }
            net::delete(ns).with_context(|| format!("deleting namespace {ns}"))?;
        }
        procs::reap();
        Ok(true)
    }

    // --------------------------------------------------------------- status

    /// Resident memory per component, in MiB, summed over processes.
    pub fn rss(&self) -> Value {
        let mut by: std::collections::BTreeMap<String, u64> = Default::default();
        for n in &self.topo.nodes {
            for pid in net::pids(&net::ns(&n.name)) {
                let Some((comm, _)) = procs::comm_ppid(pid) else {
                    continue;
                };
                let comp = match comm.as_str() {
                    c if c.starts_with("postgres") || c.starts_with("postmaster") => "postgresql",
                    "patroni" | "python3" => "patroni",
                    "etcd" => "etcd",
                    "twofa" => "twofa",
                    "haproxy" => "haproxy",
                    "keepalived" => "keepalived",
                    _ => continue,
                };
                *by.entry(comp.to_string()).or_default() += procs::rss_kib(pid);
            }
        }
        let counts: std::collections::BTreeMap<&str, usize> = [
            ("postgresql", self.topo.by_role(Role::Db).count()),
            ("patroni", self.topo.by_role(Role::Db).count()),
            ("etcd", self.topo.by_role(Role::Db).count()),
            ("twofa", self.topo.by_role(Role::App).count()),
            ("haproxy", self.topo.by_role(Role::Proxy).count()),
            ("keepalived", self.topo.by_role(Role::Proxy).count()),
        ]
        .into_iter()
        .collect();
        let mut out = serde_json::Map::new();
        for (k, kib) in by {
            let nodes = counts.get(k.as_str()).copied().unwrap_or(1).max(1);
            out.insert(
                k,
                json!({"total_mib": (kib as f64 / 1024.0 * 10.0).round() / 10.0,
                       "per_node_mib": (kib as f64 / 1024.0 / nodes as f64 * 10.0).round() / 10.0}),
            );
        }
        Value::Object(out)
    }

    pub fn status(&self) -> Result<()> {
        let existing = net::existing()?;
        if existing.is_empty() {
            println!("the lab is down (no {}* namespaces)", net::PREFIX);
            return Ok(());
        }
        let leader = self.db_leader();
        let holders = self.vip_holders();
        for n in &self.topo.nodes {
            let mut line = format!(
                "{:<8} {:<6} {:<12}",
                n.name,
                format!("{:?}", n.role).to_lowercase(),
                n.address
            );
            if !existing.contains(&net::ns(&n.name)) {
                println!("{line} namespace missing");
                continue;
            }
            line.push_str(if net::link_is_up(&n.name) {
                " link up  "
            } else {
                " link DOWN"
            });
            for &svc in Service::for_role(&n.role) {
                match self.service_pid(&n.name, svc) {
                    Some(pid) => line.push_str(&format!("  {}:{pid}", svc.name())),
                    None => line.push_str(&format!("  {}:DOWN", svc.name())),
                }
            }
            if leader.as_deref() == Some(n.name.as_str()) {
                line.push_str("  [patroni leader]");
            }
            if holders.contains(&n.name) {
                line.push_str("  [holds VIP]");
            }
            if n.role == Role::App {
                match self.get(&n.address, self.topo.ports.app, "/readyz") {
                    Ok((c, _)) => line.push_str(&format!("  readyz {c}")),
                    Err(_) => line.push_str("  readyz unreachable"),
                }
            }
            println!("{line}");
        }
        match self.unhealthy() {
            None => println!("healthy: {} answers /readyz", self.topo.vip_url()),
            Some(why) => println!("NOT healthy: {why}"),
        }
        if let Some(cfg) = self.patroni_config() {
            println!(
                "patroni dynamic config: ttl {} loop_wait {} retry_timeout {} synchronous_mode {}",
                cfg["ttl"], cfg["loop_wait"], cfg["retry_timeout"], cfg["synchronous_mode"]
            );
        }
        println!("RSS: {}", self.rss());
        Ok(())
    }
}

/// The first dotted version number in a program's `--version` output
/// ("HAProxy version 2.6.12-1", "Keepalived v2.2.7", "patroni 4.1.0").
fn version_in(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .map(|w| w.trim_start_matches('v'))
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()) && w.contains('.'))
        .map(|w| {
            w.chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect::<String>()
                .trim_end_matches('.')
                .to_string()
        })
}

/// Writes each (name, content) into `dir`, readable by `owner` alone (0400).
fn write_owned(dir: &Path, files: &[(&str, &str)], owner: &str) -> Result<()> {
    for (name, content) in files {
        let p = dir.join(name);
        std::fs::write(&p, content)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400))?;
        chown(&p, owner)?;
    }
    Ok(())
}

fn show(r: &Result<(u16, String)>) -> String {
    match r {
        Ok((c, b)) => format!("{c} {}", b.chars().take(80).collect::<String>().trim()),
        Err(e) => e.to_string(),
    }
}

fn random_hex(bytes: usize) -> Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes a secret readable by root and, when given, one group.
fn write_private(path: &Path, content: &str, group: Option<&str>) -> Result<()> {
    std::fs::write(path, format!("{content}\n"))?;
    match group {
        Some(g) => {
            util::run(Command::new("chgrp").arg(g).arg(path))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o640))?;
        }
        None => std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?,
    }
    Ok(())
}

fn chown(path: &Path, user: &str) -> Result<()> {
    util::output(
        Command::new("chown")
            .arg(format!("{user}:{user}"))
            .arg(path),
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_each_programs_banner() {
        for (banner, v) in [
            (
                "HAProxy version 2.6.12-1+deb12u1 2023/12/16 - https://haproxy.org/",
                "2.6.12",
            ),
            ("Keepalived v2.2.7 (01/16,2022)\n\nCopyright", "2.2.7"),
            ("patroni 4.1.0\n", "4.1.0"),
            ("etcd Version: 3.4.23\nGit SHA: Not provided", "3.4.23"),
            (
                "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)",
                "15.14",
            ),
        ] {
            assert_eq!(version_in(banner).as_deref(), Some(v), "{banner}");
        }
    }

    /// The nix check validates the db role's configuration with the Patroni
    /// the lab runs.
    #[test]
    fn the_nix_check_pins_the_labs_patroni() {
        let pinned = format!("patroni[etcd3,psycopg2-binary]=={PATRONI_VERSION}");
        assert!(crate::nix::PY_TOOLS.contains(&pinned.as_str()));
    }
}
