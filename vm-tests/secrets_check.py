# Run by every VM test before its scenario (vm-tests/lib.nix appends the
# call): the app and db VMs must have taken each secret the way the images
# do, from the systemd credential the hypervisor (here QEMU's SMBIOS type 11
# strings) handed in, and not from a file.
from typing import Any, Sequence


def check_secrets_from_hypervisor(vms: Sequence[Any], wanted: dict[str, list[str]]) -> None:
    for vm in vms:
        vm.start()
    for vm in vms:
        if vm.name not in wanted:
            continue
        vm.wait_until_succeeds("systemctl is-active --quiet twofa-secrets.service", timeout=600)
        journal = vm.succeed("journalctl -b --no-pager -u twofa-secrets.service")
        for secret in wanted[vm.name]:
            line = f"{secret} from the hypervisor's credential twofa.{secret}"
            if line not in journal:
                raise AssertionError(f"{vm.name}: no '{line}' in the journal of twofa-secrets:\n{journal}")
        print(f"{vm.name}: {', '.join(wanted[vm.name])} from the hypervisor's credentials")
