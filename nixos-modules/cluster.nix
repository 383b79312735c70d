# Everything the role modules derive from the topology, as a pure function
# (no nixpkgs), so `cargo xtask nix` can evaluate it and compare it with the
# same values computed in Rust from topology.toml.
topology: let
  inherit (topology) network ports app;
  concatSep = sep: list: builtins.concatStringsSep sep (map toString list);
  withRole = role: builtins.filter (n: n.role == role) topology.nodes;
  addressesOf = map (n: n.address);

  proxies = withRole "proxy";
  apps = withRole "app";
  dbs = withRole "db";
  clients = withRole "client";
  byPriority = builtins.sort (a: b: a.vrrp_priority > b.vrrp_priority) proxies;
in {
  nodes = builtins.listToAttrs (map (n: {
      inherit (n) name;
      value = n;
    })
    topology.nodes);
  nodeNames = map (n: n.name) topology.nodes;

  proxyAddresses = addressesOf proxies;
  appAddresses = addressesOf apps;
  dbAddresses = addressesOf dbs;
  clientAddresses = addressesOf clients;
  roles = {
    proxy = map (n: n.name) proxies;
    app = map (n: n.name) apps;
    db = map (n: n.name) dbs;
    client = map (n: n.name) clients;
  };

  # The proxy that starts as VRRP MASTER (highest priority).
  vrrpMaster = (builtins.head byPriority).name;
  vipCidr = "${network.vip}/${toString network.prefix_length}";

  # What the apps use to reach the Patroni leader: every db node, and libpq
  # keeps only the one that accepts writes. TLS with the certificate checked
  # against the cluster CA and the node's address (the host names are IPs).
  databaseUrl =
    "host=${concatSep "," (addressesOf dbs)} port=${toString ports.postgres}"
    + " dbname=${app.database} user=${app.database_user} target_session_attrs=read-write"
    + " sslmode=verify-full"
    + (
      if app ? database_url_options
      then " ${app.database_url_options}"
      else ""
    );

  # X-Forwarded-For is believed only from these (the proxies and the VIP).
  # As /32 networks: the service parses CIDRs (a bare address is refused).
  trustedProxies = map (a: "${a}/32") (addressesOf proxies ++ [network.vip]);

  etcdInitialCluster = map (n: "${n.name}=https://${n.address}:${toString ports.etcd_peer}") dbs;
  etcdHosts = map (n: "${n.address}:${toString ports.etcd_client}") dbs;

  appBackends =
    map (n: {
      inherit (n) name;
      address = "${n.address}:${toString ports.app}";
    })
    apps;

  # node name -> the addresses of the other members of its role (unicast
  # VRRP peers, Patroni and etcd peers).
  peers = builtins.listToAttrs (map (node: {
      inherit (node) name;
      value = addressesOf (builtins.filter (n: n.role == node.role && n.name != node.name) topology.nodes);
    })
    topology.nodes);
}
