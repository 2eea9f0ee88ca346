//! Kernel backend benchmark: 1000 bridge macvlans over 4 veth parents into 50 namespaces,
//! made by `kernel::Netlink` and, for comparison, by one `ip -batch` script that creates
//! them directly in their namespaces. Prints figures; asserts nothing about speed.
//!
//! Needs root. Everything lives in namespaces named `mvb<pid>-*`, deleted on exit.
//! Usage: `mvtopo-bench [LINKS] [NAMESPACES]` (default 1000 50).

use std::error::Error;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mvtopo::apply::backend::Backend;
use mvtopo::kernel::Netlink;
use mvtopo::names::{Mode, NsName};
use mvtopo::plan::{Object, Step};
use mvtopo::testing::LabShape;

const PARENTS: usize = 4;

/// Deletes every namespace of the run, however the run ends.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(dir) = std::fs::read_dir("/run/netns") else {
            return;
        };
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&self.0) {
                let _ = Command::new("ip").args(["netns", "del", &name]).status();
                let _ = std::fs::remove_file(format!("/run/mvtopo/netns/{name}"));
            }
        }
    }
}

fn ip(args: &[&str]) -> Result<(), Box<dyn Error>> {
    let out = Command::new("ip").args(args).output()?;
    if !out.status.success() {
        return Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(())
}

/// Run `ip [-n NS] -batch -` on `script` and time it. Batch lines cannot carry `-n`, hence
/// one namespace per batch.
fn ip_batch(ns: &str, script: &str) -> Result<Duration, Box<dyn Error>> {
    let mut args = vec![];
    if !ns.is_empty() {
        args.extend(["-n", ns]);
    }
    args.extend(["-batch", "-"]);
    let start = Instant::now();
    let mut child = Command::new("ip")
        .args(&args)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!("ip -batch: {}", String::from_utf8_lossy(&out.stderr).trim()).into());
    }
    Ok(start.elapsed())
}

/// A host namespace with PARENTS veth parents, up.
fn host(name: &str) -> Result<(), Box<dyn Error>> {
    ip(&["netns", "add", name])?;
    for p in 0..PARENTS {
        let (a, b) = (format!("p{p}"), format!("p{p}x"));
        ip(&[
            "-n", name, "link", "add", &a, "type", "veth", "peer", "name", &b,
        ])?;
        ip(&["-n", name, "link", "set", &a, "up"])?;
        ip(&["-n", name, "link", "set", &b, "up"])?;
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Make the shape's macvlans (owned, up) through mvtopo's backend, one step each.
fn create_macvlans(nl: &mut Netlink, shape: &LabShape) -> Result<(), Box<dyn Error>> {
    for g in shape.macvlans() {
        let m = mvtopo::testing::macvlan_link(Some(g.namespace), &g.name, g.parent, Mode::Bridge);
        nl.execute(
            &Step::Create {
                object: Object::Macvlan(m),
            },
            "bench",
        )?;
    }
    Ok(())
}

/// Make `namespaces` namespaces and `links` macvlans in them through mvtopo's backend,
/// rooted in a lab namespace, read them back and delete them; print the times. Returns the
/// shape it made, for iproute2 to make the same.
fn bench_backend(
    prefix: &str,
    links: usize,
    namespaces: usize,
) -> Result<LabShape, Box<dyn Error>> {
    let nl_host = format!("{prefix}nl-host");
    host(&nl_host)?;
    let mut nl = Netlink::rooted_at(std::path::Path::new(&format!("/run/netns/{nl_host}")))?;
    // The macvlans are `testing::LabShape`'s, over the parents `host` made.
    let shape = LabShape {
        name: "bench".to_owned(),
        namespaces: (0..namespaces).map(|i| format!("{prefix}nl{i}")).collect(),
        parents: (0..PARENTS).map(|p| format!("p{p}")).collect(),
        macvlans: links,
        subnet: 0,
    };
    let ns_names: Vec<NsName> = shape
        .namespaces
        .iter()
        .map(|n| NsName::new(n))
        .collect::<Result<_, _>>()?;
    let start = Instant::now();
    for n in &ns_names {
        nl.execute(
            &Step::Create {
                object: Object::Namespace { name: n.clone() },
            },
            "bench",
        )?;
    }
    let t_ns = start.elapsed();
    let start = Instant::now();
    create_macvlans(&mut nl, &shape)?;
    let t_links = start.elapsed();
    let start = Instant::now();
    let live = nl.snapshot()?;
    let t_snap = start.elapsed();
    let seen = live
        .links
        .iter()
        .filter(|l| {
            l.owned_by("bench") && l.namespace.as_ref().is_some_and(|n| ns_names.contains(n))
        })
        .count();
    let start = Instant::now();
    for n in &ns_names {
        nl.execute(
            &Step::Delete {
                object: Object::Namespace { name: n.clone() },
            },
            "bench",
        )?;
    }
    let t_del = start.elapsed();
    drop(nl);
    println!("mvtopo backend:");
    println!("  create {namespaces} namespaces:        {}", ms(t_ns));
    println!(
        "  create {links} macvlans (owned, up): {} ({:.3} ms per link)",
        ms(t_links),
        t_links.as_secs_f64() * 1000.0 / links.max(1) as f64
    );
    println!(
        "  snapshot (all namespaces on the machine, {} links, {seen} of ours): {}",
        live.links.len(),
        ms(t_snap)
    );
    println!("  delete {namespaces} namespaces:        {}", ms(t_del));

    Ok(shape)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let links = args.first().copied().unwrap_or(1000);
    let namespaces = args.get(1).copied().unwrap_or(50).max(1);
    let prefix = format!("mvb{}-", std::process::id());
    let _cleanup = Cleanup(prefix.clone());
    println!("{links} bridge macvlans over {PARENTS} veth parents into {namespaces} namespaces");

    let shape = bench_backend(&prefix, links, namespaces)?;

    // --- iproute2, one batch each step, links created straight in their namespaces.
    let ip_host = format!("{prefix}ip-host");
    host(&ip_host)?;
    let ip_shape = LabShape {
        namespaces: (0..namespaces).map(|i| format!("{prefix}ip{i}")).collect(),
        ..shape
    };
    let script: String = ip_shape
        .namespaces
        .iter()
        .map(|n| format!("netns add {n}\n"))
        .collect();
    let t_ns = ip_batch("", &script)?;
    // `up` in the create request brings the link up with it; iproute2 would put an alias
    // in the same request, where the kernel ignores it, so the ip side has no ownership mark.
    let script: String = ip_shape
        .macvlans()
        .map(|g| {
            format!(
                "link add {} link {} netns {} up type macvlan mode bridge\n",
                g.name, g.parent, g.namespace
            )
        })
        .collect();
    let t_links = ip_batch(&ip_host, &script)?;
    println!("ip -batch (one process, one request per link):");
    println!("  create {namespaces} namespaces:        {}", ms(t_ns));
    println!(
        "  create {links} macvlans (up):         {} ({:.3} ms per link)",
        ms(t_links),
        t_links.as_secs_f64() * 1000.0 / links.max(1) as f64
    );
    Ok(())
}
