# The cluster and its fault scenarios as plain data, evaluated without
# nixpkgs. The flake, the VM tests and `cargo xtask nix` read this file;
# the CI compares its evaluation (`nix-instantiate --eval --strict --json`)
# with what the Rust lab reads from the same TOML files, so the two drivers
# cannot disagree about an address, a port or a timing.
let
  topology = builtins.fromTOML (builtins.readFile ./topology.toml);

  scenarioDir = ./scenarios;
  scenarioEntries =
    if builtins.pathExists scenarioDir
    then builtins.readDir scenarioDir
    else {};
  scenarioFileNames =
    builtins.filter
    (f: scenarioEntries.${f} == "regular" && builtins.match ".*\\.toml" f != null)
    (builtins.attrNames scenarioEntries);
  scenarioName = f: builtins.substring 0 (builtins.stringLength f - 5) f;
in {
  inherit topology;

  # scenario name (file name without .toml) -> its parsed contents.
  scenarios = builtins.listToAttrs (map (f: {
      name = scenarioName f;
      value = builtins.fromTOML (builtins.readFile (scenarioDir + "/${f}"));
    })
    scenarioFileNames);

  # scenario name -> the file, for the VM tests' driver.
  scenarioFiles = builtins.listToAttrs (map (f: {
      name = scenarioName f;
      value = scenarioDir + "/${f}";
    })
    scenarioFileNames);

  # Values derived from the topology (peers, URLs, cluster strings), computed
  # once for the modules; the CI recomputes them in Rust and compares.
  cluster = import ../nixos-modules/cluster.nix topology;
}
