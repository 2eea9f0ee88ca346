# The module evaluation test: nix/module.nix evaluated with nixpkgs' lib (lib.evalModules),
# only the NixOS options it sets and the pkgs attributes it uses stubbed (stubs.nix).
# nix/tests/eval.sh runs it; the flake's checks run it too, with the flake's nixpkgs lib.
#
#   cases.NAME.problems   what differs from the expectations (none, when it passes)
#   cases.NAME.files      the /etc/mvtopo files of passing configurations: the rendered text
#                         and the build-time check recorded for it, which eval.sh runs with
#                         the real mvtopo (cases whose files use keys mvtopo does not
#                         implement yet set check = false)
#   report                all of it as text for eval.sh (lines starting "@@ ")
#   badMode               a configuration the option types must refuse: evaluating it fails
{ lib }:
let
  stubs = import ./stubs.nix { inherit lib; };
  module = ../module.nix;
  pkg = stubs.pkgs.mvtopo;
  bin = "${pkg}/bin/mvtopo";

  evalConfig =
    pkgs: modules:
    (lib.evalModules {
      modules = [
        stubs.nixos
        module
      ]
      ++ modules;
      specialArgs = {
        inherit pkgs;
        inherit (stubs) utils;
      };
    }).config;
  eval = modules: evalConfig stubs.pkgs ([ { services.mvtopo.enable = true; } ] ++ modules);
  topologies = t: { services.mvtopo.topologies = t; };

  failed = config: map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);

  expect =
    what: actual: expected:
    lib.optional (actual != expected)
      "${what}: expected ${builtins.toJSON expected}, got ${builtins.toJSON actual}";
  expectIn =
    what: list: x:
    lib.optional (!(builtins.elem x list)) "${what}: ${builtins.toJSON x} not in ${builtins.toJSON list}";
  expectNotIn =
    what: list: x:
    lib.optional (builtins.elem x list) "${what}: ${builtins.toJSON x} must not be in ${builtins.toJSON list}";
  expectMatches =
    what: regex: list:
    lib.optional (!(lib.any (s: builtins.match regex s != null) list))
      "${what}: nothing matches ${builtins.toJSON regex} in ${builtins.toJSON list}";

  # The /etc/mvtopo files of a configuration, read back through the recorded build.
  filesOf =
    config:
    lib.mapAttrs' (
      path: e:
      let
        checked = e.source;
        rendered = checked.rendered;
      in
      lib.nameValuePair (lib.removePrefix "mvtopo/" path) {
        inherit (rendered) text tomlValue;
        renderedPath = rendered.outPath;
        checkedPath = checked.outPath;
        inherit (checked) script;
        packages = map (p: p.outPath) checked.env.nativeBuildInputs;
      }
    ) (lib.filterAttrs (p: _: lib.hasPrefix "mvtopo/" p) config.environment.etc);

  # Every file: checked at build time by the module's package, with the rendered file.
  fileProblems =
    config:
    lib.concatLists (
      lib.mapAttrsToList (name: f: lib.concatLists [
        (expectIn "${name}: the check's tools" f.packages pkg.outPath)
        (expectMatches "${name}: the recorded build" "mvtopo check ${f.renderedPath}\n.*" [ f.script ])
        (expect "${name}: the name key (the owner)" (f.tomlValue.name or null) (lib.removeSuffix ".toml" name))
      ]) (filesOf config)
    );

  # What every topology's unit must have, whatever the topology.
  unitProblems =
    config: name: devices:
    let
      u = config.systemd.services."mvtopo-${name}";
      sc = u.serviceConfig;
      what = "mvtopo-${name}.service";
      file = config.environment.etc."mvtopo/${name}.toml".source;
    in
    lib.concatLists [
      (expect "${what} DefaultDependencies" u.unitConfig.DefaultDependencies false)
      (expect "${what} ExecStart" sc.ExecStart "${bin} apply /etc/mvtopo/${name}.toml")
      (expect "${what} ExecReload" sc.ExecReload sc.ExecStart)
      (expect "${what} Type" sc.Type "oneshot")
      (expect "${what} RemainAfterExit" sc.RemainAfterExit true)
      (expect "${what} reloadIfChanged" u.reloadIfChanged true)
      (expect "${what} reloadTriggers (the checked file)" u.reloadTriggers [ file ])
      (expect "${what} bindsTo" u.bindsTo devices)
      (expect "${what} CapabilityBoundingSet" sc.CapabilityBoundingSet [
        "CAP_NET_ADMIN"
        "CAP_SYS_ADMIN"
      ])
      (expectIn "${what} before" u.before "network.target")
      (expectIn "${what} before" u.before "shutdown.target")
      (expectIn "${what} conflicts" u.conflicts "shutdown.target")
      (expectIn "${what} after" u.after "network-pre.target")
      (lib.concatMap (d: expectIn "${what} after" u.after d) devices)
      (expectIn "${what} wantedBy" u.wantedBy "multi-user.target")
      # each of these would hide the /run/netns mounts from the host
      (lib.concatMap (k: expectNotIn "${what} serviceConfig" (lib.attrNames sc) k) [
        "ProtectSystem"
        "ProtectHome"
        "PrivateTmp"
        "PrivateMounts"
        "PrivateDevices"
        "ProtectKernelTunables"
        "ReadOnlyPaths"
        "TemporaryFileSystem"
      ])
      (expectNotIn "${what}: description cites no repository file" [ true ] (
        lib.hasInfix "spec/" u.description || lib.hasInfix "shared/" u.description
      ))
    ];

  eth1 = "sys-subsystem-net-devices-eth1.device";

  pair = {
    namespace.a = { };
    namespace.b = { };
    parent.eth1 = { };
    macvlan = [
      {
        name = "mva";
        parent = "eth1";
        namespace = "a";
        mode = "bridge";
        mac = "02:00:00:00:01:01";
        addresses = [
          "10.0.0.1/24"
          "fd00::1/64"
        ];
        routes = [
          {
            to = "default";
            via = "10.0.0.254";
          }
        ];
      }
      {
        name = "mvb";
        parent = "eth1";
        namespace = "b";
        mode = "vepa";
        addresses = [ "10.0.0.2/24" ];
      }
    ];
  };

  # ---------------------------------------------------------------- the cases
  cases = {
    # One topology: its unit, its file, and the file exactly as the module renders it.
    one =
      let
        c = eval [ (topologies { lab.settings = pair; }) ];
      in
      {
        config = c;
        problems = lib.concatLists [
          (expect "failed assertions" (failed c) [ ])
          (expect "units" (lib.attrNames c.systemd.services) [ "mvtopo-lab" ])
          (expect "/etc files" (lib.attrNames c.environment.etc) [ "mvtopo/lab.toml" ])
          (expectIn "system packages" c.environment.systemPackages pkg)
          (unitProblems c "lab" [ eth1 ])
          (expectNotIn "mvtopo-lab.service without destroyOnStop: ExecStop" (lib.attrNames
            c.systemd.services.mvtopo-lab.serviceConfig
          ) "ExecStop")
          (fileProblems c)
          # unset options are left out, and so are empty address and route lists
          (expect "the rendered topology" (filesOf c)."lab.toml".tomlValue {
            name = "lab";
            namespace.a = { };
            namespace.b = { };
            parent.eth1 = { };
            macvlan = [
              {
                name = "mva";
                parent = "eth1";
                namespace = "a";
                mode = "bridge";
                mac = "02:00:00:00:01:01";
                addresses = [
                  "10.0.0.1/24"
                  "fd00::1/64"
                ];
                routes = [
                  {
                    to = "default";
                    via = "10.0.0.254";
                  }
                ];
              }
              {
                name = "mvb";
                parent = "eth1";
                namespace = "b";
                mode = "vepa";
                addresses = [ "10.0.0.2/24" ];
              }
            ];
          })
        ];
      };

    # Two topologies: a unit and a file each; both may use the same existing NIC; the one
    # with destroyOnStop destroys on stop; a NIC name with "-" gets systemd's escaping.
    two =
      let
        c = eval [
          (topologies {
            lab.settings = pair;
            edge = {
              destroyOnStop = true;
              settings = {
                namespace.c = { };
                parent.eth1 = { };
                parent."wan-0" = {
                  mtu = 9000;
                };
                parent.lab0 = {
                  create = "veth";
                  peer-namespace = "c";
                };
                parent.lab1.create = "veth";
                parent.sw0 = {
                  create = "bridge";
                  ports = [ "lab1p" ];
                };
                macvlan = [
                  {
                    name = "mvs";
                    parent = "sw0";
                    mode = "bridge";
                    addresses = [ "10.2.0.1/24" ];
                    routes = [
                      {
                        to = "10.3.0.0/16";
                        via = "10.2.0.254";
                        metric = 100;
                      }
                      { to = "10.4.0.0/16"; }
                    ];
                  }
                  {
                    name = "mvc";
                    parent = "eth1";
                    namespace = "c";
                    mode = "private";
                    addresses = [ "10.1.0.1/24" ];
                  }
                  {
                    name = "mvw";
                    parent = "wan-0";
                    mode = "source";
                    source-macs = [ "02:00:00:00:00:aa" ];
                  }
                  {
                    name = "mvl";
                    parent = "lab0";
                    up = false;
                    mtu = 1400;
                  }
                ];
              };
            };
          })
        ];
        edgeDevices = [
          eth1
          "sys-subsystem-net-devices-wan\\x2d0.device"
        ];
      in
      {
        config = c;
        problems = lib.concatLists [
          (expect "failed assertions" (failed c) [ ])
          (expect "units" (lib.attrNames c.systemd.services) [
            "mvtopo-edge"
            "mvtopo-lab"
          ])
          (expect "/etc files" (lib.attrNames c.environment.etc) [
            "mvtopo/edge.toml"
            "mvtopo/lab.toml"
          ])
          (unitProblems c "lab" [ eth1 ])
          # the created veth is no device to wait for
          (unitProblems c "edge" edgeDevices)
          (expect "mvtopo-edge.service ExecStop" c.systemd.services.mvtopo-edge.serviceConfig.ExecStop
            "${bin} destroy ${c.environment.etc."mvtopo/edge.toml".source}"
          )
          (fileProblems c)
          (expect "the files differ" (
            (filesOf c)."lab.toml".checkedPath == (filesOf c)."edge.toml".checkedPath
          ) false)
        ];
      };

    # Nix sees a macvlan's undeclared parent and namespace (and a vlan's link, a veth's peer
    # namespace, a parent's namespace): assertions name the option path.
    undeclared =
      let
        c = eval [
          (topologies {
            lab.settings = {
              parent.eth1 = { };
              parent."eth1.10" = {
                create = "vlan";
                link = "eth7";
                vlan-id = 10;
              };
              parent.lab0 = {
                create = "veth";
                peer-namespace = "sw";
              };
              parent.lab1 = {
                namespace = "blue";
                create = "veth";
              };
              macvlan = [
                {
                  name = "mva";
                  parent = "eth9";
                  namespace = "red";
                }
              ];
            };
          })
        ];
        f = failed c;
        at = "services\\.mvtopo\\.topologies\\.lab\\.settings";
      in
      {
        config = c;
        check = false;
        problems = lib.concatLists [
          (expect "failed assertions" (builtins.length f) 5)
          (expectMatches "undeclared parent" ''${at}: macvlan "mva" has parent = "eth9", which is not declared.*'' f)
          (expectMatches "undeclared namespace" ''${at}: macvlan "mva" has namespace = "red", which is not declared.*'' f)
          (expectMatches "undeclared vlan link" ''${at}: parent "eth1\.10" has link = "eth7".*'' f)
          (expectMatches "undeclared peer namespace" ''${at}: parent "lab0" has peer-namespace = "sw".*'' f)
          (expectMatches "undeclared parent namespace" ''${at}: parent "lab1" has namespace = "blue", which is not declared.*'' f)
        ];
      };

    # Two topologies that create the same namespace, or the same interface in the host's
    # namespace (a parent, a veth's default-named peer, a macvlan), are refused; sharing an
    # existing NIC is not, nor are equal names in different namespaces (a parent in one).
    shared =
      let
        c = eval [
          (topologies {
            lab.settings = pair;
            other.settings = {
              namespace.a = { };
              parent.eth1 = { };
              parent.lab0.create = "dummy";
              macvlan = [
                {
                  name = "shim0";
                  parent = "eth1";
                }
              ];
            };
            third.settings = {
              namespace.c = { };
              parent.eth1 = { };
              parent.lab0.create = "dummy";
              parent.v0 = {
                create = "veth";
                peer-namespace = "c";
              };
              macvlan = [
                {
                  name = "shim0";
                  parent = "eth1";
                }
                # the same name as lab's, in another namespace: no conflict
                {
                  name = "mva";
                  parent = "eth1";
                  namespace = "c";
                }
              ];
            };
            fourth.settings.parent.v0.create = "veth";
            fifth.settings.parent.v0p.create = "dummy";
            # lab0 again, but in a namespace of its own: no conflict.
            sixth.settings = {
              namespace.x = { };
              parent.lab0 = {
                namespace = "x";
                create = "veth";
                peer-namespace = "x";
              };
            };
          })
        ];
        f = failed c;
        shared = what: ts: ''services\.mvtopo\.topologies: ${what} is created by more than one topology \(${ts}\).*'';
      in
      {
        config = c;
        check = false;
        problems = lib.concatLists [
          (expect "failed assertions" (builtins.length f) 5)
          (expectMatches "shared namespace" (shared ''namespace "a"'' "lab, other") f)
          (expectMatches "shared created parent" (shared ''interface "lab0"'' "other, third") f)
          (expectMatches "shared host macvlan" (shared ''interface "shim0"'' "other, third") f)
          (expectMatches "shared veth" (shared ''interface "v0"'' "fourth, third") f)
          (expectMatches "a veth's default peer name" (shared ''interface "v0p"'' "fifth, fourth") f)
        ];
      };

    # The old single-topology options fail with a pointer to the new ones.
    removed =
      let
        c = eval [ { services.mvtopo.topology.macvlan = [ ]; } ];
      in
      {
        config = c;
        problems = expectMatches "the removed option" ".*services\\.mvtopo\\.topology.*services\\.mvtopo\\.topologies\\.<name>\\.settings.*" (failed c);
      };

    # Disabled: nothing at all.
    disabled =
      let
        c = evalConfig stubs.pkgs [ (topologies { lab.settings = pair; }) ];
      in
      {
        config = c;
        problems = lib.concatLists [
          (expect "units" c.systemd.services { })
          (expect "/etc files" c.environment.etc { })
          (expect "assertions" (failed c) [ ])
        ];
      };

    # The macvlan driver's keys (kind, flags, the broadcast queue), typed and rendered as
    # written; mvtopo checks the file at build time.
    driverKeys =
      let
        c = eval [
          (topologies {
            vms.settings = {
              parent.eth1 = { };
              parent.eth2 = { };
              macvlan = [
                {
                  name = "vm1-net0";
                  parent = "eth1";
                  kind = "macvtap";
                  mode = "bridge";
                  mac = "52:54:00:00:01:01";
                  bcqueuelen = 2000;
                  bc-cutoff = -1;
                }
                {
                  name = "vm2-net0";
                  parent = "eth2";
                  kind = "macvtap";
                  mode = "passthru";
                  flags = [ "nopromisc" ];
                }
              ];
            };
          })
        ];
        m = builtins.head (filesOf c)."vms.toml".tomlValue.macvlan;
      in
      {
        config = c;
        problems = lib.concatLists [
          (expect "failed assertions" (failed c) [ ])
          (expect "the rendered macvtap" m {
            name = "vm1-net0";
            parent = "eth1";
            kind = "macvtap";
            mode = "bridge";
            mac = "52:54:00:00:01:01";
            bcqueuelen = 2000;
            bc-cutoff = -1;
          })
        ];
      };

    # The keys of the newest format version are typed (a wrong value is refused), and keys the
    # module does not know pass through to the file. mvtopo does not read these yet: no check.
    newKeys =
      let
        c = eval [
          (topologies {
            lab.settings = {
              parent.eth1 = { };
              macvlan = [
                {
                  name = "mvt";
                  parent = "eth1";
                  kind = "macvtap";
                  mode = "passthru";
                  flags = [ "nopromisc" ];
                  bcqueuelen = 1000;
                  bc-cutoff = 4;
                  addresses = [ "10.0.0.1/24" ];
                  routes = [
                    { to = "10.2.0.0/16"; }
                    {
                      to = "default";
                      via = "10.0.0.254";
                      metric = 100;
                    }
                  ];
                  future-key = "as written";
                }
              ];
            };
          })
        ];
        m = builtins.head (filesOf c)."lab.toml".tomlValue.macvlan;
      in
      {
        config = c;
        check = false;
        problems = lib.concatLists [
          (expect "failed assertions" (failed c) [ ])
          (expect "the rendered macvlan" m {
            name = "mvt";
            parent = "eth1";
            kind = "macvtap";
            mode = "passthru";
            flags = [ "nopromisc" ];
            bcqueuelen = 1000;
            bc-cutoff = 4;
            addresses = [ "10.0.0.1/24" ];
            routes = [
              { to = "10.2.0.0/16"; }
              {
                to = "default";
                via = "10.0.0.254";
                metric = 100;
              }
            ];
            future-key = "as written";
          })
        ];
      };

    # The option documentation, as the NixOS manual renders it: every option (submodules'
    # included) has a description, and its type, default and example render.
    docs =
      let
        options =
          (lib.evalModules {
            modules = [
              stubs.nixos
              module
            ];
            specialArgs = {
              inherit (stubs) pkgs utils;
            };
          }).options;
        docs = lib.filter (o: o.visible && !o.internal) (lib.optionAttrSetToDocList options.services.mvtopo);
        names = map (o: o.name) docs;
      in
      {
        config.environment.etc = { };
        problems = lib.concatLists [
          (lib.concatMap (
            o: lib.optional ((o.description or null) == null || o.description == "") "${o.name}: no description"
          ) docs)
          (expectIn "documented options" names "services.mvtopo.topologies.<name>.settings.macvlan.*.mode")
          (expectIn "documented options" names "services.mvtopo.topologies.<name>.settings.macvlan.*.routes.*.metric")
          (expectIn "documented options" names "services.mvtopo.topologies.<name>.settings.macvlan.*.kind")
          (expectIn "documented options" names "services.mvtopo.topologies.<name>.settings.macvlan.*.flags")
          (expectIn "documented options" names "services.mvtopo.topologies.<name>.settings.macvlan.*.bc-cutoff")
          (expectIn "documented options" names "services.mvtopo.topologies.<name>.settings.parent.<name>.ports")
          (expectIn "documented options" names "services.mvtopo.topologies.<name>.destroyOnStop")
          (expectIn "documented options" names "services.mvtopo.package")
          # forces every type description, default and example to render
          (expect "rendered" (builtins.stringLength (builtins.toJSON docs) > 0) true)
        ];
      };

    # The NixOS VM test (nix/vm-test.nix): each node's configuration evaluated through the
    # module, and every unit the test script waits for exists.
    vmTest =
      let
        test = import ../vm-test.nix {
          pkgs = stubs.pkgs;
          inherit module;
        };
        nodes = lib.mapAttrs (_: n: evalConfig stubs.pkgs [ n ]) test.nodes;
        waited = lib.concatMap (
          l:
          let
            m = builtins.match ''.*wait_for_unit\("(mvtopo-[^"]*)\.service"\).*'' l;
          in
          lib.optional (m != null) (builtins.head m)
        ) (lib.splitString "\n" test.testScript);
        units = lib.unique (lib.concatMap (c: lib.attrNames c.systemd.services) (lib.attrValues nodes));
      in
      {
        config = {
          environment.etc = lib.foldl' (a: b: a // b) { } (
            lib.mapAttrsToList (
              node: c: lib.mapAttrs' (p: v: lib.nameValuePair "mvtopo/${node}-${lib.removePrefix "mvtopo/" p}" v) c.environment.etc
            ) nodes
          );
        };
        problems = lib.concatLists [
          (expect "nodes" (lib.attrNames test.nodes) [
            "a"
            "b"
          ])
          (lib.concatLists (lib.mapAttrsToList (n: c: expect "node ${n}: failed assertions" (failed c) [ ]) nodes))
          (expect "node a units" (lib.attrNames nodes.a.systemd.services) [
            "mvtopo-bridged"
            "mvtopo-vepa"
          ])
          (expect "node b units" (lib.attrNames nodes.b.systemd.services) [ "mvtopo-vepa" ])
          (lib.concatMap (u: expectIn "units the test script waits for" units u) waited)
          (expect "the test script waits for some unit" (waited != [ ]) true)
          (unitProblems nodes.a "bridged" [ eth1 ])
          (unitProblems nodes.b "vepa" [ eth1 ])
          (expect "the modes on a's topology bridged" (map (m: m.mode) (filesOf nodes.a)."bridged.toml".tomlValue.macvlan) [
            "bridge"
            "bridge"
          ])
          (expect "the modes on b" (map (m: m.mode) (filesOf nodes.b)."vepa.toml".tomlValue.macvlan) [
            "vepa"
            "vepa"
          ])
          (expect "test name" test.name "mvtopo-macvlan")
        ];
      };

    # flake.nix, evaluated with a stand-in nixpkgs (the real lib, stubbed packages): its
    # outputs, and its NixOS module with the package defaulting to the flake's own build.
    flake =
      let
        flake = import ../../flake.nix;
        nixpkgs = {
          inherit lib;
          legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] (_: stubs.pkgs);
        };
        outputs = flake.outputs {
          self = outputs // {
            outPath = toString ../..;
          };
          inherit nixpkgs;
        };
        sys = "x86_64-linux";
        package = outputs.packages.${sys}.default;
        c = evalConfig stubs.pkgs [
          outputs.nixosModules.default
          {
            services.mvtopo.enable = true;
            services.mvtopo.topologies.lab.settings = pair;
          }
        ];
        cargoVersion = (lib.importTOML ../../Cargo.toml).package.version;
      in
      {
        config.environment.etc = { };
        problems = lib.concatLists [
          (expect "outputs" (lib.attrNames outputs) [
            "apps"
            "checks"
            "devShells"
            "formatter"
            "nixosModules"
            "overlays"
            "packages"
          ])
          (expect "package" package.name "mvtopo-${cargoVersion}")
          (expect "package main program" package.meta.mainProgram "mvtopo")
          (expect "apps.default" outputs.apps.${sys}.default.program "${package}/bin/mvtopo")
          (expect "apps.default type" outputs.apps.${sys}.default.type "app")
          (expect "formatter" outputs.formatter.${sys}.name "nixfmt-tree")
          (expect "checks" (lib.attrNames outputs.checks.${sys}) [
            "module-eval"
            "package"
            "vm-macvlan"
          ])
          (expect "checks.vm-macvlan nodes" (lib.attrNames outputs.checks.${sys}.vm-macvlan.nodes) [
            "a"
            "b"
          ])
          (expect "nixosModules.default: failed assertions" (failed c) [ ])
          (expect "nixosModules.default: the package is the flake's" c.services.mvtopo.package package)
          (expect "nixosModules.default: ExecStart" c.systemd.services.mvtopo-lab.serviceConfig.ExecStart
            "${package}/bin/mvtopo apply /etc/mvtopo/lab.toml"
          )
        ];
      };
  };

  checked = n: cases.${n}.check or true;
  report = lib.concatStrings (
    lib.mapAttrsToList (
      n: c:
      "@@ case ${n}\n"
      + lib.concatMapStrings (p: "@@ problem ${n}: ${builtins.replaceStrings [ "\n" ] [ " " ] p}\n") c.problems
      + lib.optionalString (checked n) (
        lib.concatStrings (
          lib.mapAttrsToList (
            f: v:
            "@@ file ${n} ${f} ${builtins.head (lib.splitString "\n" v.script)}\n"
            + "@@ rendered ${v.renderedPath}\n"
            + v.text
            + "@@ end\n"
          ) (filesOf c.config)
        )
      )
    ) cases
  );
in
{
  inherit cases report;
  # A problem anywhere, for the flake's check (which cannot run mvtopo on the files).
  problems = lib.concatLists (lib.mapAttrsToList (n: c: map (p: "${n}: ${p}") c.problems) cases);

  badMode =
    (eval [
      (topologies {
        lab.settings = {
          parent.eth1 = { };
          macvlan = [
            {
              name = "mva";
              parent = "eth1";
              mode = "bridged";
            }
          ];
        };
      })
    ]).environment.etc;
}
