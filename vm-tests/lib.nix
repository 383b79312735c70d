# The NixOS VM tests: one runNixOSTest per file in ./scenarios, each booting
# every node of ./topology.toml with the same role modules the images use,
# and running ./driver/scenario_driver.py on that scenario file.
{
  pkgs,
  # ./topology.nix, evaluated: topology, scenarios, scenarioFiles, cluster.
  data,
  # The flake's nixosModules (proxy, app, db, client).
  modules,
  # "short" for `nix flake check`; "full" for the long runs.
  profile ? "short",
}: let
  inherit (pkgs) lib;
  inherit (data) topology cluster;
  iface = "eth1"; # the test framework's vlan 1

  # Test-only secrets, in the store on purpose: these VMs hold nothing of
  # value. Real hosts get theirs provisioned (docs/nix.md).
  testSecrets = {
    secret-key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    db-password = "vm-test-app-password";
    superuser-password = "vm-test-superuser-password";
    replication-password = "vm-test-replication-password";
    rewind-password = "vm-test-rewind-password";
  };
  secretsFor = role:
    {
      app = ["secret-key" "db-password"];
      db = ["db-password" "superuser-password" "replication-password" "rewind-password"];
    }
    .${role}
    or [];
  # The owner that reads each file: LoadCredential reads as root, Patroni as patroni.
  ownerFor = role:
    if role == "db"
    then "patroni"
    else "root";

  nodeModule = node: {config, ...}: {
    imports =
      [modules.${node.role}]
      # The load speaks plain HTTP to the VIP; wait_healthy also checks HTTPS + HSTS.
      ++ lib.optional (node.role == "proxy") {twofa.proxy.redirectToHttps = false;}
      ++ lib.optional (node.role == "app") {services.twofa.settings.cookie_secure = false;};
    twofa.node = node.name;
    twofa.interface = iface;

    # The framework gives eth1 192.168.1.<n>; the topology's address replaces it.
    networking.interfaces.${iface}.ipv4.addresses = lib.mkForce [
      {
        inherit (node) address;
        prefixLength = topology.network.prefix_length;
      }
    ];
    networking.primaryIPAddress = lib.mkForce node.address;

    # Nine VMs at once: small ones, PostgreSQL a bit more.
    virtualisation.memorySize =
      if node.role == "db"
      then 1024
      else 512;

    systemd.tmpfiles.rules =
      map (
        file: "f ${config.twofa.secretsDir}/${file} 0400 ${ownerFor node.role} ${ownerFor node.role} - ${testSecrets.${file}}"
      )
      (secretsFor node.role);
  };

  mkTest = name: file:
    pkgs.testers.runNixOSTest {
      name = "twofa-${name}";
      nodes = lib.mapAttrs (_: nodeModule) cluster.nodes;
      globalTimeout = 3600;
      # The driver is one file shared by every scenario; this line picks the
      # scenario (`cargo xtask nix` checks the same text with mypy/pyflakes).
      testScript = ''
        ${builtins.readFile ./driver/scenario_driver.py}
        run_scenario(machines, subtest, "${./topology.toml}", "${file}", "${profile}")
      '';
    };
in {
  # checks.<system>.vm-<scenario>
  scenarioTests =
    lib.mapAttrs' (name: file: lib.nameValuePair "vm-${name}" (mkTest name file))
    data.scenarioFiles;
}
