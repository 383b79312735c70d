# The configuration texts of the proxy role, as pure functions of the
# topology (builtins only, no nixpkgs). nixos-modules/roles/proxy.nix hands
# them to services.haproxy and services.keepalived; `cargo xtask nix`
# evaluates the same functions with nix-instantiate and runs the real
# `haproxy -c` and `keepalived --config-test` on the result. The lab runs
# these very texts (through vm-tests/eval-modules.nix), changed only by the
# entries of vm-tests/lab-substitutions.toml.
let
  join = builtins.concatStringsSep;
  when = cond: text:
    if cond
    then text
    else "";
  cluster = import ./cluster.nix;

  # Whether HAProxy runs, as a keepalived track file: the HAProxy unit
  # writes `running` from ExecStartPost= and `stopped` from ExecStopPost=
  # (systemd runs the latter however the process ended, SIGKILL included);
  # the lab's supervisor writes the same values around the process it
  # starts. keepalived reads it by inotify, so a dead HAProxy gives the VIP
  # away at once. Both the images and the lab run this one mechanism
  # (vrrp_track_process gets no process events inside a network namespace).
  haproxyState = {
    file = "/run/twofa-haproxy.state";
    running = "0";
    stopped = "1";
  };
in {
  # haproxy.cfg after the NixOS module's own `global` section.
  haproxy = {
    topology,
    backends,
    certFile,
    redirectToHttps,
  }: let
    inherit (topology) ports haproxy;
    checkTimeout =
      if haproxy.check_inter_ms > 500
      then haproxy.check_inter_ms
      else 500;
    # Every app, balanced by leastconn, each checked with GET `check`.
    appBackend = name: check: ''
      backend ${name}
        balance leastconn
        option httpchk GET ${check}
        http-check expect status 200
        default-server inter ${toString haproxy.check_inter_ms}ms fall ${toString haproxy.check_fall} rise ${toString haproxy.check_rise}
        ${join "\n  " (map (b: "server ${b.name} ${b.address} check") backends)}'';
  in ''
    global
      log /dev/log local0 info
      maxconn 4096
      ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets

    defaults
      mode http
      log global
      option httplog
      option dontlognull
      timeout connect ${toString haproxy.timeout_connect_ms}ms
      timeout client ${toString haproxy.timeout_client_s}s
      timeout server ${toString haproxy.timeout_server_s}s
      timeout check ${toString checkTimeout}ms
      timeout http-request 10s
      timeout http-keep-alive 10s
      retries ${toString haproxy.retries}
      option redispatch 1
      # Every request on a connection of its own to the app. An idle
      # connection kept for reuse cannot tell that its app died with the
      # link down: a request sent on it waited, unanswered and never
      # retried, until the node came back (app-crash, 5.9 s). A new
      # connection to a dead app fails within `timeout connect` and is
      # sent again to another app, POSTs included (nothing was sent).
      http-reuse never
      # A request an app has taken when its node dies (link down, nothing
      # resets) would wait for `timeout server`: TCP keepalive probes on
      # the connection to the app, after 1 s without traffic, every 1 s,
      # end it after 2 unanswered. A live app's kernel answers them even
      # while the app holds the request through a database failover.
      option srvtcpka
      srvtcpka-idle 1s
      srvtcpka-intvl 1s
      srvtcpka-cnt 2
      retry-on conn-failure empty-response response-timeout

    frontend www
      bind :${toString ports.http}
      bind :${toString ports.https} ssl crt ${certFile} alpn http/1.1
      # The client's address replaces whatever X-Forwarded-For it sent (all
      # lines of it): appending would let a client name its own address.
      http-request set-header X-Forwarded-For %[src]
      # Metrics are for operators, on the apps' metrics address, never the VIP.
      http-request deny if { path -m beg /metrics }
      # A POST that reached an app may have used up a TOTP code there; a retry
      # on another app would be refused as a replay. POSTs are retried only
      # when the connection itself failed.
      http-request disable-l7-retry if METH_POST
      # Per-source-IP request rate, a first line against floods.
      stick-table type ip size 100k expire 30s store http_req_rate(10s)
      http-request track-sc0 src
      http-request deny deny_status 429 if { sc_http_req_rate(0) gt ${toString haproxy.rate_limit_per_10s} }
      ${when redirectToHttps "http-request redirect scheme https code 301 if !{ ssl_fc }"}
      http-request set-header X-Forwarded-Proto https if { ssl_fc }
      http-request set-header X-Forwarded-Proto http if !{ ssl_fc }
      http-response set-header Strict-Transport-Security "max-age=63072000" if { ssl_fc }
      # Ready apps first. When none is ready (the database has no leader
      # during a failover, so every app's /readyz fails at once), the
      # apps that are alive still get the requests: each holds its request
      # and retries the database until the new leader answers, which a
      # person sees as a slow page, where an empty backend would answer 503
      # at once.
      use_backend apps if { nbsrv(apps) gt 0 }
      default_backend apps_live

    # What keepalived's check scripts ask (render.vrrpScripts).
    frontend check
      bind 127.0.0.1:${toString ports.proxy_check}
      # Does this HAProxy answer at all?
      monitor-uri /healthz
      # Does it have a live app to send requests to?
      http-request return status 200 content-type text/plain string "apps\n" if { path /apps } { nbsrv(apps_live) gt 0 }
      http-request return status 503 content-type text/plain string "no app\n" if { path /apps }

    # The apps that can serve now: alive, with a writable database.
    ${appBackend "apps" "/readyz"}

    # The same apps, checked only for being alive: used while no app is ready.
    ${appBackend "apps_live" "/healthz"}
  '';

  # services.keepalived.extraGlobalDefs (inside global_defs; the module adds
  # enable_script_security).
  keepalivedGlobalDefs = {
    topology,
    nodeName,
  }: ''
    router_id ${nodeName}
    # VRRPv2 rounds sub-second advert intervals up to 1 s.
    vrrp_version ${toString topology.vrrp.version}
    script_user keepalived_script
    # Gratuitous ARPs again 1 s after taking the VIP (keepalived waits 5 s
    # by default), then every second while master: a client that kept the
    # old master's address past the first burst corrects it within a second.
    vrrp_garp_master_delay 1
    vrrp_garp_master_refresh 1
  '';

  # services.keepalived.vrrpScripts, each weight 0: a failing check puts the
  # instance in FAULT and the peer takes the VIP. One asks whether this
  # HAProxy answers at all; the other whether it has a live app to send
  # requests to (alive is enough: while the database fails over, no app is
  # ready, yet the live ones hold requests, so no proxy gives up the VIP).
  vrrpScripts = {
    topology,
    twofa,
  }: let
    inherit (topology) ports vrrp;
    check = path: {
      script = "${twofa} probe http http://127.0.0.1:${toString ports.proxy_check}${path} --timeout-ms 800";
      interval = vrrp.script_interval;
      timeout = vrrp.script_interval;
      fall = vrrp.script_fall;
      rise = vrrp.script_rise;
      weight = 0;
    };
  in {
    proxy_serves = check "/healthz";
    proxy_sees_apps = check "/apps";
  };

  inherit haproxyState;

  # services.keepalived.extraConfig: the track file and the instance (the
  # module writes extraConfig after its own instances, so both are here).
  keepalived = {
    topology,
    nodeName,
    interface,
  }: let
    inherit (topology) vrrp;
    c = cluster topology;
    node = c.nodes.${nodeName};
    state = haproxyState;
  in ''
    track_file haproxy_state {
      file "${state.file}"
      # Until HAProxy's unit says it runs, it does not.
      init_file ${state.stopped}
    }

    vrrp_instance twofa {
      # Both proxies start as BACKUP; the priority elects the first master.
      state BACKUP
      # A proxy that comes back does not take the VIP back: every move
      # breaks the requests in flight on the proxy that loses it (the lab
      # saw them hang for seconds), and the one holding it is healthy.
      nopreempt
      interface ${interface}
      virtual_router_id ${toString vrrp.virtual_router_id}
      priority ${toString node.vrrp_priority}
      advert_int ${toString vrrp.advert_int}
      unicast_src_ip ${node.address}
      unicast_peer {
        ${join "\n    " c.peers.${nodeName}}
      }
      virtual_ipaddress {
        ${c.vipCidr} dev ${interface}
      }
      track_script {
        proxy_serves
        proxy_sees_apps
      }
      # weight 0: any value but ${state.running} puts the instance in FAULT.
      track_file {
        haproxy_state weight 0
      }
    }
  '';
}
