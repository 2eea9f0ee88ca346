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

      overlays.default = final: _prev: {
        mvtopo = final.callPackage ./nix/package.nix { };
      };

      checks = forAllSystems (pkgs: {
        package = self.packages.${pkgs.stdenv.hostPlatform.system}.mvtopo;
        vm-macvlan = import ./nix/vm-test.nix {
          inherit pkgs;
          module = self.nixosModules.default;
        };
      });
    };
}
