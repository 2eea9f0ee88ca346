# mvtopo built from this repository with the versions pinned in Cargo.lock.
{
  lib,
  stdenv,
  rustPlatform,
  installShellFiles,
}:
let
  cargoToml = lib.importTOML ../Cargo.toml;
in
rustPlatform.buildRustPackage {
  pname = "mvtopo";
  inherit (cargoToml.package) version;

  # Only what the build and its tests read: a change to the VM harness or CI rebuilds
  # nothing. The tests read their golden cases and the examples; the guide and packaging
  # tests check the README, docs/, the systemd unit, the scripts and the Nix files
  # themselves (that they cite only files users have, that the unit verifies).
  # tests/dist.rs checks this list against the paths the tests name.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../clippy.toml
      ../src
      ../benches
      ../tests
      ../examples
      ../README.md
      ../docs
      ../dist
      ../scripts
      ../flake.nix
      ../nix
    ];
  };

  cargoLock.lockFile = ../Cargo.lock;

  nativeBuildInputs = [ installShellFiles ];

  # Completions and the man page come from the binary itself (`mvtopo completions SHELL`,
  # `mvtopo man`), so they always match its options; only where the build can run it.
  postInstall = lib.optionalString (stdenv.buildPlatform.canExecute stdenv.hostPlatform) ''
    installShellCompletion --cmd mvtopo \
      --bash <($out/bin/mvtopo completions bash) \
      --zsh <($out/bin/mvtopo completions zsh) \
      --fish <($out/bin/mvtopo completions fish)
    $out/bin/mvtopo man > mvtopo.1
    installManPage mvtopo.1
  '';

  # The build sandbox is not root, so the kernel tests cannot make their lab namespaces there.
  # They refuse to pass silently without root unless told to skip, loudly: the pure stages'
  # tests still run here, the kernel tier runs in CI and in the NixOS VM test (checks).
  env.MVTOPO_ALLOW_SKIP = "1";

  meta = {
    description = "Declarative macvlan topologies for Linux: check, plan, apply, verify";
    license = with lib.licenses; [
      mit
      asl20
    ];
    mainProgram = "mvtopo";
    platforms = lib.platforms.linux;
  };
}
