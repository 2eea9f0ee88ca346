//! Snapshots under churn, in a test binary of its own: every snapshot reads every
//! namespace on the machine, so while this test churns its lab, other tests' snapshots in
//! the same process would see their dumps interrupted too (cargo runs test binaries one
//! after the other, the tests of one binary at once).
//!
//! Not root or no netns support: "SKIPPED: ..." and a failure, unless MVTOPO_ALLOW_SKIP=1.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Lab;
use mvtopo::apply::backend::Backend;

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
