# What every twofa host shares: its identity in the topology, its address,
# the nftables firewall, its secrets (from the hypervisor or from files),
# the clock (chrony on the topology's time sources) and administrator
# access. Imported by the proxy, app, db and client roles (and the demo).
{
  config,
  lib,
  pkgs,
  ...
}: let
  cfg = config.twofa;
  cluster = import ../cluster.nix cfg.topology;
  node = cluster.nodes.${cfg.node};
  time = cfg.topology.time or {};
  ntpServers = time.ntp_servers or [];
  ptpKvm = time.ptp_kvm or false;

  # The secrets this host's services read, name -> owner: the app's key and
  # database password (read by systemd for LoadCredential, so root), the db
  # role's passwords (read by the patroni user).
  twofaOn = config.services.twofa.enable or false;
  patroniOn = config.services.patroni.enable or false;
  patroniUser = config.services.patroni.user or "patroni";
  secretOwners =
    lib.optionalAttrs twofaOn (
      {secret-key = "root";}
      // lib.optionalAttrs ((config.services.twofa.databasePasswordFile or null) != null) {db-password = "root";}
      // lib.optionalAttrs ((config.services.twofa.databaseCaFile or null) != null) {cluster-ca = "root";}
    )
    // lib.optionalAttrs patroniOn {
      db-password = patroniUser;
      superuser-password = patroniUser;
      replication-password = patroniUser;
      rewind-password = patroniUser;
      # PostgreSQL's TLS: this node's certificate (for its address) and key,
      # and the cluster CA that signed it.
      cluster-ca = patroniUser;
      db-tls-cert = patroniUser;
      db-tls-key = patroniUser;
    };
  secretNames = builtins.attrNames secretOwners;
  runDir = cfg.runtimeSecretsDir;
in {
  options.twofa = {
    node = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "app1";
      description = ''
        This host's name in the topology: it gives the host name, the address
        and the peers. `null` for a host outside the cluster (the demo).
      '';
    };

    topologyFile = lib.mkOption {
      type = lib.types.path;
      default = ../../vm-tests/topology.toml;
      defaultText = lib.literalExpression "./vm-tests/topology.toml";
      description = ''
        The cluster description (nodes, addresses, ports, failover timings)
        that the local lab reads too. Point this at your own copy to deploy
        with other addresses; nothing else in the modules names an address.
      '';
    };

    topology = lib.mkOption {
      type = lib.types.attrs;
      readOnly = true;
      default = builtins.fromTOML (builtins.readFile cfg.topologyFile);
      defaultText = lib.literalMD "the parsed {option}`twofa.topologyFile`";
      description = "The parsed topology, for the role modules.";
    };

    interface = lib.mkOption {
      type = lib.types.str;
      default = "eth0";
      description = ''
        The network interface on the cluster subnet. The images turn
        predictable interface names off, so it is eth0 there; the VM tests'
        cluster network is eth1.
      '';
    };

    secretsDir = lib.mkOption {
      type = lib.types.str;
      default = "/var/lib/twofa-secrets";
      description = ''
        Directory outside the Nix store holding this host's secrets
        (docs/nix.md lists the files each role needs). The other way to
        give them, which needs no access to the host: systemd credentials
        `twofa.<file>` from the hypervisor (QEMU SMBIOS type 11 or fw_cfg);
        a credential wins over a file of the same name. Created at boot,
        mode 0711, owned by root.
      '';
    };

    runtimeSecretsDir = lib.mkOption {
      type = lib.types.str;
      default = "/run/twofa-secrets";
      readOnly = true;
      description = ''
        Where `twofa-secrets.service` puts the secrets it gathered at boot
        (tmpfs, never on disk), with the owner each service reads them as;
        the role modules point their services here.
      '';
    };

    adminKeys = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [];
      example = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… admin@example.org"];
      description = ''
        SSH public keys allowed to log in as root, e.g. to provision secrets.
        SSH is off while this is empty; passwords are never accepted.
      '';
    };
  };

  config = lib.mkMerge [
    {
      assertions = [
        {
          assertion = cfg.node == null || cluster.nodes ? ${cfg.node};
          message = "twofa.node = \"${toString cfg.node}\" is not a node of ${toString cfg.topologyFile}.";
        }
      ];

      # nftables, so the roles can open ports to their peers' addresses only
      # (networking.firewall.extraInputRules).
      networking.nftables.enable = true;
      networking.firewall.enable = true;

      services.openssh = {
        enable = lib.mkDefault (cfg.adminKeys != []);
        settings = {
          PasswordAuthentication = false;
          KbdInteractiveAuthentication = false;
          PermitRootLogin = "prohibit-password";
        };
      };
      users.users.root.openssh.authorizedKeys.keys = cfg.adminKeys;

      systemd.tmpfiles.rules = ["d ${cfg.secretsDir} 0711 root root -"];

      # systemd (PID 1) imports the hypervisor's credentials at boot from
      # SMBIOS type 11 strings (/sys/firmware/dmi) and QEMU's fw_cfg: load
      # both drivers in the initrd so they are there when it looks.
      boot.initrd.kernelModules = ["dmi_sysfs" "qemu_fw_cfg"];

      environment.systemPackages = [pkgs.curl pkgs.jq];
      time.timeZone = "UTC";
      system.stateVersion = lib.mkDefault "25.11";
    }

    (lib.mkIf (cfg.node != null) {
      networking.hostName = node.name;
      networking.useDHCP = false;
      networking.interfaces.${cfg.interface}.ipv4.addresses = [
        {
          inherit (node) address;
          prefixLength = cfg.topology.network.prefix_length;
        }
      ];
    })

    # Each secret from the hypervisor (credential twofa.<name>, imported
    # from the system credentials) or else from the secrets directory, into
    # /run with the reader's ownership. Missing ones are named in the journal
    # and looked for again every 5 s, so provisioning after boot works too;
    # the consumers (LoadCredential, Patroni's environment files) retry.
    (lib.mkIf (secretNames != []) {
      systemd.services.twofa-secrets = {
        description = "Gather the twofa secrets from the hypervisor or ${cfg.secretsDir}";
        wantedBy = ["multi-user.target"];
        after = ["systemd-tmpfiles-setup.service"];
        before = lib.optional twofaOn "twofa.service" ++ lib.optional patroniOn "patroni.service";
        startLimitIntervalSec = 0;
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ImportCredential = "twofa.*";
          Restart = "on-failure";
          RestartSec = "5s";
          UMask = "0077";
        };
        script = ''
          creds="''${CREDENTIALS_DIRECTORY:-/nonexistent}"
          run=${lib.escapeShellArg runDir}
          dir=${lib.escapeShellArg cfg.secretsDir}
          install -d -m 0711 -o root -g root "$run"
          missing=""
          take() {
            name="$1"
            owner="$2"
            if [ -s "$creds/twofa.$name" ]; then
              src="$creds/twofa.$name"
              from="the hypervisor's credential twofa.$name"
            elif [ -s "$dir/$name" ]; then
              src="$dir/$name"
              from="$dir/$name"
            else
              missing="$missing $name"
              return 0
            fi
            install -m 0400 -o "$owner" -g "$(id -gn "$owner")" "$src" "$run/$name.new"
            mv -f "$run/$name.new" "$run/$name"
            echo "twofa-secrets: $name from $from"
          }
          ${lib.concatMapStringsSep "\n" (name: "take ${name} ${secretOwners.${name}}") secretNames}
          if [ -n "$missing" ]; then
            echo "twofa-secrets: missing:$missing. Pass each as a credential from the hypervisor (QEMU: -smbios type=11,value=io.systemd.credential:twofa.<name>=<value>) or write it to $dir/<name>; see docs/nix.md, Secrets. Looking again in 5 s." >&2
            exit 1
          fi
        '';
      };
      systemd.services.twofa = lib.mkIf twofaOn {
        wants = ["twofa-secrets.service"];
        after = ["twofa-secrets.service"];
      };
      systemd.services.patroni = lib.mkIf patroniOn {
        wants = ["twofa-secrets.service"];
        after = ["twofa-secrets.service"];
      };
    })

    # Time: TOTP replicas must agree on it. chrony on the topology's
    # sources instead of NixOS's default pool names, which these hosts
    # (no gateway, no DNS) could never reach. The demo (no node) keeps
    # NixOS's default, which its user-mode network can reach.
    (lib.mkIf (cfg.node != null) {
      assertions = [
        {
          assertion = ntpServers != [] || ptpKvm;
          message = "${toString cfg.topologyFile}: [time] names no time source (ntp_servers or ptp_kvm).";
        }
      ];
      networking.timeServers = ntpServers;
      services.chrony = {
        enable = true;
        servers = ntpServers;
        extraConfig =
          lib.optionalString ptpKvm ''
            # The hypervisor's clock through the KVM PTP device (ptp_kvm),
            # read every 4 s; accurate to microseconds, no network needed.
            refclock PHC /dev/ptp_kvm poll 2 dpoll -2
          ''
          + ''
            # Step a clock that is far off at boot, slew afterwards.
            makestep 1 3
          '';
      };
    })
    (lib.mkIf (cfg.node != null && ptpKvm) {
      boot.kernelModules = ["ptp_kvm"];
      # A stable name for the KVM PTP clock whatever other PTP devices the
      # host has (systemd's own rules name it the same way).
      services.udev.extraRules = ''
        SUBSYSTEM=="ptp", ATTR{clock_name}=="KVM virtual PTP", SYMLINK+="ptp_kvm"
      '';
    })
  ];
}
