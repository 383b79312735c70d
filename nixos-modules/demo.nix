# `nix run .#demo`: PostgreSQL, twofa and HAProxy on one NixOS VM, for a
# first look. The proxy role's HAProxy settings, without keepalived; the
# database is local and reached over its socket with peer authentication,
# so the only secret is the TOTP encryption key, which the flake's demo
# launcher makes on the host and hands in as the systemd credential
# twofa.secret-key (QEMU SMBIOS type 11), the way the images get theirs.
# Open http://localhost:8080 on the host (https://localhost:8443 with the
# self-signed certificate).
{
  config,
  pkgs,
  ...
}: {
  imports = [./roles/proxy.nix];

  networking.hostName = "twofa-demo";

  twofa = {
    proxy = {
      vrrp.enable = false;
      redirectToHttps = false;
      backends = [
        {
          name = "demo";
          address = "127.0.0.1:8080";
        }
      ];
    };
  };

  services.postgresql = {
    enable = true;
    package = pkgs.postgresql_15;
    ensureDatabases = ["twofa"];
    ensureUsers = [
      {
        name = "twofa";
        ensureDBOwnership = true;
      }
    ];
  };

  services.twofa = {
    enable = true;
    listen = "127.0.0.1:8080";
    # The unit's dynamic user is called twofa: peer authentication matches it.
    databaseUrl = "host=/run/postgresql dbname=twofa user=twofa";
    # Gathered at boot by twofa-secrets.service (roles/common.nix).
    secretKeyFile = "${config.twofa.runtimeSecretsDir}/secret-key";
    settings = {
      # Plain HTTP through the forwarded port: cookies without `Secure`.
      cookie_secure = false;
      trusted_proxies = ["127.0.0.1/32"];
    };
  };
  # postgresql.target (nixpkgs 25.11) requires postgresql.service and
  # postgresql-setup.service, which creates the role and database; a
  # target is ordered after what it requires.
  systemd.services.twofa = {
    wants = ["postgresql.target"];
    after = ["postgresql.target"];
  };

  # Only in `nixos-rebuild build-vm` / `nix run .#demo`.
  virtualisation.vmVariant.virtualisation = {
    memorySize = 1024;
    cores = 2;
    graphics = false;
    forwardPorts = [
      {
        from = "host";
        host.port = 8080;
        guest.port = 80;
      }
      {
        from = "host";
        host.port = 8443;
        guest.port = 443;
      }
    ];
  };

  # A throwaway VM: log in on its console without a password.
  services.getty.autologinUser = "root";
}
