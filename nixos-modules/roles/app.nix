# The app role: twofa, reachable only from the proxies (and the topology's
# test client), talking to whichever db node Patroni made leader.
{
  config,
  lib,
  ...
}: let
  top = config.twofa.topology;
  cluster = import ../cluster.nix top;
  node = cluster.nodes.${config.twofa.node};
  # The secrets twofa-secrets.service gathered (hypervisor or files).
  dir = config.twofa.runtimeSecretsDir;
in {
  services.twofa = {
    enable = true;
    listen = "${node.address}:${toString top.ports.app}";
    # Every db node; libpq keeps the one that accepts writes, so a Patroni
    # failover needs no proxy in between.
    inherit (cluster) databaseUrl;
    secretKeyFile = "${dir}/secret-key";
    databasePasswordFile = "${dir}/db-password";
    # The cluster CA: the URL says sslmode=verify-full, so each db node's
    # certificate must chain to it and name the node's address.
    databaseCaFile = "${dir}/cluster-ca";
    settings = {
      trusted_proxies = cluster.trustedProxies;
      # Longer than a Patroni failover, shorter than HAProxy's timeout server.
      inherit (top.app) db_retry_deadline_s;
      cookie_secure = lib.mkDefault true;
      # Metrics stay off the address the proxies reach: scrape them on the
      # node itself (or through an SSH tunnel); the proxies also deny them.
      metrics_listen = lib.mkDefault "127.0.0.1:9464";
    };
  };

  networking.firewall.extraInputRules = ''
    ip saddr { ${lib.concatStringsSep ", " (cluster.proxyAddresses ++ [top.network.vip] ++ cluster.clientAddresses)} } tcp dport ${toString top.ports.app} accept
  '';
}
