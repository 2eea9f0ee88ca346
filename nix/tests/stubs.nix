# Stand-ins for the parts of NixOS and nixpkgs that nix/module.nix (and the flake and the VM
# test built on it) use, so that the module can be evaluated with nixpkgs' `lib` alone.
# Everything else is the real lib: option types, defaults, mkIf/mkMerge, submodules, assertions.
{ lib }:
let
  # A fake store path: a name that changes with what it stands for, as a real one does.
  storePath =
    name: content:
    "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" "${name}\n${content}")}-${name}";

  # TOML, rendered the way the file format needs it: in each table its plain values first,
  # then its sub-tables ([a.b]), then its arrays of tables ([[a.b]]). In nixpkgs,
  # `formats.toml` renders through remarshal's json2toml; this renderer stands in for it.
  toTOML =
    let
      bareKey = k: builtins.match "[A-Za-z0-9_-]+" k != null;
      key = k: if bareKey k then k else builtins.toJSON k;
      isTables = v: builtins.isList v && v != [ ] && lib.all builtins.isAttrs v;
      isTable = v: builtins.isAttrs v && !(lib.isDerivation v);
      value =
        v:
        if builtins.isString v then
          builtins.toJSON v
        else if builtins.isBool v then
          lib.boolToString v
        else if builtins.isInt v || builtins.isFloat v then
          toString v
        else if builtins.isPath v then
          builtins.toJSON (toString v)
        else if builtins.isList v then
          "[" + lib.concatMapStringsSep ", " value v + "]"
        else if builtins.isAttrs v then
          "{ " + lib.concatStringsSep ", " (lib.mapAttrsToList (k: x: "${key k} = ${value x}") v) + " }"
        else
          throw "toTOML: cannot render a ${builtins.typeOf v}";
      holdsOnlyTables = t: t != { } && lib.all (v: isTable v || isTables v) (lib.attrValues t);
      table =
        path: attrs:
        let
          names = lib.attrNames attrs;
          plain = lib.filter (k: !(isTable attrs.${k}) && !(isTables attrs.${k})) names;
          subtables = lib.filter (k: isTable attrs.${k}) names;
          arrays = lib.filter (k: isTables attrs.${k}) names;
          sub = k: path ++ [ (key k) ];
        in
        lib.concatMapStrings (k: "${key k} = ${value attrs.${k}}\n") plain
        + lib.concatMapStrings (
          k:
          # a table holding only tables needs no header of its own ([parent.eth1] will do)
          lib.optionalString (!holdsOnlyTables attrs.${k}) "\n[${lib.concatStringsSep "." (sub k)}]\n"
          + table (sub k) attrs.${k}
        ) subtables
        + lib.concatMapStrings (
          k:
          lib.concatMapStrings (
            t: "\n[[${lib.concatStringsSep "." (sub k)}]]\n" + table (sub k) t
          ) attrs.${k}
        ) arrays;
    in
    table [ ];

  # The value type of nixpkgs' `formats.toml { }`.
  tomlValue =
    with lib.types;
    let
      valueType =
        nullOr (oneOf [
          bool
          int
          float
          str
          path
          (attrsOf valueType)
          (listOf valueType)
        ])
        // {
          description = "TOML value";
        };
    in
    valueType;

  derivation' =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = storePath name (builtins.toJSON (builtins.removeAttrs extra [ "meta" ]));
    }
    // extra;

  # The package: only what the module reads (its main program, for lib.getExe).
  mvtopo = derivation' "mvtopo-stub" {
    meta.mainProgram = "mvtopo";
  };
in
rec {
  inherit toTOML storePath;

  pkgs = {
    inherit lib mvtopo;
    stdenv.hostPlatform.system = "x86_64-linux";

    formats.toml = _: {
      type = tomlValue;
      # The rendered file keeps its text, so the test can read it (and `mvtopo check` it).
      generate =
        name: value:
        derivation' name {
          text = toTOML value;
          tomlValue = value;
        };
    };

    # Records the build instead of running it: the test reads the command back and runs the
    # check itself on the rendered text.
    # `passthru` ends up on the result, as with mkDerivation.
    runCommand =
      name: env: script:
      derivation' name {
        inherit script;
        env = builtins.removeAttrs env [ "passthru" ];
      }
      // env.passthru or { };

    # The VM test's entry point: the test definition itself, to be evaluated node by node.
    testers.runNixOSTest = test: test;

    # What flake.nix reaches for.
    callPackage =
      f: args:
      let
        fn = if builtins.isFunction f then f else import f;
      in
      fn (builtins.intersectAttrs (builtins.functionArgs fn) pkgs // args);
    # What nix/package.nix takes besides rustPlatform: the build can run its own binary here.
    stdenv.buildPlatform.canExecute = _: true;
    installShellFiles = derivation' "install-shell-files" { };
    rustPlatform.buildRustPackage =
      args:
      derivation' "${args.pname}-${args.version}" {
        inherit (args) pname version meta postInstall;
        # The source set is not forced: building it needs a store.
        cargoLockFile = toString args.cargoLock.lockFile;
      };
    mkShell = args: derivation' "shell" { passthru = args; };
    nixfmt-tree = derivation' "nixfmt-tree" { meta.mainProgram = "treefmt"; };
  };

  # nixos/lib/utils.nix's escapeSystemdPath (what `systemd-escape --path` does): the path's
  # outer slashes dropped, the rest "/" -> "-", special characters and a leading "." as \xNN.
  utils.escapeSystemdPath =
    s:
    let
      trimmed = lib.removeSuffix "/" (lib.removePrefix "/" s);
      escaped = lib.strings.escapeC (lib.stringToCharacters " !\"#$%&'()*+,;<=>=@[\\]^`{|}~-") trimmed;
      dotted = if lib.hasPrefix "." escaped then "\\x2e" + lib.removePrefix "." escaped else escaped;
    in
    builtins.replaceStrings [ "/" ] [ "-" ] dotted;

  # The NixOS options the module sets, declared as NixOS declares them where the test reads
  # them (assertions, /etc, system packages, systemd services), and a freeform catch-all
  # for the rest of a NixOS configuration (the VM test's nodes set networking.* and
  # virtualisation.*).
  nixos =
    { lib, ... }:
    {
      freeformType = lib.types.attrsOf lib.types.anything;
      options = {
        assertions = lib.mkOption {
          type = lib.types.listOf lib.types.unspecified;
          default = [ ];
        };
        warnings = lib.mkOption {
          type = lib.types.listOf lib.types.str;
          default = [ ];
        };
        environment.systemPackages = lib.mkOption {
          type = lib.types.listOf lib.types.package;
          default = [ ];
        };
        environment.etc = lib.mkOption {
          type = lib.types.attrsOf (
            lib.types.submodule {
              options.source = lib.mkOption { type = lib.types.path; };
            }
          );
          default = { };
        };
        systemd.services = lib.mkOption {
          type = lib.types.attrsOf (
            lib.types.submodule {
              freeformType = lib.types.attrsOf lib.types.anything;
            }
          );
          default = { };
        };
      };
    };
}
