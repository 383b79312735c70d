# What the NixOS test framework declares before a test script when it
# type-checks it (nixos/lib/test-script-prepend.py), reduced to the globals
# scenario_driver.py uses, with the machine type left open because the
# framework's class is not installed here. `cargo xtask nix` prepends this
# and one `<node>: Any` line per topology node, then runs mypy.
from typing import Any, Callable, ContextManager, List

start_all: Callable[[], None]
subtest: Callable[[str], ContextManager[None]]
machines: List[Any]
