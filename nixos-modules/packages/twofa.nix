# The twofa binary, built from this workspace with nixpkgs' Rust toolchain.
# The source is filtered with lib.fileset so editing docs, Nix files or the
# Android app does not rebuild it.
{
  lib,
  rustPlatform,
}: let
  root = ../..;
  workspace = lib.importTOML (root + "/Cargo.toml");
in
  rustPlatform.buildRustPackage {
    pname = "twofa";
    inherit (workspace.workspace.package) version;

    src = lib.fileset.toSource {
      inherit root;
      # twofa depends on client/ (the shared HTTP client); xtask is a
      # workspace member, so Cargo needs its manifest and sources to resolve
      # the workspace even though only twofa is built.
      fileset = lib.fileset.unions [
        (root + "/Cargo.toml")
        (root + "/Cargo.lock")
        (root + "/service")
        (root + "/xtask")
        (root + "/client")
        (root + "/testdata")
      ];
    };

    cargoLock.lockFile = root + "/Cargo.lock";
    cargoBuildFlags = ["-p" "twofa"];
    # Unit tests only: the integration tests need a PostgreSQL server, and
    # the VM tests (`smoke` in `nix flake check`, every scenario in
    # `vmTests`) exercise the service for real.
    cargoTestFlags = ["-p" "twofa" "--lib"];

    meta = {
      description = "Fault-tolerant web login with TOTP two-factor authentication";
      license = lib.licenses.agpl3Plus;
      mainProgram = "twofa";
      platforms = lib.platforms.linux;
    };
  }
