//! `vm-tests/topology.toml`, the one description of the cluster: the
//! addresses and ports the lab builds its network from and observes the
//! cluster with. The services' settings derived from it come from the
//! NixOS modules (config.rs), so only what the lab itself needs is read.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
pub struct Topology {
    pub network: Network,
    pub ports: Ports,
    pub patroni: Patroni,
    pub app: App,
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Network {
    pub prefix_length: u8,
    pub vip: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ports {
    pub http: u16,
    pub app: u16,
    pub postgres: u16,
    pub patroni_api: u16,
    pub etcd_client: u16,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Patroni {
    pub synchronous_mode: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct App {
    pub database: String,
    pub database_user: String,
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

    pub fn vip_url(&self) -> String {
        format!("http://{}:{}", self.network.vip, self.ports.http)
    }

    pub fn app_urls(&self) -> Vec<String> {
        self.by_role(Role::App)
            .map(|n| format!("http://{}:{}", n.address, self.ports.app))
            .collect()
    }
}
