# Runs one fault scenario (vm-tests/scenarios/<name>.toml) in a NixOS VM
# test. vm-tests/lib.nix gives the NixOS test framework this file followed by
#
#     run_scenario(machines, subtest, "<topology.toml>", "<scenario.toml>", "<profile>")
#
# so every scenario is the same program reading a different file, in the
# vocabulary of vm-tests/README.md that the local lab (`cargo xtask lab`)
# runs too. The framework type-checks this script with mypy and lints it with
# pyflakes; `cargo xtask nix` does the same here, and runs
# `python3 scenario_driver.py --check topology.toml scenarios/*.toml`, which
# validates every scenario without booting anything.
#
# The test framework's own globals (`machines`, `subtest`, the machine names,
# `log`, `driver`, `retry`…) are never redefined here.

import base64
import ipaddress
import json
import random
import re
import shlex
import sys
import time
import tomllib
from typing import Any, Callable, ContextManager, Sequence

# Units of each role, in start order.
ROLE_UNITS: dict[str, list[str]] = {
    "proxy": ["haproxy.service", "keepalived.service"],
    "app": ["twofa.service"],
    "db": ["etcd.service", "patroni.service"],
    "client": ["multi-user.target"],
}
SERVICES = ("haproxy", "keepalived", "twofa", "patroni", "etcd")
SIGNALS = ("TERM", "KILL")
SELECTORS = ("@db-leader", "@proxy-master", "@etcd-leader", "@crashed", "@servers", "all")
# What a `pause` step stops: the processes of a unit's control group, all of
# them or only those whose name (comm) is or is not the one given. Patroni's
# unit holds its PostgreSQL: `postgresql` is every PostgreSQL process of it,
# `patroni` the agent alone.
PAUSE_TARGETS: dict[str, tuple[str, str, bool]] = {
    "postgresql": ("patroni.service", "postgres", True),
    "patroni": ("patroni.service", "postgres", False),
    "etcd": ("etcd.service", "", True),
    "twofa": ("twofa.service", "", True),
    "haproxy": ("haproxy.service", "", True),
    "keepalived": ("keepalived.service", "", True),
}
PAUSE_ROLES = {"postgresql": "db", "patroni": "db", "etcd": "db", "twofa": "app", "haproxy": "proxy", "keepalived": "proxy"}
NODE_ACTIONS = (
    "crash",
    "start",
    "stop_service",
    "start_service",
    "restart_service",
    "block",
    "unblock",
    "run",
    "pause",
)
ACTIONS = ("wait_healthy", "start_load", "wait_load", "sleep", "chaos") + NODE_ACTIONS
# A chaos fault and the step that undoes it.
RECOVERY = {
    "crash": "start",
    "block": "unblock",
    "stop_service": "start_service",
    "restart_service": None,
    # Resumed by its own timer; chaos waits it out before the next fault.
    "pause": None,
}

LOAD_UNIT = "twofa-load"
LOAD_DIR = "/tmp/twofa-load"
TWOFA = "/run/current-system/sw/bin/twofa"
# A db node's secrets (twofa.runtimeSecretsDir): etcd and Patroni's REST API
# take only TLS clients that show a certificate from the cluster CA; the
# driver asks from the db node itself, with that node's certificate.
SECRETS = "/run/twofa-secrets"
DB_TLS = f"--cacert {SECRETS}/cluster-ca --cert {SECRETS}/db-tls-cert --key {SECRETS}/db-tls-key"
# Steps that inject a fault, and steps that heal one: the load hears of each
# through its control file (`twofa probe load --control-file`).
FAULTS = ("crash", "block", "stop_service", "restart_service", "pause")
HEALS = ("start", "unblock", "start_service", "restart_service")
# Expect keys that set how the figures are read rather than bound one.
PARAMETERS = ("in_flight_window_ms",)
# How long before a fault the load's registration burst starts.
BURST_LEAD_S = 1.5



def service_commands(action: str, service: str, signal: str = "TERM") -> list[str]:
    """The systemctl commands of a service step. A service a scenario stops
    stays stopped until its start_service, as in the lab (which supervises
    nothing): a KILL signals only the unit's main process, as the lab signals
    the pid it started (Patroni's PostgreSQL lives on), then `systemctl stop`
    cancels the restart Restart= would schedule and runs ExecStopPost=."""
    unit = f"{service}.service"
    if action == "stop_service" and signal == "KILL":
        return [
            f"systemctl kill --signal=KILL --kill-whom=main {unit}",
            f"systemctl stop {unit}",
        ]
    return [f"systemctl {action.split('_')[0]} {unit}"]

def pause_commands(service: str, pid_file: str, timer: str, seconds: float) -> list[str]:
    """Stop the service's processes (SIGSTOP) and leave their resumption
    (SIGCONT) to a transient systemd timer inside the VM, so it happens
    `seconds` later whatever the test script does meanwhile. The processes
    are listed twice, so a child forked while the first ones stopped is
    caught too."""
    unit, comm, wanted = PAUSE_TARGETS[service]
    test = "" if not comm else f'[ "$(cat /proc/$p/comm 2>/dev/null)" {"=" if wanted else "!="} {comm} ] && '
    scan = (
        f"cg=$(systemctl show -P ControlGroup {unit}); "
        f"for p in $(cat /sys/fs/cgroup$cg/cgroup.procs); do {test}echo $p; done"
    )
    stop = f"({scan}) >> {pid_file}; kill -STOP $(sort -u {pid_file})"
    return [
        f"rm -f {pid_file}",
        stop,
        stop,
        f"test -s {pid_file}",
        f"systemd-run --unit={timer} --on-active={seconds:g}s --timer-property=AccuracySec=50ms"
        f" /bin/sh -c {shlex.quote(f'kill -CONT $(sort -u {pid_file})')}",
    ]


def resume_commands(pid_file: str, timer: str) -> list[str]:
    """Resume a pause now (its timer may not have fired yet)."""
    return [f"systemctl stop {timer}.timer; kill -CONT $(sort -u {pid_file}) 2>/dev/null; true"]


class ScenarioError(Exception):
    """A scenario file the NixOS driver cannot run."""


def load_toml(path: str) -> dict[str, Any]:
    with open(path, "rb") as f:
        return tomllib.load(f)


def validate(scenario: dict[str, Any], topology: dict[str, Any], name: str) -> list[str]:
    """Every problem of a scenario file, so a typo fails before any VM boots."""
    problems: list[str] = []
    nodes = {n["name"] for n in topology.get("nodes", [])}
    if scenario.get("name") != name:
        problems.append(f"name = {scenario.get('name')!r}, but the file is {name}.toml")
    profiles = scenario.get("profile", {})
    # The VM tests run the short profile; a full one, when given, must be valid too.
    for profile in ["short"] + (["full"] if "full" in profiles else []):
        seconds = profiles.get(profile, {}).get("load_seconds")
        if not isinstance(seconds, int) or seconds <= 0:
            problems.append(f"[profile.{profile}] needs load_seconds (a positive integer)")
    load = scenario.get("load", {})
    for key in ("accounts", "concurrency"):
        if not isinstance(load.get(key, 1), int):
            problems.append(f"[load] {key} must be an integer")
    steps = scenario.get("steps", [])
    if not steps:
        problems.append("no [[steps]]")
    for i, step in enumerate(steps, 1):
        problems.extend(f"step {i}: {p}" for p in check_step(step, nodes, in_chaos=False))
    for key, value in scenario.get("expect", {}).items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"[expect] {key} must be a number")
    return problems


def check_step(step: Any, nodes: set[str], in_chaos: bool) -> list[str]:
    if isinstance(step, str):
        step = {"action": step}
    if not isinstance(step, dict):
        return [f"{step!r} is not a step"]
    action = step.get("action")
    if action not in ACTIONS:
        return [f"unknown action {action!r} (known: {', '.join(ACTIONS)})"]
    problems: list[str] = []
    if action in NODE_ACTIONS:
        node = step.get("node")
        if node is None and not in_chaos:
            problems.append(f"{action} needs node")
        elif node is not None and node not in nodes and node not in SELECTORS:
            problems.append(f"{action}: unknown node {node!r}")
    if action in ("stop_service", "start_service", "restart_service"):
        if step.get("service") not in SERVICES:
            problems.append(f"{action}: service must be one of {', '.join(SERVICES)}")
    if action == "stop_service" and step.get("signal", "TERM") not in SIGNALS:
        problems.append("stop_service: signal must be TERM or KILL")
    if action == "pause":
        if step.get("service") not in PAUSE_TARGETS:
            problems.append(f"pause: service must be one of {', '.join(PAUSE_TARGETS)}")
        if not in_chaos and not isinstance(step.get("seconds"), (int, float)):
            problems.append("pause needs seconds")
    if action == "sleep" and not isinstance(step.get("seconds"), (int, float)):
        problems.append("sleep needs seconds")
    if action == "run" and not isinstance(step.get("command"), str):
        problems.append("run needs command")
    if action == "chaos":
        if in_chaos:
            problems.append("chaos cannot nest")
        if not isinstance(step.get("seconds"), (int, float)):
            problems.append("chaos needs seconds")
        if "seed" in step and not isinstance(step.get("seed"), int):
            problems.append("chaos: seed must be an integer (or left out: taken from the clock)")
        faults = step.get("faults")
        if not isinstance(faults, list) or not faults:
            problems.append("chaos needs a list of faults")
        else:
            for fault in faults:
                fault_action = fault if isinstance(fault, str) else fault.get("action") if isinstance(fault, dict) else None
                if fault_action not in RECOVERY:
                    problems.append(f"chaos fault {fault!r}: one of {', '.join(RECOVERY)}")
                problems.extend(check_step(fault, nodes, in_chaos=True))
    return problems


def settle(find: Callable[[], str], seconds: float = 10.0) -> str:
    """A role's holder, asked again for up to `seconds`: one answer can be lost
    to a slow request or fall in the instant the role changes hands. The load
    keeps counting meanwhile, so the wait hides nothing a person would see."""
    end = time.monotonic() + seconds
    while True:
        try:
            return find()
        except ScenarioError:
            if time.monotonic() >= end:
                raise
        time.sleep(0.25)


class Cluster:
    """The scenario's view of the test VMs, by topology name."""

    def __init__(self, machines_: Sequence[Any], topology: dict[str, Any]) -> None:
        self.vms: dict[str, Any] = {m.name: m for m in machines_}
        self.nodes: dict[str, dict[str, Any]] = {n["name"]: n for n in topology["nodes"]}
        missing = set(self.nodes) - set(self.vms)
        if missing:
            raise ScenarioError(f"no VM for topology nodes {sorted(missing)}")
        self.topology = topology
        self.vip: str = topology["network"]["vip"]
        self.ports: dict[str, int] = topology["ports"]
        self.down: set[str] = set()
        self.last_taken_down: list[str] = []
        self.client = self.vms[self.of_role("client")[0]]

    def app_urls(self) -> list[str]:
        return [f"http://{self.nodes[n]['address']}:{self.ports['app']}" for n in self.of_role("app")]

    def expand(self, command: str) -> str:
        """Placeholders a `run` command may use instead of addresses:
        {vip}, {app_urls} or {apps} (the apps' base URLs, comma-separated), {proxy_url}
        or {vip_url} (http://VIP:port) and {<node name>} (that node's address).
        ({spare_address} is the run step's own: it adds the address too.)"""
        values = {
            "vip": self.vip,
            "apps": ",".join(self.app_urls()),
            "app_urls": ",".join(self.app_urls()),
            "proxy_url": f"http://{self.vip}:{self.ports['http']}",
            "vip_url": f"http://{self.vip}:{self.ports['http']}",
        }
        values.update({name: n["address"] for name, n in self.nodes.items()})
        return re.sub(r"\{([a-z0-9_]+)\}", lambda m: values.get(m.group(1), m.group(0)), command)

    def spare_address(self) -> str:
        """The highest free host address of the lab's subnet (no node's, not
        the VIP): `{spare_address}` in a run command, a source of its own."""
        prefix = int(self.topology["network"]["prefix_length"])
        client = self.nodes[self.of_role("client")[0]]["address"]
        net = ipaddress.ip_network(f"{client}/{prefix}", strict=False)
        taken = {n["address"] for n in self.nodes.values()} | {self.vip}
        for host in reversed(list(net.hosts())):
            if str(host) not in taken:
                return str(host)
        raise ScenarioError(f"no free address left in {net}")

    def address_command(self, name: str, verb: str, address: str) -> str:
        """`ip addr add|del` of an address of the lab's subnet on the
        interface that carries the node's own address."""
        prefix = self.topology["network"]["prefix_length"]
        own = self.nodes[name]["address"]
        dev = f"$(ip -o -4 addr show to {own}/32 | awk '{{print $2}}')"
        return f'ip addr {verb} {address}/{prefix} dev "{dev}"'

    def of_role(self, role: str) -> list[str]:
        return [name for name, n in self.nodes.items() if n["role"] == role]

    def up(self, names: list[str]) -> list[str]:
        return [n for n in names if n not in self.down]

    def wait_units(self, name: str, timeout: int) -> None:
        vm = self.vms[name]
        for unit in ROLE_UNITS[self.nodes[name]["role"]]:
            # Not wait_for_unit: keepalived is started by a timer after boot,
            # and wait_for_unit gives up on an inactive unit with no job.
            vm.wait_until_succeeds(f"systemctl is-active --quiet {unit}", timeout=timeout)

    def leader(self) -> str:
        """The db node whose Patroni answers 200 on GET /primary."""
        port = self.ports["patroni_api"]
        for name in self.up(self.of_role("db")):
            address = self.nodes[name]["address"]
            status, _ = self.vms[name].execute(
                f"curl -sf -o /dev/null --max-time 2 {DB_TLS} https://{address}:{port}/primary"
            )
            if status == 0:
                return name
        raise ScenarioError("no Patroni leader answers GET /primary")

    def vip_holder(self) -> str:
        for name in self.up(self.of_role("proxy")):
            status, _ = self.vms[name].execute(
                f"ip -4 -o addr show | grep -qF ' {self.vip}/'"
            )
            if status == 0:
                return name
        raise ScenarioError(f"no proxy holds the VIP {self.vip}")

    def etcd_leader(self) -> str:
        """The etcd member whose /metrics says etcd_server_is_leader 1."""
        port = self.ports["etcd_client"]
        for name in self.up(self.of_role("db")):
            address = self.nodes[name]["address"]
            status, _ = self.vms[name].execute(
                f"curl -sf --max-time 2 {DB_TLS} https://{address}:{port}/metrics | grep -qx 'etcd_server_is_leader 1'"
            )
            if status == 0:
                return name
        raise ScenarioError("no etcd member says it leads (etcd_server_is_leader)")

    def resolve(self, node: str) -> list[str]:
        if node == "all":
            return list(self.nodes)
        if node == "@etcd-leader":
            return [settle(self.etcd_leader)]
        if node == "@db-leader":
            return [settle(self.leader)]
        if node == "@proxy-master":
            return [settle(self.vip_holder)]
        if node == "@servers":
            # Every node but the client, databases first (start order).
            return self.of_role("db") + self.of_role("app") + self.of_role("proxy")
        if node == "@crashed":
            if not self.last_taken_down:
                raise ScenarioError("@crashed before any crash, block or stop_service step")
            return list(self.last_taken_down)
        return [node]

    def cluster_state(self) -> dict[str, Any]:
        """Patroni's GET /cluster from any db node that answers."""
        port = self.ports["patroni_api"]
        for name in self.up(self.of_role("db")):
            address = self.nodes[name]["address"]
            status, out = self.vms[name].execute(f"curl -sf --max-time 2 {DB_TLS} https://{address}:{port}/cluster")
            if status == 0:
                state: dict[str, Any] = json.loads(out)
                return state
        raise ScenarioError("no Patroni REST API answers")

    def wait_healthy(self, timeout: int) -> None:
        deadline = time.monotonic() + timeout
        for name in self.up(list(self.nodes)):
            self.wait_units(name, timeout)
        want_sync = bool(self.topology.get("patroni", {}).get("synchronous_mode", False))
        while True:
            problem = ""
            try:
                members = self.cluster_state().get("members", [])
                roles = [m.get("role") for m in members if m.get("state") in ("running", "streaming")]
                if "leader" not in roles:
                    problem = f"no running leader in {members}"
                elif want_sync and len(self.up(self.of_role("db"))) > 1 and "sync_standby" not in roles:
                    problem = f"no synchronous standby in {members}"
            except ScenarioError as e:
                problem = str(e)
            if not problem:
                break
            if time.monotonic() > deadline:
                raise ScenarioError(f"cluster not healthy after {timeout} s: {problem}")
            time.sleep(1)
        remaining = max(10, int(deadline - time.monotonic()))
        self.client.wait_until_succeeds(
            f"curl -sf --max-time 2 http://{self.vip}:{self.ports['http']}/readyz", timeout=remaining
        )
        if "https" in self.ports:
            # The images' TLS frontend (self-signed at first boot) and HSTS;
            # the lab has no TLS, so only this driver looks.
            self.client.wait_until_succeeds(
                f"curl -skf --max-time 2 -o /dev/null -D - https://{self.vip}:{self.ports['https']}/healthz"
                " | grep -qi '^strict-transport-security:'",
                timeout=remaining,
            )

    def take_down(self, names: list[str], how: Callable[[Any], None]) -> None:
        for name in names:
            how(self.vms[name])
            self.down.add(name)
        self.last_taken_down = names

    def bring_up(self, names: list[str], how: Callable[[Any], None], timeout: int) -> None:
        for name in names:
            how(self.vms[name])
        for name in names:
            self.down.discard(name)
            self.wait_units(name, timeout)


class Load:
    """`twofa probe load` on the client VM, in a transient unit."""

    def __init__(self, cluster: Cluster, settings: dict[str, Any], seconds: int) -> None:
        self.cluster = cluster
        self.settings = settings
        self.seconds = seconds
        self.started = False
        self.kept_accounts: str | None = None

    def command(self) -> list[str]:
        """Every [load] key becomes the probe's flag of the same name
        (`register_every` -> `--register-every`), as in the lab; the
        accounts are registered and checked on the apps directly, so the
        proxies' per-IP rate limit is spent on the load alone."""
        c = self.cluster
        command = [
            TWOFA,
            "probe",
            "load",
            "--base-url",
            f"http://{c.vip}:{c.ports['http']}",
            "--direct",
            ",".join(c.app_urls()),
            "--seconds",
            str(self.seconds),
            "--control-file",
            f"{LOAD_DIR}/control",
            "--json",
        ]
        for key, value in sorted(self.settings.items()):
            if key == "keep_accounts":
                # Accounts carried from one load to the next (full-restart).
                if value:
                    command += ["--accounts-file", f"{LOAD_DIR}/accounts.json"]
                continue
            command += [f"--{key.replace('_', '-')}", str(value).lower() if isinstance(value, bool) else str(value)]
        return command

    def start(self) -> None:
        run = shlex.join(self.command())
        script = f"{run} > {LOAD_DIR}/report.json 2> {LOAD_DIR}/log; echo $? > {LOAD_DIR}/rc"
        vm = self.cluster.client
        vm.succeed(f"rm -rf {LOAD_DIR} && mkdir -p {LOAD_DIR} && touch {LOAD_DIR}/control")
        if self.kept_accounts is not None:
            # Kept here rather than on the client's disk, which a crash of
            # the client VM may roll back.
            encoded = base64.b64encode(self.kept_accounts.encode()).decode()
            vm.succeed(f"echo {encoded} | base64 -d > {LOAD_DIR}/accounts.json")
        vm.succeed(f"systemd-run --unit={LOAD_UNIT} --collect /bin/sh -c {shlex.quote(script)}")
        self.started = True
        # Faults start once the accounts exist, as in the lab.
        vm.wait_until_succeeds(f"grep -q 'accounts ready' {LOAD_DIR}/log", timeout=300)

    def control(self, line: str) -> None:
        """Appends a line to the running load's control file. `{now}` is the
        client VM's clock in unix ms, the clock the load's own times use."""
        if self.started:
            line = line.replace("{now}", "$(date +%s%3N)")
            self.cluster.client.succeed(f"echo {line} >> {LOAD_DIR}/control")

    def wait(self) -> dict[str, Any]:
        if not self.started:
            raise ScenarioError("wait_load before start_load")
        vm = self.cluster.client
        # The final check of every acknowledged account starts once the load
        # has ended and the cluster is healthy again.
        vm.wait_until_succeeds(
            f"grep -q 'load finished' {LOAD_DIR}/log || test -s {LOAD_DIR}/rc", timeout=self.seconds + 600
        )
        self.cluster.wait_healthy(600)
        self.control("verify")
        vm.wait_until_succeeds(f"test -s {LOAD_DIR}/rc", timeout=1200)
        self.started = False
        print(vm.succeed(f"cat {LOAD_DIR}/log"))
        report: dict[str, Any] = json.loads(vm.succeed(f"cat {LOAD_DIR}/report.json"))
        if self.settings.get("keep_accounts"):
            self.kept_accounts = vm.succeed(f"cat {LOAD_DIR}/accounts.json")
        print(f"load report: {json.dumps(report, indent=2)}")
        return report


def in_flight(start_ms: int, end_ms: int, faults: list[tuple[int, int]], window_ms: int) -> bool:
    """A failure is in flight when its request started before a fault's
    injection ended and itself ended at or after the fault, within the
    detection window of the injection's end (as the lab's). A fault is
    (mark, end); here a VM's crash or cut is one QEMU command, so the
    driver sends no `injected` line and the end is the mark."""
    return any(start_ms < done and at <= end_ms <= done + window_ms for at, done in faults)


def classify_report(report: dict[str, Any], window_ms: int) -> None:
    """Failures outside the in-flight window count against
    `max_logins_failed`: `logins_failed` becomes their number and the
    probe's own count stays as `probe_logins_failed` (as the lab's)."""
    faults = [
        (int(f["at_ms"]), max(int(f["at_ms"]), int(f.get("done_ms", f["at_ms"]))))
        for f in report.get("faults", [])
        if "at_ms" in f
    ]
    failures = report.get("failures", [])
    flying = sum(
        1 for f in failures if in_flight(int(f.get("start_ms", 0)), int(f.get("end_ms", 2**63)), faults, window_ms)
    )
    if report.get("failures_listed_all", False):
        total = len(failures)
    else:
        total = max(int(report.get("errors_seen", 0)), len(failures))
    if "logins_failed" in report:
        report["probe_logins_failed"] = report["logins_failed"]
    report["failures_in_flight"] = flying
    report["in_flight_window_ms"] = window_ms
    report["logins_failed"] = total - flying
    report["failed_logins"] = total - flying


def count_haproxy_hangs(report: dict[str, Any], hangs: list[tuple[int, int]]) -> None:
    """The failures a hung HAProxy caught (as the lab's): a login or
    registration whose last request started while HAProxy was paused on the
    proxy holding the VIP, ended by a transport error. `hangs` are (from,
    to) in the load's milliseconds. Every failure still counts in
    `success_ratio` and `logins_failed`."""
    per_hang = [0] * len(hangs)
    for f in report.get("failures", []):
        if f.get("op") not in ("login", "registration") or not str(f.get("cause", "")).startswith("transport"):
            continue
        start = int(f.get("start_ms", 0))
        for i, (first, last) in enumerate(hangs):
            if first <= start < last:
                per_hang[i] += 1
                break
    caught = sum(per_hang)
    failed_logins = int(report.get("probe_logins_failed", report.get("logins_failed", 0)))
    ok = int(report.get("logins_ok", 0)) + int(report.get("registrations_ok", 0))
    beside = max(ok + failed_logins + int(report.get("registrations_failed", 0)) - caught, 0)
    report["haproxy_hangs"] = len(hangs)
    report["haproxy_hang_failures"] = caught
    report["failures_per_haproxy_hang"] = max(per_hang, default=0)
    report["success_ratio_beside_haproxy_hangs"] = round(ok / beside, 4) if beside else 0.0


def verdict(expect: dict[str, Any], report: dict[str, Any]) -> list[str]:
    """`max_X` bounds the report's X from above, `min_X` from below, any
    other key must equal it: the same reading as the lab's."""
    failures: list[str] = []
    for key, bound in expect.items():
        if key in PARAMETERS:
            continue
        field = key[4:] if key.startswith(("max_", "min_")) else key
        if field not in report:
            failures.append(f"the load report has no {field!r} (for expect.{key})")
            continue
        value = report[field]
        ok = (
            value <= bound
            if key.startswith("max_")
            else value >= bound
            if key.startswith("min_")
            else value == bound
        )
        if not ok:
            failures.append(f"expect.{key} = {bound}, measured {field} = {value}")
    return failures


class Runner:
    def __init__(
        self,
        cluster: Cluster,
        scenario: dict[str, Any],
        profile: str,
        subtest_: Callable[[str], ContextManager[Any]],
    ) -> None:
        self.cluster = cluster
        self.scenario = scenario
        self.subtest = subtest_
        chosen = scenario["profile"][profile]
        seconds = int(chosen["load_seconds"])
        # A profile may bound the chaos step differently from the file's default.
        self.chaos_seconds: float | None = chosen.get("chaos_seconds")
        self.load = Load(cluster, scenario.get("load", {}), seconds)
        self.report: dict[str, Any] | None = None
        # Pauses not yet resumed by hand: (node, pid file, timer unit).
        self.pauses: list[tuple[str, str, str]] = []
        # Every fault step's target as resolved at run time.
        self.targets: list[dict[str, Any]] = []
        self.window_ms = int(scenario.get("expect", {}).get("in_flight_window_ms", 0))
        self.last_fault: float | None = None
        # Fault marks sent to the current load, and each HAProxy pause on the
        # VIP holder as (index of its mark, seconds): the load's `faults`
        # list gives the mark's time on the load's clock.
        self.fault_marks = 0
        self.haproxy_hangs: list[tuple[int, float]] = []

    def resume_all(self) -> None:
        """Resume every pause now; a pause must never outlive its step's
        time, nor the scenario when that fails first."""
        for name, pid_file, timer in self.pauses:
            if name not in self.cluster.down:
                self.cluster.vms[name].execute(*resume_commands(pid_file, timer))
        self.pauses = []

    def marks(self, what: str, names: list[str]) -> None:
        for name in names:
            role = self.cluster.nodes[name]["role"]
            self.load.control(f"{what} {{now}} {name} {role}")
            if what == "fault":
                self.fault_marks += 1

    def before_fault(self, names: list[str]) -> None:
        """A registration burst just before a fault under load (one for
        faults meant to land in the same second), then the fault's time."""
        if not self.load.started:
            return
        if self.last_fault is None or time.monotonic() - self.last_fault > 3:
            self.load.control("burst")
            time.sleep(BURST_LEAD_S)
        self.marks("fault", names)
        self.last_fault = time.monotonic()

    def step(self, step: dict[str, Any]) -> None:
        c = self.cluster
        action = step["action"]
        timeout = int(step.get("timeout_s", 600))
        names = c.resolve(step["node"]) if "node" in step else []
        if action in FAULTS:
            self.before_fault(names)
        if action in ("crash", "block", "stop_service", "restart_service", "pause"):
            target = {"action": action, "node": step.get("node"), "resolved": names, "service": step.get("service")}
            print(f"target: {json.dumps(target, sort_keys=True)}")
            self.targets.append(target)
        if action == "wait_healthy":
            c.wait_healthy(timeout)
        elif action == "start_load":
            self.load.start()
            self.fault_marks = 0
            self.haproxy_hangs = []
        elif action == "wait_load":
            report = self.load.wait()
            classify_report(report, self.window_ms)
            marks = report.get("faults", [])
            count_haproxy_hangs(
                report,
                [
                    (int(marks[i]["at_ms"]), int(marks[i]["at_ms"]) + int(seconds * 1000))
                    for i, seconds in self.haproxy_hangs
                    if i < len(marks) and "at_ms" in marks[i]
                ],
            )
            if self.report is not None:
                # Several loads: the later report wins, failures and losses add up.
                for key in ("logins_failed", "failed_logins", "accounts_lost", "probe_logins_failed",
                            "failures_in_flight", "replays_accepted", "replays_refused", "replays_not_checkable"):
                    report[key] = report.get(key, 0) + self.report.get(key, 0)
            self.report = report
        elif action == "sleep":
            time.sleep(float(step["seconds"]))
        elif action == "crash":
            c.take_down(names, lambda vm: vm.crash())
        elif action == "block":
            c.take_down(names, lambda vm: vm.block())
        elif action == "start":
            c.bring_up(names, lambda vm: vm.start(), timeout)
        elif action == "unblock":
            c.bring_up(names, lambda vm: vm.unblock(), timeout)
        elif action in ("stop_service", "start_service", "restart_service"):
            commands = service_commands(action, step["service"], step.get("signal", "TERM"))
            for name in names:
                c.vms[name].succeed(*commands)
            if action == "stop_service":
                c.last_taken_down = names
        elif action == "pause":
            vip = None
            if step["service"] == "haproxy":
                try:
                    vip = c.vip_holder()
                except ScenarioError:
                    vip = None  # no holder: no request can be caught
            for k, name in enumerate(names):
                if name == vip and self.load.started:
                    # before_fault marked each name just now, in this order.
                    self.haproxy_hangs.append((self.fault_marks - len(names) + k, float(step["seconds"])))
                n = len(self.targets)
                pid_file, timer = f"/run/twofa-pause-{n}.pids", f"twofa-resume-{n}"
                c.vms[name].succeed(*pause_commands(step["service"], pid_file, timer, float(step["seconds"])))
                self.pauses.append((name, pid_file, timer))
        elif action == "run":
            expected = int(step.get("expect_exit", 0))
            command = c.expand(step["command"])
            # {spare_address}: carried by the node only while the command runs.
            spare = c.spare_address() if "{spare_address}" in command else None
            if spare is not None:
                command = command.replace("{spare_address}", spare)
            for name in names:
                if spare is not None:
                    c.vms[name].succeed(c.address_command(name, "add", spare))
                try:
                    status, out = c.vms[name].execute(command)
                finally:
                    if spare is not None:
                        c.vms[name].execute(c.address_command(name, "del", spare))
                print(out)
                if status != expected:
                    raise ScenarioError(f"{name}: `{command}` exited {status}, expected {expected}:\n{out}")
        elif action == "chaos":
            self.chaos(step)
        else:
            raise ScenarioError(f"unknown action {action!r}")
        if action in HEALS:
            self.marks("heal", names)

    def chaos(self, step: dict[str, Any]) -> None:
        """Seeded random single faults, each undone and healed before the next."""
        seed = int(step["seed"]) if "seed" in step else time.time_ns() % 2**32
        print(f"chaos: seed {seed} (pin it with `seed = {seed}` in the chaos step to replay)")
        rng = random.Random(seed)
        c = self.cluster
        seconds = self.chaos_seconds if self.chaos_seconds is not None else step["seconds"]
        deadline = time.monotonic() + float(seconds)
        faults: list[dict[str, Any]] = [
            {"action": f} if isinstance(f, str) else dict(f) for f in step["faults"]
        ]
        count = 0
        while time.monotonic() < deadline:
            fault = dict(rng.choice(faults))
            if "node" not in fault:
                candidates = sorted(n for n in c.nodes if c.nodes[n]["role"] != "client")
                if fault["action"] == "pause":
                    candidates = c.of_role(PAUSE_ROLES[fault["service"]])
                elif "service" in fault:
                    role = next(r for r, units in ROLE_UNITS.items() if f"{fault['service']}.service" in units)
                    candidates = c.of_role(role)
                fault["node"] = rng.choice(candidates)
            if fault["action"] in ("stop_service", "restart_service") and "service" not in fault:
                role = c.nodes[c.resolve(fault["node"])[0]]["role"]
                fault["service"] = rng.choice([u.removesuffix(".service") for u in ROLE_UNITS[role]])
            hold = rng.uniform(2, 8)
            if fault["action"] == "pause" and "seconds" not in fault:
                fault["seconds"] = round(hold, 1)
            count += 1
            with self.subtest(f"chaos fault {count}: {json.dumps(fault, sort_keys=True)}"):
                names = c.resolve(fault["node"])
                self.step({**fault, "node": names[0]})
                time.sleep(max(hold, float(fault.get("seconds", 0)) if fault["action"] == "pause" else hold))
                recovery = RECOVERY[fault["action"]]
                if recovery is not None:
                    self.step({**fault, "action": recovery, "node": names[0]})
                self.resume_all()
                c.wait_healthy(600)

    def run(self) -> None:
        try:
            for i, step in enumerate(self.scenario["steps"], 1):
                with self.subtest(f"step {i}: {json.dumps(step, sort_keys=True)}"):
                    self.step(step)
        finally:
            self.resume_all()
        print(f"targets: {json.dumps(self.targets, sort_keys=True)}")
        expect = self.scenario.get("expect", {})
        if expect:
            with self.subtest(f"verdict: {json.dumps(expect, sort_keys=True)}"):
                if self.report is None:
                    raise ScenarioError("the scenario expects figures but never ran wait_load")
                failures = verdict(expect, self.report)
                if failures:
                    raise ScenarioError("; ".join(failures))


def run_scenario(
    machines_: Sequence[Any],
    subtest_: Callable[[str], ContextManager[Any]],
    topology_path: str,
    scenario_path: str,
    profile: str,
) -> None:
    """The entry point vm-tests/lib.nix calls with the framework's globals."""
    topology = load_toml(topology_path)
    scenario = load_toml(scenario_path)
    name = scenario_path.rsplit("/", 1)[-1].removesuffix(".toml")
    # The Nix store prefixes copied files with a hash: compare the tail.
    problems = [p for p in validate(scenario, topology, name) if "but the file is" not in p]
    if problems:
        raise ScenarioError(f"{scenario_path}: " + "; ".join(problems))
    cluster = Cluster(machines_, topology)
    print(f"scenario {scenario['name']}: {scenario.get('description', '')}")
    for vm in cluster.vms.values():
        vm.start()
    Runner(cluster, scenario, profile, subtest_).run()


def check_files(topology_path: str, scenario_paths: list[str]) -> int:
    """`--check`: validate scenario files against the topology, no VMs."""
    topology = load_toml(topology_path)
    status = 0
    for path in scenario_paths:
        name = path.rsplit("/", 1)[-1].removesuffix(".toml")
        try:
            problems = validate(load_toml(path), topology, name)
        except tomllib.TOMLDecodeError as e:
            problems = [f"not TOML: {e}"]
        for problem in problems:
            print(f"{path}: {problem}", file=sys.stderr)
            status = 1
    print(f"{len(scenario_paths)} scenario files checked", file=sys.stderr)
    return status


if __name__ == "__main__" and sys.argv[1:2] == ["--check"]:
    sys.exit(check_files(sys.argv[2], sys.argv[3:]))
