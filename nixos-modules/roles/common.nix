# What every twofa host shares: its identity in the topology, its address,
# the nftables firewall, the secrets directory and administrator access.
# Imported by the proxy, app, db and client roles (and the demo).
{
  config,
  lib,
  pkgs,
  ...
}: let
  cfg = config.twofa;
  cluster = import ../cluster.nix cfg.topology;
  node = cluster.nodes.${cfg.node};
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
        (docs/nix.md lists the files each role needs and how to provision
        them). Created at boot, mode 0711, owned by root.
      '';
    };

    generateSecretKey = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = ''
        Generate {file}`secret-key` in {option}`twofa.secretsDir` at boot when
        it is missing. Only for a single host (the demo): the apps of a
        cluster must share one key, so it is provisioned instead.
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

    (lib.mkIf cfg.generateSecretKey {
      systemd.services.twofa-secret-key = {
        description = "Generate the twofa secret key if it is missing";
        wantedBy = ["multi-user.target"];
        before = ["twofa.service"];
        requiredBy = ["twofa.service"];
        after = ["systemd-tmpfiles-setup.service"];
        path = [pkgs.openssl];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          UMask = "0077";
        };
        script = ''
          key=${lib.escapeShellArg "${cfg.secretsDir}/secret-key"}
          if [ ! -s "$key" ]; then
            openssl rand -hex 32 > "$key.new"
            mv "$key.new" "$key"
          fi
        '';
      };
    })
  ];
}
