# The NixOS VM tests: one runNixOSTest per file in ./scenarios, each booting
# every node of ./topology.toml with the same role modules the images use,
# and running ./driver/scenario_driver.py on that scenario file.
{
  pkgs,
  # ./topology.nix, evaluated: topology, scenarios, scenarioFiles, cluster.
  data,
  # The flake's nixosModules (proxy, app, db, client).
  modules,
  # The scenario files' [profile.short] (what every test runs); "full" for
  # long runs of the scenarios that define one.
  profile ? "short",
}: let
  inherit (pkgs) lib;
  inherit (data) topology cluster;
  iface = "eth1"; # the test framework's vlan 1

  # Test-only secrets, in the store on purpose: these VMs hold nothing of
  # value. They reach the VMs as real hosts get theirs from the hypervisor:
  # systemd credentials twofa.<name> in QEMU SMBIOS type 11 strings, which
  # twofa-secrets.service gathers at boot (docs/nix.md, Secrets).
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

  # A throwaway cluster CA and each db node's certificate (its address and
  # name), made at build time: PEM has spaces and newlines, so these reach
  # the VMs as fw_cfg credentials (a file each) rather than SMBIOS strings.
  dbNodes = builtins.filter (n: n.role == "db") topology.nodes;
  testTls = pkgs.runCommand "twofa-vm-test-tls" {nativeBuildInputs = [pkgs.openssl];} ''
    mkdir -p $out
    cd $out
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout ca.key -out cluster-ca -days 3650 -subj "/CN=twofa VM-test cluster CA"
    ${lib.concatMapStringsSep "\n" (n: ''
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
          -keyout ${n.name}-db-tls-key -out ${n.name}.csr -subj "/CN=${n.name}"
        printf 'subjectAltName=IP:${n.address},DNS:${n.name}\nextendedKeyUsage=serverAuth,clientAuth\n' > ${n.name}.ext
        openssl x509 -req -in ${n.name}.csr -CA cluster-ca -CAkey ca.key -CAcreateserial \
          -days 3650 -extfile ${n.name}.ext -out ${n.name}-db-tls-cert
      '')
      dbNodes}
  '';
  tlsFilesFor = node:
    {
      app = {cluster-ca = "${testTls}/cluster-ca";};
      db = {
        cluster-ca = "${testTls}/cluster-ca";
        db-tls-cert = "${testTls}/${node.name}-db-tls-cert";
        db-tls-key = "${testTls}/${node.name}-db-tls-key";
      };
    }
    .${node.role}
    or {};

  nodeModule = node: {
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

    # The values have no comma or space, which QEMU's option syntax and the
    # run script would need escaped.
    virtualisation.qemu.options =
      map (name: "-smbios type=11,value=io.systemd.credential:twofa.${name}=${testSecrets.${name}}")
      (secretsFor node.role)
      ++ lib.mapAttrsToList (name: file: "-fw_cfg name=opt/io.systemd.credentials/twofa.${name},file=${file}")
      (tlsFilesFor node);
  };

  # node name -> the secrets its VM gets from QEMU (JSON is a Python literal).
  secretsByNode = lib.filterAttrs (_: names: names != []) (lib.mapAttrs (_: node: secretsFor node.role ++ builtins.attrNames (tlsFilesFor node)) cluster.nodes);

  mkTest = name: file:
    pkgs.testers.runNixOSTest {
      name = "twofa-${name}";
      nodes = lib.mapAttrs (_: nodeModule) cluster.nodes;
      globalTimeout = 3600;
      # The driver is one file shared by every scenario; this line picks the
      # scenario (`cargo xtask nix` checks the same text with mypy/pyflakes).
      testScript = ''
        ${builtins.readFile ./driver/scenario_driver.py}
        ${builtins.readFile ./kvm_notice.py}
        ${builtins.readFile ./secrets_check.py}
        check_secrets_from_hypervisor(machines, ${builtins.toJSON secretsByNode})
        run_scenario(machines, subtest, "${./topology.toml}", "${file}", "${profile}")
      '';
    };
in rec {
  # scenario name -> its VM test (legacyPackages.<system>.vmTests.<name>;
  # checks.<system>.smoke is the smoke one).
  scenarioTests = lib.mapAttrs mkTest data.scenarioFiles;

  # Every scenario, one after another when built with --max-jobs 1: a
  # directory of links to each test's result.
  all = pkgs.linkFarm "twofa-vm-tests-all" (lib.mapAttrsToList (name: path: {inherit name path;}) scenarioTests);
}
