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
use std::process::Command;
use std::time::{Duration, Instant};

use e2e_support::*;
use serde_json::Value;

/// The tests of this file run one at a time. Every namespace anything creates (`ip netns
/// add`, the lab's own, `ip netns exec`'s mount namespace) takes the lowest free proc inode
/// number, so a test running beside the inode-reuse test can take the very number it waits
/// for, and it never comes back.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    // A test that failed while holding it poisons it; the others still run.
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const MARKER_DIR: &str = mvtopo::kernel::MARKER_DIR;
/// Seconds allowed for an apply or destroy, which may first wait for other runs' lock.
const LOCKED: u64 = 300;

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

/// mvtopo's own apply lock (`flock` on /run/mvtopo/lock), held until dropped.
struct ApplyLock(std::fs::File);

impl ApplyLock {
    fn take() -> ApplyLock {
        std::fs::create_dir_all("/run/mvtopo").unwrap();
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open("/run/mvtopo/lock")
            .unwrap();
        // SAFETY: flock on an open descriptor.
        let r = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) };
        assert_eq!(r, 0, "flock /run/mvtopo/lock");
        ApplyLock(f)
    }
}

impl Drop for ApplyLock {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&self.0), libc::LOCK_UN) };
    }
}

fn is_mounted(path: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(path))
}

/// A namespace the topology made, deleted and made again by hand is not the topology's
/// (show, plan), and destroy leaves it; even when the kernel hands out the old nsfs inode
/// number again, which is what fooled the old device:inode markers.
///
/// Ownership rests on the namespace cookie, never on the inode, so the claim holds whatever
/// inode the new namespace gets. The test tries for a while to get the old number back (the
/// kernel hands out the lowest free one once the old namespace is freed, asynchronously);
/// when the kernel keeps the old namespace alive longer than that (it did, under a clean CI
/// run, for over three minutes), the checks run on the namespace it got and say so.
#[test]
fn a_namespace_made_again_by_hand_is_not_ours_even_with_the_same_inode() {
    let _serial = one_at_a_time();
    let Some(e) = E2e::new() else { return };
    let t = Topo::default().ns("x");
    let f = e.write_topo("t.toml", &t);
    e.expect(0, &["apply"], &f);
    let x = e.lab.ns("x");
    let path = format!("/run/netns/{x}");
    assert_eq!(shown_owner(&e, &x), e.name().as_str());
    let old = inode(&path);

    let marker_text = std::fs::read_to_string(marker(&x)).unwrap();

    // Delete and add again until x has the old number; a namespace that got a lower one is
    // kept alive (an open file holds it) so the next add gets the next number up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut fillers = Vec::new();
    let mut pause = Duration::from_millis(20);
    loop {
        common::run("ip", &["netns", "del", &x]);
        std::thread::sleep(pause);
        common::run("ip", &["netns", "add", &x]);
        let now = inode(&path);
        if now == old {
            eprintln!("inode reuse exercised: {x} has the old inode number {old} again");
            break;
        }
        if now < old {
            fillers.push(std::fs::File::open(&path).unwrap());
            pause = Duration::from_millis(20);
        } else {
            // The old namespace is not freed yet: give the kernel time.
            pause = Duration::from_millis(500);
        }
        if Instant::now() >= deadline {
            eprintln!(
                "NOTE: the kernel did not free the old namespace of {x} within 30 s (inode \
                 {old}, now {now}): checking the hand-made namespace with a new inode number"
            );
            break;
        }
    }
    drop(fillers);
    let hand_made = inode(&path);
    // Other runs (this suite's, in parallel) may have removed the marker while x was gone:
    // put back what the apply wrote, and hold the apply lock so none sweeps it before the
    // checks below.
    let lock = ApplyLock::take();
    std::fs::write(marker(&x), &marker_text).unwrap();
    assert_eq!(shown_owner(&e, &x), Value::Null, "show calls it owned");
    let show = e.expect(0, &["show"], &f);
    assert!(
        !show.stdout.contains(&x),
        "show FILE lists it as the topology's: {show}"
    );

    drop(lock);
    let out = e.expect(0, &["destroy"], &f);
    common::run("ip", &["netns", "exec", &x, "true"]);
    assert_eq!(
        inode(&path),
        hand_made,
        "the hand-made namespace was replaced"
    );
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
    let _serial = one_at_a_time();
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
    let _serial = one_at_a_time();
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

/// A symlink and a FIFO under /run/netns, removed on drop (with the markers of their names).
///
/// While the FIFO has no writer, any tool that opens it to read blocks (an older mvtopo
/// did). `hold_fifo` opens it read-write, which never blocks and releases every such open;
/// the drop does the same before it removes the path, so nobody is left blocked on a FIFO
/// that no longer has a name (which could then never be released).
struct Odd {
    paths: Vec<String>,
    fifo: String,
    writer: Option<std::fs::File>,
}

impl Odd {
    fn new(symlink: &str, target: &str, fifo: &str) -> Odd {
        let odd = Odd {
            paths: vec![symlink.to_owned(), fifo.to_owned()],
            fifo: fifo.to_owned(),
            writer: None,
        };
        std::os::unix::fs::symlink(target, symlink).unwrap();
        nix::unistd::mkfifo(fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        odd
    }

    fn hold_fifo(&mut self) {
        if self.writer.is_none() {
            // O_RDWR on a FIFO never blocks (Linux).
            self.writer = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.fifo)
                .ok();
        }
    }
}

impl Drop for Odd {
    fn drop(&mut self) {
        self.hold_fifo();
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
            let name = Path::new(p)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("");
            let _ = std::fs::remove_file(marker(name));
        }
    }
}

/// `mvtopo ARGS` with a deadline: a run that blocks (on a FIFO, say) is killed and fails
/// the test instead of hanging it. Output goes to files, which never fill up and block the
/// writer the way an unread pipe does.
fn bounded(e: &E2e, args: &[&str], secs: u64) -> Out {
    let out_path = e.dir.path().join("bounded.out");
    let err_path = e.dir.path().join("bounded.err");
    let mut c = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", e.lab.ns("host")))
        .arg(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("spawn mvtopo");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = c.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = c.kill();
            let _ = c.wait();
            panic!("mvtopo {} hung (over {secs} s)", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Out {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out_path).unwrap(),
        stderr: std::fs::read_to_string(&err_path).unwrap(),
    }
}

/// A symlink and a FIFO under /run/netns: `show`, `plan` and `apply` neither hang nor follow
/// them; they are no namespaces; a file that wants a namespace of that name fails naming the
/// object in the way; and even with an ownership marker naming the symlink, destroy does not
/// unmount the namespace it points to.
#[test]
fn a_symlink_and_a_fifo_under_run_netns_are_foreign_objects() {
    let _serial = one_at_a_time();
    let Some(e) = E2e::new() else { return };
    let target = e.lab.add_ns("target");
    let (lnk, fifo) = (e.lab.ns("lnk"), e.lab.ns("fifo"));
    let (lnk_path, fifo_path) = (format!("/run/netns/{lnk}"), format!("/run/netns/{fifo}"));
    let target_path = format!("/run/netns/{target}");
    let mut odd = Odd::new(&lnk_path, &target_path, &fifo_path);

    // The FIFO has no writer yet: opening it to read would block. show takes no lock, so a
    // minute is plenty.
    let show = bounded(&e, &["show", "--format", "json"], 60);
    odd.hold_fifo();
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
        let plan = bounded(&e, &["plan", f.to_str().unwrap()], 60);
        assert_eq!(plan.code, 0, "{plan}");
        let out = bounded(&e, &["apply", f.to_str().unwrap()], LOCKED);
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
    let out = bounded(&e, &["destroy", f.to_str().unwrap()], LOCKED);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        is_mounted(&target_path),
        "destroy unmounted the symlink's target"
    );
    common::run("ip", &["netns", "exec", &target, "true"]);
    assert!(Path::new(&lnk_path).is_symlink());
}
