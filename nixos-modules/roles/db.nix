# The db role: etcd (the DCS) and Patroni running PostgreSQL, one of three
# members. Timings come from the topology's [etcd] and [patroni] sections,
# the values the lab measured with the Patroni version nixpkgs ships.
{
  config,
  lib,
  pkgs,
  ...
}: let
  top = config.twofa.topology;
  cluster = import ../cluster.nix top;
  node = cluster.nodes.${config.twofa.node};
  inherit (top) ports;
  # The secrets twofa-secrets.service gathered (hypervisor or files),
  # owned by the patroni user.
  dir = config.twofa.runtimeSecretsDir;
  postgresql = pkgs.postgresql_15;
  socketDir = "/run/patroni";
  secretFiles = ["db-password" "superuser-password" "replication-password" "rewind-password" "cluster-ca" "db-tls-cert" "db-tls-key"];

  addrSet = addresses: "{ ${lib.concatStringsSep ", " addresses} }";
  hba = type: database: user: addresses:
    map (a: "${type} ${database} ${user} ${a}/32 scram-sha-256") addresses;
  # TLS, and a client certificate the cluster CA signed, besides the password.
  hbaTls = database: user: addresses:
    map (a: "hostssl ${database} ${user} ${a}/32 scram-sha-256 clientcert=verify-ca") addresses;

  # Runs once, when Patroni initialises the cluster: the app's role and
  # database, with the password gathered at boot (never in the store). Patroni passes the superuser connection URL as $1.
  postBootstrap = pkgs.writeShellScript "twofa-post-bootstrap" ''
    set -eu
    password="$(cat ${lib.escapeShellArg "${dir}/db-password"})"
    ${postgresql}/bin/psql "$1" -v ON_ERROR_STOP=1 -v password="$password" <<'SQL'
    CREATE ROLE ${top.app.database_user} LOGIN PASSWORD :'password';
    CREATE DATABASE ${top.app.database} OWNER ${top.app.database_user};
    SQL
  '';

  # Patroni's on_start and on_role_change callback: a new primary moves
  # etcd's leadership to another member, so that one crash never takes
  # both leaders (the script says why that costs a failover a whole ttl).
  leaderAway = pkgs.writeText "etcd-leader-away.py" (builtins.readFile ./etcd-leader-away.py);
  # It dials this node's address (its certificate names no 127.0.0.1) and
  # shows the node's certificate, as Patroni does.
  leaderAwayCallback = lib.concatStringsSep " " [
    "${pkgs.python3.interpreter} ${leaderAway}"
    "--etcd https://${node.address}:${toString ports.etcd_client}"
    "--cacert ${dir}/cluster-ca --cert ${dir}/db-tls-cert --key ${dir}/db-tls-key"
  ];
  # etcd reads the node's certificate, key and the cluster CA as systemd
  # credentials (the secrets belong to the patroni user).
  etcdCredentials = "/run/credentials/etcd.service";
in {
  services.etcd = {
    enable = true;
    inherit (node) name;
    # The node address for the peers, 127.0.0.1 for local tools (etcdctl,
    # which must then skip the host name check or dial the node address).
    # TLS both ways, clients and peers alike must show a certificate from
    # the cluster CA.
    listenClientUrls = ["https://${node.address}:${toString ports.etcd_client}" "https://127.0.0.1:${toString ports.etcd_client}"];
    advertiseClientUrls = ["https://${node.address}:${toString ports.etcd_client}"];
    listenPeerUrls = ["https://${node.address}:${toString ports.etcd_peer}"];
    initialAdvertisePeerUrls = ["https://${node.address}:${toString ports.etcd_peer}"];
    certFile = "${etcdCredentials}/etcd-cert";
    keyFile = "${etcdCredentials}/etcd-key";
    trustedCaFile = "${etcdCredentials}/etcd-ca";
    clientCertAuth = true;
    peerCertFile = "${etcdCredentials}/etcd-cert";
    peerKeyFile = "${etcdCredentials}/etcd-key";
    peerTrustedCaFile = "${etcdCredentials}/etcd-ca";
    peerClientCertAuth = true;
    initialCluster = cluster.etcdInitialCluster;
    initialClusterToken = "twofa-${top.patroni.scope}";
    extraConf = {
      HEARTBEAT_INTERVAL = toString top.etcd.heartbeat_interval_ms;
      ELECTION_TIMEOUT = toString top.etcd.election_timeout_ms;
      # Without pre-vote a healed partition forces an election and Patroni
      # loses etcd for seconds.
      PRE_VOTE = lib.boolToString top.etcd.pre_vote;
    };
  };
  systemd.services.etcd = {
    # The module waits 30 s before restarting a failed etcd.
    serviceConfig.RestartSec = lib.mkForce "2s";
    serviceConfig.LoadCredential = [
      "etcd-cert:${dir}/db-tls-cert"
      "etcd-key:${dir}/db-tls-key"
      "etcd-ca:${dir}/cluster-ca"
    ];
    # The credentials exist once twofa-secrets.service has gathered them;
    # until then etcd fails to start and retries, however often it takes.
    wants = ["twofa-secrets.service"];
    after = ["twofa-secrets.service"];
    startLimitIntervalSec = 0;
  };

  services.patroni = {
    enable = true;
    postgresqlPackage = postgresql;
    postgresqlPort = ports.postgres;
    restApiPort = ports.patroni_api;
    inherit (top.patroni) scope;
    inherit (node) name;
    nodeIp = node.address;
    otherNodesIps = cluster.peers.${node.name};

    settings = {
      # The REST API over TLS with this node's certificate; a client
      # (another member, patronictl, the lab, the VM tests) must show one
      # from the cluster CA. Patroni's own requests to the other members
      # (ctl) check their certificate and show this node's.
      restapi = {
        certfile = "${dir}/db-tls-cert";
        keyfile = "${dir}/db-tls-key";
        cafile = "${dir}/cluster-ca";
        verify_client = "required";
      };
      ctl = {
        certfile = "${dir}/db-tls-cert";
        keyfile = "${dir}/db-tls-key";
        cacert = "${dir}/cluster-ca";
      };

      # etcd3: etcd 3.6 has no v2 API. Over TLS, checking etcd's
      # certificate and showing this node's.
      etcd3 = {
        hosts = cluster.etcdHosts;
        protocol = "https";
        cacert = "${dir}/cluster-ca";
        cert = "${dir}/db-tls-cert";
        key = "${dir}/db-tls-key";
      };

      bootstrap = {
        dcs = {
          # Patroni 4.1 raises ttl to at least 20 and keeps
          # loop_wait + 2 * retry_timeout <= ttl.
          inherit (top.patroni) ttl loop_wait retry_timeout synchronous_mode;
          maximum_lag_on_failover = 1048576;
          postgresql = {
            use_pg_rewind = true;
            use_slots = true;
            parameters = {
              password_encryption = "scram-sha-256";
              wal_level = "replica";
              hot_standby = "on";
              wal_log_hints = "on";
              max_wal_senders = 10;
              max_replication_slots = 10;
              max_connections = 100;
              wal_sender_timeout = "${toString top.patroni.wal_sender_timeout_s}s";
              wal_receiver_timeout = "${toString top.patroni.wal_receiver_timeout_s}s";
            };
          };
        };
        initdb = [{encoding = "UTF8";} "data-checksums" {auth = "scram-sha-256";}];
        post_bootstrap = "${postBootstrap}";
      };

      postgresql = {
        # The module listens on the node address only; 127.0.0.1 too, for
        # local tools (as in the lab).
        listen = lib.mkForce "${node.address},127.0.0.1:${toString ports.postgres}";
        # A spread checkpoint would hold a new replica for minutes.
        basebackup = [{checkpoint = "fast";}];
        callbacks = {
          on_start = leaderAwayCallback;
          on_role_change = leaderAwayCallback;
        };
        # Replication (walreceiver, pg_basebackup, Patroni's timeline
        # checks) and pg_rewind dial the leader's address over TLS and check
        # that its certificate chains to the cluster CA and names that
        # address; they show this node's own certificate, which pg_hba
        # requires (clientcert=verify-ca). libpq ignores the ssl settings
        # on a Unix socket, which is how Patroni reaches its own
        # PostgreSQL for replication (use_unix_socket_repl).
        authentication = let
          tls = {
            sslmode = "verify-full";
            sslrootcert = "${dir}/cluster-ca";
            sslcert = "${dir}/db-tls-cert";
            sslkey = "${dir}/db-tls-key";
          };
        in {
          superuser.username = "postgres";
          replication = tls // {username = "replicator";};
          rewind = tls // {username = "rewind_user";};
        };
        use_unix_socket_repl = true;
        parameters = {
          # The module creates no /run/postgresql.
          unix_socket_directories = socketDir;
          password_encryption = "scram-sha-256";
          # TLS with this node's certificate from the cluster CA (secrets
          # gathered at boot: docs/nix.md, "TLS between the nodes").
          ssl = "on";
          ssl_cert_file = "${dir}/db-tls-cert";
          ssl_key_file = "${dir}/db-tls-key";
          ssl_ca_file = "${dir}/cluster-ca";
          ssl_min_protocol_version = "TLSv1.2";
        };
        # Patroni checks a replica's timeline over a replication connection
        # to its own PostgreSQL, on the Unix socket ("all" does not match
        # replication): without the second line a node that rejoins after a
        # failover cannot read its own timeline. Between the nodes,
        # replication and pg_rewind only over TLS with a certificate from
        # the cluster CA.
        pg_hba =
          [
            "local all all scram-sha-256"
            "local replication replicator scram-sha-256"
            "host all all 127.0.0.1/32 scram-sha-256"
          ]
          ++ hba "host" "all" "postgres" cluster.dbAddresses
          ++ hbaTls "replication" "replicator" cluster.dbAddresses
          ++ hbaTls "all" "rewind_user" cluster.dbAddresses
          # The apps only over TLS (they verify the server: sslmode=verify-full).
          ++ hba "hostssl" top.app.database top.app.database_user cluster.appAddresses;
      };
    };

    # Read by the patroni user when the service starts (in /run, never in the store).
    environmentFiles = {
      PATRONI_SUPERUSER_PASSWORD = "${dir}/superuser-password";
      PATRONI_REPLICATION_PASSWORD = "${dir}/replication-password";
      PATRONI_REWIND_PASSWORD = "${dir}/rewind-password";
    };
  };

  systemd.services.patroni = {
    # Patroni would bootstrap with empty passwords if the files were missing
    # (the module's script exports whatever it reads): refuse, and retry
    # until twofa-secrets.service has gathered them.
    preStart = ''
      for f in ${lib.concatMapStringsSep " " (f: lib.escapeShellArg "${dir}/${f}") secretFiles}; do
        if [ ! -s "$f" ]; then
          echo "twofa: missing secret $f (journalctl -u twofa-secrets; docs/nix.md, Secrets)" >&2
          exit 1
        fi
      done
    '';
    wants = ["etcd.service"];
    after = ["etcd.service"];
    # Restart however often it takes while etcd or the peers come back.
    startLimitIntervalSec = 0;
    serviceConfig = {
      RestartSec = "2s";
      RuntimeDirectory = "patroni";
      RuntimeDirectoryMode = "0750";
      # PostgreSQL may outlive a Patroni restart (KillMode=process); keep its socket.
      RuntimeDirectoryPreserve = true;
    };
  };

  networking.firewall.extraInputRules = ''
    ip saddr ${addrSet cluster.peers.${node.name}} tcp dport { ${toString ports.etcd_client}, ${toString ports.etcd_peer}, ${toString ports.patroni_api} } accept
    ip saddr ${addrSet (cluster.peers.${node.name} ++ cluster.appAddresses)} tcp dport ${toString ports.postgres} accept
  '';
}
