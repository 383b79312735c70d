//! `vm-tests/topology.toml`, the one description of the cluster. Every
//! address, port and timing the lab uses comes from here.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
pub struct Topology {
    pub network: Network,
    pub ports: Ports,
    pub vrrp: Vrrp,
    pub haproxy: Haproxy,
    pub etcd: Etcd,
    pub patroni: Patroni,
    pub app: App,
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Network {
    pub subnet: String,
    pub prefix_length: u8,
    pub vip: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ports {
    pub http: u16,
    pub proxy_check: u16,
    pub app: u16,
    pub postgres: u16,
    pub patroni_api: u16,
    pub etcd_client: u16,
    pub etcd_peer: u16,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Vrrp {
    pub virtual_router_id: u8,
    pub version: u8,
    pub advert_int: f64,
    pub script_interval: u32,
    pub script_fall: u32,
    pub script_rise: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Haproxy {
    pub check_inter_ms: u32,
    pub check_fall: u32,
    pub check_rise: u32,
    pub timeout_connect_ms: u32,
    pub timeout_client_s: u32,
    pub timeout_server_s: u32,
    pub retries: u32,
    pub rate_limit_per_10s: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Etcd {
    pub heartbeat_interval_ms: u32,
    pub election_timeout_ms: u32,
    pub pre_vote: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Patroni {
    pub scope: String,
    pub ttl: u32,
    pub loop_wait: u32,
    pub retry_timeout: u32,
    pub synchronous_mode: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct App {
    pub db_retry_deadline_s: u32,
    pub database: String,
    pub database_user: String,
    /// libpq/tokio-postgres options appended to the multi-host URL.
    #[serde(default)]
    pub database_url_options: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Proxy,
    App,
    Db,
    Client,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    pub name: String,
    pub role: Role,
    pub address: String,
    #[serde(default)]
    pub vrrp_priority: Option<u8>,
}

impl Topology {
    pub fn load(path: &Path) -> Result<Topology> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let topo: Topology =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        topo.validate()?;
        Ok(topo)
    }

    fn validate(&self) -> Result<()> {
        for role in [Role::Proxy, Role::App, Role::Db, Role::Client] {
            if !self.nodes.iter().any(|n| n.role == role) {
                bail!("topology has no {role:?} node");
            }
        }
        if self.nodes.iter().filter(|n| n.role == Role::Client).count() != 1 {
            bail!("topology must have exactly one client node");
        }
        for n in &self.nodes {
            if n.name.len() > 9 || !n.name.chars().all(|c| c.is_ascii_alphanumeric()) {
                bail!(
                    "node name {:?} must be ≤ 9 ASCII letters/digits (it names network interfaces)",
                    n.name
                );
            }
            if n.role == Role::Proxy && n.vrrp_priority.is_none() {
                bail!("proxy {} has no vrrp_priority", n.name);
            }
        }
        Ok(())
    }

    pub fn by_role(&self, role: Role) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(move |n| n.role == role)
    }

    pub fn node(&self, name: &str) -> Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .with_context(|| format!("no node named {name:?} in topology.toml"))
    }

    pub fn client(&self) -> &Node {
        self.by_role(Role::Client).next().expect("validated")
    }

    /// The multi-host URL every app uses to reach the writable database.
    pub fn database_url(&self) -> String {
        let hosts: Vec<&str> = self.by_role(Role::Db).map(|n| n.address.as_str()).collect();
        format!(
            "host={} port={} dbname={} user={} target_session_attrs=read-write {}",
            hosts.join(","),
            self.ports.postgres,
            self.app.database,
            self.app.database_user,
            self.app.database_url_options
        )
        .trim_end()
        .to_string()
    }

    pub fn vip_url(&self) -> String {
        format!("http://{}:{}", self.network.vip, self.ports.http)
    }

    pub fn app_urls(&self) -> Vec<String> {
        self.by_role(Role::App)
            .map(|n| format!("http://{}:{}", n.address, self.ports.app))
            .collect()
    }
}
