//! A run killed outright (SIGKILL) never blocks the next one: the binary is killed at several
//! moments of a large apply, then `apply` converges, `plan --detailed-exitcode` is in sync and
//! `destroy` leaves nothing behind: no namespace, placeholder, marker, journal entry or link.
//! The two states a kill can leave (a link created but not marked as owned, an unmounted
//! namespace placeholder) are also made by hand, with the journal entries a killed run
//! leaves, and shown to be cleaned up without touching anything else.
//!
//! Runs the binary in a lab namespace like tests/e2e.rs (root; "SKIPPED" and a failure
//! without it, unless MVTOPO_ALLOW_SKIP=1).

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod e2e_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use e2e_support::*;

const JOURNAL_DIR: &str = mvtopo::kernel::JOURNAL_DIR;
const GROUP: u32 = mvtopo::kernel::CREATING_GROUP;

/// `namespaces` namespaces holding `per_ns` bridge macvlans each, on one veth parent the
/// topology creates.
fn large(namespaces: usize, per_ns: usize) -> Topo {
    let mut t = Topo::default().veth("up0", "up0p", None);
    for n in 0..namespaces {
        let ns = format!("n{n}");
        t = t.ns(&ns);
        for i in 0..per_ns {
            t = t.mv(Mv::new(Some(&ns), &format!("m{i}"), "up0", "bridge"));
        }
    }
    t
}

/// Start `mvtopo ARGS` in the lab host (as `E2e::mvtopo`), with extra environment. nsenter
/// without --fork execs the binary, so the child's pid is mvtopo's (journal files carry it).
fn spawn(e: &E2e, args: &[&str], env: &[(&str, String)]) -> std::process::Child {
    let mut c = e.command(args);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().expect("spawn nsenter mvtopo")
}

fn is_mounted(path: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(path))
}

/// Whether the process ended by SIGKILL.
fn killed(status: std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(libc::SIGKILL)
}

/// Journal files of the given processes.
fn journals_of(pids: &[u32]) -> Vec<String> {
    std::fs::read_dir(JOURNAL_DIR)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| pids.iter().any(|p| n.starts_with(&format!("{p}-"))))
                .collect()
        })
        .unwrap_or_default()
}

/// Markers under /run/mvtopo/netns for the lab's namespaces.
fn lab_markers(e: &E2e) -> Vec<String> {
    let mine = format!("{}-", e.lab.prefix);
    std::fs::read_dir(mvtopo::kernel::MARKER_DIR)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(&mine))
                .collect()
        })
        .unwrap_or_default()
}

/// Links in lab namespace `short` (loopback aside) as "name group alias".
fn links_of(e: &E2e, short: &str) -> Vec<String> {
    e.lab
        .links(short)
        .iter()
        .filter(|l| l["ifname"] != "lo")
        .map(|l| {
            format!(
                "{} {} {}",
                l["ifname"].as_str().unwrap_or("?"),
                l["group"],
                l["ifalias"].as_str().unwrap_or("-")
            )
        })
        .collect()
}

/// After `destroy`: only the lab host is left, with nothing in it, and no marker or journal
/// file of the runs.
fn assert_nothing_left(e: &E2e, pids: &[u32], what: &str) {
    assert_eq!(
        e.lab.all_namespaces(),
        vec![e.lab.ns("host")],
        "{what}: lab entries under /run/netns (namespaces or placeholders)"
    );
    assert_eq!(links_of(e, "host"), Vec::<String>::new(), "{what}: links");
    assert_eq!(lab_markers(e), Vec::<String>::new(), "{what}: markers");
    assert_eq!(journals_of(pids), Vec::<String>::new(), "{what}: journals");
}

/// Apply after a kill: exits 0, and then the file is in sync and the kernel holds it.
fn converge(e: &E2e, f: &Path, t: &Topo, what: &str) {
    let out = e.mvtopo(&["apply", f.to_str().expect("utf-8 path")]);
    assert_eq!(out.code, 0, "{what}: apply after the kill: {out}");
    e.expect(0, &["plan", "--detailed-exitcode"], f);
    assert_kernel_matches(&e.lab, t);
    for short in shorts(&e.lab) {
        let stray: Vec<String> = links_of(e, &short)
            .into_iter()
            .filter(|l| l.contains(&GROUP.to_string()))
            .collect();
        assert!(
            stray.is_empty(),
            "{what}: links left in the creating group: {stray:?}"
        );
    }
}

/// A run to kill: what it is called, its extra environment, and the delay before the kill
/// (`None`: the environment's hook kills it).
type Kill = (String, Vec<(&'static str, String)>, Option<Duration>);

#[test]
fn sigkill_at_any_moment_of_a_large_apply_never_blocks_the_next_run() {
    let Some(e) = E2e::new() else { return };
    // 4 namespaces x 50 macvlans: 200 macvlans, a veth, 4 namespaces.
    let t = large(4, 50);
    let f = e.write_topo("large.toml", &t);
    let mut pids = Vec::new();

    // The time a whole apply takes here, to place the timed kills inside it.
    let start = Instant::now();
    let mut c = spawn(&e, &["apply", f.to_str().unwrap()], &[]);
    pids.push(c.id());
    assert!(c.wait().unwrap().success(), "the first apply failed");
    let full = start.elapsed();
    e.expect(0, &["destroy"], &f);
    assert_nothing_left(&e, &pids, "after the first destroy");

    // Killed right after the N-th link create, before its claim: the one moment that leaves
    // an unmarked link (1: the veth; 2: the first macvlan; 120: one in the third namespace);
    // and before a namespace is mounted on its placeholder. The hooks exist in test (debug)
    // builds only.
    let mut kills: Vec<Kill> = Vec::new();
    if cfg!(debug_assertions) {
        for n in [1, 2, 120] {
            kills.push((
                format!("killed after create {n}"),
                vec![("MVTOPO_TEST_CRASH_AFTER_CREATE", n.to_string())],
                None,
            ));
        }
        // Between a namespace's placeholder (and marker) and its mount.
        kills.push((
            "killed before the mount of namespace 3".into(),
            vec![("MVTOPO_TEST_CRASH_BEFORE_MOUNT", "3".into())],
            None,
        ));
    } else {
        common::skip("the kill-after-create hook is compiled into debug builds only");
    }
    // And at moments only timing picks: namespaces being made, macvlans, the verify.
    for pct in [5u32, 50, 90] {
        kills.push((
            format!("killed at {pct}% of an apply"),
            vec![],
            Some(full * pct / 100),
        ));
    }

    let mut hit = 0;
    for (what, env, after) in &kills {
        let mut c = spawn(&e, &["apply", f.to_str().unwrap()], env);
        pids.push(c.id());
        let status = match after {
            Some(d) => {
                std::thread::sleep(*d);
                let _ = c.kill();
                c.wait().unwrap()
            }
            None => c.wait().unwrap(),
        };
        if killed(status) {
            hit += 1;
        } else {
            assert!(
                after.is_some(),
                "{what}: the hook did not kill the run ({status})"
            );
        }
        if after.is_none() {
            // The hooks stop at the half-made states themselves: prove they are there.
            let pid = c.id();
            assert_eq!(journals_of(&[pid]).len(), 1, "{what}: no journal left");
            let half_made = if env[0].0.ends_with("BEFORE_MOUNT") {
                e.lab
                    .all_namespaces()
                    .iter()
                    .any(|n| !is_mounted(&format!("/run/netns/{n}")))
            } else {
                shorts(&e.lab).iter().any(|s| {
                    links_of(&e, s)
                        .iter()
                        .any(|l| l.contains(&GROUP.to_string()))
                })
            };
            assert!(half_made, "{what}: the half-made object is not there");
        }
        converge(&e, &f, &t, what);
        e.expect(0, &["destroy"], &f);
        assert_nothing_left(&e, &pids, what);
    }
    assert!(
        hit >= kills.len() - 2,
        "only {hit} of {} runs were killed before they finished",
        kills.len()
    );

    // A kill during destroy, too: the next destroy finishes the job.
    e.expect(0, &["apply"], &f);
    let mut c = spawn(&e, &["destroy", f.to_str().unwrap()], &[]);
    pids.push(c.id());
    std::thread::sleep(full / 10);
    let _ = c.kill();
    let _ = c.wait();
    e.expect(0, &["destroy"], &f);
    assert_nothing_left(&e, &pids, "destroy killed, destroyed again");
}

// ---------------------------------------------------------------------------------------
// The crash states, made by hand

/// A journal file as a killed run leaves it (unlocked: its process is gone), removed by Drop
/// if the test fails before a run settles it. Its "pid" is above the kernel's pid_max, so it
/// can never name a live process.
struct HandJournal(PathBuf);

impl HandJournal {
    fn write(e: &E2e, lines: &[String]) -> HandJournal {
        std::fs::create_dir_all(JOURNAL_DIR).unwrap();
        let p = Path::new(JOURNAL_DIR).join(format!("4194305-{}", e.lab.prefix));
        std::fs::write(&p, lines.concat()).unwrap();
        HandJournal(p)
    }
}

impl Drop for HandJournal {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The namespace cookie of /run/netns/NAME (SO_NETNS_COOKIE of a socket made inside it).
#[allow(unsafe_code)]
fn cookie_of(ns: &str) -> u64 {
    let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
    std::thread::spawn(move || {
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let s = nix::sys::socket::socket(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::Datagram,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        let mut cookie: u64 = 0;
        let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
        // SAFETY: the socket is open; `cookie` and `len` are valid for writes of the sizes
        // given.
        let r = unsafe {
            libc::getsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&s),
                libc::SOL_SOCKET,
                libc::SO_NETNS_COOKIE,
                (&mut cookie as *mut u64).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0, "SO_NETNS_COOKIE");
        cookie
    })
    .join()
    .unwrap()
}

fn link_intent(id: u64, cookie: u64, ns: Option<&str>, name: &str) -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let v = serde_json::json!({"id": id, "intent": {"link": {
        "cookie": cookie, "boot": boot.trim(), "namespace": ns, "name": name}}});
    format!("{v}\n")
}

/// A macvlan created but never claimed (in the creating group, no alias) is removed by the
/// next apply and made again as the file says; links of the same names that are someone
/// else's (group 0, no alias) or claimed (alias set) are left alone.
#[test]
fn a_link_created_but_never_claimed_is_removed_by_the_next_apply() {
    let Some(e) = E2e::new() else { return };
    e.lab.add_ns("red");
    e.lab.ip(
        "host",
        &["link", "add", "up0", "type", "veth", "peer", "name", "up0p"],
    );
    e.lab.ip("host", &["link", "set", "up0", "up"]);
    let red = e.lab.ns("red");
    // Half-made: m0 in red, m1 in the host.
    let group = GROUP.to_string();
    e.lab.ip(
        "host",
        &[
            "link", "add", "m0", "link", "up0", "netns", &red, "group", &group, "type", "macvlan",
            "mode", "bridge",
        ],
    );
    e.lab.ip(
        "host",
        &[
            "link", "add", "m1", "link", "up0", "group", &group, "type", "macvlan", "mode",
            "bridge",
        ],
    );
    // Someone else's link under a journaled name, and a claimed one in the group (cannot
    // happen, but recovery must still leave a link with an alias alone).
    e.lab.ip(
        "red",
        &["link", "add", "f0", "type", "veth", "peer", "name", "f0p"],
    );
    e.lab.ip(
        "host",
        &[
            "link", "add", "c0", "link", "up0", "group", &group, "type", "macvlan", "mode",
            "bridge",
        ],
    );
    e.lab
        .ip("host", &["link", "set", "c0", "alias", "someone:else"]);
    // Half-made-looking, but the journal entry naming it is of another boot: not the link
    // that entry was about.
    e.lab.ip(
        "host",
        &[
            "link", "add", "h0", "link", "up0", "group", &group, "type", "macvlan", "mode",
            "bridge",
        ],
    );

    let t = Topo::default()
        .ns("red")
        .existing("up0", None)
        .mv(Mv::new(Some("red"), "m0", "up0", "bridge"))
        .mv(Mv::new(None, "m1", "up0", "bridge"));
    let f = e.write_topo("t.toml", &t);
    // Before recovery, the half-made links look foreign: plan stops on them.
    let out = e.expect(1, &["plan"], &f);
    assert!(out.err().contains("not owned"), "{out}");

    let red_cookie = cookie_of(&red);
    let host_cookie = cookie_of(&e.lab.ns("host"));
    let journal = HandJournal::write(
        &e,
        &[
            link_intent(1, red_cookie, Some(&red), "m0"),
            link_intent(2, host_cookie, None, "m1"),
            link_intent(3, red_cookie, Some(&red), "f0"),
            link_intent(4, host_cookie, None, "c0"),
            // Settled: done lines cancel their entries.
            link_intent(5, host_cookie, None, "up0"),
            "{\"done\":5}\n".to_owned(),
            // A link of another boot died with it: not looked for.
            link_intent(6, host_cookie, None, "h0").replace("\"boot\":\"", "\"boot\":\"0"),
        ],
    );
    let m0_before = e.lab.link("red", "m0")["ifindex"].clone();
    let out = e.expect(0, &["apply"], &f);
    // Another run of this suite may have settled the journal first: the note is then in its
    // output. What must hold is the end state.
    if !out.stderr.is_empty() {
        assert!(
            out.err().contains("never marked as owned") || !journal.0.exists(),
            "{out}"
        );
    }
    assert!(!journal.0.exists(), "the journal was not settled");
    assert_kernel_matches(&e.lab, &t);
    assert_ne!(
        e.lab.link("red", "m0")["ifindex"],
        m0_before,
        "the half-made m0 was kept instead of made again"
    );
    assert!(e.lab.has_link("red", "f0"), "a foreign link was deleted");
    assert_eq!(e.lab.link("host", "c0")["ifalias"], "someone:else");
    assert!(
        e.lab.has_link("host", "h0"),
        "a link named by another boot's entry was deleted"
    );
    assert!(e.lab.has_link("host", "up0"));
    e.expect(0, &["plan", "--detailed-exitcode"], &f);
    e.expect(0, &["destroy"], &f);
    assert!(e.lab.has_link("red", "f0") && e.lab.has_link("host", "c0"));
}

/// An unmounted placeholder a killed run left under /run/netns is no namespace to `show`
/// or `plan`, and the next apply removes it (the journal names it) and makes the namespace.
/// A placeholder the journal does not name (someone else's, e.g. `ip netns add` killed
/// halfway) is a foreign object in the way: apply says so and leaves it.
#[test]
fn a_namespace_placeholder_left_by_a_kill_is_removed_by_the_next_apply() {
    let Some(e) = E2e::new() else { return };
    let x = e.lab.ns("x");
    let path = format!("/run/netns/{x}");
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mvtopo::kernel::PLACEHOLDER_MODE)
            .open(&path)
            .unwrap();
        std::fs::set_permissions(
            &path,
            std::os::unix::fs::PermissionsExt::from_mode(mvtopo::kernel::PLACEHOLDER_MODE),
        )
        .unwrap();
    }
    let t = Topo::default().ns("x");
    let f = e.write_topo("t.toml", &t);
    let show = e.mvtopo(&["show", "--format", "json"]);
    assert_eq!(show.code, 0, "{show}");
    assert!(
        !show.stdout.contains(&format!("\"{x}\"")),
        "show lists the placeholder as a namespace: {show}"
    );
    let plan = e.expect(0, &["plan"], &f);
    assert!(plan.stdout.contains("create namespace"), "{plan}");

    let journal = HandJournal::write(
        &e,
        &[format!(
            "{}\n",
            serde_json::json!({"id": 1, "intent": {"namespace": {"name": x}}})
        )],
    );
    e.expect(0, &["apply"], &f);
    assert!(!journal.0.exists(), "the journal was not settled");
    common::run("ip", &["netns", "exec", &x, "true"]);
    let owned = e.mvtopo(&["show", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&owned.stdout).unwrap();
    let ns = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == x.as_str())
        .cloned()
        .unwrap_or_default();
    assert_eq!(ns["owner"], e.name().as_str(), "{owned}");
    e.expect(0, &["destroy"], &f);
    assert!(!Path::new(&path).exists());

    // Mode 0, as `ip netns add` makes it, and no journal entry: in the way, left alone.
    std::fs::File::create(&path).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let out = e.expect(1, &["apply"], &f);
    assert!(
        out.err().contains("in the way") && out.err().contains(&path),
        "{out}"
    );
    assert!(Path::new(&path).exists(), "a foreign file was removed");
    std::fs::remove_file(&path).unwrap();
}
