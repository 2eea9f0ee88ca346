{
  description = "mvtopo: declarative macvlan topologies for Linux (check, plan, apply, verify)";

  # No flake.lock is committed: it could not be generated on the machines this project is
  # built on (no Nix store, nixpkgs cannot be fetched). `nix flake lock` makes one.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      # macvlan is Linux-only.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs: rec {
        mvtopo = pkgs.callPackage ./nix/package.nix { };
        default = mvtopo;
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          inputsFrom = [ self.packages.${pkgs.stdenv.hostPlatform.system}.mvtopo ];
          packages = with pkgs; [
            cargo
            rustc
            rustfmt
            clippy
            rust-analyzer
            # the kernel tests' independent oracle and the VM tier (vm-tests/run.sh)
            iproute2
            iputils
            util-linux
            qemu
            cpio
          ];
        };
      });

      # The module with its package defaulting to this flake's build.
      nixosModules.default =
        { lib, pkgs, ... }:
        {
          imports = [ ./nix/module.nix ];
          services.mvtopo.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.mvtopo;
        };

      # `nix run github:...#` runs the CLI: `nix run . -- check lab.toml`.
      apps = forAllSystems (
        pkgs:
        let
          mvtopo = self.packages.${pkgs.stdenv.hostPlatform.system}.mvtopo;
        in
        {
          default = {
            type = "app";
            program = nixpkgs.lib.getExe mvtopo;
            meta.description = "mvtopo: check, plan, apply, show, destroy macvlan topologies";
          };
        }
      );

      # `nix fmt`: nixfmt (RFC 166 style) over every .nix file of the tree.
      formatter = forAllSystems (pkgs: pkgs.nixfmt-tree);

      overlays.default = final: _prev: {
        mvtopo = final.callPackage ./nix/package.nix { };
      };

      checks = forAllSystems (pkgs: {
        package = self.packages.${pkgs.stdenv.hostPlatform.system}.mvtopo;
        # The module evaluation test of nix/tests/ with this nixpkgs' lib: evaluation fails
        # (naming every problem) unless each configuration gives what it must. nix/tests/eval.sh
        # also runs `mvtopo check` on the rendered files; here the module's own build does.
        module-eval =
          let
            problems = (import ./nix/tests/eval.nix { inherit (nixpkgs) lib; }).problems;
          in
          if problems == [ ] then
            pkgs.runCommand "mvtopo-module-eval" { } "touch $out"
          else
            throw ("module evaluation test:\n" + nixpkgs.lib.concatStringsSep "\n" problems);
        # Two NixOS machines on one VLAN, macvlans in bridge and vepa mode applied at boot.
        vm-macvlan = import ./nix/vm-test.nix {
          inherit pkgs;
          module = self.nixosModules.default;
        };
      });
    };
}
