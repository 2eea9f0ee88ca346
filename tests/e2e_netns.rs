//! Never taking a namespace that is not ours, and reading /run/netns safely, with the built
//! binary against the real kernel: a namespace deleted and made again by hand (even with the
//! inode of the old one) is not the topology's; markers that describe no namespace are
//! removed; `mv%d` is refused before anything is made; a symlink or a FIFO under /run/netns
//! neither hangs a run nor gets followed.
//!
//! Runs the binary in a lab namespace like tests/e2e.rs (root; "SKIPPED" and a failure
//! without it, unless MVTOPO_ALLOW_SKIP=1). Objects made under /run/netns by hand carry the
//! lab's prefix and are removed by Drop guards.

mod common;
mod e2e_support;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e_support::*;
use serde_json::Value;

const MARKER_DIR: &str = mvtopo::kernel::MARKER_DIR;

fn inode(path: &str) -> u64 {
    std::fs::metadata(path).expect("stat namespace").ino()
}

fn marker(ns: &str) -> PathBuf {
    Path::new(MARKER_DIR).join(ns)
}

/// The `owner` that `show --format json` gives namespace `ns` (Null when none, or when it
/// is not listed).
fn shown_owner(e: &E2e, ns: &str) -> Value {
    let out = e.mvtopo(&["show", "--format", "json"]);
    assert_eq!(out.code, 0, "{out}");
    let v: Value = serde_json::from_str(&out.stdout).expect("show json");
    v["namespaces"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["name"] == ns))
        .map(|n| n["owner"].clone())
        .unwrap_or(Value::Null)
}

fn is_mounted(path: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(path))
}

/// A namespace the topology made, deleted and made again by hand until the kernel hands out
/// the old inode number again: it is not the topology's (show, plan), and destroy leaves it.
#[test]
fn a_namespace_made_again_by_hand_with_the_same_inode_is_not_ours() {
    let Some(e) = E2e::new() else { return };
    let t = Topo::default().ns("x");
    let f = e.write_topo("t.toml", &t);
    e.expect(0, &["apply"], &f);
    let x = e.lab.ns("x");
    let path = format!("/run/netns/{x}");
    assert_eq!(shown_owner(&e, &x), e.name().as_str());
    let old = inode(&path);

    // The freed inode number usually comes back at once; other tests making namespaces
    // meanwhile can take it, so try a while.
    let mut same = false;
    for _ in 0..200 {
        common::run("ip", &["netns", "del", &x]);
        common::run("ip", &["netns", "add", &x]);
        if inode(&path) == old {
            same = true;
            break;
        }
    }
    assert!(
        same,
        "the kernel never gave the old inode number again: the reuse case was not exercised"
    );
    assert!(marker(&x).exists(), "the marker went before the test");
    assert_eq!(shown_owner(&e, &x), Value::Null, "show calls it owned");
    let show = e.expect(0, &["show"], &f);
    assert!(
        !show.stdout.contains(&x),
        "show FILE lists it as the topology's: {show}"
    );

    let out = e.expect(0, &["destroy"], &f);
    common::run("ip", &["netns", "exec", &x, "true"]);
    assert_eq!(inode(&path), old, "the hand-made namespace was replaced");
    assert!(!marker(&x).exists(), "the stale marker is still there");
    // Another run of this suite may have swept the marker first; then the note is in its
    // output, not ours.
    if out.err().contains("marker") {
        assert!(
            out.err().contains(&format!(
                "removed the stale ownership marker of namespace {x}"
            )),
            "{out}"
        );
    }
}

/// Markers of namespaces deleted by hand, and markers whose namespace is another one, are
/// removed by the next apply or destroy, which says so; a marker of the current format whose
/// namespace is the one it records stays.
#[test]
fn stale_markers_are_removed_by_the_next_apply() {
    let Some(e) = E2e::new() else { return };
    let t = Topo::default().ns("y").ns("z");
    let f = e.write_topo("t.toml", &t);
    e.expect(0, &["apply"], &f);
    let (y, z) = (e.lab.ns("y"), e.lab.ns("z"));
    // y deleted by hand; a marker in the old device:inode format for a namespace that never
    // existed.
    common::run("ip", &["netns", "del", &y]);
    let gone = e.lab.ns("gone");
    std::fs::write(marker(&gone), format!("{}\nnetns 4:4026532999\n", e.name())).unwrap();
    assert!(marker(&y).exists());

    let other = e.write_topo(
        "other.toml",
        &Topo::default().named(&format!("{}-o", e.name())),
    );
    let out = e.expect(0, &["apply"], &other);
    assert!(
        !marker(&y).exists(),
        "marker of a deleted namespace kept: {out}"
    );
    assert!(
        !marker(&gone).exists(),
        "old-format marker of nothing kept: {out}"
    );
    assert!(marker(&z).exists(), "a good marker was removed: {out}");
    if out.err().contains(&y) {
        assert!(out.err().contains("the namespace is gone"), "{out}");
    }
    // The topology makes y again, and owns z still.
    e.expect(0, &["apply"], &f);
    assert_eq!(shown_owner(&e, &y), e.name().as_str());
    assert_eq!(shown_owner(&e, &z), e.name().as_str());
    e.expect(0, &["destroy"], &f);
    assert!(!e.lab.has_ns("y") && !e.lab.has_ns("z"));
}

/// `name = "mv%d"` is invalid input (the kernel would name the link mv0, mv1, ...): check and
/// apply exit 65 and no link is made.
#[test]
fn a_template_interface_name_is_refused_and_never_leaks_a_link() {
    let Some(e) = E2e::new() else { return };
    e.lab.ip(
        "host",
        &["link", "add", "up0", "type", "veth", "peer", "name", "up0p"],
    );
    let t = Topo::default()
        .existing("up0", None)
        .mv(Mv::new(None, "mv%d", "up0", "bridge"));
    let f = e.write_topo("t.toml", &t);
    let out = e.expect(65, &["check"], &f);
    assert!(out.err().contains("\"mv%d\" contains '%'"), "{out}");
    for _ in 0..3 {
        e.expect(65, &["apply"], &f);
    }
    let links: Vec<String> = e
        .lab
        .links("host")
        .iter()
        .map(|l| l["ifname"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert!(
        !links.iter().any(|n| n.starts_with("mv")),
        "a link was made: {links:?}"
    );
}

/// A symlink and a FIFO under /run/netns, removed on drop.
struct Odd {
    paths: Vec<String>,
}

impl Drop for Odd {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
            let _ =
                std::fs::remove_file(marker(Path::new(p).file_name().unwrap().to_str().unwrap()));
        }
    }
}

/// `mvtopo ARGS` with a deadline: a run that blocks (on a FIFO, say) is killed and fails
/// the test instead of hanging it.
fn bounded(e: &E2e, args: &[&str]) -> Out {
    let mut c = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", e.lab.ns("host")))
        .arg(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mvtopo");
    let start = Instant::now();
    loop {
        if c.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = c.kill();
            let _ = c.wait();
            panic!("mvtopo {} hung (over 60 s)", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = c.wait_with_output().expect("output");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A symlink and a FIFO under /run/netns: `show`, `plan` and `apply` neither hang nor follow
/// them; they are no namespaces; a file that wants a namespace of that name fails naming the
/// object in the way; and even with an ownership marker naming the symlink, destroy does not
/// unmount the namespace it points to.
#[test]
fn a_symlink_and_a_fifo_under_run_netns_are_foreign_objects() {
    let Some(e) = E2e::new() else { return };
    let target = e.lab.add_ns("target");
    let (lnk, fifo) = (e.lab.ns("lnk"), e.lab.ns("fifo"));
    let (lnk_path, fifo_path) = (format!("/run/netns/{lnk}"), format!("/run/netns/{fifo}"));
    let target_path = format!("/run/netns/{target}");
    let _odd = Odd {
        paths: vec![lnk_path.clone(), fifo_path.clone()],
    };
    std::os::unix::fs::symlink(&target_path, &lnk_path).unwrap();
    nix::unistd::mkfifo(
        fifo_path.as_str(),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();

    let show = bounded(&e, &["show", "--format", "json"]);
    assert_eq!(show.code, 0, "{show}");
    let v: Value = serde_json::from_str(&show.stdout).unwrap();
    let names: Vec<&str> = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert!(names.contains(&target.as_str()), "{show}");
    assert!(
        !names.contains(&lnk.as_str()) && !names.contains(&fifo.as_str()),
        "a symlink or FIFO listed as a namespace: {names:?}"
    );

    for (short, what) in [("fifo", "a FIFO"), ("lnk", "a symbolic link")] {
        let t = Topo::default()
            .named(&format!("{}-{short}", e.name()))
            .ns(short);
        let f = e.write_topo(&format!("{short}.toml"), &t);
        let plan = bounded(&e, &["plan", f.to_str().unwrap()]);
        assert_eq!(plan.code, 0, "{plan}");
        let out = bounded(&e, &["apply", f.to_str().unwrap()]);
        assert_eq!(out.code, 1, "{out}");
        assert!(
            out.err()
                .contains(&format!("is {what}, not a mounted network namespace"))
                && out.err().contains("in the way"),
            "{out}"
        );
    }
    assert!(Path::new(&fifo_path).exists(), "the FIFO was removed");
    assert!(
        std::fs::symlink_metadata(&lnk_path)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the symlink was replaced"
    );

    // A marker naming the symlink as owned by the topology (as an older mvtopo could leave):
    // destroy must not unmount the namespace the link points to.
    let t = Topo::default().ns("lnk");
    let f = e.write_topo("t.toml", &t);
    std::fs::write(
        marker(&lnk),
        format!("{}\nnetns-cookie 1 boot x\n", e.name()),
    )
    .unwrap();
    let out = bounded(&e, &["destroy", f.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        is_mounted(&target_path),
        "destroy unmounted the symlink's target"
    );
    common::run("ip", &["netns", "exec", &target, "true"]);
    assert!(Path::new(&lnk_path).is_symlink());
}
