# Runs scenario_driver.py against stand-in VMs, so the interpreter itself is
# exercised on a machine that cannot boot NixOS VMs: every scenario file is
# played step by step (selectors resolved, faults applied and undone, the
# load started and read, the verdict taken), and a few fixed cases check
# that a fault hits the right VM and that a figure beyond its bound fails.
# The stand-ins imitate the NixOS test driver's Machine (crash, start,
# block, unblock, execute, succeed, wait_until_succeeds) and answer the
# driver's shell commands from a small model of the cluster.
#
#     python3 selftest.py topology.toml [scenarios/*.toml]

import json
import re
import sys
import tempfile
import time
import tomllib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).parent))
import scenario_driver as sd  # noqa: E402


class FakeClock:
    """Sleeps advance a virtual clock: scenarios that wait minutes run at once."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(float(seconds), 0.0)


class World:
    def __init__(self, topology: dict[str, Any], report: dict[str, Any]) -> None:
        self.nodes = {n["name"]: n for n in topology["nodes"]}
        self.vip = topology["network"]["vip"]
        self.up: set[str] = set()
        self.cut: set[str] = set()
        self.dbs = [n for n, v in self.nodes.items() if v["role"] == "db"]
        self.proxies = sorted(
            (n for n, v in self.nodes.items() if v["role"] == "proxy"),
            key=lambda n: -int(self.nodes[n].get("vrrp_priority", 0)),
        )
        self.leader = self.dbs[0]
        # Not the Patroni leader, so a selector mixing the two is caught.
        self.etcd_leader = self.dbs[-1]
        self.report = report
        self.load_started = False
        self.log: list[str] = []

    def reachable(self, name: str) -> bool:
        return name in self.up and name not in self.cut

    def elect(self) -> None:
        if not self.reachable(self.leader):
            alive = [d for d in self.dbs if self.reachable(d)]
            if alive:
                self.leader = alive[0]

    def vip_holder(self) -> str | None:
        return next((p for p in self.proxies if self.reachable(p)), None)

    def answer(self, name: str, command: str) -> tuple[int, str]:
        self.log.append(f"{name}: {command}")
        if name not in self.up:
            raise RuntimeError(f"command on {name}, which is down: {command}")
        self.elect()
        if command.startswith("systemctl is-active"):
            return 0, ""
        if "/metrics" in command and "etcd_server_is_leader" in command:
            return (0 if name == self.etcd_leader and self.reachable(name) else 1), ""
        if "/primary" in command:
            return (0 if name == self.leader and self.reachable(name) else 1), ""
        if "/cluster" in command:
            members = [
                {
                    "name": d,
                    "state": "running" if d == self.leader else "streaming",
                    "role": "leader" if d == self.leader else "sync_standby",
                }
                for d in self.dbs
                if self.reachable(d)
            ]
            return 0, json.dumps({"members": members})
        if command.startswith("ip -4 -o addr show"):
            return (0 if name == self.vip_holder() else 1), ""
        if "https://" in command and "strict-transport-security" in command:
            return (0 if self.vip_holder() else 7), ""
        if "/readyz" in command:
            return (0 if self.vip_holder() and self.reachable(self.leader) else 7), ""
        if "systemd-run" in command and "kill -CONT" in command:
            return 0, ""
        if "systemd-run" in command:
            if "probe load" not in command or "--base-url" not in command:
                return 1, "not a load command"
            self.load_started = True
            return 0, ""
        if command.startswith("test -s") and "twofa-load/rc" in command:
            return (0 if self.load_started else 1), ""
        if re.search(r"\{[a-z_]+\}", command):
            return 127, f"unexpanded placeholder in {command}"
        if command.startswith("cat") and command.endswith("accounts.json"):
            return 0, "[]"
        if command.startswith("cat") and command.endswith("report.json"):
            return 0, json.dumps(self.report)
        return 0, ""


class FakeVM:
    def __init__(self, name: str, world: World) -> None:
        self.name = name
        self.world = world
        self.events: list[str] = []

    @property
    def booted(self) -> bool:
        return self.name in self.world.up

    def start(self) -> None:
        self.events.append("start")
        self.world.up.add(self.name)

    def crash(self) -> None:
        self.events.append("crash")
        self.world.up.discard(self.name)

    def block(self) -> None:
        self.events.append("block")
        self.world.cut.add(self.name)

    def unblock(self) -> None:
        self.events.append("unblock")
        self.world.cut.discard(self.name)

    def execute(self, command: str, timeout: int | None = None) -> tuple[int, str]:
        return self.world.answer(self.name, command)

    def succeed(self, *commands: str, timeout: int | None = None) -> str:
        out = ""
        for command in commands:
            status, text = self.execute(command)
            if status != 0:
                raise AssertionError(f"{self.name}: `{command}` failed ({status})")
            out += text
        return out

    def wait_until_succeeds(self, command: str, timeout: int = 900) -> str:
        # The model answers at once: what fails now would fail forever.
        return self.succeed(command)


@contextmanager
def subtest(name: str) -> Iterator[None]:
    print(f"  subtest: {name}")
    yield


def satisfying(expect: dict[str, Any]) -> dict[str, Any]:
    """A load report that meets every figure of [expect] exactly, with
    logins that all succeeded for the figures the driver derives."""
    report: dict[str, Any] = {"logins_ok": 100}
    report.update({(k[4:] if k.startswith(("max_", "min_")) else k): v for k, v in expect.items()})
    return report


def play(topology_path: str, scenario_path: str, report: dict[str, Any]) -> World:
    with open(topology_path, "rb") as f:
        world = World(tomllib.load(f), report)
    vms = [FakeVM(n, world) for n in world.nodes]
    sd.run_scenario(vms, subtest, topology_path, scenario_path, "short")
    return world


README_EXAMPLE = """
name = "db-primary-crash"
[load]
accounts = 20
concurrency = 4
[profile.short]
load_seconds = 45
[[steps]]
action = "wait_healthy"
[[steps]]
action = "start_load"
[[steps]]
action = "sleep"
seconds = 5
[[steps]]
action = "crash"
node = "@db-leader"
[[steps]]
action = "sleep"
seconds = 30
[[steps]]
action = "start"
node = "@crashed"
[[steps]]
action = "wait_load"
[expect]
max_failed_logins = 0
max_write_outage_ms = 22000
accounts_lost = 0
"""


def fixed_cases(topology_path: str, work: Path) -> None:
    example = work / "db-primary-crash.toml"
    example.write_text(README_EXAMPLE)
    good = {"failed_logins": 0, "write_outage_ms": 9000, "accounts_lost": 0}

    world = play(topology_path, str(example), good)
    events = [e for e in world.log if "probe load" in e]
    assert events and "--accounts 20" in events[0] and "--concurrency 4" in events[0], events
    assert "--seconds 45" in events[0], events
    print("ok: the README example runs, the load gets its [load] flags")

    try:
        play(topology_path, str(example), {**good, "write_outage_ms": 30000})
    except sd.ScenarioError as e:
        assert "max_write_outage_ms" in str(e), e
        print("ok: a write outage beyond max_write_outage_ms fails the scenario")
    else:
        raise AssertionError("a 30 s write outage passed a 22 s bound")

    try:
        play(topology_path, str(example), {"failed_logins": 0, "accounts_lost": 0})
    except sd.ScenarioError as e:
        assert "write_outage_ms" in str(e), e
        print("ok: a figure missing from the report fails the scenario")
    else:
        raise AssertionError("a missing figure passed")


IN_FLIGHT = """
name = "in-flight"
[load]
accounts = 20
[profile.short]
load_seconds = 20
[[steps]]
action = "start_load"
[[steps]]
action = "crash"
node = "app2"
[[steps]]
action = "start"
node = "@crashed"
[[steps]]
action = "wait_load"
[expect]
in_flight_window_ms = 1000
max_logins_failed = 0
accounts_lost = 0
"""


def check_in_flight(topology_path: str, work: Path) -> None:
    """Only a failure that straddles the fault within the window is forgiven;
    the load hears of the fault, the heal and the end through its control file."""
    scenario = work / "in-flight.toml"
    scenario.write_text(IN_FLIGHT)
    base = {"accounts_lost": 0, "faults": [{"at_ms": 10_000}], "failures_listed_all": True}
    flying = {**base, "logins_failed": 1, "failures": [{"start_ms": 9_900, "end_ms": 10_700}]}
    world = play(topology_path, str(scenario), flying)
    control = [e.split(": ", 1)[1] for e in world.log if "/control" in e and e.split(": ", 1)[1].startswith("echo")]
    assert [c.split()[1] for c in control] == ["burst", "fault", "heal", "verify"], control
    assert "app2 app" in control[1] and "$(date +%s%3N)" in control[1], control
    print("ok: burst, fault, heal and verify reach the load's control file, in that order")
    for late in ({"start_ms": 9_900, "end_ms": 11_500}, {"start_ms": 10_100, "end_ms": 10_200}):
        try:
            play(topology_path, str(scenario), {**base, "logins_failed": 1, "failures": [late]})
        except sd.ScenarioError as e:
            assert "max_logins_failed" in str(e), e
        else:
            raise AssertionError(f"a failure outside the in-flight window passed: {late}")
    print("ok: a failure in flight is forgiven, one after the window or started after the fault is not")
    # A fault whose injection took 10 ms (the lab's `injected` line): a
    # request sent 5 ms after the mark still reached the node.
    cut = {**base, "faults": [{"at_ms": 10_000, "done_ms": 10_010}], "logins_failed": 1}
    play(topology_path, str(scenario), {**cut, "failures": [{"start_ms": 10_005, "end_ms": 10_700}]})
    try:
        play(topology_path, str(scenario), {**cut, "failures": [{"start_ms": 10_011, "end_ms": 10_700}]})
    except sd.ScenarioError as e:
        assert "max_logins_failed" in str(e), e
    else:
        raise AssertionError("a failure sent after the injection ended passed")
    print("ok: a request sent while the node was being cut off is in flight, one after the cut is not")


def check_leader_is_crashed(topology_path: str, work: Path) -> None:
    """The crash step must hit the Patroni leader, the start step the same VM."""
    example = work / "db-primary-crash.toml"
    with open(topology_path, "rb") as f:
        world = World(tomllib.load(f), {"failed_logins": 0, "write_outage_ms": 1, "accounts_lost": 0})
    world.leader = world.dbs[1]
    vms = [FakeVM(n, world) for n in world.nodes]
    sd.run_scenario(vms, subtest, topology_path, str(example), "short")
    by_name = {vm.name: vm for vm in vms}
    leader_events = by_name[world.dbs[1]].events
    assert leader_events == ["start", "crash", "start"], leader_events
    for other in world.dbs[:1] + world.dbs[2:]:
        assert by_name[other].events == ["start"], (other, by_name[other].events)
    print("ok: @db-leader picked the leader, @crashed brought the same VM back")


def check_service_faults(topology_path: str, work: Path) -> None:
    """A killed service stays dead until the scenario starts it (as in the
    lab): KILL hits the unit's main process, then the unit is stopped so
    Restart= cannot bring it back; TERM and the other actions are systemctl's."""
    scenario = work / "service-kill.toml"
    scenario.write_text(
        """name = "service-kill"
description = "selftest"
[profile.short]
load_seconds = 1
[profile.full]
load_seconds = 1
[[steps]]
action = "stop_service"
node = "proxy1"
service = "haproxy"
signal = "KILL"
[[steps]]
action = "start_service"
node = "proxy1"
service = "haproxy"
[[steps]]
action = "stop_service"
node = "db1"
service = "patroni"
signal = "KILL"
[[steps]]
action = "stop_service"
node = "db1"
service = "etcd"
[[steps]]
action = "restart_service"
node = "app1"
service = "twofa"
"""
    )
    with open(topology_path, "rb") as f:
        world = World(tomllib.load(f), {})
    vms = [FakeVM(n, world) for n in world.nodes]
    sd.run_scenario(vms, subtest, topology_path, str(scenario), "short")
    systemctl = [e for e in world.log if ": systemctl " in e and "is-active" not in e]
    assert systemctl == [
        "proxy1: systemctl kill --signal=KILL --kill-whom=main haproxy.service",
        "proxy1: systemctl stop haproxy.service",
        "proxy1: systemctl start haproxy.service",
        "db1: systemctl kill --signal=KILL --kill-whom=main patroni.service",
        "db1: systemctl stop patroni.service",
        "db1: systemctl stop etcd.service",
        "app1: systemctl restart twofa.service",
    ], systemctl
    print("ok: a KILLed service is killed (main process only) then stopped, so systemd does not restart it")


HANG = """name = "hang"
[load]
concurrency = 2
[profile.short]
load_seconds = 30
[[steps]]
action = "start_load"
[[steps]]
action = "pause"
node = "@proxy-master"
service = "haproxy"
seconds = 4
[[steps]]
action = "wait_load"
[expect]
max_failures_per_haproxy_hang = 2
min_success_ratio_beside_haproxy_hangs = 0.99
"""


def check_haproxy_hangs(topology_path: str, work: Path) -> None:
    """A transport failure that started while the VIP holder's HAProxy was
    paused is the hang's; an answer (a 503), or a failure after the pause
    ended, is not, and counts against the ratio beside the hangs."""
    scenario = work / "hang.toml"
    scenario.write_text(HANG)
    base = {"accounts_lost": 0, "logins_ok": 98, "faults": [{"at_ms": 10_000}], "failures_listed_all": True}

    def failure(start: int, cause: str) -> dict[str, Any]:
        return {"op": "login", "start_ms": start, "end_ms": start + 15_000, "cause": cause}

    caught = [failure(10_050, "transport: error sending request"), failure(10_100, "transport: reset")]
    world = play(topology_path, str(scenario), {**base, "logins_failed": 2, "failures": caught})
    assert any(" fault " in e and " proxy" in e for e in world.log), world.log
    for not_the_hangs in (
        [caught[0], failure(10_100, "503 on POST /login")],
        [caught[0], failure(14_100, "transport: error sending request")],
    ):
        try:
            play(topology_path, str(scenario), {**base, "logins_failed": 2, "failures": not_the_hangs})
        except sd.ScenarioError as e:
            assert "success_ratio_beside_haproxy_hangs" in str(e), e
        else:
            raise AssertionError(f"a failure outside the hang was counted as its: {not_the_hangs[1]}")
    print("ok: transport failures started during a VIP holder's HAProxy pause are the hang's, a 503 or a later one is not")


def check_pauses(topology_path: str, work: Path) -> None:
    """A pause stops the processes chosen by role at run time and leaves
    their resumption to a timer in the VM; a scenario that fails while a
    pause runs still resumes it at once."""
    scenario = work / "pause.toml"
    steps = """name = "pause"
[profile.short]
load_seconds = 1
[[steps]]
action = "pause"
node = "@db-leader"
service = "postgresql"
seconds = 40
[[steps]]
action = "pause"
node = "@etcd-leader"
service = "etcd"
seconds = 20
[[steps]]
action = "stop_service"
node = "@proxy-master"
service = "haproxy"
signal = "KILL"
[[steps]]
action = "start_service"
node = "@crashed"
service = "haproxy"
"""
    scenario.write_text(steps)
    with open(topology_path, "rb") as f:
        world = World(tomllib.load(f), {})
    world.leader = world.dbs[1]
    vms = [FakeVM(n, world) for n in world.nodes]
    sd.run_scenario(vms, subtest, topology_path, str(scenario), "short")
    kills = [e for e in world.log if "kill -STOP" in e]
    assert kills and all(e.startswith(f"{world.dbs[1]}: ") for e in kills[:2]), kills
    assert "patroni.service" in kills[0] and '= postgres ]' in kills[0], kills[0]
    assert all(e.startswith(f"{world.etcd_leader}: ") and "etcd.service" in e for e in kills[2:]), kills
    timers = [e for e in world.log if "systemd-run" in e and "kill -CONT" in e]
    assert len(timers) == 2 and "--on-active=40s" in timers[0] and "--on-active=20s" in timers[1], timers
    haproxy = [e for e in world.log if "haproxy.service" in e and "is-active" not in e]
    holder = world.vip_holder()
    assert haproxy and all(e.startswith(f"{holder}: ") for e in haproxy), haproxy
    resumed = [e for e in world.log if e.split(": ", 1)[1].startswith("systemctl stop twofa-resume-")]
    assert len(resumed) == 2, resumed
    print("ok: pauses hit the Patroni leader's PostgreSQL and the etcd leader, resume on a timer and at the end;")
    print("    a KILL of @proxy-master hits the VIP holder and @crashed starts the same one again")

    # A scenario that fails after a pause still resumes it.
    scenario.write_text(steps.split("[[steps]]\naction = \"pause\"\nnode = \"@etcd-leader\"")[0]
                        + '[[steps]]\naction = "run"\nnode = "client"\ncommand = "false {nothing}"\n')
    with open(topology_path, "rb") as f:
        world = World(tomllib.load(f), {})
    vms = [FakeVM(n, world) for n in world.nodes]
    try:
        sd.run_scenario(vms, subtest, topology_path, str(scenario), "short")
    except sd.ScenarioError:
        pass
    else:
        raise AssertionError("a failing run step passed")
    resumed = [e for e in world.log if "systemctl stop twofa-resume-" in e]
    assert len(resumed) == 1 and resumed[0].startswith(f"{world.leader}: "), world.log[-5:]
    print("ok: a scenario that fails while a pause runs resumes it at once")


SPARE = """
name = "spare"
[profile.short]
load_seconds = 10
[[steps]]
action = "run"
node = "client"
command = "twofa probe forged-ip --url {proxy_url} --source {spare_address}"
"""


def check_spare_address(topology_path: str, work: Path) -> None:
    """{spare_address} is a free address of the subnet that the node carries
    only while the command runs, and is taken away when the command fails."""
    scenario = work / "spare.toml"
    with open(topology_path, "rb") as f:
        topology = tomllib.load(f)
    taken = {n["address"] for n in topology["nodes"]} | {topology["network"]["vip"]}
    for fails in (False, True):
        scenario.write_text(SPARE + ("expect_exit = 3\n" if fails else ""))
        world = World(topology, {})
        vms = [FakeVM(n, world) for n in world.nodes]
        try:
            sd.run_scenario(vms, subtest, topology_path, str(scenario), "short")
        except sd.ScenarioError:
            assert fails, "the run step failed"
        else:
            assert not fails, "a run step with the wrong exit passed"
        client = [e.split(": ", 1)[1] for e in world.log if e.startswith("client: ")]
        probe = next(i for i, c in enumerate(client) if "probe forged-ip" in c)
        source = client[probe].split("--source ")[1].split()[0]
        assert source not in taken and source.startswith("10.77.0."), client[probe]
        assert client[probe - 1].startswith(f"ip addr add {source}/"), client[: probe + 1]
        assert client[probe + 1].startswith(f"ip addr del {source}/"), client[probe:]
    print(f"ok: {{spare_address}} is {source}, added to the client for the command and removed after it, also when it fails")


def main(argv: list[str]) -> int:
    clock = FakeClock()
    time.monotonic = clock.monotonic  # type: ignore[assignment]
    time.sleep = clock.sleep  # type: ignore[assignment]
    topology_path, scenario_paths = argv[0], argv[1:]
    with tempfile.TemporaryDirectory(prefix="twofa-driver-selftest-") as tmp:
        fixed_cases(topology_path, Path(tmp))
        check_in_flight(topology_path, Path(tmp))
        check_leader_is_crashed(topology_path, Path(tmp))
        check_service_faults(topology_path, Path(tmp))
        check_pauses(topology_path, Path(tmp))
        check_haproxy_hangs(topology_path, Path(tmp))
        check_spare_address(topology_path, Path(tmp))
    for path in scenario_paths:
        with open(path, "rb") as f:
            scenario = tomllib.load(f)
        print(f"playing {path}")
        play(topology_path, path, satisfying(scenario.get("expect", {})))
    print(f"selftest: {len(scenario_paths)} scenario files played against stand-in VMs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
