//! Snapshots under churn, in a test binary of its own: every snapshot reads every
//! namespace on the machine, so while this test churns its lab, other tests' snapshots in
//! the same process would have to read it too (cargo runs test binaries one after the
//! other, the tests of one binary at once). A namespace outside a run's scope that keeps
//! changing is listed without its links (`Netlink::unsettled`); one the run depends on
//! fails it, changing nothing.
//!
//! Not root or no netns support: "SKIPPED: ..." and a failure, unless MVTOPO_ALLOW_SKIP=1.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod e2e_support;

use std::os::unix::process::CommandExt;

use common::Lab;
use e2e_support::*;
use mvtopo::apply::backend::Backend;

/// Addresses that stay put in a churned namespace: enough for an address dump to take
/// many recvmsg batches, between which the churn changes the namespace.
const STABLE: usize = 10_000;

/// A loop adding and deleting an address in namespace `ns` (which first gets a veth pair
/// holding `STABLE` addresses) as fast as `ip -batch` goes, stopped with its whole process
/// group however the test ends. Addresses, not links: deleting a link waits for an RCU
/// barrier (~16 ms here), too slow to interrupt every dump; an address change is cheap and
/// interrupts the address dump, which makes the snapshot read the namespace again.
struct Churn {
    child: std::process::Child,
    /// Holds the loop's script; removed after the loop is stopped.
    _script: tempfile::TempDir,
}

impl Churn {
    fn start(ns: &str) -> Churn {
        let mut stable = String::from("link add d0 type veth peer name d0p\n");
        for i in 0..STABLE {
            stable += &format!("address add 10.98.{}.{}/32 dev d0\n", i / 250, i % 250 + 1);
        }
        let out = common::with_stdin(
            std::process::Command::new("ip").args(["-n", ns, "-batch", "-"]),
            &stable,
        );
        assert!(out.status.success(), "{out:?}");
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("churn");
        let lines: String = (0..5000)
            .map(|_| "address add 10.99.0.1/32 dev d0\naddress del 10.99.0.1/32 dev d0\n")
            .collect();
        std::fs::write(&script, lines).unwrap();
        let child = std::process::Command::new("sh")
            .args([
                "-c",
                &format!(
                    "while :; do ip -n {ns} -force -batch {} >/dev/null 2>&1; done",
                    script.display()
                ),
            ])
            .process_group(0)
            .spawn()
            .unwrap();
        Churn {
            child,
            _script: dir,
        }
    }
}

impl Drop for Churn {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // The loop and the `ip` it runs: the whole group (its id is the loop's pid).
        let group = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// A namespace made outside the lab (prefix mvs<pid>), deleted however the test ends.
struct Foreign(String);

impl Foreign {
    fn new(short: &str) -> Foreign {
        let name = format!("mvs{}-{short}", std::process::id());
        common::run("ip", &["netns", "add", &name]);
        Foreign(name)
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .output();
    }
}

/// A namespace nothing in a topology refers to keeps changing: the snapshot without a
/// scope lists it without links (it could not have read it: every dump interrupted), and
/// `plan`, `apply`, `show` and `destroy` of a topology elsewhere succeed all the same.
#[test]
fn a_foreign_namespace_that_keeps_changing_does_not_fail_a_run() {
    let Some(e) = E2e::new() else { return };
    let foreign = Foreign::new("churn");
    let _churn = Churn::start(&foreign.0);
    // The churn is strong enough that a snapshot cannot read it consistently: before
    // scopes, every run on the machine failed like this.
    let mut nl = e.lab.netlink();
    let left_out = (0..20).any(|_| {
        let live = nl.snapshot().unwrap();
        let out = nl.unsettled().iter().any(|n| n.as_str() == foreign.0);
        if out {
            let ns = live
                .namespaces
                .iter()
                .find(|n| n.name.as_str() == foreign.0);
            assert!(ns.is_some(), "an unsettled namespace is still listed");
            assert_eq!(
                live.links_in(ns.map(|n| n.name.clone()).as_ref()).count(),
                0
            );
        }
        out
    });
    assert!(
        left_out,
        "the churn never kept a snapshot from reading its namespace"
    );
    drop(nl);

    let t = Topo::default().ns("a").veth("p0", "p0p", None).mv(Mv::new(
        Some("a"),
        "m0",
        "p0",
        "bridge",
    )
    .addrs(&["10.77.0.2/24"]));
    let file = e.write_topo("t.toml", &t);
    e.expect(0, &["plan"], &file);
    e.expect(0, &["apply"], &file);
    assert_kernel_matches(&e.lab, &t);
    e.expect(0, &["plan", "--detailed-exitcode"], &file);
    e.expect(0, &["show"], &file);
    let all = e.mvtopo(&["show"]);
    assert_eq!(all.code, 0, "{all}");
    e.expect(0, &["destroy"], &file);
    assert!(owned_links(&e.lab, "host", &e.name()).is_empty());
}

/// A lab with a topology applied: namespace "a" holding macvlan m0 on veth parent p0.
fn applied() -> Option<(E2e, Topo, std::path::PathBuf)> {
    let e = E2e::new()?;
    let t = Topo::default().ns("a").veth("p0", "p0p", None).mv(Mv::new(
        Some("a"),
        "m0",
        "p0",
        "bridge",
    ));
    let file = e.write_topo("t.toml", &t);
    e.expect(0, &["apply"], &file);
    Some((e, t, file))
}

/// The namespace the file owns keeps changing (another tool adds and removes links in it):
/// `plan` and `apply` fail after their retries (exit 1, naming the namespace and why), and
/// nothing is changed.
#[test]
fn the_files_own_namespace_that_keeps_changing_fails_changing_nothing() {
    let Some((e, t, _)) = applied() else {
        return;
    };
    let more = t.clone().mv(Mv::new(Some("a"), "m1", "p0", "bridge"));
    let more_file = e.write_topo("more.toml", &more);
    let ns = e.lab.ns("a");
    let churn = Churn::start(&ns);
    for args in [&["plan"][..], &["apply"][..]] {
        let out = e.expect(1, args, &more_file);
        let err = out.err();
        assert!(
            err.contains(&ns) && err.contains("kept changing"),
            "{args:?}: {out}"
        );
    }
    drop(churn);
    // Nothing was made: m1 is not there, m0 still is.
    let links = e.lab.ip("a", &["-j", "link", "show"]);
    assert!(!links.contains("\"m1\""), "{links}");
    assert!(links.contains("\"m0\""), "{links}");
}

/// Snapshots taken while another process keeps adding and deleting links in the same
/// namespace: dumps come back interrupted (NLM_F_DUMP_INTR) and are read again, and a snapshot never misses or doubles a link that stayed
/// put. Should the churn win every retry, the snapshot fails with EINTR instead of
/// returning a torn state. (On this kernel link dumps resume by ifindex, so even a flagged
/// dump holds every stable link: this checks that the retry path stays correct, not that
/// it is needed here.)
#[test]
fn snapshot_under_churn_is_consistent() {
    let Some(lab) = Lab::new() else { return };
    let stable = 300;
    let script: String = (0..stable)
        .map(|i| format!("link add s{i} type veth peer name s{i}p\n"))
        .collect();
    let host = lab.ns("host");
    let out = common::with_stdin(
        std::process::Command::new("ip").args(["-n", &host, "-batch", "-"]),
        &script,
    );
    assert!(out.status.success());
    /// Stops the churn loop however the test ends.
    struct Churn(std::process::Child);
    impl Drop for Churn {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let churn = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &host,
            "sh",
            "-c",
            "while :; do ip link add c0 type veth peer name c1; ip link del c0; sleep 0.02; done",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let churn = Churn(churn);
    let mut nl = lab.netlink();
    // The churn is paced (every ~20 ms): every snapshot on the machine reads this lab's
    // namespace too, and other tests running meanwhile must still get theirs.
    let mut ok = 0;
    for _ in 0..15 {
        match nl.snapshot() {
            Ok(live) => {
                ok += 1;
                let names: Vec<&str> = live
                    .links_in(None)
                    .map(|l| l.name.as_str())
                    .filter(|n| n.starts_with('s'))
                    .collect();
                assert_eq!(
                    names.len(),
                    2 * stable,
                    "a stable link was missed or doubled"
                );
            }
            Err(e) => assert_eq!(e.errno, Some(libc::EINTR), "{e}"),
        }
    }
    drop(churn);
    assert!(ok > 0, "every snapshot was interrupted");
}

/// A foreign namespace that keeps changing and holds a macvlan on one of the file's
/// parents: a plan depends on it (deleting the parent would take that macvlan along), so
/// `plan` fails after its retries, naming it, instead of leaving it out.
#[test]
fn a_changing_foreign_namespace_with_a_link_on_a_parent_fails_the_plan() {
    let Some((e, _, file)) = applied() else {
        return;
    };
    let foreign = Foreign::new("onparent");
    e.lab.ip(
        "host",
        &[
            "link", "add", "fm", "link", "p0", "type", "macvlan", "mode", "bridge",
        ],
    );
    e.lab
        .ip("host", &["link", "set", "fm", "netns", foreign.0.as_str()]);
    let _churn = Churn::start(&foreign.0);
    let out = e.expect(1, &["plan"], &file);
    let err = out.err();
    assert!(
        err.contains(&foreign.0) && err.contains("links of this topology"),
        "{out}"
    );
}
