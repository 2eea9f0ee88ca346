# NixOS module: macvlan topologies written as Nix attrsets, each checked with `mvtopo check`
# when the system is built and applied at boot by its own unit, before network.target.
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:
let
  inherit (lib) mkOption types;

  cfg = config.services.mvtopo;
  format = pkgs.formats.toml { };

  # What the typed options below leave to the freeform escape hatch: keys this module does
  # not know yet are passed through to the file unchanged, and `mvtopo check` judges them.
  freeform = format.type;

  nullOr' =
    type: description:
    mkOption {
      type = types.nullOr type;
      default = null;
      inherit description;
    };

  macAddress = types.strMatching "[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}";
  mtu = types.ints.between 68 65535;

  routeType = types.submodule {
    freeformType = freeform;
    options = {
      to = mkOption {
        type = types.str;
        description = ''The destination: a CIDR such as "10.1.0.0/16", or "default".'';
      };
      via = nullOr' types.str "The gateway. Without it, the route is on-link (directly on the macvlan).";
      metric = nullOr' types.ints.unsigned "The route's metric (priority); lower wins.";
    };
  };

  parentType = types.submodule {
    freeformType = freeform;
    options = {
      create = nullOr' (types.enum [
        "veth"
        "dummy"
        "vlan"
        "bridge"
      ]) "Create this parent (and destroy it with the topology). Without it, the parent is an existing NIC: never created or deleted, only brought up (and its MTU set when `mtu` is given).";
      mtu = nullOr' mtu "The parent's MTU.";
      namespace = nullOr' types.str "A key of `settings.namespace` the parent lives in (default: the namespace mvtopo runs in, the host's): an existing interface there, or one created there. Macvlans on it are made through that namespace and go into their own.";
      peer = nullOr' types.str ''For `create = "veth"`: the peer's name (default: the parent's name followed by "p").'';
      peer-namespace = nullOr' types.str ''For `create = "veth"`: a namespace of `settings.namespace` to put the peer into.'';
      link = nullOr' types.str ''For `create = "vlan"`: the parent (of `settings.parent`) the VLAN sits on.'';
      vlan-id = nullOr' (types.ints.between 1 4094) ''For `create = "vlan"`: the 802.1Q VLAN id.'';
      ports = nullOr' (types.listOf types.str) ''For `create = "bridge"`: the veths of `settings.parent` (either end, in the host's namespace) enslaved to the bridge.'';
    };
  };

  macvlanType = types.submodule {
    freeformType = freeform;
    options = {
      name = mkOption {
        type = types.str;
        description = "The interface name (at most 15 bytes). Identity is (namespace, name).";
      };
      parent = mkOption {
        type = types.str;
        description = "The parent interface: a key of `settings.parent`.";
      };
      namespace = nullOr' types.str "A key of `settings.namespace` to create the macvlan in (default: the namespace mvtopo runs in, the host's).";
      kind = nullOr' (types.enum [
        "macvlan"
        "macvtap"
      ]) ''"macvtap": the same link, whose frames go to a character device /dev/tapN that a VM's hypervisor (QEMU, libvirt) opens (default "macvlan"). A change of kind replaces the link.'';
      mode = nullOr' (types.enum [
        "vepa"
        "bridge"
        "private"
        "passthru"
        "source"
      ]) ''The macvlan mode (default "vepa", as in the kernel).'';
      mac = nullOr' macAddress "A unicast MAC address (default: the kernel picks one, and it is kept).";
      mtu = nullOr' mtu "The MTU, at most the parent's.";
      up = nullOr' types.bool "Whether the link is up (default true).";
      addresses = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [
          "10.0.0.2/24"
          "fd00::2/64"
        ];
        description = "Addresses with their prefix length, IPv4 or IPv6.";
      };
      routes = mkOption {
        type = types.listOf routeType;
        default = [ ];
        example = [
          {
            to = "default";
            via = "10.0.0.1";
          }
        ];
        description = "Routes through this macvlan.";
      };
      source-macs = nullOr' (types.listOf macAddress) ''The MAC addresses a `mode = "source"` macvlan receives from (required for source mode, and only allowed there).'';
      flags = nullOr' (types.listOf (
        types.enum [
          "nopromisc"
          "nodst"
        ]
      )) ''Macvlan flags, each in its own mode only: "nopromisc" (passthru: the parent is not made promiscuous), "nodst" (source: only frames from `source-macs`, not also those addressed to the macvlan's own MAC).'';
      bcqueuelen = nullOr' types.ints.u32 "The length of the queue broadcast and multicast frames wait in, as this macvlan asks for it (the kernel's default 1000; the parent uses the largest asked for). Linux 5.11 or newer.";
      bc-cutoff = nullOr' types.ints.s32 "The parent's broadcast cutoff (one value per parent): a multicast address more macvlans on the parent listen to than this goes through the broadcast queue; negative: nothing is queued (the kernel's default 1). Linux 6.4 or newer.";
    };
  };

  topologyType = types.submodule (
    { name, ... }:
    {
      options = {
        settings = mkOption {
          description = ''
            The topology, in mvtopo's file format written as a Nix attrset (keys in
            kebab-case, `macvlan` a list). It is rendered to TOML and checked with
            `mvtopo check` when the system is built: a bad topology fails the build, not the
            boot. Keys this module does not type are passed through as written.
          '';
          default = { };
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
                  routes = [ { to = "default"; via = "10.0.0.1"; } ];
                }
              ];
            }
          '';
          type = types.submodule {
            freeformType = freeform;
            options = {
              name = mkOption {
                type = types.str;
                default = name;
                defaultText = lib.literalMD "the attribute name under `topologies`";
                description = "The owner of everything apply creates: other topologies' objects are never touched.";
              };
              namespace = mkOption {
                type = types.attrsOf (types.submodule { freeformType = freeform; });
                default = { };
                example = {
                  red = { };
                };
                description = "Named network namespaces (like `ip netns add`), created when missing.";
              };
              parent = mkOption {
                type = types.attrsOf parentType;
                default = { };
                description = "The interfaces macvlans hang off: existing NICs, or lab parents to create.";
              };
              macvlan = mkOption {
                type = types.listOf macvlanType;
                default = [ ];
                description = "The macvlans.";
              };
            };
          };
        };

        destroyOnStop = mkOption {
          type = types.bool;
          default = false;
          description = ''
            Whether stopping the unit runs `mvtopo destroy`, deleting every object the
            topology owns (never an existing NIC). This includes removing the topology from the
            configuration. Off by default, so that a stop never takes the macvlans away.
          '';
        };
      };
    }
  );

  # The attrset as the file has it: unset options (null) are left out, and so are empty
  # address and route lists, so /etc/mvtopo/NAME.toml reads like a hand-written file.
  dropNulls = lib.filterAttrs (_: v: v != null);
  fileOf =
    s:
    dropNulls (
      s
      // {
        parent = lib.mapAttrs (_: dropNulls) s.parent;
        macvlan = map (
          m:
          lib.filterAttrs (k: v: v != null && !(builtins.elem k [ "addresses" "routes" ] && v == [ ])) (
            m // { routes = map dropNulls m.routes; }
          )
        ) s.macvlan;
      }
    );

  mvtopo = lib.getExe cfg.package;

  perTopology = lib.mapAttrs (
    name: t:
    let
      file = fileOf t.settings;
      rendered = format.generate "mvtopo-${name}.toml" file;
      # `mvtopo check` needs no root and no kernel: run at build time, so a bad topology
      # fails `nixos-rebuild`, not the boot.
      checked =
        pkgs.runCommand "mvtopo-${name}.toml"
          {
            nativeBuildInputs = [ cfg.package ];
            preferLocalBuild = true;
            # The file before the check, for inspection (and the evaluation test).
            passthru = { inherit rendered; };
          }
          ''
            mvtopo check ${rendered}
            cp ${rendered} $out
          '';
      # Existing NICs (parents without `create`) must have appeared before apply runs.
      nics = lib.attrNames (lib.filterAttrs (_: p: p.create == null) t.settings.parent);
      nicDevices = map (n: "sys-subsystem-net-devices-${utils.escapeSystemdPath n}.device") nics;
    in
    {
      inherit
        file
        checked
        nicDevices
        ;
      path = "/etc/mvtopo/${name}.toml";
    }
  ) cfg.topologies;

  # Assertions: the references Nix can already see, so they fail the evaluation with the
  # option's path rather than the build of the checked file.
  referenceAssertions = lib.concatLists (
    lib.mapAttrsToList (
      name: t:
      let
        s = t.settings;
        at = "services.mvtopo.topologies.${name}.settings";
        declared = set: x: x == null || builtins.hasAttr x set;
      in
      lib.concatMap (m: [
        {
          assertion = declared s.parent m.parent;
          message = ''${at}: macvlan "${m.name}" has parent = "${m.parent}", which is not declared in ${at}.parent (add parent."${m.parent}" = { };).'';
        }
        {
          assertion = declared s.namespace m.namespace;
          message = ''${at}: macvlan "${m.name}" has namespace = "${toString m.namespace}", which is not declared in ${at}.namespace (add namespace."${toString m.namespace}" = { };).'';
        }
      ]) s.macvlan
      ++ lib.concatLists (
        lib.mapAttrsToList (pname: p: [
          {
            assertion = declared s.parent p.link;
            message = ''${at}: parent "${pname}" has link = "${toString p.link}", which is not declared in ${at}.parent.'';
          }
          {
            assertion = declared s.namespace p.namespace;
            message = ''${at}: parent "${pname}" has namespace = "${toString p.namespace}", which is not declared in ${at}.namespace (add namespace."${toString p.namespace}" = { };).'';
          }
          {
            assertion = declared s.namespace p.peer-namespace;
            message = ''${at}: parent "${pname}" has peer-namespace = "${toString p.peer-namespace}", which is not declared in ${at}.namespace.'';
          }
        ]) s.parent
      )
    ) cfg.topologies
  );

  # Two topologies that both create a namespace, or an interface in the host's namespace
  # (a parent, a veth's peer left there, a macvlan without a namespace), would race for it
  # at boot: the second apply finds a foreign object in its way and fails. (An interface in
  # a named namespace cannot collide: namespaces are not shared.)
  sharedAssertions =
    kind: created:
    let
      byObject = lib.foldl' (
        acc: t: lib.foldl' (a: o: a // { ${o} = (a.${o} or [ ]) ++ [ t ]; }) acc (lib.unique (created t))
      ) { } (lib.attrNames cfg.topologies);
    in
    lib.mapAttrsToList (o: ts: {
      assertion = builtins.length ts < 2;
      message = "services.mvtopo.topologies: ${kind} \"${o}\" is created by more than one topology (${lib.concatStringsSep ", " ts}); declare it in one of them only.";
    }) byObject;
  namespacesOf = t: lib.attrNames cfg.topologies.${t}.settings.namespace;
  hostInterfacesOf =
    t:
    let
      s = cfg.topologies.${t}.settings;
      created = lib.filterAttrs (_: p: p.create != null) s.parent;
    in
    lib.attrNames (lib.filterAttrs (_: p: p.namespace == null) created)
    # A veth's peer stays in the host without peer-namespace, wherever the veth is.
    ++ lib.concatLists (
      lib.mapAttrsToList (
        name: p:
        lib.optional (p.create == "veth" && p.peer-namespace == null) (
          if p.peer != null then p.peer else "${name}p"
        )
      ) created
    )
    ++ map (m: m.name) (lib.filter (m: m.namespace == null) s.macvlan);
in
{
  imports = [
    (lib.mkRemovedOptionModule [
      "services"
      "mvtopo"
      "topology"
    ] "Write the topology as services.mvtopo.topologies.<name>.settings instead.")
    (lib.mkRemovedOptionModule [
      "services"
      "mvtopo"
      "name"
    ] "The name is now the attribute name of services.mvtopo.topologies.<name>.")
  ];

  options.services.mvtopo = {
    enable = lib.mkEnableOption "mvtopo, declarative macvlan topologies applied at boot";

    package = lib.mkPackageOption pkgs "mvtopo" { };

    topologies = mkOption {
      type = types.attrsOf topologyType;
      default = { };
      description = ''
        Macvlan topologies, by name. Each becomes /etc/mvtopo/NAME.toml and a unit
        mvtopo-NAME.service that applies it at boot, before network.target; reloading the unit
        (as a changed topology does on switch) applies it again, changing only what differs.
        The name owns what the topology creates, so topologies never touch each other's
        objects.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions =
      referenceAssertions
      ++ sharedAssertions "namespace" namespacesOf
      ++ sharedAssertions "interface" hostInterfacesOf;

    environment.systemPackages = [ cfg.package ];

    environment.etc = lib.mapAttrs' (
      name: p: lib.nameValuePair "mvtopo/${name}.toml" { source = p.checked; }
    ) perTopology;

    systemd.services = lib.mapAttrs' (
      name: p:
      lib.nameValuePair "mvtopo-${name}" {
        description = "mvtopo: macvlan topology ${name} (${p.path})";
        # Without default dependencies the unit can run before basic.target, as nixpkgs'
        # scripted networking units (network-setup.service) do; the ordering below is what
        # they use instead: after network-pre.target (firewalls), udev (device names) and
        # sysctl, before network.target, and stopped before shutdown.
        unitConfig.DefaultDependencies = false;
        # Containers without CAP_NET_ADMIN skip the unit instead of failing it.
        unitConfig.ConditionCapability = "CAP_NET_ADMIN";
        wantedBy = [
          "network.target"
          "multi-user.target"
        ];
        wants = [ "network.target" ];
        after = [
          "network-pre.target"
          "systemd-udevd.service"
          "systemd-sysctl.service"
        ]
        ++ p.nicDevices;
        # An existing NIC the topology hangs off must exist first; if it goes away, so does
        # the unit (as nixpkgs' network-addresses-* units bind to their device).
        bindsTo = p.nicDevices;
        before = [
          "network.target"
          "shutdown.target"
        ];
        conflicts = [ "shutdown.target" ];
        # A changed topology is re-applied in place on switch (apply changes only what
        # differs, and deletes what left the file) instead of a stop/start that could
        # destroy first. The unit applies /etc/mvtopo/NAME.toml, the path users see, so the
        # checked file's store path triggers the reload.
        reloadIfChanged = true;
        reloadTriggers = [ p.checked ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${mvtopo} apply ${p.path}";
          ExecReload = "${mvtopo} apply ${p.path}";
          # destroy only needs the owner's name, which the store file has whatever /etc holds
          # by then (a topology removed from the configuration is stopped after /etc changed).
          ExecStop = lib.mkIf cfg.topologies.${name}.destroyOnStop "${mvtopo} destroy ${p.checked}";

          # Hardening. mvtopo talks rtnetlink (CAP_NET_ADMIN), enters and creates network
          # namespaces with setns/unshare and bind-mounts them under /run/netns
          # (CAP_SYS_ADMIN); nothing else.
          CapabilityBoundingSet = [
            "CAP_NET_ADMIN"
            "CAP_SYS_ADMIN"
          ];
          NoNewPrivileges = true;
          # Netlink only; AF_UNIX for the journal and libc's lookups.
          RestrictAddressFamilies = [
            "AF_NETLINK"
            "AF_UNIX"
          ];
          # It makes network namespaces and enters them; no other kind.
          RestrictNamespaces = "net";
          # No IP traffic of its own.
          IPAddressDeny = "any";
          # A plain native Rust program: no other personality or ABI, no JIT (no writable
          # executable memory), no realtime scheduling, no setuid files to make.
          LockPersonality = true;
          MemoryDenyWriteExecute = true;
          RestrictRealtime = true;
          RestrictSUIDSGID = true;
          SystemCallArchitectures = "native";
          # What it creates under /run (its lock, namespace markers) as when run by hand.
          UMask = "0022";
          # Deliberately absent: ProtectSystem, ProtectHome, PrivateTmp, PrivateDevices,
          # PrivateMounts, ProtectKernelTunables/Modules/Logs, ProtectControlGroups,
          # ProtectProc, ReadOnlyPaths and the like. Each runs the service in a mount namespace
          # of its own (a slave of the host's), so the /run/netns/NAME bind mounts that make
          # named namespaces would be made there and never seen by the rest of the system.
        };
      }
    ) perTopology;
  };
}
