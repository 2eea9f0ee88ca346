//! The files shipped beside the binary: the systemd unit `dist/systemd/mvtopo@.service` and
//! its drop-in examples pass `systemd-analyze verify`, and the unit keeps the properties the
//! user guide promises (early boot, reload = apply, no mount namespace of its own); and the
//! Nix package's source holds every file the tests read.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_mvtopo");
/// The binary path the shipped unit names (`cargo install --root /usr/local`).
const INSTALLED: &str = "/usr/local/bin/mvtopo";

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `systemd-analyze verify` on `unit` (an instance of the template) inside `dir`, with the
/// shipped files copied there and the binary path pointed at the binary just built (verify
/// requires every Exec*= command to exist). `None` after a loud skip when systemd-analyze
/// is not installed. Returns (exit status ok, stderr).
fn verify(dir: &Path, unit: &str) -> Option<(bool, String)> {
    let Ok(analyze) = which("systemd-analyze") else {
        common::skip("systemd-analyze is not installed (Debian: apt-get install systemd)");
        return None;
    };
    // The search path is the directory itself (drop-ins in NAME.service.d/ next to it),
    // then the system's units (the trailing colon), so network.target and the other units
    // named in After=/Before= resolve as on a real host. --man=no: the man page is not
    // installed where the tests run.
    let out = Command::new(analyze)
        .args(["verify", "--man=no"])
        .arg(dir.join(unit))
        .env("SYSTEMD_UNIT_PATH", format!("{}:", dir.display()))
        .current_dir(dir)
        .output()
        .expect("run systemd-analyze");
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn which(cmd: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
        .ok_or(())
}

/// A shipped file with the installed binary path replaced by the one just built.
fn stubbed(rel: &str) -> String {
    let text = read(rel);
    assert!(
        text.contains(INSTALLED),
        "{rel} no longer names {INSTALLED}: update this test and the guide's install page"
    );
    text.replace(INSTALLED, BIN)
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(
        dir.path().join("mvtopo@.service"),
        stubbed("dist/systemd/mvtopo@.service"),
    )
    .expect("write unit");
    let Some((ok, stderr)) = verify(dir.path(), "mvtopo@lab.service") else {
        return;
    };
    // Warnings (an unknown key, a bad ordering) do not change the exit status: any output
    // at all is a failure.
    assert!(
        ok && stderr.trim().is_empty(),
        "systemd-analyze verify mvtopo@lab.service:\n{stderr}"
    );
}

#[test]
fn the_unit_with_each_drop_in_example_passes_verify() {
    for example in ["after-eth1.conf", "destroy-on-stop.conf"] {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(
            dir.path().join("mvtopo@.service"),
            stubbed("dist/systemd/mvtopo@.service"),
        )
        .expect("write unit");
        let d = dir.path().join("mvtopo@lab.service.d");
        std::fs::create_dir(&d).expect("drop-in directory");
        let rel = format!("dist/systemd/examples/{example}");
        let text = if example == "destroy-on-stop.conf" {
            stubbed(&rel)
        } else {
            read(&rel)
        };
        std::fs::write(d.join(example), text).expect("write drop-in");
        let Some((ok, stderr)) = verify(dir.path(), "mvtopo@lab.service") else {
            return;
        };
        assert!(
            ok && stderr.trim().is_empty(),
            "systemd-analyze verify with {example}:\n{stderr}"
        );
    }
}

/// The `[Section]` key=value pairs of a unit file (comments and blank lines dropped).
fn directives(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_owned();
        } else if let Some((k, v)) = line.split_once('=') {
            out.push((section.clone(), k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

#[test]
fn the_unit_applies_early_reloads_by_applying_and_keeps_the_host_mount_namespace() {
    let d = directives(&read("dist/systemd/mvtopo@.service"));
    let has = |sec: &str, key: &str, val: &str| {
        d.iter()
            .any(|(s, k, v)| s == sec && k == key && v.split_whitespace().any(|w| w == val))
    };
    let apply = format!("{INSTALLED} apply /etc/mvtopo/%i.toml");
    for (sec, key, val) in [
        ("Unit", "DefaultDependencies", "no"),
        ("Unit", "Before", "network.target"),
        ("Unit", "After", "network-pre.target"),
        ("Unit", "Conflicts", "shutdown.target"),
        ("Unit", "Before", "shutdown.target"),
        ("Service", "Type", "oneshot"),
        ("Service", "RemainAfterExit", "yes"),
    ] {
        assert!(has(sec, key, val), "[{sec}] {key}={val} missing");
    }
    for key in ["ExecStart", "ExecReload"] {
        assert!(
            d.iter()
                .any(|(s, k, v)| s == "Service" && k == key && *v == apply),
            "{key}={apply} missing"
        );
    }
    assert!(
        !d.iter().any(|(_, k, _)| k == "ExecStop"),
        "stopping the unit destroys only with the opt-in drop-in"
    );
    // Each of these gives the service a mount namespace of its own, in which the bind
    // mounts that make /run/netns/NAME would stay, invisible to the host.
    for key in [
        "PrivateTmp",
        "ProtectSystem",
        "ProtectHome",
        "PrivateDevices",
        "PrivateMounts",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectProc",
        "ProcSubset",
        "ReadWritePaths",
        "ReadOnlyPaths",
        "InaccessiblePaths",
        "BindPaths",
        "BindReadOnlyPaths",
        "TemporaryFileSystem",
        "RootDirectory",
        "MountFlags",
    ] {
        assert!(
            !d.iter().any(|(_, k, _)| k == key),
            "{key}= would give the service its own mount namespace"
        );
    }
}

/// Every top-level file or directory of the repository that a test names, for the Nix
/// package's source (`nix/package.nix` runs `cargo test` on a file set, not the checkout:
/// a test reading a file left out of it would fail only inside a Nix build).
#[test]
fn the_nix_package_source_holds_every_file_the_tests_read() {
    let package = read("nix/package.nix");
    let listed: Vec<&str> = package
        .lines()
        .filter_map(|l| l.trim().strip_prefix("../"))
        .collect();
    let test_text: String = common::rust_files(&repo("tests"))
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let mut missing = vec![];
    for e in std::fs::read_dir(repo("")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        // Named as a path in a string: "docs/…", "README.md", or …/docs/… after the root.
        let named = [
            format!("\"{name}\""),
            format!("\"{name}/"),
            format!("/{name}/"),
            format!("/{name}\""),
        ]
        .iter()
        .any(|n| test_text.contains(n.as_str()));
        if named && !listed.contains(&name.as_str()) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "nix/package.nix's source leaves out {missing:?}, which tests read"
    );
    // The check can fail: the tests do read these.
    for must in [
        "docs",
        "dist",
        "scripts",
        "examples",
        "README.md",
        "flake.nix",
    ] {
        assert!(listed.contains(&must), "{must} is not in the file set");
    }
}
