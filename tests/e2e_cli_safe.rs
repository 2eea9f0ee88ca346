//! The built binary against the real kernel, for the commands that make changes safe:
//! interrupted `apply` and `destroy` undo what they did (SIGINT, SIGTERM, SIGHUP at several
//! moments of a 2000-macvlan run), `try` reverts unless confirmed, `adopt` claims exactly
//! what matches, and `--lock-timeout` bounds the wait for the apply lock.
//!
//! Every test works inside its own lab namespaces (`Lab`, prefix `mvt<pid>-<n>`), runs the
//! binary with `nsenter --net` into the lab's host namespace, and compares full `ip -j -d`
//! dumps of every lab namespace before and after. Not root: "SKIPPED: ..." and a failure,
//! unless MVTOPO_ALLOW_SKIP=1.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod e2e_support;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e_support::*;
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// A run of the binary in the background, to be signalled.

/// How long a wait for the binary may take: it may first wait for the machine-wide apply
/// lock while other processes' runs (other test suites) hold it.
const PATIENCE: Duration = Duration::from_secs(600);

struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn collect(r: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut line = String::new();
        while matches!(r.read_line(&mut line), Ok(n) if n > 0) {
            into.lock().expect("output buffer").push_str(&line);
            line.clear();
        }
    })
}

/// `mvtopo ARGS` in the lab's host namespace, in the background. `nsenter` without
/// `--fork` execs the binary, so the child's pid is mvtopo's. SIGINT, SIGTERM and SIGHUP
/// are reset to their defaults in the child: a process inherits ignored signals (a
/// non-interactive shell starts background jobs with SIGINT ignored), and mvtopo leaves
/// an inherited "ignore" alone.
#[allow(unsafe_code)]
fn start(e: &E2e, args: &[&str]) -> Running {
    let mut cmd = e.command(args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls (signal(2)) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(s, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("start nsenter mvtopo");
    let stdout = Arc::new(Mutex::new(String::new()));
    let stderr = Arc::new(Mutex::new(String::new()));
    let readers = vec![
        collect(child.stdout.take().expect("stdout"), stdout.clone()),
        collect(child.stderr.take().expect("stderr"), stderr.clone()),
    ];
    Running {
        child,
        stdout,
        stderr,
        readers,
    }
}

impl Running {
    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid")
    }

    #[allow(unsafe_code)]
    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child.
        let r = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(r, 0, "kill {sig}");
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Poll `ready` until it holds; panics if the run ends first or after `limit`.
    fn when(&mut self, what: &str, limit: Duration, mut ready: impl FnMut(&Running) -> bool) {
        let start = Instant::now();
        loop {
            if ready(self) {
                return;
            }
            assert!(
                !self.exited(),
                "the run ended before {what}:\n{}",
                self.stderr()
            );
            assert!(start.elapsed() < limit, "{what} never happened");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr").clone()
    }

    fn finish(mut self) -> Out {
        let status = self.child.wait().expect("wait mvtopo");
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let stdout = self.stdout.lock().expect("stdout").clone();
        let stderr = self.stderr.lock().expect("stderr").clone();
        Out {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.exited() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Dumps compared across a delete and re-create.

/// `d` without what a deleted-and-recreated object cannot keep: ifindexes (and the
/// references by ifindex and netnsid to parents in other namespaces), in an order that
/// does not depend on them (links by name, everything else by content), and the RFC 2863
/// operstate, which the kernel derives on its own (the link watcher; seen here: a veth
/// with macvlans on it reads UNKNOWN after one creation and UP after another, both up
/// with carrier). What is set (the UP flag, LOWER_UP) is still compared.
fn canonical(d: &Dump) -> Dump {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for k in ["ifindex", "link_index", "link_netnsid", "operstate"] {
                    m.remove(k);
                }
                for x in m.values_mut() {
                    strip(x);
                }
            }
            Value::Array(a) => {
                for x in a.iter_mut() {
                    strip(x);
                }
                a.sort_by_key(|x| match x.get("ifname") {
                    Some(n) => format!("0{n}"),
                    None => format!("1{x}"),
                });
            }
            _ => {}
        }
    }
    let mut out = d.clone();
    for parts in out.per_ns.values_mut() {
        for p in parts.iter_mut() {
            strip(p);
        }
    }
    out
}

/// No marker file of this lab is left under /run/mvtopo/netns.
fn assert_no_markers(e: &E2e) {
    let mine = format!("{}-", e.lab.prefix);
    let left: Vec<String> = std::fs::read_dir(mvtopo::kernel::MARKER_DIR)
        .map(|d| {
            d.filter_map(|x| x.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(&mine))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "markers left behind: {left:?}");
}

fn ip_ok(args: &[&str]) -> String {
    common::run("ip", args)
}

/// Links of `kind` in a lab namespace, as iproute2 counts them (0 when it is gone).
fn count(e: &E2e, short: &str, what: &[&str]) -> usize {
    let ns = e.lab.ns(short);
    let mut args = vec!["-n", ns.as_str(), "-o"];
    args.extend_from_slice(what);
    Command::new("ip")
        .args(&args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// 1. Interrupts

const NAMESPACES: usize = 20;
const MACVLANS: usize = 2000;

/// 2000 bridge macvlans over 4 veth parents in 20 namespaces, one address each.
fn big() -> Topo {
    let mut t = Topo::default();
    for n in 0..NAMESPACES {
        t = t.ns(&format!("n{n:02}"));
    }
    for p in 0..4 {
        t = t.veth(&format!("up{p}"), &format!("up{p}p"), None);
    }
    for i in 0..MACVLANS {
        let ns = format!("n{:02}", i % NAMESPACES);
        let addr = format!("10.{}.{}.{}/16", 100 + i % 4, i / 250, i % 250 + 1);
        t = t.mv(Mv::new(
            Some(&ns),
            &format!("mv{i}"),
            &format!("up{}", i % 4),
            "bridge",
        )
        .addrs(&[&addr]));
    }
    t
}

/// Where in a from-scratch apply of `big` a signal is sent.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// The namespaces are being made (the first steps).
    Namespaces,
    /// Macvlans are being made (the first namespace has some).
    Macvlans,
    /// Addresses are being added (every macvlan exists).
    Addresses,
}

fn wait_for(run: &mut Running, e: &E2e, m: Moment) {
    let limit = PATIENCE;
    match m {
        Moment::Namespaces => run.when("a namespace is made", limit, |_| {
            e.lab.all_namespaces().iter().any(|n| n.contains("-n"))
        }),
        Moment::Macvlans => run.when("macvlans are made", limit, |_| {
            count(e, "n00", &["link", "show", "type", "macvlan"]) > 0
        }),
        Moment::Addresses => run.when("addresses are added", limit, |_| {
            count(e, "n00", &["-4", "addr", "show"]) > 0
        }),
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "?",
    }
}

/// The run stopped on `sig` with its exit status, said what it undid, and left the state
/// as it found it.
fn assert_interrupted(out: &Out, sig: i32, verb: &str) {
    let err = out.err();
    assert_eq!(
        out.code,
        128 + sig,
        "exit status for {}: {out}",
        signal_name(sig)
    );
    let head = format!("{verb} interrupted by {}", signal_name(sig));
    assert!(err.contains(&head), "{head}: {out}");
    assert!(err.contains("undone: "), "what was undone: {out}");
    assert!(err.contains("the system is as it was found"), "{out}");
    assert!(
        err.contains(&format!(
            "mvtopo: {}: finishing the request in flight",
            signal_name(sig)
        )),
        "said so when the signal came: {out}"
    );
}

fn interrupted_apply(sig: i32, moments: &[Moment]) {
    let Some(e) = E2e::new() else { return };
    let t = big();
    let f = e.write_topo("big.toml", &t);
    let file = f.to_str().expect("utf-8 path");
    let before = settled_dump(&e.lab);
    for &m in moments {
        let mut run = start(&e, &["apply", file]);
        wait_for(&mut run, &e, m);
        run.signal(sig);
        let out = run.finish();
        assert_interrupted(&out, sig, "apply");
        if let Moment::Addresses = m {
            // Every macvlan existed: undo takes them away with their veth parents, one
            // request per parent (the kernel deletes a parent's macvlans in the same batch;
            // one request per macvlan would cost an RCU grace period each). The dumps
            // compared below prove that every one of them is gone.
            let err = out.err();
            let parents: Vec<&str> = err
                .lines()
                .filter(|l| {
                    l.trim_start_matches(['│', ' '])
                        .starts_with("delete link up")
                })
                .collect();
            assert_eq!(
                parents.len(),
                4,
                "{m:?}: each veth parent deleted again: {out}"
            );
        }
        assert_same_dump(&before, &settled_dump(&e.lab), &format!("apply, {m:?}"));
        assert_no_markers(&e);
    }
}

#[test]
fn sigint_during_apply_undoes_it() {
    interrupted_apply(
        libc::SIGINT,
        &[Moment::Namespaces, Moment::Macvlans, Moment::Addresses],
    );
}

#[test]
fn sigterm_during_apply_undoes_it() {
    interrupted_apply(libc::SIGTERM, &[Moment::Macvlans, Moment::Namespaces]);
}

#[test]
fn sighup_during_apply_undoes_it() {
    interrupted_apply(libc::SIGHUP, &[Moment::Addresses, Moment::Macvlans]);
}

/// A second SIGINT while undoing is ignored, and says so: the undo runs to the end.
#[test]
fn a_second_sigint_does_not_stop_the_undo() {
    let Some(e) = E2e::new() else { return };
    let f = e.write_topo("big.toml", &big());
    let before = settled_dump(&e.lab);
    let mut run = start(&e, &["apply", f.to_str().expect("utf-8 path")]);
    wait_for(&mut run, &e, Moment::Addresses);
    run.signal(libc::SIGINT);
    run.when("the undo starts", PATIENCE, |r| {
        r.stderr().contains("finishing the request in flight")
    });
    run.signal(libc::SIGINT);
    run.signal(libc::SIGTERM);
    let out = run.finish();
    assert_interrupted(&out, libc::SIGINT, "apply");
    assert!(out.err().contains("still undoing"), "{out}");
    assert_same_dump(&before, &settled_dump(&e.lab), "apply, two signals");
    assert_no_markers(&e);
}

/// Where in a destroy of `big` a signal is sent.
#[derive(Debug, Clone, Copy)]
enum DestroyMoment {
    /// A parent (and the 500 macvlans on it) is gone.
    Parents,
    /// A namespace is gone.
    Namespaces,
}

fn interrupted_destroy(sig: i32, moments: &[DestroyMoment]) {
    let Some(e) = E2e::new() else { return };
    let t = big();
    let f = e.write_topo("big.toml", &t);
    let file = f.to_str().expect("utf-8 path");
    e.expect(0, &["apply"], &f);
    let before = canonical(&settled_dump(&e.lab));
    for &m in moments {
        let mut run = start(&e, &["destroy", file]);
        let limit = PATIENCE;
        match m {
            DestroyMoment::Parents => run.when("a parent is deleted", limit, |_| {
                count(&e, "host", &["link", "show", "type", "veth"]) < 8
            }),
            DestroyMoment::Namespaces => run.when("a namespace is deleted", limit, |_| {
                e.lab.all_namespaces().len() < NAMESPACES + 1
            }),
        }
        run.signal(sig);
        let out = run.finish();
        assert_interrupted(&out, sig, "destroy");
        // Recreated links get new ifindexes; everything else is as it was.
        assert_same_dump(
            &before,
            &canonical(&settled_dump(&e.lab)),
            &format!("destroy, {m:?}"),
        );
        e.expect(0, &["plan", "--detailed-exitcode"], &f);
    }
    e.expect(0, &["destroy"], &f);
    assert_no_markers(&e);
}

#[test]
fn signals_during_destroy_undo_it() {
    interrupted_destroy(libc::SIGINT, &[DestroyMoment::Parents]);
}

#[test]
fn sigterm_and_sighup_during_destroy_undo_it() {
    interrupted_destroy(libc::SIGTERM, &[DestroyMoment::Namespaces]);
    interrupted_destroy(libc::SIGHUP, &[DestroyMoment::Parents]);
}

// ---------------------------------------------------------------------------------------
// 2. try

/// The applied topology `try` starts from: a veth parent, macvlans in two namespaces.
fn base() -> Topo {
    Topo::default()
        .ns("red")
        .ns("blue")
        .veth("up0", "up0p", None)
        .mv(Mv::new(Some("red"), "mv-a", "up0", "bridge")
            .mtu(1400)
            .addrs(&["10.70.0.1/24"]))
        .mv(Mv::new(Some("blue"), "mv-b", "up0", "vepa").addrs(&["10.70.0.2/24"]))
        .mv(Mv::new(Some("blue"), "mv-gone", "up0", "private").addrs(&["10.70.0.3/24"]))
}

/// A change of every kind: MTU, mode, addresses, a macvlan added and one removed.
fn changed() -> Topo {
    let mut t = base().without(Some("blue"), "mv-gone");
    t.get(Some("red"), "mv-a").mtu = Some(1300);
    t.get(Some("red"), "mv-a").addrs = vec!["10.70.0.11/24".into(), "fd70::11/64".into()];
    t.get(Some("blue"), "mv-b").mode = Some("private".into());
    t.mv(Mv::new(Some("red"), "mv-new", "up0", "bridge").addrs(&["10.70.0.4/24"]))
}

/// Apply `base`, then `try changed` with `timeout`, returning the run once it waits for
/// the confirmation, with the dump of the state it started from.
fn trying(e: &E2e, timeout: &str) -> (Running, Dump, std::path::PathBuf) {
    let f = e.write_topo("lab.toml", &base());
    e.expect(0, &["apply"], &f);
    let before = canonical(&settled_dump(&e.lab));
    let g = e.write_topo("changed.toml", &changed());
    let mut run = start(
        e,
        &["try", g.to_str().expect("utf-8 path"), "--timeout", timeout],
    );
    run.when("try waits", PATIENCE, |r| {
        r.stderr().contains("to keep this change")
    });
    // It is applied while it waits.
    assert_kernel_matches(&e.lab, &changed());
    (run, before, g)
}

fn assert_reverted(e: &E2e, out: &Out, before: &Dump, code: i32, why: &str) {
    assert_eq!(out.code, code, "{out}");
    let err = out.err();
    assert!(err.contains("try: reverted"), "{out}");
    assert!(err.contains(why), "{why}: {out}");
    assert!(err.contains("the system is as it was found"), "{out}");
    assert_same_dump(before, &canonical(&settled_dump(&e.lab)), why);
    assert_kernel_matches(&e.lab, &base());
}

#[test]
fn try_reverts_on_timeout() {
    let Some(e) = E2e::new() else { return };
    let (run, before, _) = trying(&e, "2");
    let out = run.finish();
    assert_reverted(&e, &out, &before, 3, "no confirmation within 2 s");
}

#[test]
fn try_reverts_on_sighup_sigterm_and_sigint() {
    let Some(e) = E2e::new() else { return };
    for sig in [libc::SIGHUP, libc::SIGTERM, libc::SIGINT] {
        let (run, before, _) = trying(&e, "120");
        run.signal(sig);
        let out = run.finish();
        let why = format!("{} received", signal_name(sig));
        assert_reverted(&e, &out, &before, 128 + sig, &why);
    }
}

#[test]
fn try_keeps_the_change_on_sigusr1() {
    let Some(e) = E2e::new() else { return };
    let (run, _, g) = trying(&e, "120");
    run.signal(libc::SIGUSR1);
    let out = run.finish();
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("try: confirmed; the change is kept"),
        "{out}"
    );
    assert_kernel_matches(&e.lab, &changed());
    e.expect(0, &["plan", "--detailed-exitcode"], &g);
}

// ---------------------------------------------------------------------------------------
// 3. adopt

#[test]
fn adopt_claims_exact_hand_made_objects_and_refuses_a_differing_one() {
    let Some(e) = E2e::new() else { return };
    let l = &e.lab;
    // By hand: a parent, a namespace, a macvlan in it exactly as the file will say, and
    // one whose MTU differs.
    l.ip(
        "host",
        &["link", "add", "ex0", "type", "veth", "peer", "name", "ex0p"],
    );
    l.ip("host", &["link", "set", "ex0", "up"]);
    let red = l.add_ns("red");
    let host = l.ns("host");
    for (name, mode) in [("mv1", "bridge"), ("mv2", "private")] {
        ip_ok(&[
            "-n", &host, "link", "add", name, "link", "ex0", "netns", &red, "type", "macvlan",
            "mode", mode,
        ]);
        l.ip("red", &["link", "set", name, "up"]);
    }
    l.ip("red", &["addr", "add", "10.80.0.1/24", "dev", "mv1"]);
    let exact = Topo::default().ns("red").existing("ex0", None).mv(Mv::new(
        Some("red"),
        "mv1",
        "ex0",
        "bridge",
    )
    .addrs(&["10.80.0.1/24"]));
    let full = exact
        .clone()
        .mv(Mv::new(Some("red"), "mv2", "ex0", "private").mtu(1400));
    let f = e.write_topo("lab.toml", &full);
    let before = settled_dump(l);

    let out = e.expect(1, &["adopt", "--dry-run"], &f);
    assert!(out.stdout.contains("nothing changed"), "{out}");
    assert_same_dump(&before, &settled_dump(l), "adopt --dry-run");

    let out = e.expect(1, &["adopt"], &f);
    let says = |needle: &str| assert!(out.stdout.contains(needle), "{needle}: {out}");
    says(&format!("claim   macvlan {red}/mv1"));
    says(&format!(
        "refuse  macvlan {red}/mv2: mtu: live 1500, file 1400"
    ));
    // The namespace holds mv2, which stays unowned.
    says(&format!(
        "refuse  namespace {red}: holds {red}/mv2, which is not adopted"
    ));
    says("skip    parent ex0");
    says("adopt: 1 claimed");
    let alias = l.link("red", "mv1")["ifalias"].clone();
    assert_eq!(alias, format!("mvtopo:{}", e.name()), "mv1 is owned");
    assert!(l.link("red", "mv2").get("ifalias").is_none(), "mv2 is not");
    // mv2 is still in the way of the full file; the part adopted is in sync.
    e.expect(1, &["plan", "--detailed-exitcode"], &f);
    let g = e.write_topo("exact.toml", &exact);
    e.expect(0, &["plan", "--detailed-exitcode"], &g);

    // Made to match by hand, mv2 is claimed, and then the namespace with it.
    l.ip("red", &["link", "set", "mv2", "mtu", "1400"]);
    let out = e.expect(0, &["adopt"], &f);
    assert!(
        out.stdout.contains(&format!("claim   macvlan {red}/mv2")),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!("claim   namespace {red}")),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!("owned   macvlan {red}/mv1")),
        "{out}"
    );
    e.expect(0, &["plan", "--detailed-exitcode"], &f);
    let shown = e.expect(0, &["show"], &f);
    assert!(shown.stdout.contains("mv2"), "{shown}");

    // Adopted means owned: destroy removes them (never the existing parent).
    e.expect(0, &["destroy"], &f);
    assert!(!l.has_ns("red"), "the adopted namespace is destroyed");
    assert!(l.has_link("host", "ex0"), "the existing parent is kept");
    assert_no_markers(&e);
}

#[test]
fn adopt_refuses_what_another_topology_owns() {
    let Some(e) = E2e::new() else { return };
    let other = Topo::default()
        .named(&format!("{}-other", e.name()))
        .ns("red")
        .veth("up0", "up0p", None)
        .mv(Mv::new(Some("red"), "mv1", "up0", "bridge"));
    let f = e.write_topo("other.toml", &other);
    e.expect(0, &["apply"], &f);
    let mine = Topo {
        name: None,
        ..other.clone()
    };
    let g = e.write_topo("mine.toml", &mine);
    let out = e.expect(1, &["adopt"], &g);
    let owner = format!("owned by topology {}-other", e.name());
    assert_eq!(out.stdout.matches(&owner).count(), 3, "{out}");
    assert!(out.stdout.contains("adopt: 0 claimed"), "{out}");
    e.expect(0, &["destroy"], &f);
}

// ---------------------------------------------------------------------------------------
// 4. --lock-timeout

/// The apply lock, taken by the test (as another run would hold it).
struct Held(#[allow(dead_code)] std::fs::File);

impl Held {
    #[allow(unsafe_code)]
    fn take() -> Held {
        use std::os::fd::AsRawFd;
        std::fs::create_dir_all("/run/mvtopo").expect("mkdir /run/mvtopo");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open("/run/mvtopo/lock")
            .expect("open the lock");
        // SAFETY: flock on a descriptor we own; waits for other helpers' runs.
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
        Held(f)
    }
}

#[test]
fn lock_timeout_bounds_the_wait_and_names_the_holder() {
    let Some(e) = E2e::new() else { return };
    let f = e.write_topo("lab.toml", &base());
    let me = std::process::id().to_string();
    let held = Held::take();
    for cmd in [
        vec!["apply"],
        vec!["try", "--timeout", "1"],
        vec!["destroy"],
        vec!["adopt"],
    ] {
        let mut args = cmd.clone();
        args.extend(["--lock-timeout", "0"]);
        let t0 = Instant::now();
        let out = e.expect(1, &args, &f);
        assert!(t0.elapsed() < Duration::from_secs(5), "{cmd:?}: no wait");
        let err = out.err();
        assert!(
            err.contains("/run/mvtopo/lock"),
            "{cmd:?}: names the lock: {out}"
        );
        assert!(
            err.contains(&format!("process {me}")),
            "{cmd:?}: names the holder: {out}"
        );
    }
    let t0 = Instant::now();
    let out = e.expect(1, &["apply", "--lock-timeout", "1"], &f);
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_secs(1), "waited {waited:?}");
    assert!(out.err().contains("waiting up to 1 s"), "{out}");
    assert!(out.err().contains("gave up after 1 s"), "{out}");
    assert!(!e.lab.has_ns("red"), "nothing was changed");

    // Without a limit it waits, says so (stderr is a pipe here), and runs once the lock
    // is released.
    let mut run = start(&e, &["apply", f.to_str().expect("utf-8 path")]);
    run.when("it says it waits", Duration::from_secs(30), |r| {
        r.stderr().contains("waiting for the apply lock")
    });
    drop(held);
    let out = run.finish();
    assert_eq!(out.code, 0, "{out}");
    assert_kernel_matches(&e.lab, &base());
    e.expect(0, &["destroy"], &f);
}

/// A tmux server of the test's own (`-L`), killed with everything in it on drop.
struct Tmux(String);

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.0)
            .args(args)
            .output()
            .expect("run tmux")
    }
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p"]).stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// The seconds of the last "reverting in N s" on the screen.
fn countdown(screen: &str) -> Option<u64> {
    screen.lines().rev().find_map(|l| {
        l.split("reverting in ")
            .nth(1)?
            .split(' ')
            .next()?
            .parse()
            .ok()
    })
}

/// On a terminal (a tmux pane): a countdown that counts, and Enter confirms.
#[test]
fn try_on_a_terminal_counts_down_and_enter_confirms() {
    let Some(e) = E2e::new() else { return };
    if Command::new("tmux").arg("-V").output().is_err() {
        common::skip("tmux is not installed: the terminal side of `try` cannot be tested");
        return;
    }
    let f = e.write_topo("lab.toml", &base());
    e.expect(0, &["apply"], &f);
    let g = e.write_topo("changed.toml", &changed());
    let status = e.dir.path().join("status");
    let tmux = Tmux(format!("mvs{}-{}", std::process::id(), e.lab.prefix));
    let line = format!(
        "NO_COLOR=1 nsenter --net=/run/netns/{} {BIN} try {} --timeout 60; echo $? > {}; sleep 600",
        e.lab.ns("host"),
        g.display(),
        status.display()
    );
    let out = tmux.cmd(&["new-session", "-d", "-x", "100", "-y", "40", &line]);
    assert!(out.status.success(), "tmux: {out:?}");
    let start = Instant::now();
    let first = loop {
        if let Some(n) = countdown(&tmux.screen()) {
            break n;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "no countdown:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(2100));
    let screen = tmux.screen();
    let later = countdown(&screen).expect("countdown");
    assert!(
        later < first,
        "the countdown counts: {first} then {later}\n{screen}"
    );
    assert!(screen.contains("press Enter here"), "{screen}");
    assert_kernel_matches(&e.lab, &changed());
    tmux.cmd(&["send-keys", "Enter"]);
    let start = Instant::now();
    while !status.exists() {
        assert!(
            start.elapsed() < PATIENCE,
            "try never ended:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let code = std::fs::read_to_string(&status).expect("status");
    let screen = tmux.screen();
    assert_eq!(code.trim(), "0", "{screen}");
    assert!(
        screen.contains("try: confirmed; the change is kept"),
        "{screen}"
    );
    assert_kernel_matches(&e.lab, &changed());
    e.expect(0, &["plan", "--detailed-exitcode"], &g);
}

/// The session that started `try` dies (tmux killed: the terminal is closed and its
/// processes get SIGHUP, as when an SSH connection drops): the change is reverted, even
/// though nothing can be written to the terminal any more.
#[test]
fn try_reverts_when_its_terminal_goes_away() {
    let Some(e) = E2e::new() else { return };
    if Command::new("tmux").arg("-V").output().is_err() {
        common::skip("tmux is not installed: the terminal side of `try` cannot be tested");
        return;
    }
    let f = e.write_topo("lab.toml", &base());
    e.expect(0, &["apply"], &f);
    let before = canonical(&settled_dump(&e.lab));
    let g = e.write_topo("changed.toml", &changed());
    let tmux = Tmux(format!("mvs{}-{}", std::process::id(), e.lab.prefix));
    // `exec` all the way down, so the pane's process is mvtopo itself.
    let line = format!(
        "exec env NO_COLOR=1 nsenter --net=/run/netns/{} {BIN} try {} --timeout 120",
        e.lab.ns("host"),
        g.display()
    );
    let out = tmux.cmd(&["new-session", "-d", "-x", "100", "-y", "40", &line]);
    assert!(out.status.success(), "tmux: {out:?}");
    let pid: i32 =
        String::from_utf8_lossy(&tmux.cmd(&["display-message", "-p", "#{pane_pid}"]).stdout)
            .trim()
            .parse()
            .expect("pane pid");
    let start = Instant::now();
    while countdown(&tmux.screen()).is_none() {
        assert!(
            start.elapsed() < PATIENCE,
            "no countdown:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_kernel_matches(&e.lab, &changed());
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "mvtopo", "the pane runs mvtopo itself");
    tmux.cmd(&["kill-server"]);
    let start = Instant::now();
    // Gone, or a zombie nobody has reaped yet.
    while std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')))
    {
        assert!(start.elapsed() < PATIENCE, "try never ended");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_same_dump(
        &before,
        &canonical(&settled_dump(&e.lab)),
        "terminal closed",
    );
    assert_kernel_matches(&e.lab, &base());
}

// ---------------------------------------------------------------------------------------
// 5. Without a kernel: arguments and help.

#[test]
fn help_documents_the_exit_statuses_and_bad_seconds_are_usage_errors() {
    let help = bin(&["try", "--help"]);
    assert_eq!(help.code, 0, "{help}");
    for needle in [
        "3    reverted",
        "129",
        "130",
        "143",
        "SIGUSR1",
        "[default: 120]",
    ] {
        assert!(help.stdout.contains(needle), "{needle}: {help}");
    }
    for cmd in ["apply", "destroy"] {
        let h = bin(&[cmd, "--help"]);
        assert!(h.stdout.contains("130, 143 or 129"), "{cmd}: {h}");
        assert!(h.stdout.contains("--lock-timeout <SECS>"), "{cmd}: {h}");
    }
    assert!(bin(&["adopt", "--help"]).stdout.contains("--dry-run"));
    for args in [
        ["apply", "x.toml", "--lock-timeout", "soon"],
        ["try", "x.toml", "--timeout", "-1"],
        ["adopt", "x.toml", "--lock-timeout", "-2"],
    ] {
        let out = bin(&args);
        assert_eq!(out.code, 64, "{args:?}: {out}");
    }
    // Invalid input is found before any lock or kernel access.
    let dir = tempfile::tempdir().expect("temporary directory");
    let f = dir.path().join("bad.toml");
    std::fs::write(&f, "[[macvlan]]\nname = \"mv%d\"\n").expect("write");
    for cmd in ["try", "adopt"] {
        let out = bin(&[cmd, f.to_str().expect("utf-8 path"), "--lock-timeout", "0"]);
        assert_eq!(out.code, 65, "{cmd}: {out}");
    }
}
