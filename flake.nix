{
  description = "twofa: a fault-tolerant web login with TOTP two-factor authentication, shipped as NixOS appliances";

  # One input, pinned in flake.lock (nixos-25.11); every option the modules
  # use was checked against that release's sources (docs/nix.md).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs = {
    self,
    nixpkgs,
  }: let
    inherit (nixpkgs) lib;

    # topology.toml and the scenario files as data, no nixpkgs needed.
    data = import ./vm-tests/topology.nix;

    # x86_64 only: the images, the VM tests and their checks are built for
    # KVM hosts of that architecture, and nothing checks an aarch64 build.
    systems = ["x86_64-linux"];
    forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

    # Images and VM tests are built for x86_64 hosts with KVM.
    imageSystem = "x86_64-linux";

    twofaFor = pkgs: pkgs.callPackage ./nixos-modules/packages/twofa.nix {};

    # The Android SDK is unfree and needs its licence accepted; only the APK
    # build sees this nixpkgs instance.
    androidPkgs = import nixpkgs {
      system = imageSystem;
      config = {
        android_sdk.accept_license = true;
        allowUnfree = true;
      };
    };

    # A NixOS system for one node of the topology, as deployed on a VM.
    mkHost = node:
      lib.nixosSystem {
        modules = [
          self.nixosModules.${node.role}
          ./nixos-modules/qemu-host.nix
          {
            nixpkgs.hostPlatform = imageSystem;
            twofa.node = node.name;
          }
        ];
      };

    firstOfRole = role: builtins.head data.cluster.roles.${role};
    imageOf = name: self.nixosConfigurations.${name}.config.system.build.images.qemu;

    demo = lib.nixosSystem {
      modules = [
        self.nixosModules.default
        ./nixos-modules/demo.nix
        {nixpkgs.hostPlatform = imageSystem;}
      ];
    };

    pkgsX86 = nixpkgs.legacyPackages.${imageSystem};

    vmTests = import ./vm-tests/lib.nix {
      pkgs = pkgsX86;
      inherit data;
      modules = self.nixosModules;
    };
  in {
    packages =
      forAllSystems (pkgs: rec {
        twofa = twofaFor pkgs;
        default = twofa;
      })
      // {
        ${imageSystem} = let
          pkgs = nixpkgs.legacyPackages.${imageSystem};
        in
          rec {
            twofa = twofaFor pkgs;
            default = twofa;
            authenticator-apk = androidPkgs.callPackage ./nixos-modules/packages/authenticator-apk.nix {
              src = ./authenticator;
            };
            proxy-image = imageOf (firstOfRole "proxy");
            app-image = imageOf (firstOfRole "app");
            db-image = imageOf (firstOfRole "db");
          }
          # Every node's own image too (addresses differ per node).
          // lib.listToAttrs (map (name: {
              name = "${name}-image";
              value = imageOf name;
            })
            data.cluster.nodeNames);
      };

    # Each module carries a key, so importing `default` and a role (which
    # imports `default` too) declares every option once.
    nixosModules = {
      # The service alone; its package defaults to this flake's build.
      twofa = {
        key = "twofa#nixosModules.twofa";
        imports = [
          ./nixos-modules/twofa.nix
          ({pkgs, ...}: {services.twofa.package = lib.mkDefault (twofaFor pkgs);})
        ];
      };
      default = {
        key = "twofa#nixosModules.default";
        imports = [self.nixosModules.twofa ./nixos-modules/roles/common.nix];
      };
      proxy = {
        key = "twofa#nixosModules.proxy";
        imports = [self.nixosModules.default ./nixos-modules/roles/proxy.nix];
      };
      app = {
        key = "twofa#nixosModules.app";
        imports = [self.nixosModules.default ./nixos-modules/roles/app.nix];
      };
      db = {
        key = "twofa#nixosModules.db";
        imports = [self.nixosModules.default ./nixos-modules/roles/db.nix];
      };
      client = {
        key = "twofa#nixosModules.client";
        imports = [self.nixosModules.default ./nixos-modules/roles/client.nix];
      };
    };

    # One host per node of vm-tests/topology.toml; addresses come from there.
    nixosConfigurations = lib.mapAttrs (_: mkHost) data.cluster.nodes;

    # `nix flake check`: fast and deterministic only. The package with its
    # unit tests; every host's system and image evaluated down to its
    # derivation (a text file listing them is all that gets built); the
    # smoke VM test. The fault scenarios are legacyPackages' vmTests.
    checks.${imageSystem} = {
      inherit (self.packages.${imageSystem}) twofa;
      smoke = vmTests.scenarioTests.smoke;
      evaluated = pkgsX86.writeText "twofa-evaluated-derivations" (
        lib.concatStrings (lib.mapAttrsToList (name: host: ''
            ${name} toplevel ${builtins.unsafeDiscardStringContext host.config.system.build.toplevel.drvPath}
            ${name} image ${builtins.unsafeDiscardStringContext host.config.system.build.images.qemu.drvPath}
          '')
          self.nixosConfigurations)
        + "demo vm ${builtins.unsafeDiscardStringContext demo.config.system.build.vm.drvPath}\n"
      );
    };

    # The twelve fault scenarios, each a VM test of the whole cluster:
    # `nix build .#vmTests.<scenario>` (or .#legacyPackages.x86_64-linux.vmTests.<scenario>),
    # and every one with `nix build .#vmTests.all --max-jobs 1`.
    legacyPackages.${imageSystem}.vmTests =
      vmTests.scenarioTests // {inherit (vmTests) all;};

    # `nix run .#demo`: makes the demo's TOTP key on the host once (kept
    # next to the VM's disk image, in the current directory) and hands it in
    # as the systemd credential twofa.secret-key through a QEMU SMBIOS type
    # 11 string read from that file, the path the images use.
    apps.${imageSystem}.demo = {
      type = "app";
      program = toString (pkgsX86.writeShellScript "twofa-demo" ''
        set -eu
        umask 077
        credential="$PWD/twofa-demo.credential"
        if [ ! -s "$credential" ]; then
          key="$(${pkgsX86.coreutils}/bin/od -An -N32 -tx1 /dev/urandom | ${pkgsX86.coreutils}/bin/tr -d ' \n')"
          printf 'io.systemd.credential:twofa.secret-key=%s' "$key" > "$credential"
        fi
        export QEMU_OPTS="''${QEMU_OPTS:-} -smbios type=11,path=$credential"
        exec ${demo.config.system.build.vm}/bin/run-${demo.config.networking.hostName}-vm "$@"
      '');
      meta.description = "twofa on one NixOS VM (PostgreSQL, twofa, HAProxy): open http://localhost:8080";
    };

    devShells = forAllSystems (pkgs: {
      default = pkgs.mkShell {
        packages = with pkgs; [
          cargo
          rustc
          clippy
          rustfmt
          rust-analyzer
          postgresql_15
          haproxy
          keepalived
          patroni
          etcd
          oath-toolkit
          zbar
          alejandra
          deadnix
          python3Packages.mypy
          python3Packages.pyflakes
        ];
      };
    });

    formatter = forAllSystems (pkgs: pkgs.alejandra);
  };
}
