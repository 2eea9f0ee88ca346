//! `plan` and `show` as a normal user, against the real kernel: the namespace mvtopo runs in
//! is read without entering it, and a named namespace that cannot be entered is an error
//! naming it only when the topology needs it.
//!
//! The binary runs inside the lab's host namespace (`nsenter --net`, as root) and drops to
//! nobody before it starts (`setpriv --reuid=65534 --regid=65534 --clear-groups`). It is
//! copied, with the topology files, into a directory nobody can read, so the test does not
//! depend on where the checkout lives.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod e2e_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use e2e_support::{BIN, E2e, Out};

const NOBODY: &str = "65534";

/// A world-readable copy of the binary, and a place for files nobody can read.
struct Shared {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Shared {
    fn new() -> Shared {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod the directory");
        let bin = dir.path().join("mvtopo");
        std::fs::copy(BIN, &bin).expect("copy the binary");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the binary");
        Shared { dir, bin }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write a topology file");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644))
            .expect("chmod the file");
        p
    }

    /// `mvtopo ARGS` as nobody, inside the lab's host namespace.
    fn as_nobody(&self, e: &E2e, args: &[&str]) -> Out {
        e.in_host()
            .args([
                "setpriv",
                &format!("--reuid={NOBODY}"),
                &format!("--regid={NOBODY}"),
                "--clear-groups",
            ])
            .arg(&self.bin)
            .args(args)
            .output()
            .expect("run nsenter setpriv mvtopo")
            .into()
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn plan_and_show_work_without_root_for_the_own_namespace() {
    let Some(e) = E2e::new() else { return };
    let s = Shared::new();
    e.lab.ip(
        "host",
        &["link", "add", "up0", "type", "veth", "peer", "name", "up0p"],
    );
    // A named namespace nobody can enter, which this topology does not need.
    e.lab.add_ns("other");
    let own = s.write(
        "own.toml",
        &format!(
            "name = \"{}\"\n[parent.up0]\n[[macvlan]]\nname = \"mv0\"\nparent = \"up0\"\nmode = \"bridge\"\naddresses = [\"10.9.0.2/24\"]\n",
            e.name()
        ),
    );

    let out = s.as_nobody(&e, &["plan", path(&own), "--detailed-exitcode"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stdout.contains("+ create macvlan mv0 on up0 (bridge)"),
        "{out}"
    );
    assert!(
        out.stdout.contains("~ update nic up0: up false → true"),
        "{out}"
    );

    // Same plan as root: nothing was hidden from the normal user.
    let root = e.mvtopo(&["plan", path(&own)]);
    assert_eq!(root.code, 0, "{root}");
    let user = s.as_nobody(&e, &["plan", path(&own)]);
    assert_eq!(user.stdout, root.stdout);

    // show: what it can read; the namespaces it cannot enter are named on stderr.
    let out = s.as_nobody(&e, &["show"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains(&e.lab.ns("other")), "{out}");
    assert!(out.stderr.contains(&e.lab.ns("other")), "{out}");
    assert!(out.stderr.contains("needs root"), "{out}");

    let out = s.as_nobody(&e, &["show", "--format", "json", path(&own)]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("\"up0\""), "{out}");
}

#[test]
fn a_needed_namespace_that_cannot_be_entered_is_named_in_the_error() {
    let Some(e) = E2e::new() else { return };
    let s = Shared::new();
    e.lab.ip(
        "host",
        &["link", "add", "up0", "type", "veth", "peer", "name", "up0p"],
    );
    let red = e.lab.add_ns("red");
    let file = s.write(
        "red.toml",
        &format!(
            "name = \"{}\"\n[namespace.{red}]\n[parent.up0]\n[[macvlan]]\nname = \"mv0\"\nparent = \"up0\"\nnamespace = \"{red}\"\n",
            e.name()
        ),
    );
    let out = s.as_nobody(&e, &["plan", path(&file)]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    let err = out.err();
    assert!(
        err.contains(&format!("cannot read namespace(s) {red}")),
        "{out}"
    );
    assert!(err.contains("run as root"), "{out}");
    assert!(err.contains("--state"), "{out}");

    // The hint's way out works: root saves the state, nobody plans against it.
    let saved = e.mvtopo(&["show", "--format", "json", path(&file)]);
    assert_eq!(saved.code, 0, "{saved}");
    let state = s.write("state.json", &saved.stdout);
    let out = s.as_nobody(&e, &["plan", path(&file), "--state", path(&state)]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains(&format!("+ create macvlan {red}/mv0 on up0")),
        "{out}"
    );
}
