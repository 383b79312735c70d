# Evaluates the twofa NixOS modules for every node of the topology with
# stand-ins for nixpkgs' `lib` and `pkgs` (builtins only), for
# `cargo xtask nix` on machines without nixpkgs. It is not the module
# system: definitions are not merged and option types are not checked. It
# forces every value the modules compute, so a wrong topology key, a
# misspelt derived value or a broken string interpolation fails here rather
# than on the first real build; the CI then checks the firewall rules with
# `nft --check`.
let
  data = import ./topology.nix;
  inherit (data) topology cluster;
  join = builtins.concatStringsSep;

  lib = {
    mkOption = o: {
      option = o.description or "";
      default = o.default or null;
    };
    mkEnableOption = d: {option = "Whether to enable ${d}.";};
    types = {
      str = "str";
      bool = "bool";
      path = "path";
      attrs = "attrs";
      package = "package";
      nullOr = t: "nullOr ${t}";
      listOf = t: "listOf ${t}";
      submodule = m: builtins.seq (builtins.toJSON m) "submodule";
      enum = l: "enum ${join " " l}";
      ints.positive = "positive int";
    };
    literalMD = s: s;
    literalExpression = s: s;
    mkIf = cond: value:
      if cond
      then value
      else {};
    mkMerge = list: list;
    mkDefault = v: v;
    mkForce = v: v;
    escapeShellArg = s: "'${s}'";
    inherit (builtins) concatStringsSep;
    concatMapStringsSep = sep: f: list: join sep (map f list);
    optionalAttrs = cond: attrs:
      if cond
      then attrs
      else {};
    optionalString = cond: s:
      if cond
      then s
      else "";
    optional = cond: v:
      if cond
      then [v]
      else [];
    getExe' = pkg: name: "${pkg}/bin/${name}";
    boolToString = b:
      if b
      then "true"
      else "false";
    toInt = builtins.fromJSON;
    splitString = sep: s: builtins.filter builtins.isString (builtins.split sep s);
    last = list: builtins.elemAt list (builtins.length list - 1);
    hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
  };

  stub = name: "/nix/store/00000000000000000000000000000000-${name}";
  pkgs = {
    curl = stub "curl";
    jq = stub "jq";
    oath-toolkit = stub "oath-toolkit";
    openssl = stub "openssl";
    postgresql_15 = stub "postgresql-15";
    python3.interpreter = "${stub "python3"}/bin/python3";
    writeShellScript = name: text: builtins.seq text (stub name);
    writeText = name: text: builtins.seq text (stub name);
    formats.toml = _: {
      type = "toml";
      generate = name: value: builtins.seq (builtins.toJSON value) (stub name);
    };
  };

  twofaPackage = stub "twofa";

  # lib.recursiveUpdate: the right side wins, attribute sets merge.
  recursiveUpdate = left: right:
    left
    // builtins.mapAttrs (
      name: value:
        if builtins.isAttrs value && builtins.isAttrs (left.${name} or null)
        then recursiveUpdate left.${name} value
        else value
    )
    right;

  # A module is either plain definitions or { options; config; }, and
  # config may be a mkMerge list here.
  definitionsOf = m: let
    c = m.config or m;
  in
    if builtins.isList c
    then c
    else [c];
  rulesOf = m: join "\n" (map (c: c.networking.firewall.extraInputRules or "") (definitionsOf m));
  # A module's definitions folded into one set (later ones win; enough for
  # the services the roles configure, which no two definitions share).
  merged = m: builtins.foldl' recursiveUpdate {} (definitionsOf m);

  render = import ../nixos-modules/render.nix;

  # What nixpkgs' services.haproxy writes to /etc/haproxy.cfg: its own
  # global section (a stats socket for reloads), then the role's text.
  haproxyFile = text: ''
    global
      stats socket /run/haproxy/haproxy.sock mode 600 expose-fd listeners level user

    ${text}
  '';

  # What nixpkgs' services.keepalived writes: global_defs (script security,
  # then extraGlobalDefs), each vrrpScripts entry (run as the module's
  # default script user), then extraConfig.
  keepalivedFile = k: let
    script = name: v: ''
      vrrp_script ${name} {
        script "${v.script}"
        interval ${toString v.interval}
        fall ${toString v.fall}
        rise ${toString v.rise}
        timeout ${toString v.timeout}
        weight ${toString v.weight}
        user keepalived_script
      }
    '';
  in ''
    global_defs {
      ${lib.optionalString k.enableScriptSecurity "enable_script_security"}
      ${k.extraGlobalDefs}
    }

    ${join "\n" (builtins.attrValues (builtins.mapAttrs script k.vrrpScripts))}
    ${k.extraConfig}
  '';

  # What nixpkgs' services.etcd puts in the unit's environment (etcd reads
  # its settings from ETCD_* variables); unset certificate options are left
  # out, as the module's null filter does.
  etcdEnvironment = e:
    {
      ETCD_NAME = e.name;
      ETCD_DISCOVERY = "";
      ETCD_DATA_DIR = "/var/lib/etcd";
      ETCD_ADVERTISE_CLIENT_URLS = join "," e.advertiseClientUrls;
      ETCD_LISTEN_CLIENT_URLS = join "," e.listenClientUrls;
      ETCD_LISTEN_PEER_URLS = join "," e.listenPeerUrls;
      ETCD_INITIAL_ADVERTISE_PEER_URLS = join "," e.initialAdvertisePeerUrls;
      ETCD_PEER_CLIENT_CERT_AUTH = toString (e.peerClientCertAuth or false);
      ETCD_CLIENT_CERT_AUTH = toString (e.clientCertAuth or false);
      ETCD_INITIAL_CLUSTER = join "," e.initialCluster;
      ETCD_INITIAL_CLUSTER_STATE = "new";
      ETCD_INITIAL_CLUSTER_TOKEN = e.initialClusterToken;
    }
    # The certificate files, left out while unset (the module's null
    # filter); the peer ones default to the client ones, as there.
    // (let
      certs = {
        ETCD_CERT_FILE = e.certFile or null;
        ETCD_KEY_FILE = e.keyFile or null;
        ETCD_TRUSTED_CA_FILE = e.trustedCaFile or null;
        ETCD_PEER_CERT_FILE = e.peerCertFile or e.certFile or null;
        ETCD_PEER_KEY_FILE = e.peerKeyFile or e.keyFile or null;
        ETCD_PEER_TRUSTED_CA_FILE = e.peerTrustedCaFile or e.trustedCaFile or null;
      };
    in
      builtins.removeAttrs certs (builtins.filter (n: certs.${n} == null) (builtins.attrNames certs)))
    // builtins.listToAttrs (map (n: {
      name = "ETCD_${n}";
      value = e.extraConf.${n};
    }) (builtins.attrNames e.extraConf));

  # What the options of common.nix and proxy.nix hold by default on a
  # VM-test node (interface eth1, plain HTTP).
  configFor = node: {
    twofa = {
      node = node.name;
      inherit topology;
      topologyFile = ./topology.toml;
      interface = "eth1";
      secretsDir = "/var/lib/twofa-secrets";
      runtimeSecretsDir = "/run/twofa-secrets";
      adminKeys = [];
      proxy = {
        backends = cluster.appBackends;
        certificateFile = null;
        redirectToHttps = false;
        vrrp.enable = true;
      };
    };
    # As the roles enable them: common.nix gathers the secrets they read.
    services.twofa = {
      package = twofaPackage;
      enable = node.role == "app";
      databasePasswordFile = "/run/twofa-secrets/db-password";
      databaseCaFile = "/run/twofa-secrets/cluster-ca";
    };
    services.patroni = {
      enable = node.role == "db";
      user = "patroni";
    };
    services.haproxy.group = "haproxy";
    networking.hostName = node.name;
  };

  evalNode = node: let
    config = configFor node;
    args = {inherit config lib pkgs;};
    common = import ../nixos-modules/roles/common.nix args;
    role = import (../nixos-modules/roles + "/${node.role}.nix") args;
    # The service module with the values the app role gives it (no merging
    # here: the role's definitions over the options' defaults).
    twofa =
      if node.role == "app"
      then
        import ../nixos-modules/twofa.nix {
          inherit lib pkgs;
          config.services.twofa =
            {
              enable = true;
              package = twofaPackage;
              listen = "127.0.0.1:8080";
              secretKeyFile = null;
              databasePasswordFile = null;
              databaseCaFile = null;
              openFirewall = false;
              watchdogSec = 10;
            }
            // role.services.twofa
            // {settings = {log_format = "journald";} // role.services.twofa.settings;};
        }
      else null;
  in {
    inherit common role twofa;
    # The TOML settings the service gets on an app node (the module adds
    # listen and database_url), for `twofa check-config`.
    twofaSettings =
      if twofa != null
      then
        {log_format = "journald";}
        // role.services.twofa.settings
        // {
          # As vm-tests/lib.nix sets it: the load speaks plain HTTP.
          cookie_secure = false;
          inherit (role.services.twofa) listen;
          database_url = role.services.twofa.databaseUrl;
        }
      else null;
    # The Patroni configuration of a db node: what services.patroni writes
    # itself (nixos-modules/../patroni/default.nix in nixpkgs) under the
    # role's settings, for `patroni --validate-config`.
    patroniSettings =
      if node.role == "db"
      then let
        p = role.services.patroni;
      in
        recursiveUpdate {
          inherit (p) scope name;
          namespace = "/service";
          restapi = {
            listen = "${p.nodeIp}:${toString p.restApiPort}";
            connect_address = "${p.nodeIp}:${toString p.restApiPort}";
          };
          postgresql = {
            listen = "${p.nodeIp}:${toString p.postgresqlPort}";
            connect_address = "${p.nodeIp}:${toString p.postgresqlPort}";
            data_dir = "/var/lib/postgresql/15";
            bin_dir = "${p.postgresqlPackage}/bin";
            pgpass = "/var/lib/patroni/pgpass";
          };
        }
        p.settings
      else null;
    # The nftables rules the firewall gets, for `nft --check`.
    extraInputRules = join "\n" (map rulesOf [common role]);
  };

  # Every file (and environment) the lab's processes read on this node,
  # exactly as the images get them; the lab changes them only by the
  # entries of lab-substitutions.toml.
  labFilesFor = node: let
    e = evalNode node;
    r = merged e.role;
  in
    {
      proxy = {
        "haproxy.cfg" = haproxyFile r.services.haproxy.config;
        "keepalived.conf" = keepalivedFile r.services.keepalived;
        # Where and what the HAProxy unit writes for keepalived's track file.
        "haproxy-state.json" = render.haproxyState;
      };
      db = {
        "patroni.yml" = e.patroniSettings;
        "etcd.env" = etcdEnvironment r.services.etcd;
      };
      app = {
        "twofa.toml" = e.twofaSettings;
      };
      client = {};
    }
    .${node.role};
in
  builtins.listToAttrs (map (node: {
      inherit (node) name;
      value = evalNode node // {labFiles = labFilesFor node;};
    })
    topology.nodes)
