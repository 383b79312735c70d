//! The lab's configuration files, taken from the NixOS modules: each node's
//! files as `vm-tests/eval-modules.nix` evaluates them for the VM tests
//! (`nix-instantiate --eval --strict --json`), changed only by the entries
//! of `vm-tests/lab-substitutions.toml`. No HAProxy, keepalived, Patroni,
//! PostgreSQL or etcd setting is written here; [`verify`] proves, for
//! every file the lab wrote, that nothing else changed.

use crate::util;
use anyhow::{bail, ensure, Context, Result};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

pub const SUBSTITUTIONS: &str = "vm-tests/lab-substitutions.toml";

/// One node's files: a text file as it is, a data file (Patroni's YAML,
/// twofa's TOML, etcd's environment) as its value.
#[derive(Clone, Debug, PartialEq)]
pub enum Content {
    Text(String),
    Data(Value),
}

pub type Files = BTreeMap<String, Content>;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Replace {
    file: String,
    find: String,
    with: String,
    reason: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Set {
    file: String,
    key: String,
    value: toml::Value,
    reason: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Remove {
    file: String,
    key: String,
    reason: String,
}

/// `vm-tests/lab-substitutions.toml`.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Substitutions {
    #[serde(default)]
    replace: Vec<Replace>,
    #[serde(default)]
    set: Vec<Set>,
    #[serde(default)]
    remove: Vec<Remove>,
}

/// The values of the placeholders for one node.
pub struct Vars {
    pub node_dir: String,
    pub twofa_bin: String,
    /// The repository's checkout (scripts the images take from the store).
    pub repo: String,
    /// The node's address in the topology.
    pub address: String,
}

impl Vars {
    fn expand(&self, s: &str) -> String {
        s.replace("{node_dir}", &self.node_dir)
            .replace("{twofa_bin}", &self.twofa_bin)
            .replace("{repo}", &self.repo)
            .replace("{address}", &self.address)
    }
}

impl Substitutions {
    pub fn load(root: &Path) -> Result<Substitutions> {
        let path = root.join(SUBSTITUTIONS);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Substitutions::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Substitutions> {
        let s: Substitutions = toml::from_str(text)?;
        let reasons = s
            .replace
            .iter()
            .map(|r| (&r.file, &r.reason))
            .chain(s.set.iter().map(|r| (&r.file, &r.reason)))
            .chain(s.remove.iter().map(|r| (&r.file, &r.reason)));
        for (file, reason) in reasons {
            ensure!(
                !reason.trim().is_empty(),
                "an entry for {file} gives no reason"
            );
        }
        for r in &s.replace {
            ensure!(
                !r.find.is_empty(),
                "a [[replace]] for {} finds \"\"",
                r.file
            );
        }
        Ok(s)
    }

    /// The lab's files of one node: the module's files with every entry
    /// applied. An entry for a file the node has must match it (a module
    /// that changed under an entry fails here, not silently in the lab).
    pub fn apply(&self, node: &str, module: &Files, vars: &Vars) -> Result<Files> {
        let mut out = module.clone();
        for r in &self.replace {
            let Some(content) = out.get_mut(&r.file) else {
                continue;
            };
            let Content::Text(text) = content else {
                bail!(
                    "{node}: [[replace]] on {}, which is not a text file",
                    r.file
                );
            };
            ensure!(
                text.contains(&r.find),
                "{node}: {} no longer contains {:?} ({SUBSTITUTIONS}: the module changed; update the entry)",
                r.file,
                r.find
            );
            *text = text.replace(&r.find, &vars.expand(&r.with));
        }
        for s in &self.set {
            let Some(content) = out.get_mut(&s.file) else {
                continue;
            };
            let Content::Data(data) = content else {
                bail!("{node}: [[set]] on {}, which is not a data file", s.file);
            };
            let slot = lookup(data, &s.key).with_context(|| {
                format!(
                    "{node}: {} has no {} ({SUBSTITUTIONS}: the module changed; update the entry)",
                    s.file, s.key
                )
            })?;
            *slot = expand_value(serde_json::to_value(&s.value)?, vars);
        }
        for r in &self.remove {
            let Some(content) = out.get_mut(&r.file) else {
                continue;
            };
            let Content::Data(data) = content else {
                bail!("{node}: [[remove]] on {}, which is not a data file", r.file);
            };
            let (parent, last) = match r.key.rsplit_once('.') {
                Some((p, l)) => (
                    lookup(data, p).with_context(|| format!("{node}: {} has no {p}", r.file))?,
                    l,
                ),
                None => (data, r.key.as_str()),
            };
            ensure!(
                parent
                    .as_object_mut()
                    .and_then(|o| o.remove(last))
                    .is_some(),
                "{node}: {} has no {} ({SUBSTITUTIONS}: the module changed; update the entry)",
                r.file,
                r.key
            );
        }
        Ok(out)
    }
}

fn lookup<'a>(data: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    key.split('.').try_fold(data, |v, k| v.get_mut(k))
}

fn expand_value(v: Value, vars: &Vars) -> Value {
    match v {
        Value::String(s) => Value::String(vars.expand(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| expand_value(x, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, x)| (k, expand_value(x, vars)))
                .collect(),
        ),
        other => other,
    }
}

/// Every node's files as the modules render them.
pub fn module_files(root: &Path) -> Result<BTreeMap<String, Files>> {
    let out = util::output(
        Command::new("nix-instantiate")
            .args(["--eval", "--strict", "--json"])
            .arg(root.join("vm-tests/eval-modules.nix")),
    )
    .context("evaluating the role modules for every node (vm-tests/eval-modules.nix)")?;
    let nodes: Value = serde_json::from_str(&out).context("nix-instantiate printed no JSON")?;
    let nodes = nodes.as_object().context("no nodes evaluated")?;
    let mut all = BTreeMap::new();
    for (name, node) in nodes {
        let files = node["labFiles"]
            .as_object()
            .with_context(|| format!("{name}: no labFiles in the evaluation"))?;
        let files = files
            .iter()
            .map(|(f, v)| {
                let c = match v {
                    Value::String(s) => Content::Text(s.clone()),
                    other => Content::Data(other.clone()),
                };
                (f.clone(), c)
            })
            .collect();
        all.insert(name.clone(), files);
    }
    Ok(all)
}

/// A file as the lab writes it: text as is, `.json`/`.yml` as JSON (YAML
/// reads JSON), `.toml` as TOML, `.env` as `KEY=value` lines.
pub fn serialize(name: &str, content: &Content) -> Result<String> {
    Ok(match content {
        Content::Text(t) => t.clone(),
        Content::Data(v) => {
            if name.ends_with(".toml") {
                let t: toml::Value = serde_json::from_value(v.clone())?;
                toml::to_string(&t)?
            } else if name.ends_with(".env") {
                let mut s = String::new();
                for (k, v) in v.as_object().context("an .env file holds a set")? {
                    let v = v.as_str().context("an .env value is a string")?;
                    ensure!(!v.contains('\n'), "{name}: {k} holds a newline");
                    s.push_str(&format!("{k}={v}\n"));
                }
                s
            } else {
                serde_json::to_string_pretty(v)? + "\n"
            }
        }
    })
}

/// Reads back a file [`serialize`] wrote.
pub fn parse(name: &str, text: &str, as_text: bool) -> Result<Content> {
    if as_text {
        return Ok(Content::Text(text.to_string()));
    }
    Ok(Content::Data(if name.ends_with(".toml") {
        serde_json::to_value(toml::from_str::<toml::Value>(text)?)?
    } else if name.ends_with(".env") {
        let mut m = serde_json::Map::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (k, v) = line
                .split_once('=')
                .with_context(|| format!("{name}: {line:?} is not KEY=value"))?;
            m.insert(k.to_string(), Value::String(v.to_string()));
        }
        Value::Object(m)
    } else {
        serde_json::from_str(text).with_context(|| format!("{name} is not JSON"))?
    }))
}

/// The lab's files of a node, read back from its directory: what its
/// processes really read.
pub fn read_back(dir: &Path, module: &Files) -> Result<Files> {
    let mut out = Files::new();
    for (name, c) in module {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        out.insert(
            name.clone(),
            parse(name, &text, matches!(c, Content::Text(_)))?,
        );
    }
    Ok(out)
}

/// Fails unless `lab` is exactly `module` changed by the substitutions:
/// names every line or value that differs otherwise.
pub fn verify(
    node: &str,
    module: &Files,
    lab: &Files,
    subs: &Substitutions,
    vars: &Vars,
) -> Result<()> {
    let expected = subs.apply(node, module, vars)?;
    let mut diffs = Vec::new();
    for name in expected.keys().chain(lab.keys()) {
        match (expected.get(name), lab.get(name)) {
            (Some(Content::Text(a)), Some(Content::Text(b))) => {
                let (al, bl): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
                for l in bl.iter().filter(|l| !al.contains(l)) {
                    diffs.push(format!("{node}/{name}: the lab has {l:?}"));
                }
                for l in al.iter().filter(|l| !bl.contains(l)) {
                    diffs.push(format!("{node}/{name}: the lab lacks {l:?}"));
                }
                if diffs.is_empty() && a != b {
                    diffs.push(format!("{node}/{name}: lines reordered or repeated"));
                }
            }
            (Some(Content::Data(a)), Some(Content::Data(b))) => {
                value_diff(&format!("{node}/{name}"), a, b, &mut diffs)
            }
            (Some(_), None) => diffs.push(format!("{node}/{name}: the lab has no such file")),
            (None, Some(_)) => diffs.push(format!("{node}/{name}: not a file of the modules")),
            _ => diffs.push(format!(
                "{node}/{name}: text on one side, data on the other"
            )),
        }
    }
    diffs.dedup();
    if !diffs.is_empty() {
        bail!(
            "the lab's files differ from the NixOS modules' output by more than {SUBSTITUTIONS}:\n  {}",
            diffs.join("\n  ")
        );
    }
    Ok(())
}

fn value_diff(path: &str, a: &Value, b: &Value, diffs: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => value_diff(&format!("{path}.{k}"), p, q, diffs),
                    (Some(_), None) => diffs.push(format!("{path}.{k}: the lab lacks it")),
                    _ => diffs.push(format!("{path}.{k}: only the lab has it")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                value_diff(&format!("{path}[{i}]"), p, q, diffs);
            }
        }
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => {}
        _ if a == b => {}
        _ => diffs.push(format!("{path}: module {a}, lab {b}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vars {
        Vars {
            node_dir: "/lab/n1".into(),
            twofa_bin: "/lab/bin/twofa".into(),
            repo: "/src/twofa".into(),
            address: "10.0.0.1".into(),
        }
    }

    const SUBS: &str = r#"
[[replace]]
file = "a.cfg"
find = "/run/x.sock"
with = "{node_dir}/x.sock"
reason = "shared file system"
[[set]]
file = "b.yml"
key = "p.dir"
value = "{node_dir}/data"
reason = "shared file system"
[[remove]]
file = "b.yml"
key = "p.script"
reason = "a store path"
"#;

    fn module() -> Files {
        Files::from([
            (
                "a.cfg".to_string(),
                Content::Text("global\n  socket /run/x.sock\n  timeout 1s\n".into()),
            ),
            (
                "b.yml".to_string(),
                Content::Data(
                    json!({"p": {"dir": "/var/lib/x", "script": "/nix/store/s", "n": 2}}),
                ),
            ),
        ])
    }

    #[test]
    fn the_substitutions_apply_and_verify() {
        let subs = Substitutions::parse(SUBS).unwrap();
        let lab = subs.apply("n1", &module(), &vars()).unwrap();
        assert_eq!(
            lab["a.cfg"],
            Content::Text("global\n  socket /lab/n1/x.sock\n  timeout 1s\n".into())
        );
        assert_eq!(
            lab["b.yml"],
            Content::Data(json!({"p": {"dir": "/lab/n1/data", "n": 2}}))
        );
        verify("n1", &module(), &lab, &subs, &vars()).unwrap();
    }

    #[test]
    fn a_lab_change_not_on_the_list_is_refused() {
        let subs = Substitutions::parse(SUBS).unwrap();
        let mut lab = subs.apply("n1", &module(), &vars()).unwrap();
        lab.insert(
            "a.cfg".into(),
            Content::Text("global\n  socket /lab/n1/x.sock\n  timeout 2s\n".into()),
        );
        let err = verify("n1", &module(), &lab, &subs, &vars()).unwrap_err();
        assert!(err.to_string().contains("timeout 2s"), "{err}");

        let mut lab = subs.apply("n1", &module(), &vars()).unwrap();
        lab.insert(
            "b.yml".into(),
            Content::Data(json!({"p": {"dir": "/lab/n1/data", "n": 2, "extra": 1}})),
        );
        let err = verify("n1", &module(), &lab, &subs, &vars()).unwrap_err();
        assert!(err.to_string().contains("b.yml.p.extra"), "{err}");
    }

    #[test]
    fn an_entry_the_module_no_longer_matches_is_refused() {
        let subs = Substitutions::parse(SUBS).unwrap();
        let mut changed = module();
        changed.insert(
            "a.cfg".into(),
            Content::Text("global\n  socket /run/y.sock\n".into()),
        );
        let err = subs.apply("n1", &changed, &vars()).unwrap_err();
        assert!(err.to_string().contains("/run/x.sock"), "{err}");
        changed = module();
        changed.insert("b.yml".into(), Content::Data(json!({"p": {"n": 2}})));
        assert!(subs.apply("n1", &changed, &vars()).is_err());
    }

    #[test]
    fn every_entry_has_a_reason() {
        let err = Substitutions::parse(
            "[[set]]\nfile = \"b.yml\"\nkey = \"k\"\nvalue = 1\nreason = \" \"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("no reason"), "{err}");
        Substitutions::load(&util::root()).unwrap();
    }

    #[test]
    fn data_files_read_back_as_written() {
        for (name, v) in [
            ("x.toml", json!({"a": "b", "n": 3, "l": ["x/32"]})),
            ("x.env", json!({"ETCD_NAME": "db1", "ETCD_DISCOVERY": ""})),
            ("x.yml", json!({"a": {"b": [1, "c"]}})),
        ] {
            let c = Content::Data(v);
            let text = serialize(name, &c).unwrap();
            assert_eq!(parse(name, &text, false).unwrap(), c, "{name}");
        }
    }

    /// The lab's Rust holds no configuration directive of the services: they
    /// all come from the modules.
    #[test]
    fn no_service_directive_is_written_in_the_lab_source() {
        let directives = [
            "vrrp_instance",
            "virtual_ipaddress",
            "unicast_peer",
            "option httpchk",
            "default-server",
            "timeout connect",
            "http-request",
            "pg_hba",
            "wal_sender_timeout",
            "max_wal_senders",
            "use_pg_rewind",
            "--initial-cluster",
            "--heartbeat-interval",
            "ETCD_HEARTBEAT_INTERVAL",
            "synchronous_mode\":",
            "shared_buffers",
        ];
        let dir = util::root().join("xtask/src/lab");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == "config.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for d in directives {
                assert!(
                    !text.contains(d),
                    "{} writes {d:?}: take it from the NixOS modules",
                    path.display()
                );
            }
        }
    }
}
