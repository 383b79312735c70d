# services.twofa: the twofa web login as a hardened systemd service.
#
# `settings` is rendered to the TOML file given to `twofa serve --config`;
# secrets never enter it (nor the Nix store): the TOTP encryption key and the
# database password are files outside the store handed over with systemd's
# LoadCredential, which the service reads from $CREDENTIALS_DIRECTORY.
{
  config,
  lib,
  pkgs,
  ...
}: let
  cfg = config.services.twofa;
  settingsFormat = pkgs.formats.toml {};
  configFile = settingsFormat.generate "twofa.toml" cfg.settings;
  port = lib.toInt (lib.last (lib.splitString ":" cfg.listen));
  inStore = path: path != null && lib.hasPrefix builtins.storeDir (toString path);
in {
  options.services.twofa = {
    enable = lib.mkEnableOption "twofa, a web login with TOTP two-factor authentication";

    package = lib.mkOption {
      type = lib.types.package;
      description = ''
        The twofa package. The flake's `nixosModules.twofa` sets it to the
        flake's own build.
      '';
    };

    listen = lib.mkOption {
      type = lib.types.str;
      default = "127.0.0.1:8080";
      example = "10.77.0.21:8080";
      description = "Address and port `twofa serve` binds (`TWOFA_LISTEN`).";
    };

    databaseUrl = lib.mkOption {
      type = lib.types.str;
      example = "host=10.77.0.31,10.77.0.32,10.77.0.33 port=5432 dbname=twofa user=twofa target_session_attrs=read-write";
      description = ''
        libpq-style connection string (`TWOFA_DATABASE_URL`); several hosts
        with `target_session_attrs=read-write` follow a Patroni failover.
        Never put a password here: it would land in the world-readable
        Nix store. Use {option}`services.twofa.databasePasswordFile`.
      '';
    };

    secretKeyFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/var/lib/twofa-secrets/secret-key";
      description = ''
        File outside the Nix store holding the key that encrypts TOTP
        secrets: 64 hex characters (`twofa gen-key` or
        `openssl rand -hex 32`). Passed to the service with LoadCredential as
        `secret-key`, so it may stay readable by root only.
      '';
    };

    databasePasswordFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/var/lib/twofa-secrets/db-password";
      description = ''
        File outside the Nix store holding the database user's password,
        passed with LoadCredential as `database-password`. `null` when the
        database authenticates otherwise (e.g. peer authentication over the
        local socket).
      '';
    };

    databaseCaFile = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "/run/twofa-secrets/cluster-ca";
      description = ''
        PEM file with the CA that signed the database servers' certificates,
        passed with LoadCredential as `database-ca`. Given, the service
        connects with `sslmode=verify-full` unless {option}`databaseUrl`
        names another mode; `null` leaves the URL's `sslmode` alone.
      '';
    };

    settings = lib.mkOption {
      type = lib.types.submodule {
        freeformType = settingsFormat.type;
        options.log_format = lib.mkOption {
          type = lib.types.enum ["text" "json" "journald"];
          default = "journald";
          description = "Log format; journald keeps structured fields.";
        };
      };
      default = {};
      example = {
        cookie_secure = true;
        trusted_proxies = ["10.77.0.11" "10.77.0.12"];
        metrics_listen = "127.0.0.1:9464";
        db_retry_deadline_s = 25;
      };
      description = ''
        Further settings of the service's TOML configuration file (the
        `TWOFA_*` names in lower case without the prefix: `cookie_secure`,
        `allow_signup`, `trusted_proxies`, `db_retry_deadline_s`, …). The
        service refuses unknown keys. `listen` and `database_url` come from
        the options above; secrets do not belong here.
      '';
    };

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = ''
        Open the listening port to everyone. The cluster roles leave this off
        and open it only to the proxies.
      '';
    };

    watchdogSec = lib.mkOption {
      type = lib.types.ints.positive;
      default = 10;
      description = ''
        systemd restarts the service when it misses a watchdog ping for this
        long (the service pings at half this interval while its database
        pool works).
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.secretKeyFile != null;
        message = ''
          services.twofa.secretKeyFile is not set: name a file outside the Nix
          store holding 64 hex characters, e.g. create it with
            install -d -m 0700 /var/lib/twofa-secrets
            twofa gen-key > /var/lib/twofa-secrets/secret-key
        '';
      }
      {
        assertion = !(inStore cfg.secretKeyFile) && !(inStore cfg.databasePasswordFile);
        message = "services.twofa: secret files must live outside the Nix store, which every local user can read.";
      }
      {
        assertion = !(cfg.settings ? database_ca_file);
        message = "services.twofa: use databaseCaFile (passed with LoadCredential), not settings.database_ca_file.";
      }
      {
        assertion = !(cfg.settings ? secret_key_file || cfg.settings ? database_password_file);
        message = "services.twofa: use secretKeyFile and databasePasswordFile (passed with LoadCredential), not settings.*_file.";
      }
      {
        assertion = builtins.match ".*password=.*" cfg.databaseUrl == null;
        message = "services.twofa.databaseUrl must not carry a password (it would be world-readable in the Nix store); use databasePasswordFile.";
      }
    ];

    services.twofa.settings = {
      inherit (cfg) listen;
      database_url = cfg.databaseUrl;
    };

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [port];

    # The command-line tool for administrators (`twofa user …`, `twofa
    # check-config`), reading the service's configuration and, as root, its
    # secret files.
    environment.systemPackages = [cfg.package];
    environment.etc."twofa/twofa.toml".source = configFile;
    environment.sessionVariables =
      {TWOFA_CONFIG = "/etc/twofa/twofa.toml";}
      // lib.optionalAttrs (cfg.secretKeyFile != null) {TWOFA_SECRET_KEY_FILE = cfg.secretKeyFile;}
      // lib.optionalAttrs (cfg.databasePasswordFile != null) {TWOFA_DATABASE_PASSWORD_FILE = cfg.databasePasswordFile;}
      // lib.optionalAttrs (cfg.databaseCaFile != null) {TWOFA_DATABASE_CA_FILE = cfg.databaseCaFile;};

    systemd.services.twofa = {
      description = "twofa web login with TOTP two-factor authentication";
      wantedBy = ["multi-user.target"];
      wants = ["network-online.target"];
      after = ["network-online.target"];
      # A restart storm must not stop the service for good: the database may
      # be failing over, and the service only has to wait.
      startLimitIntervalSec = 0;
      serviceConfig = {
        Type = "notify";
        NotifyAccess = "main";
        ExecStart = "${lib.getExe' cfg.package "twofa"} serve --config ${configFile}";
        WatchdogSec = cfg.watchdogSec;
        Restart = "always";
        RestartSec = "1s";
        # SIGTERM drains and exits within 10 s.
        TimeoutStopSec = "15s";

        LoadCredential =
          ["secret-key:${toString cfg.secretKeyFile}"]
          ++ lib.optional (cfg.databasePasswordFile != null) "database-password:${cfg.databasePasswordFile}"
          ++ lib.optional (cfg.databaseCaFile != null) "database-ca:${cfg.databaseCaFile}";

        DynamicUser = true;
        StateDirectory = "twofa";
        UMask = "0077";
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        NoNewPrivileges = true;
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        RestrictAddressFamilies = ["AF_INET" "AF_INET6" "AF_UNIX"];
        # adjtimex(2) with no mode bits only reads the kernel's clock state
        # (exported on /metrics); @privileged denies it, so it is allowed
        # back. Without capabilities the kernel refuses any change anyway.
        SystemCallFilter = ["@system-service" "~@privileged" "adjtimex"];
        SystemCallArchitectures = "native";
        MemoryDenyWriteExecute = true;
        LockPersonality = true;
        RestrictRealtime = true;
        RestrictNamespaces = true;
        RestrictSUIDSGID = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        # ProtectClock's filter denies adjtimex even for reading; the empty
        # capability set (no CAP_SYS_TIME) and PrivateDevices (no /dev/rtc)
        # still keep the service from setting the clock.
        ProtectClock = false;
        ProtectHostname = true;
        ProtectProc = "invisible";
        ProcSubset = "pid";
      };
    };
  };
}
