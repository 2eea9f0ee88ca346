//! Batched link deletes (`Netlink::delete_links_batched`, `Request::DeleteLinks`) against
//! the real kernel, in a lab namespace: the listed links go in one request, the others stay
//! in their group, a missing name changes nothing, and a group delete the kernel refuses
//! deletes nothing and gives every link its group back. Prints the time beside one
//! RTM_DELLINK per link (a figure, never an assertion).

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

/// A lab whose host holds the veth up0 (peer up0p), the macvlans' parent.
fn lab_with_parent() -> Option<Lab> {
    let lab = Lab::new()?;
    lab.ip(
        "host",
        &["link", "add", "up0", "type", "veth", "peer", "name", "up0p"],
    );
    Some(lab)
}

#[test]
fn listed_links_go_in_one_batch_and_nothing_else() {
    let Some(lab) = lab_with_parent() else { return };
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

/// The kernel checks the whole group before deleting any of it (rtnl_group_dellink): with
/// `lo` in the batch (no dellink) the group delete is EOPNOTSUPP, nothing is deleted, and
/// every link moved into the group gets its old group back. Through `Backend::request`, as
/// `apply` makes it.
#[test]
fn a_batch_the_kernel_refuses_partway_deletes_nothing_and_restores_groups() {
    use mvtopo::apply::Request;
    use mvtopo::apply::backend::Backend;

    let Some(lab) = lab_with_parent() else { return };
    let mut links = macvlans(&lab, "g", 5);
    lab.ip("host", &["link", "set", "g1", "group", "5"]);
    links.insert(2, LinkName::new("lo").expect("a link name"));
    let mut nl = lab.netlink();
    let batch = Request::DeleteLinks {
        namespace: None,
        links: links.clone(),
        takes: vec![],
    };
    let err = nl
        .request(&batch, &lab.prefix)
        .expect_err("lo cannot be deleted");
    assert_eq!(err.errno, Some(libc::EOPNOTSUPP), "{err}");
    for l in &links {
        assert!(lab.has_link("host", l.as_str()), "{l} was deleted");
    }
    assert_eq!(lab.link("host", "g1")["group"], "5");
    for l in ["g0", "g2", "g3", "g4", "lo"] {
        assert_eq!(lab.link("host", l)["group"], "default", "{l}");
    }

    // Without lo, the same request deletes exactly the links it names.
    links.remove(2);
    nl.request(
        &Request::DeleteLinks {
            namespace: None,
            links: links[1..].to_vec(),
            takes: vec![],
        },
        &lab.prefix,
    )
    .expect("the batch");
    assert!(lab.has_link("host", "g0") && lab.has_link("host", "up0"));
    for l in &links[1..] {
        assert!(!lab.has_link("host", l.as_str()), "{l} is still there");
    }
}
