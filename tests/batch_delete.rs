//! `Netlink::delete_links_batched` against the real kernel, in a lab namespace: the listed
//! links go in one request, the others stay in their group, a missing name changes nothing.
//! Prints the time beside one RTM_DELLINK per link (a figure, never an assertion).

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Instant;

use common::Lab;
use mvtopo::names::LinkName;
use mvtopo::testing::ln;

fn macvlans(lab: &Lab, prefix: &str, n: usize) -> Vec<LinkName> {
    let script: String = (0..n)
        .map(|i| format!("link add {prefix}{i} link up0 type macvlan mode bridge\n"))
        .collect();
    let path = std::env::temp_dir().join(format!("{}-{prefix}.batch", lab.prefix));
    std::fs::write(&path, script).expect("write the batch");
    lab.ip("host", &["-batch", path.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_file(&path);
    (0..n).map(|i| ln(&format!("{prefix}{i}"))).collect()
}

#[test]
fn listed_links_go_in_one_batch_and_nothing_else() {
    let Some(lab) = Lab::new() else { return };
    lab.ip(
        "host",
        &["link", "add", "up0", "type", "veth", "peer", "name", "up0p"],
    );
    lab.ip(
        "host",
        &["link", "add", "keep", "link", "up0", "type", "macvlan"],
    );
    lab.ip("host", &["link", "set", "keep", "group", "5"]);
    let mut nl = lab.netlink();

    // A name that does not exist: an error before anything changes.
    let mut names = macvlans(&lab, "b", 100);
    names.push(ln("nosuch"));
    let err = nl
        .delete_links_batched(None, &names)
        .expect_err("a missing link is an error");
    assert_eq!(err.errno, Some(libc::ENODEV), "{err}");
    assert!(lab.has_link("host", "b0") && lab.has_link("host", "b99"));
    assert_eq!(lab.link("host", "b0")["group"], "default");
    names.pop();

    let start = Instant::now();
    nl.delete_links_batched(None, &names)
        .expect("batched delete");
    let batched = start.elapsed();
    let left: Vec<String> = lab
        .links("host")
        .iter()
        .filter_map(|l| l["ifname"].as_str().map(str::to_owned))
        .filter(|n| n.starts_with('b'))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(lab.has_link("host", "keep") && lab.has_link("host", "up0"));
    assert_eq!(lab.link("host", "keep")["group"], "5");

    // The same number of links, one request each, for the figure.
    let singles = macvlans(&lab, "s", 100);
    let start = Instant::now();
    for n in &singles {
        lab.ip("host", &["link", "del", n.as_str()]);
    }
    let single = start.elapsed();
    eprintln!(
        "100 macvlans: batched delete {:.1} ms, one `ip link del` each {:.1} ms",
        batched.as_secs_f64() * 1e3,
        single.as_secs_f64() * 1e3
    );
}
