# NixOS module: a macvlan topology written as a Nix attrset, checked when the system is built
# and applied by a oneshot unit at boot, before the network is considered online.
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:
let
  cfg = config.services.mvtopo;
  format = pkgs.formats.toml { };

  # The topology's `name` owns what apply creates; set it from the option unless the
  # attrset names itself, so the owner never depends on a store path's file name.
  settings = {
    name = cfg.name;
  } // cfg.topology;

  rendered = format.generate "mvtopo-${cfg.name}.toml" settings;

  # `mvtopo check` needs no root and no kernel access: run it at build time, so a bad
  # topology fails `nixos-rebuild`, not the boot.
  checked =
    pkgs.runCommand "mvtopo-${cfg.name}.toml"
      {
        nativeBuildInputs = [ cfg.package ];
        preferLocalBuild = true;
      }
      ''
        mvtopo check ${rendered}
        cp ${rendered} $out
      '';

  # Existing NICs (parents without `create`) must have appeared before apply runs.
  nicParents = lib.attrNames (lib.filterAttrs (_: p: !(p ? create)) (settings.parent or { }));
  nicDevices = map (n: "sys-subsystem-net-devices-${utils.escapeSystemdPath n}.device") nicParents;

  mvtopo = lib.getExe cfg.package;
in
{
  options.services.mvtopo = {
    enable = lib.mkEnableOption "mvtopo, declarative macvlan topologies applied at boot";

    package = lib.mkOption {
      type = lib.types.package;
      description = "The mvtopo package (the flake's nixosModules.default sets its own build).";
    };

    name = lib.mkOption {
      type = lib.types.str;
      default = "nixos";
      description = ''
        The topology's name: objects that apply creates are owned by it, so other topologies
        on the host are never touched. Also names the file under /etc/mvtopo.
      '';
    };

    topology = lib.mkOption {
      inherit (format) type;
      default = { };
      description = ''
        The topology, as the TOML file format of mvtopo (spec/TOPOLOGY.md) written as a Nix
        attrset: keys in kebab-case, `macvlan` a list of attrsets. It is checked with
        `mvtopo check` when the system is built.
      '';
      example = lib.literalExpression ''
        {
          namespace.red = { };
          parent.eth1 = { };
          macvlan = [
            {
              name = "eth0";
              parent = "eth1";
              namespace = "red";
              mode = "bridge";
              addresses = [ "10.0.0.2/24" ];
            }
          ];
        }
      '';
    };

    destroyOnStop = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = ''
        Whether stopping the unit runs `mvtopo destroy`, deleting every object the topology
        owns (never an existing NIC). Off by default: a `nixos-rebuild switch` that restarts
        the unit would otherwise tear down and recreate every macvlan.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    environment.systemPackages = [ cfg.package ];

    # The file the unit applies, for `mvtopo plan` / `show` by hand.
    environment.etc."mvtopo/${cfg.name}.toml".source = checked;

    systemd.services.mvtopo = {
      description = "mvtopo: apply the ${cfg.name} macvlan topology";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-pre.target" ];
      after = [ "network-pre.target" ] ++ nicDevices;
      bindsTo = nicDevices;
      before = [
        "network.target"
        "network-online.target"
      ];
      # A changed topology is re-applied in place on switch (apply changes only what differs,
      # and deletes what left the file) instead of a stop/start that could destroy first.
      reloadIfChanged = true;
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${mvtopo} apply ${checked}";
        ExecReload = "${mvtopo} apply ${checked}";
        ExecStop = lib.mkIf cfg.destroyOnStop "${mvtopo} destroy ${checked}";
        # No PrivateMounts/ProtectSystem: named namespaces are bind mounts under /run/netns
        # that must stay visible to the rest of the system.
      };
    };
  };
}
