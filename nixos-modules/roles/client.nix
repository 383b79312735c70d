# The topology's client node: the load generator of the VM tests
# (`twofa probe load` through the VIP), with the usual HTTP tools.
{
  config,
  pkgs,
  ...
}: {
  environment.systemPackages = [config.services.twofa.package pkgs.oath-toolkit];
}
