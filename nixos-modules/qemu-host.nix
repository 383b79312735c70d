# What a cluster host needs to boot as a QEMU/KVM virtual machine from the
# qcow2 image (`nix build .#app-image`): the disk layout the image builder
# creates, GRUB on the virtio disk, and eth0 as the cluster interface.
{
  lib,
  modulesPath,
  ...
}: {
  imports = [(modulesPath + "/profiles/qemu-guest.nix")];

  # The layout system.build.images.qemu writes (a root labelled nixos that
  # grows to the disk); the image module overrides these with the same values.
  fileSystems."/" = {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
    autoResize = true;
  };
  boot.growPartition = true;
  boot.loader.grub.device = lib.mkDefault "/dev/vda";

  # eth0 on every hypervisor, as twofa.interface expects.
  networking.usePredictableInterfaceNames = false;

  services.qemuGuest.enable = true;
}
