//! `cargo xtask nix`: checks the Nix side of the project without nixpkgs.
//!
//! This machine cannot build the flake (no nixpkgs, no binary cache), so the
//! checks are the ones that run anywhere: every `.nix` file parses
//! (`nix-instantiate --parse`), has no dead code (`deadnix --fail`) and is
//! formatted as alejandra formats it; the pure part of the flake (topology,
//! scenarios and the values derived from them) evaluates with
//! `nix-instantiate --eval --strict --json` to exactly what Rust's `toml`
//! crate reads from the same files; `flake.lock` pins the reviewed nixpkgs;
//! the VM tests' Python driver passes mypy and pyflakes the way the NixOS
//! test framework runs them, and accepts every scenario file.
//! `cargo xtask test` calls [`ci`].

use crate::{deps, util};
use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(clap::Args)]
pub struct Args {
    /// Rewrite badly formatted .nix files in place instead of failing.
    #[arg(long)]
    fix: bool,
}

pub fn run(args: Args) -> Result<()> {
    check(args.fix)
}

/// The Nix checks of `cargo xtask test`.
pub fn ci() -> Result<()> {
    check(false)
}

/// The nixpkgs revision reviewed for this project (docs/nix.md, "What `cargo xtask nix` checks"):
/// every module option was checked against it. Moving the pin means
/// re-checking the options, so the CI refuses a silent `nix flake update`.
const PIN_REV: &str = "8fd9daa3db09ced9700431c5b7ad0e8ba199b575";
const PIN_NAR_HASH: &str = "sha256-Ti+ZBvW6yrWWAg2szExVTwCd4qOJ3KlVr1tFHfyfi8Q=";
const PIN_LAST_MODIFIED: u64 = 1778430510;
const PIN_REF: &str = "nixos-25.11";

/// deadnix from crates.io, built once into target/tools.
const DEADNIX_VERSION: &str = "1.3.1";
/// The linters the NixOS test framework runs on a test script, and the
/// Patroni version nixpkgs 25.11 ships (the lab pins the same), whose
/// `--validate-config` checks the db role's configuration.
pub const PY_TOOLS: &[&str] = &[
    "mypy==1.18.2",
    "pyflakes==3.4.0",
    "patroni[etcd3,psycopg2-binary]==4.1.0",
];

fn check(fix: bool) -> Result<()> {
    let root = util::root();
    let files = nix_files(&root)?;
    ensure!(
        !files.is_empty(),
        "no .nix files found under {}",
        root.display()
    );
    deps::ensure(
        "the Nix checks",
        &[deps::pkg("nix-bin", "/usr/bin/nix-instantiate")],
    )?;

    parse_all(&root, &files)?;
    path_literals(&root, &files)?;
    deadnix(&files)?;
    formatting(&root, &files, fix)?;
    flake_lock(&root)?;
    pure_evaluation(&root)?;
    rendered_configs(&root)?;
    module_evaluation(&root)?;
    secrets_gathering(&root)?;
    lab_files(&root)?;
    python_driver(&root)?;
    eprintln!("nix: {} files checked, all good", files.len());
    Ok(())
}

/// Every tracked-looking .nix file: skips build output and hidden folders.
fn nix_files(root: &Path) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if entry.file_type()?.is_dir() {
                if name.starts_with('.')
                    || name == "target"
                    || name == "build"
                    || name == "node_modules"
                {
                    continue;
                }
                walk(&path, out)?;
            } else if name.ends_with(".nix") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, &mut out)?;
    out.sort();
    Ok(out)
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `nix-instantiate --parse`: the reference parser, one file at a time so an
/// error names its file.
fn parse_all(root: &Path, files: &[PathBuf]) -> Result<()> {
    let _t = util::step(&format!("nix-instantiate --parse on {} files", files.len()));
    for file in files {
        let out = Command::new("nix-instantiate")
            .arg("--parse")
            .arg(file)
            .output()
            .context("could not run nix-instantiate (Debian package nix-bin)")?;
        if !out.status.success() {
            bail!(
                "{} does not parse:\n{}",
                rel(root, file),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    Ok(())
}

/// Every relative path literal (`./x`, `../y`) names a file that exists:
/// the parser accepts a misspelt import, the first real build would not.
fn path_literals(root: &Path, files: &[PathBuf]) -> Result<()> {
    let _t = util::step("relative path literals name existing files");
    let mut missing = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)?;
        let dir = file.parent().unwrap_or(root);
        for (kind, token) in rnix::tokenizer::Tokenizer::new(&text) {
            let token = token.as_str();
            if kind != rnix::SyntaxKind::TOKEN_PATH
                || !(token.starts_with("./") || token.starts_with("../"))
            {
                continue;
            }
            // `./dir/${name}`: the literal part is a folder.
            let literal = token.trim_end_matches('/');
            if !dir.join(literal).exists() {
                missing.push(format!("{}: {token}", rel(root, file)));
            }
        }
    }
    ensure!(
        missing.is_empty(),
        "path literals naming nothing:\n  {}",
        missing.join("\n  ")
    );
    Ok(())
}

fn deadnix(files: &[PathBuf]) -> Result<()> {
    let tools = util::target_dir().join("tools");
    let bin = tools.join("bin/deadnix");
    let version_ok = bin.exists()
        && util::output(Command::new(&bin).arg("--version"))
            .map(|v| v.contains(DEADNIX_VERSION))
            .unwrap_or(false);
    if !version_ok {
        let _t = util::step(&format!(
            "building deadnix {DEADNIX_VERSION} from crates.io into {} (once, about 2 minutes)",
            tools.display()
        ));
        util::run(
            Command::new("cargo")
                .args([
                    "install",
                    "--locked",
                    "deadnix",
                    "--version",
                    DEADNIX_VERSION,
                    "--root",
                ])
                .arg(&tools),
        )
        .context(
            "building deadnix failed; check access to crates.io, then rerun `cargo xtask nix`",
        )?;
    }
    let _t = util::step("deadnix --fail");
    let out = Command::new(&bin)
        .arg("--fail")
        .args(files)
        .output()
        .with_context(|| format!("could not run {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "deadnix found unused bindings (remove them, or prefix an unused lambda argument with _):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// alejandra (the flake's `formatter`), called as a library.
fn formatting(root: &Path, files: &[PathBuf], fix: bool) -> Result<()> {
    let _t = util::step("alejandra formatting check");
    let mut unformatted = Vec::new();
    for file in files {
        let before = std::fs::read_to_string(file)?;
        let (status, after) = alejandra::format::in_memory(rel(root, file), before);
        match status {
            alejandra::format::Status::Error(e) => {
                bail!("alejandra cannot parse {}: {e}", rel(root, file))
            }
            alejandra::format::Status::Changed(false) => {}
            alejandra::format::Status::Changed(true) => {
                if fix {
                    std::fs::write(file, after)?;
                    eprintln!("    formatted {}", rel(root, file));
                } else {
                    unformatted.push(rel(root, file));
                }
            }
        }
    }
    if !unformatted.is_empty() {
        bail!(
            "not formatted as alejandra formats them: {}\nfix with: cargo xtask nix --fix (or `nix fmt`)",
            unformatted.join(", ")
        );
    }
    Ok(())
}

/// flake.lock (format 7) pins exactly the reviewed nixpkgs and nothing else.
fn flake_lock(root: &Path) -> Result<()> {
    let _t = util::step("flake.lock pins the reviewed nixpkgs");
    let lock: Value = serde_json::from_str(&std::fs::read_to_string(root.join("flake.lock"))?)
        .context("flake.lock is not JSON")?;
    check_lock(&lock)?;
    let flake = std::fs::read_to_string(root.join("flake.nix"))?;
    ensure!(
        flake.contains(&format!("\"github:NixOS/nixpkgs/{PIN_REF}\"")),
        "flake.nix must take nixpkgs from github:NixOS/nixpkgs/{PIN_REF}"
    );
    Ok(())
}

fn check_lock(lock: &Value) -> Result<()> {
    ensure!(lock["version"] == 7, "flake.lock must be format version 7");
    ensure!(
        lock["root"] == "root",
        "flake.lock: root node must be \"root\""
    );
    let nodes = lock["nodes"]
        .as_object()
        .context("flake.lock has no nodes")?;
    ensure!(
        nodes.len() == 2,
        "flake.lock must hold only root and nixpkgs, found {:?}",
        nodes.keys().collect::<Vec<_>>()
    );
    ensure!(
        lock["nodes"]["root"]["inputs"] == json!({"nixpkgs": "nixpkgs"}),
        "flake.lock: root must have the single input nixpkgs"
    );
    let locked = &lock["nodes"]["nixpkgs"]["locked"];
    let expected = json!({
        "type": "github", "owner": "NixOS", "repo": "nixpkgs",
        "rev": PIN_REV, "narHash": PIN_NAR_HASH, "lastModified": PIN_LAST_MODIFIED,
    });
    ensure!(
        *locked == expected,
        "flake.lock pins {locked}, but the options were reviewed against {expected}; \
         re-check the modules against the new revision before moving the pin"
    );
    let original = &lock["nodes"]["nixpkgs"]["original"];
    ensure!(
        *original == json!({"type": "github", "owner": "NixOS", "repo": "nixpkgs", "ref": PIN_REF}),
        "flake.lock: nixpkgs must follow {PIN_REF}, found {original}"
    );
    Ok(())
}

/// Evaluates vm-tests/topology.nix with Nix and compares it with the same
/// files read by the `toml` crate (what the lab reads), and the derived
/// values with the same derivations done here.
fn pure_evaluation(root: &Path) -> Result<()> {
    let _t = util::step("pure evaluation of vm-tests/topology.nix against the toml crate");
    let out = util::output(
        Command::new("nix-instantiate")
            .args(["--eval", "--strict", "--json"])
            .arg(root.join("vm-tests/topology.nix")),
    )?;
    let nix: Value = serde_json::from_str(&out).context("nix-instantiate printed no JSON")?;

    let topology = read_toml(&root.join("vm-tests/topology.toml"))?;
    same("topology", &nix["topology"], &topology)?;

    let mut scenarios = serde_json::Map::new();
    let dir = root.join("vm-tests/scenarios");
    if dir.is_dir() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                let name = path.file_stem().unwrap().to_string_lossy().into_owned();
                scenarios.insert(name, read_toml(&path)?);
            }
        }
    }
    same("scenarios", &nix["scenarios"], &Value::Object(scenarios))?;
    same("cluster", &nix["cluster"], &derived(&topology)?)?;
    Ok(())
}

fn read_toml(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: toml::Value =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(serde_json::to_value(value)?)
}

/// The values nixos-modules/cluster.nix derives, computed independently.
fn derived(t: &Value) -> Result<Value> {
    let nodes = t["nodes"].as_array().context("topology has no [[nodes]]")?;
    let s = |v: &Value| v.as_str().map(str::to_owned).context("expected a string");
    let with_role =
        |role: &str| -> Vec<&Value> { nodes.iter().filter(|n| n["role"] == role).collect() };
    let addresses = |role: &str| -> Vec<String> {
        with_role(role)
            .iter()
            .filter_map(|n| n["address"].as_str().map(str::to_owned))
            .collect()
    };
    let names = |role: &str| -> Vec<String> {
        with_role(role)
            .iter()
            .filter_map(|n| n["name"].as_str().map(str::to_owned))
            .collect()
    };
    let ports = &t["ports"];
    let vip = s(&t["network"]["vip"])?;
    let dbs = with_role("db");

    let mut by_name = serde_json::Map::new();
    let mut peers = serde_json::Map::new();
    for n in nodes {
        let name = s(&n["name"])?;
        by_name.insert(name.clone(), n.clone());
        let others: Vec<Value> = nodes
            .iter()
            .filter(|o| o["role"] == n["role"] && o["name"] != n["name"])
            .map(|o| o["address"].clone())
            .collect();
        peers.insert(name, Value::Array(others));
    }
    let master = with_role("proxy")
        .into_iter()
        .max_by_key(|n| n["vrrp_priority"].as_i64().unwrap_or(0))
        .context("no proxy node")?;
    let mut database_url = format!(
        "host={} port={} dbname={} user={} target_session_attrs=read-write sslmode=verify-full",
        addresses("db").join(","),
        ports["postgres"],
        s(&t["app"]["database"])?,
        s(&t["app"]["database_user"])?
    );
    if let Some(options) = t["app"]["database_url_options"].as_str() {
        database_url = format!("{database_url} {options}");
    }
    let mut trusted = addresses("proxy");
    trusted.push(vip.clone());
    let trusted: Vec<String> = trusted.iter().map(|a| format!("{a}/32")).collect();
    Ok(json!({
        "nodes": by_name,
        "nodeNames": nodes.iter().map(|n| n["name"].clone()).collect::<Vec<_>>(),
        "proxyAddresses": addresses("proxy"),
        "appAddresses": addresses("app"),
        "dbAddresses": addresses("db"),
        "clientAddresses": addresses("client"),
        "roles": {"proxy": names("proxy"), "app": names("app"), "db": names("db"), "client": names("client")},
        "vrrpMaster": master["name"],
        "vipCidr": format!("{vip}/{}", t["network"]["prefix_length"]),
        "databaseUrl": database_url,
        "trustedProxies": trusted,
        "etcdInitialCluster": dbs.iter().map(|n| format!(
            "{}=https://{}:{}", s(&n["name"]).unwrap_or_default(), s(&n["address"]).unwrap_or_default(), ports["etcd_peer"]
        )).collect::<Vec<_>>(),
        "etcdHosts": dbs.iter().map(|n| format!(
            "{}:{}", s(&n["address"]).unwrap_or_default(), ports["etcd_client"]
        )).collect::<Vec<_>>(),
        "appBackends": with_role("app").iter().map(|n| json!({
            "name": n["name"],
            "address": format!("{}:{}", s(&n["address"]).unwrap_or_default(), ports["app"]),
        })).collect::<Vec<_>>(),
        "peers": peers,
    }))
}

/// Structural equality, numbers compared as numbers (Nix prints 0.2 and
/// the toml crate reads 0.2 through different float paths).
fn same(what: &str, nix: &Value, rust: &Value) -> Result<()> {
    fn walk(path: &str, a: &Value, b: &Value, diffs: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                    walk(
                        &format!("{path}.{k}"),
                        &x[k].clone(),
                        y.get(k).unwrap_or(&Value::Null),
                        diffs,
                    );
                    if !y.contains_key(k) || !x.contains_key(k) {
                        diffs.push(format!("{path}.{k}: present on one side only"));
                    }
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    walk(&format!("{path}[{i}]"), p, q, diffs);
                }
            }
            (Value::Number(x), Value::Number(y)) => {
                let (p, q) = (
                    x.as_f64().unwrap_or(f64::NAN),
                    y.as_f64().unwrap_or(f64::NAN),
                );
                if (p - q).abs() > 1e-9 * p.abs().max(1.0) {
                    diffs.push(format!("{path}: Nix {x}, Rust {y}"));
                }
            }
            _ if a == b => {}
            _ => diffs.push(format!("{path}: Nix {a}, Rust {b}")),
        }
    }
    let mut diffs = Vec::new();
    walk(what, nix, rust, &mut diffs);
    if !diffs.is_empty() {
        bail!(
            "Nix and Rust read the cluster differently:\n  {}",
            diffs.join("\n  ")
        );
    }
    Ok(())
}

/// The proxy role's HAProxy and keepalived configurations, rendered by Nix
/// from nixos-modules/render.nix for every proxy of the topology, then
/// checked by Debian's haproxy and keepalived the way the NixOS modules
/// assemble them (HAProxy's module puts its own `global` first; keepalived's
/// writes global_defs, then the vrrp_scripts, then extraConfig).
fn rendered_configs(root: &Path) -> Result<()> {
    let _t = util::step("haproxy -c and keepalived --config-test on the rendered proxy configs");
    deps::ensure(
        "checking the rendered proxy configs",
        &[
            deps::pkg("haproxy", "/usr/sbin/haproxy"),
            deps::pkg("keepalived", "/usr/sbin/keepalived"),
            deps::pkg("openssl", "/usr/bin/openssl"),
        ],
    )?;
    // The rendered global_defs name keepalived's script user; keepalived
    // refuses the whole script section when that user does not exist.
    deps::system_user(
        crate::lab::KEEPALIVED_SCRIPT_USER,
        "keepalived --config-test checks the script user the proxy config names",
    )?;
    let work = util::target_dir().join("nix-render");
    std::fs::create_dir_all(&work)?;
    let cert = work.join("haproxy.pem");
    if !cert.exists() {
        let key = work.join("key.pem");
        let crt = work.join("cert.pem");
        util::output(
            Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                ])
                .args([
                    "-nodes",
                    "-days",
                    "3650",
                    "-subj",
                    "/CN=twofa-check",
                    "-keyout",
                ])
                .arg(&key)
                .arg("-out")
                .arg(&crt),
        )?;
        std::fs::write(
            &cert,
            std::fs::read_to_string(&crt)? + &std::fs::read_to_string(&key)?,
        )?;
    }
    // keepalived's script security wants a root-owned program; the check
    // is about the syntax, and the images call the store's twofa.
    let twofa = "/usr/bin/true";
    let expr = format!(
        r#"let
  render = import {render};
  topology = builtins.fromTOML (builtins.readFile {topology});
  cluster = import {cluster} topology;
in builtins.listToAttrs (map (name: {{
  inherit name;
  value = {{
    haproxy = render.haproxy {{ inherit topology; backends = cluster.appBackends; certFile = "{cert}"; redirectToHttps = true; }};
    scripts = render.vrrpScripts {{ inherit topology; twofa = "{twofa}"; }};
    keepalived = render.keepalived {{ inherit topology; nodeName = name; interface = "{iface}"; }};
    globalDefs = render.keepalivedGlobalDefs {{ inherit topology; nodeName = name; }};
  }};
}}) cluster.roles.proxy)"#,
        render = root.join("nixos-modules/render.nix").display(),
        topology = root.join("vm-tests/topology.toml").display(),
        cluster = root.join("nixos-modules/cluster.nix").display(),
        cert = cert.display(),
        twofa = twofa,
        iface = an_interface(),
    );
    let out = util::output(
        Command::new("nix-instantiate").args(["--eval", "--strict", "--json", "-E", &expr]),
    )?;
    let rendered: Value = serde_json::from_str(&out)?;
    let proxies = rendered.as_object().context("no proxies rendered")?;
    ensure!(!proxies.is_empty(), "the topology has no proxy node");
    for (name, r) in proxies {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let haproxy_cfg = work.join(format!("{name}-haproxy.cfg"));
        std::fs::write(
            &haproxy_cfg,
            format!(
                "global\n  stats socket {}/{name}.sock mode 600 expose-fd listeners level user\n\n{}",
                work.display(),
                s(&r["haproxy"])
            ),
        )?;
        let out = Command::new("/usr/sbin/haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&haproxy_cfg)
            .output()?;
        if !out.status.success() {
            bail!(
                "haproxy -c rejects the config rendered for {name} ({}):\n{}{}",
                haproxy_cfg.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let scripts = r["scripts"]
            .as_object()
            .context("no vrrp scripts rendered")?;
        let scripts: String = scripts
            .iter()
            .map(|(script_name, v)| {
                format!(
                    "vrrp_script {script_name} {{\n  script \"{}\"\n  interval {}\n  fall {}\n  rise {}\n  timeout {}\n  weight {}\n}}\n\n",
                    s(&v["script"]),
                    v["interval"],
                    v["fall"],
                    v["rise"],
                    v["timeout"],
                    v["weight"],
                )
            })
            .collect();
        let keepalived_conf = work.join(format!("{name}-keepalived.conf"));
        std::fs::write(
            &keepalived_conf,
            format!(
                "global_defs {{\n  enable_script_security\n{}\n}}\n\n{scripts}{}",
                s(&r["globalDefs"]),
                s(&r["keepalived"])
            ),
        )?;
        // keepalived 2.2's --config-test ends by SIGTERM to itself once a
        // vrrp_script is in use; it reports every problem on stderr.
        let out = Command::new("/usr/sbin/keepalived")
            .arg("--config-test")
            .arg("-f")
            .arg(&keepalived_conf)
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let clean_exit = out.status.success()
            || std::os::unix::process::ExitStatusExt::signal(&out.status) == Some(15);
        if !clean_exit || !stderr.trim().is_empty() {
            bail!(
                "keepalived --config-test rejects the config rendered for {name} ({}, {}):\n{stderr}",
                keepalived_conf.display(),
                out.status
            );
        }
    }
    Ok(())
}

/// vm-tests/eval-modules.nix evaluates every role module for every node with
/// stand-ins for nixpkgs' lib and pkgs: each must evaluate strictly; each
/// node's nftables rules must pass `nft --check`; the TOML settings an app
/// node renders must pass the real `twofa check-config`, with the secrets
/// handed over as systemd's LoadCredential does.
fn module_evaluation(root: &Path) -> Result<()> {
    let _t = util::step(
        "role modules evaluated per node; nft --check; patroni --validate-config; twofa check-config",
    );
    deps::ensure(
        "checking the firewall rules and the Patroni configuration",
        &[
            deps::pkg("nftables", "/usr/sbin/nft"),
            deps::pkg("postgresql-15", "/usr/lib/postgresql/15/bin/postgres"),
        ],
    )?;
    let out = util::output(
        Command::new("nix-instantiate")
            .args(["--eval", "--strict", "--json"])
            .arg(root.join("vm-tests/eval-modules.nix")),
    )
    .context("the role modules do not evaluate for every node (vm-tests/eval-modules.nix)")?;
    let nodes: Value = serde_json::from_str(&out)?;
    let nodes = nodes.as_object().context("no nodes evaluated")?;
    let work = util::target_dir().join("nix-modules-check");
    std::fs::create_dir_all(&work)?;

    for (name, node) in nodes {
        let rules = node["extraInputRules"].as_str().unwrap_or_default();
        let file = work.join(format!("{name}.nft"));
        std::fs::write(
            &file,
            format!("table inet twofa_check {{\n  chain input_allow {{\n{rules}\n  }}\n}}\n"),
        )?;
        let out = Command::new("/usr/sbin/nft")
            .arg("--check")
            .arg("-f")
            .arg(&file)
            .output()?;
        if !out.status.success() {
            bail!(
                "nft --check rejects the firewall rules of {name} ({}):\n{}",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    // Patroni's own validator on each db node's configuration, with this
    // machine's PostgreSQL 15 in place of the store path.
    let patroni = venv()?.with_file_name("patroni");
    for (name, node) in nodes
        .iter()
        .filter(|(_, n)| !n["patroniSettings"].is_null())
    {
        let mut settings = node["patroniSettings"].clone();
        let dir = work.join(format!("{name}-patroni"));
        std::fs::create_dir_all(&dir)?;
        let pg = &mut settings["postgresql"];
        pg["bin_dir"] = json!("/usr/lib/postgresql/15/bin");
        pg["data_dir"] = json!(dir.join("data"));
        pg["pgpass"] = json!(dir.join("pgpass"));
        pg["parameters"]["unix_socket_directories"] = json!(dir);
        let file = dir.join("patroni.json");
        std::fs::write(&file, serde_json::to_string_pretty(&settings)?)?;
        let out = Command::new(&patroni)
            .args(["--validate-config", "--ignore-listen-port"])
            .arg(&file)
            .env("PATRONI_SUPERUSER_PASSWORD", "check-only")
            .env("PATRONI_REPLICATION_PASSWORD", "check-only")
            .env("PATRONI_REWIND_PASSWORD", "check-only")
            .output()
            .with_context(|| format!("could not run {}", patroni.display()))?;
        if !out.status.success() {
            bail!(
                "patroni --validate-config rejects the configuration of {name} ({}):\n{}{}",
                file.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    let apps: Vec<(&String, &Value)> = nodes
        .iter()
        .filter(|(_, n)| !n["twofaSettings"].is_null())
        .collect();
    ensure!(!apps.is_empty(), "no app node rendered twofa settings");
    let twofa = crate::test::tested_twofa().context("building twofa for check-config")?;
    let credentials = work.join("credentials");
    std::fs::create_dir_all(&credentials)?;
    std::fs::write(
        credentials.join("secret-key"),
        format!("{}\n", "5a".repeat(32)),
    )?;
    std::fs::write(credentials.join("database-password"), "check-only\n")?;
    // The URL says verify-full, so check-config needs a CA it can load.
    std::fs::write(
        credentials.join("database-ca"),
        crate::certs::Ca::new("twofa check-only CA")?.cert_pem(),
    )?;
    for (name, node) in apps {
        let settings: toml::Value = serde_json::from_value(node["twofaSettings"].clone())?;
        let file = work.join(format!("{name}.toml"));
        std::fs::write(&file, toml::to_string(&settings)?)?;
        let mut cmd = Command::new(&twofa);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TWOFA_") {
                cmd.env_remove(key);
            }
        }
        let out = cmd
            .arg("--config")
            .arg(&file)
            .arg("check-config")
            .env("CREDENTIALS_DIRECTORY", &credentials)
            .output()?;
        if !out.status.success() {
            bail!(
                "twofa check-config rejects the settings the module renders for {name} ({}):\n{}{}",
                file.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
}

/// The lab's files are the modules' output changed only by
/// vm-tests/lab-substitutions.toml: every entry still matches the module
/// output of every node that has the file, the files written the way the
/// lab writes them read back to exactly that, and the lab's HAProxy
/// configuration passes Debian's `haproxy -c` (the version the lab runs).
fn lab_files(root: &Path) -> Result<()> {
    use crate::lab::config;
    let _t = util::step(&format!(
        "lab files = module output modulo {}",
        config::SUBSTITUTIONS
    ));
    let subs = config::Substitutions::load(root)?;
    let modules = config::module_files(root)?;
    let topo = crate::lab::topology::Topology::load(&root.join("vm-tests/topology.toml"))?;
    let work = util::target_dir().join("nix-lab-files");
    let cert = util::target_dir().join("nix-render/haproxy.pem");
    for (node, module) in &modules {
        let dir = work.join(node);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(dir.join("haproxy"))?;
        let vars = config::Vars {
            node_dir: dir.display().to_string(),
            twofa_bin: "/usr/bin/true".into(),
            repo: root.display().to_string(),
            address: topo.node(node)?.address.clone(),
        };
        let files = subs.apply(node, module, &vars)?;
        for (name, content) in &files {
            std::fs::write(dir.join(name), config::serialize(name, content)?)?;
        }
        config::verify(
            node,
            module,
            &config::read_back(&dir, module)?,
            &subs,
            &vars,
        )?;
        if files.contains_key("haproxy.cfg") {
            std::fs::copy(&cert, dir.join("haproxy.pem"))?;
            let out = Command::new("/usr/sbin/haproxy")
                .arg("-c")
                .arg("-f")
                .arg(dir.join("haproxy.cfg"))
                .output()?;
            if !out.status.success() {
                bail!(
                    "haproxy -c rejects the lab's config of {node} ({}):\n{}{}",
                    dir.join("haproxy.cfg").display(),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    Ok(())
}

/// keepalived refuses loopback and unknown interfaces: one of this machine's.
fn an_interface() -> String {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "lo")
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    if names.iter().any(|n| n == "eth0") {
        return "eth0".into();
    }
    names.into_iter().next().unwrap_or_else(|| "eth0".into())
}

/// target/nix-venv with the Python tools of these checks (installed once
/// from PyPI); returns its python.
fn venv() -> Result<PathBuf> {
    let venv = util::target_dir().join("nix-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join(".tools");
    let wanted = PY_TOOLS.join(" ");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let _t = util::step(&format!("installing {wanted} into {}", venv.display()));
        deps::ensure(
            "the Python venv",
            &[deps::pkg("python3-venv", "/usr/share/doc/python3-venv")],
        )?;
        util::run(
            Command::new("/usr/bin/python3")
                .args(["-m", "venv", "--clear"])
                .arg(&venv),
        )?;
        util::run(
            Command::new(&python)
                .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
                .args(PY_TOOLS),
        )
        .context("pip could not install the Python tools; check access to PyPI")?;
        std::fs::write(&stamp, &wanted)?;
    }
    Ok(python)
}

/// The VM tests' driver as the NixOS test framework checks it: the script
/// lib.nix assembles, type-checked by mypy after a prelude that declares the
/// framework's globals, and linted by pyflakes with those globals as
/// builtins; then the driver's own check mode reads every scenario file.
fn python_driver(root: &Path) -> Result<()> {
    let driver_dir = root.join("vm-tests/driver");
    let driver = driver_dir.join("scenario_driver.py");
    ensure!(driver.exists(), "{} is missing", rel(root, &driver));
    let python = venv()?;

    let work = util::target_dir().join("nix-driver-check");
    std::fs::create_dir_all(&work)?;
    let machine_names = node_names(root)?;
    // The same script lib.nix gives the test framework, with local paths.
    let script = test_script(root)?;
    let script_path = work.join("test-script.py");
    std::fs::write(&script_path, &script)?;
    let typed_path = work.join("test-script-typed.py");
    let prelude = std::fs::read_to_string(driver_dir.join("typecheck_prelude.py"))?;
    let hints: String = machine_names
        .iter()
        .map(|n| format!("{n}: Any\n"))
        .collect();
    std::fs::write(&typed_path, format!("{prelude}\n{hints}\n{script}"))?;

    {
        let _t = util::step("mypy on the VM test script");
        util::run(
            Command::new(&python)
                .args([
                    "-m",
                    "mypy",
                    "--no-implicit-optional",
                    "--pretty",
                    "--no-color-output",
                    "--cache-dir",
                ])
                .arg(work.join("mypy-cache"))
                .arg(&typed_path),
        )
        .context("mypy rejects the VM test script; the Nix build would too")?;
    }
    {
        let _t = util::step("pyflakes on the VM test script");
        let mut builtins = machine_names.clone();
        builtins.extend(DRIVER_SYMBOLS.iter().map(|s| s.to_string()));
        util::run(
            Command::new(&python)
                .args(["-m", "pyflakes"])
                .arg(&script_path)
                .env("PYFLAKES_BUILTINS", builtins.join(",")),
        )
        .context("pyflakes rejects the VM test script; the Nix build would too")?;
    }
    {
        // Scripts the images run from the store (Patroni's callbacks).
        let _t = util::step("mypy and pyflakes on the role modules' Python scripts");
        let scripts: Vec<PathBuf> = std::fs::read_dir(root.join("nixos-modules/roles"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "py"))
            .collect();
        if !scripts.is_empty() {
            util::run(
                Command::new(&python)
                    .args(["-m", "mypy", "--strict", "--pretty", "--no-color-output"])
                    .arg("--cache-dir")
                    .arg(work.join("mypy-cache"))
                    .args(&scripts),
            )
            .context("mypy rejects a role module's script")?;
            util::run(
                Command::new(&python)
                    .args(["-m", "pyflakes"])
                    .args(&scripts),
            )
            .context("pyflakes rejects a role module's script")?;
        }
    }
    let dir = root.join("vm-tests/scenarios");
    let mut scenarios: Vec<PathBuf> = if dir.is_dir() {
        std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect()
    } else {
        Vec::new()
    };
    scenarios.sort();
    {
        let _t = util::step("the driver reads every scenario file");
        util::run(
            Command::new("/usr/bin/python3")
                .arg(&driver)
                .arg("--check")
                .arg(root.join("vm-tests/topology.toml"))
                .args(&scenarios),
        )
        .context("a scenario uses a step the NixOS driver cannot run")?;
    }
    {
        let _t = util::step("the driver plays every scenario against stand-in VMs (selftest.py)");
        let selftest = driver_dir.join("selftest.py");
        util::run(
            Command::new(&python)
                .args([
                    "-m",
                    "mypy",
                    "--no-implicit-optional",
                    "--no-color-output",
                    "--cache-dir",
                ])
                .arg(work.join("mypy-cache"))
                .arg(&selftest)
                .current_dir(&driver_dir),
        )
        .context("mypy rejects vm-tests/driver/selftest.py")?;
        util::run(
            Command::new(&python)
                .args(["-m", "pyflakes"])
                .arg(&selftest),
        )
        .context("pyflakes rejects vm-tests/driver/selftest.py")?;
        let out = Command::new("/usr/bin/python3")
            .arg(&selftest)
            .arg(root.join("vm-tests/topology.toml"))
            .args(&scenarios)
            .output()
            .context("could not run /usr/bin/python3")?;
        if !out.status.success() {
            bail!(
                "the scenario driver failed against stand-in VMs:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        for line in stdout
            .lines()
            .filter(|l| l.starts_with("ok:") || l.starts_with("selftest:"))
        {
            eprintln!("    {line}");
        }
    }
    Ok(())
}

/// The globals the NixOS test driver gives a test script (its
/// `generate-driver-symbols`), which pyflakes must accept as builtins.
const DRIVER_SYMBOLS: &[&str] = &[
    "start_all",
    "test_script",
    "machines",
    "vlans",
    "driver",
    "log",
    "create_machine",
    "subtest",
    "run_tests",
    "join_all",
    "retry",
    "serial_stdout_off",
    "serial_stdout_on",
    "polling_condition",
];

/// The `testScript` of vm-tests/lib.nix as the test framework gets it: each
/// `${builtins.readFile ./…}` line replaced by that file, every other line
/// with its interpolations replaced by local paths (or, for values only Nix
/// computes, a value of the same type), so what is checked here is what the
/// framework runs, whatever files lib.nix comes to include.
fn test_script(root: &Path) -> Result<String> {
    let vm_tests = root.join("vm-tests");
    let lib = std::fs::read_to_string(vm_tests.join("lib.nix"))?;
    let mut lines = lib.lines().map(str::trim);
    lines
        .find(|l| l.starts_with("testScript = ''"))
        .context("vm-tests/lib.nix has no testScript = '' … '' block")?;
    let mut script = String::new();
    let mut calls_scenario = false;
    for line in lines.take_while(|l| *l != "'';") {
        if let Some(file) = line
            .strip_prefix("${builtins.readFile ./")
            .and_then(|l| l.strip_suffix('}'))
        {
            let path = vm_tests.join(file);
            script += &std::fs::read_to_string(&path)
                .with_context(|| format!("lib.nix's testScript reads {}", rel(root, &path)))?;
            script.push('\n');
            continue;
        }
        calls_scenario |= line.starts_with("run_scenario(");
        let local = line
            .replace(
                "${./topology.toml}",
                &vm_tests.join("topology.toml").display().to_string(),
            )
            .replace(
                "${file}",
                &vm_tests.join("scenarios/smoke.toml").display().to_string(),
            )
            .replace("${profile}", "short")
            // Nix's JSON of node name -> secret names; its type is what counts.
            .replace("${builtins.toJSON secretsByNode}", "{}");
        ensure!(
            !local.contains("${"),
            "vm-tests/lib.nix's testScript has an interpolation this check does not know: {line}"
        );
        script += &local;
        script.push('\n');
    }
    ensure!(
        calls_scenario,
        "vm-tests/lib.nix's testScript never calls run_scenario(…)"
    );
    Ok(script)
}

fn node_names(root: &Path) -> Result<Vec<String>> {
    let topology = read_toml(&root.join("vm-tests/topology.toml"))?;
    Ok(topology["nodes"]
        .as_array()
        .context("topology has no [[nodes]]")?
        .iter()
        .filter_map(|n| n["name"].as_str().map(str::to_owned))
        .collect())
}

/// The script of `twofa-secrets.service` (roles/common.nix) as evaluated for
/// an app and a db node, run against temporary directories in place of
/// `/run/twofa-secrets`, `/var/lib/twofa-secrets` and the credentials the
/// hypervisor passed: it gathers exactly the secrets the role's services
/// read, a credential wins over a file, each copy is mode 0400, and a
/// missing secret is named and fails the unit (which systemd retries).
/// Owners become the current user so this runs without root.
fn secrets_gathering(root: &Path) -> Result<()> {
    let _t =
        util::step("twofa-secrets.service's script: credential first, file second, missing named");
    let out = util::output(
        Command::new("nix-instantiate")
            .args(["--eval", "--strict", "--json"])
            .arg(root.join("vm-tests/eval-modules.nix")),
    )?;
    let nodes: Value = serde_json::from_str(&out)?;
    let me = util::output(Command::new("id").arg("-un"))?
        .trim()
        .to_owned();
    let work = util::target_dir().join("nix-secrets-check");
    for (node, expected) in [
        ("app1", &["cluster-ca", "db-password", "secret-key"][..]),
        (
            "db1",
            &[
                "cluster-ca",
                "db-password",
                "db-tls-cert",
                "db-tls-key",
                "replication-password",
                "rewind-password",
                "superuser-password",
            ][..],
        ),
    ] {
        let script = nodes[node]["common"]["config"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|part| part["systemd"]["services"]["twofa-secrets"]["script"].as_str())
            .with_context(|| format!("{node} has no twofa-secrets.service"))?;
        let _ = std::fs::remove_dir_all(&work);
        let (creds, dir, run) = (work.join("creds"), work.join("dir"), work.join("run"));
        std::fs::create_dir_all(&creds)?;
        std::fs::create_dir_all(&dir)?;
        let mut local = String::new();
        let mut names = Vec::new();
        for line in script.lines() {
            let line = match line.trim() {
                "run='/run/twofa-secrets'" => format!("run='{}'", run.display()),
                "dir='/var/lib/twofa-secrets'" => format!("dir='{}'", dir.display()),
                l if l.starts_with("take ") => {
                    let name = l.split_whitespace().nth(1).context("take without a name")?;
                    names.push(name.to_owned());
                    format!("take {name} {me}")
                }
                _ => line.replace("-o root -g root ", ""),
            };
            local.push_str(&line);
            local.push('\n');
        }
        ensure!(
            local.contains(&run.display().to_string())
                && local.contains(&dir.display().to_string()),
            "twofa-secrets' script no longer sets run= and dir= as this check expects:\n{script}"
        );
        ensure!(
            names == expected,
            "{node}: twofa-secrets gathers {names:?}, its services read {expected:?}"
        );
        let script_file = work.join("gather.sh");
        std::fs::write(&script_file, &local)?;
        let gather = || {
            Command::new("bash")
                .arg("-e")
                .arg(&script_file)
                .env("CREDENTIALS_DIRECTORY", &creds)
                .output()
        };

        // Nothing provisioned: every name reported, exit 1, nothing copied.
        let out = gather()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(
            !out.status.success() && names.iter().all(|n| stderr.contains(&format!(" {n}"))),
            "{node}: with no secret the script must fail naming each one; it said {:?} / {stderr}",
            out.status
        );
        ensure!(
            std::fs::read_dir(&run)?.next().is_none(),
            "{node}: copied something with nothing provisioned"
        );

        // The first from the hypervisor (and a stale file it must win
        // over), the others from files.
        for (i, name) in names.iter().enumerate() {
            if i == 0 {
                std::fs::write(creds.join(format!("twofa.{name}")), format!("cred-{name}"))?;
            }
            std::fs::write(dir.join(name), format!("file-{name}"))?;
        }
        let out = gather()?;
        ensure!(
            out.status.success(),
            "{node}: the script failed with every secret there: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for (i, name) in names.iter().enumerate() {
            let copy = run.join(name);
            let want = if i == 0 {
                format!("cred-{name}")
            } else {
                format!("file-{name}")
            };
            ensure!(
                std::fs::read_to_string(&copy)? == want,
                "{node}: {} does not hold {want}",
                copy.display()
            );
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&copy)?.permissions().mode() & 0o777;
            ensure!(
                mode == 0o400,
                "{node}: {} has mode {mode:o}",
                copy.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_pins_the_reviewed_nixpkgs() {
        let lock: Value = serde_json::from_str(
            &std::fs::read_to_string(util::root().join("flake.lock")).unwrap(),
        )
        .unwrap();
        check_lock(&lock).unwrap();
    }

    #[test]
    fn a_moved_pin_is_refused() {
        let mut lock: Value = serde_json::from_str(
            &std::fs::read_to_string(util::root().join("flake.lock")).unwrap(),
        )
        .unwrap();
        lock["nodes"]["nixpkgs"]["locked"]["rev"] =
            json!("0000000000000000000000000000000000000000");
        assert!(check_lock(&lock).is_err());
    }

    #[test]
    fn a_differing_value_is_reported_with_its_path() {
        let err = same("t", &json!({"a": {"b": 0.2}}), &json!({"a": {"b": 0.25}})).unwrap_err();
        assert!(err.to_string().contains("t.a.b"), "{err}");
        same("t", &json!({"a": [1, 0.2]}), &json!({"a": [1, 0.2]})).unwrap();
    }
}
