# The proxy role: HAProxy in front of the apps and keepalived holding the
# virtual IP. The configuration texts come from ../render.nix, pure
# functions of the topology ([ports], [vrrp], [haproxy]) that the CI renders
# and checks with the real haproxy and keepalived; the local lab runs the
# same texts (vm-tests/lab-substitutions.toml lists what it changes, and why).
{
  config,
  lib,
  pkgs,
  ...
}: let
  top = config.twofa.topology;
  cluster = import ../cluster.nix top;
  render = import ../render.nix;
  cfg = config.twofa.proxy;
  inherit (top) ports network;

  certDir = "/var/lib/twofa-proxy";
  certFile =
    if cfg.certificateFile != null
    then cfg.certificateFile
    else "${certDir}/haproxy.pem";
in {
  options.twofa.proxy = {
    backends = lib.mkOption {
      type = lib.types.listOf (lib.types.submodule {
        options = {
          name = lib.mkOption {
            type = lib.types.str;
            description = "Server name in HAProxy's logs and stats.";
          };
          address = lib.mkOption {
            type = lib.types.str;
            description = "host:port of a twofa instance.";
          };
        };
      });
      default = cluster.appBackends;
      defaultText = lib.literalMD "every app node of the topology";
      description = "The twofa instances HAProxy balances over.";
    };

    certificateFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/var/lib/twofa-secrets/haproxy.pem";
      description = ''
        PEM file outside the Nix store holding the certificate chain and its
        private key, readable by the `haproxy` group. When `null`, a
        self-signed certificate for the VIP is generated at first boot in
        {file}`/var/lib/twofa-proxy/haproxy.pem` (each proxy its own: provide
        a real one in production).
      '';
    };

    redirectToHttps = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Answer plain-HTTP requests with a redirect to HTTPS. The VM tests and
        the demo turn it off to talk plain HTTP.
      '';
    };

    vrrp.enable = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Hold the VIP with keepalived (off for the single-VM demo).";
    };
  };

  config = lib.mkMerge [
    {
      services.haproxy = {
        enable = true;
        config = render.haproxy {
          topology = top;
          inherit (cfg) backends redirectToHttps;
          inherit certFile;
        };
      };

      systemd.services.haproxy = {
        after = ["twofa-proxy-certificate.service"];
        wants = ["twofa-proxy-certificate.service"];
      };

      # A certificate at first boot so HTTPS works out of the box; kept
      # across reboots, replaced by certificateFile when one is given.
      systemd.services.twofa-proxy-certificate = lib.mkIf (cfg.certificateFile == null) {
        description = "Self-signed TLS certificate for HAProxy, made once";
        before = ["haproxy.service"];
        path = [pkgs.openssl];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          StateDirectory = "twofa-proxy";
          UMask = "0027";
        };
        script = ''
          pem=${certDir}/haproxy.pem
          if [ ! -s "$pem" ]; then
            tmp=$(mktemp -d)
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
              -days 3650 -subj "/CN=${network.vip}" \
              -addext "subjectAltName=IP:${network.vip},DNS:${config.networking.hostName}" \
              -keyout "$tmp/key.pem" -out "$tmp/cert.pem"
            cat "$tmp/cert.pem" "$tmp/key.pem" > "$pem.new"
            rm -rf "$tmp"
            mv "$pem.new" "$pem"
          fi
          chown root:${config.services.haproxy.group} ${certDir} "$pem"
          chmod 0750 ${certDir}
          chmod 0640 "$pem"
        '';
      };

      networking.firewall.allowedTCPPorts = [ports.http ports.https];
    }

    (lib.mkIf cfg.vrrp.enable {
      # keepalived's track file (render.haproxyState): 0 once HAProxy is
      # ready, 1 whenever it stops, SIGKILL included. `+`: as root, outside
      # the unit's read-only file system.
      systemd.services.haproxy.serviceConfig = let
        state = render.haproxyState;
        write = name: value: "+${pkgs.writeShellScript name "echo ${value} > ${state.file}"}";
      in {
        ExecStartPost = write "haproxy-running" state.running;
        ExecStopPost = write "haproxy-stopped" state.stopped;
      };

      # HAProxy binds every address, the VIP included once it arrives; this
      # also lets a bind to the VIP itself succeed on the backup.
      boot.kernel.sysctl."net.ipv4.ip_nonlocal_bind" = 1;

      # keepalived runs scripts as this user but does not create it; without
      # it the script and its tracking are dropped.
      users.users.keepalived_script = {
        isSystemUser = true;
        group = "keepalived_script";
        description = "keepalived health-check scripts";
      };
      users.groups.keepalived_script = {};

      services.keepalived = {
        enable = true;
        enableScriptSecurity = true;
        extraGlobalDefs = render.keepalivedGlobalDefs {
          topology = top;
          nodeName = config.twofa.node;
        };
        vrrpScripts = render.vrrpScripts {
          topology = top;
          twofa = lib.getExe' config.services.twofa.package "twofa";
        };
        extraConfig = render.keepalived {
          topology = top;
          nodeName = config.twofa.node;
          inherit (config.twofa) interface;
        };
      };

      # VRRP (IP protocol 112) from the other proxies only.
      networking.firewall.extraInputRules = let
        peers = cluster.peers.${config.twofa.node};
      in
        lib.optionalString (peers != []) ''
          ip saddr { ${lib.concatStringsSep ", " peers} } ip protocol 112 accept
        '';
    })
  ];
}
