# Printed first by every VM test (vm-tests/lib.nix puts it before the
# scenario): sub-second bounds (VIP failover, HAProxy checks) hold only when
# QEMU runs on KVM; under emulation a timing verdict may fail for that
# reason alone, and the log should say so.
import os as _os

if not _os.access("/dev/kvm", _os.R_OK | _os.W_OK):
    print(
        "twofa: NO KVM on this builder (/dev/kvm missing or not usable): "
        + "QEMU emulates the CPUs, so sub-second bounds (VIP failover, "
        + "HAProxy checks) do not hold and a timing verdict may fail "
        + "for that reason alone"
    )
else:
    print("twofa: QEMU runs on KVM (/dev/kvm usable)")
