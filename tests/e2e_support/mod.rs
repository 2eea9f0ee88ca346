//! End-to-end support: the built `mvtopo` binary run inside a lab namespace (nsenter, network
//! namespace only), topology files generated with the lab's unique prefix, and iproute2 dumps
//! (`ip -j`) as the independent oracle of what the kernel holds.
#![allow(dead_code)]

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use serde_json::Value;

use crate::common::{Lab, run};

pub const BIN: &str = env!("CARGO_BIN_EXE_mvtopo");

/// What one run of the binary did.
#[derive(Debug, Clone)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// stderr with miette's wrapping undone: the report is wrapped at 80 columns when
    /// stderr is not a terminal, and a wrapped line continues as `  │ ` followed directly by
    /// text, where the report's own lines are indented further (`  │   hint: ...`).
    pub fn err(&self) -> String {
        let mut out = String::with_capacity(self.stderr.len());
        for line in self.stderr.lines() {
            let t = line.trim_start();
            let continued = t
                .strip_prefix("│ ")
                .filter(|rest| !rest.is_empty() && !rest.starts_with(' '));
            match continued {
                Some(rest) if !out.is_empty() => {
                    if out.ends_with('\n') {
                        out.pop();
                    }
                    out.push(' ');
                    out.push_str(rest);
                    out.push('\n');
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }
}

impl From<std::process::Output> for Out {
    fn from(out: std::process::Output) -> Out {
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// `mvtopo ARGS` as the invoking user, outside any lab (for what needs no kernel).
pub fn bin(args: &[&str]) -> Out {
    Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run mvtopo")
        .into()
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A lab plus a private directory for the topology files a test writes.
pub struct E2e {
    pub lab: Lab,
    pub dir: tempfile::TempDir,
}

impl E2e {
    /// `None` (after the loud SKIPPED) when this machine cannot run kernel tests.
    pub fn new() -> Option<E2e> {
        let lab = Lab::new()?;
        let dir = tempfile::tempdir().expect("temporary directory");
        Some(E2e { lab, dir })
    }

    /// The topology name: the lab's prefix, so no two tests (or processes) share an owner.
    pub fn name(&self) -> String {
        self.lab.prefix.clone()
    }

    /// Write `text` to `file` in the test's directory.
    pub fn write(&self, file: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(file);
        std::fs::write(&p, text).expect("write topology file");
        p
    }

    /// Write `t` (rendered for this lab) to `file`.
    pub fn write_topo(&self, file: &str, t: &Topo) -> PathBuf {
        self.write(file, &t.toml(&self.lab))
    }

    /// `nsenter --net=<the lab's host namespace>`, with NO_COLOR=1: what follows runs in the
    /// lab's host. `nsenter --net` switches only the network namespace: `ip netns exec` would
    /// also unshare the mount namespace and hide the namespaces mvtopo creates under
    /// /run/netns (ENVIRONMENT.md). Without `--fork` it execs the program, so the child's pid
    /// is the program's.
    pub fn in_host(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.lab.ns("host")))
            .env("NO_COLOR", "1");
        c
    }

    /// `mvtopo ARGS` inside the lab's host namespace, not started yet.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = self.in_host();
        c.arg(BIN).args(args);
        c
    }

    /// `mvtopo ARGS` inside the lab's host namespace.
    pub fn mvtopo(&self, args: &[&str]) -> Out {
        self.command(args)
            .output()
            .expect("run nsenter mvtopo")
            .into()
    }

    /// `mvtopo ARGS FILE`, which must exit with `code`.
    pub fn expect(&self, code: i32, args: &[&str], file: &Path) -> Out {
        let mut all = args.to_vec();
        let f = file.to_str().expect("utf-8 path");
        all.push(f);
        let out = self.mvtopo(&all);
        assert_eq!(out.code, code, "mvtopo {}: {out}", all.join(" "));
        out
    }
}

// ---------------------------------------------------------------------------------------
// Topologies described in the test, rendered as TOML with the lab's namespace names.

/// A macvlan as the test wants it. `ns` is a lab-short namespace name ("red" becomes
/// "<prefix>-red"); `None` is the namespace mvtopo runs in (the lab host).
#[derive(Debug, Clone)]
pub struct Mv {
    pub ns: Option<String>,
    pub name: String,
    pub parent: String,
    pub mode: Option<String>,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    pub up: bool,
    pub addrs: Vec<String>,
    /// (to, via): to = "default" or a network.
    pub routes: Vec<(String, Option<String>)>,
    pub source_macs: Vec<String>,
}

impl Mv {
    pub fn new(ns: Option<&str>, name: &str, parent: &str, mode: &str) -> Mv {
        Mv {
            ns: ns.map(str::to_owned),
            name: name.to_owned(),
            parent: parent.to_owned(),
            mode: Some(mode.to_owned()),
            mac: None,
            mtu: None,
            up: true,
            addrs: vec![],
            routes: vec![],
            source_macs: vec![],
        }
    }
    pub fn mac(mut self, m: &str) -> Mv {
        self.mac = Some(m.to_owned());
        self
    }
    pub fn mtu(mut self, m: u32) -> Mv {
        self.mtu = Some(m);
        self
    }
    pub fn down(mut self) -> Mv {
        self.up = false;
        self
    }
    pub fn addrs(mut self, a: &[&str]) -> Mv {
        self.addrs = a.iter().map(|s| (*s).to_owned()).collect();
        self
    }
    pub fn route(mut self, to: &str, via: Option<&str>) -> Mv {
        self.routes.push((to.to_owned(), via.map(str::to_owned)));
        self
    }
    pub fn sources(mut self, m: &[&str]) -> Mv {
        self.source_macs = m.iter().map(|s| (*s).to_owned()).collect();
        self
    }
    /// The mode the kernel reports: the file's, or vepa (the default).
    pub fn kernel_mode(&self) -> &str {
        self.mode.as_deref().unwrap_or("vepa")
    }
}

#[derive(Debug, Clone)]
pub enum ParentSpec {
    /// `create = "veth"` with its peer (and the peer's lab-short namespace).
    Veth {
        peer: String,
        peer_ns: Option<String>,
        mtu: Option<u32>,
    },
    /// An existing interface (no `create`), made by hand in the lab host.
    Existing { mtu: Option<u32> },
}

#[derive(Debug, Clone, Default)]
pub struct Topo {
    /// The topology name; default: the lab's prefix.
    pub name: Option<String>,
    /// Lab-short names of the `[namespace.*]` tables.
    pub namespaces: Vec<String>,
    pub parents: Vec<(String, ParentSpec)>,
    pub macvlans: Vec<Mv>,
}

fn q(s: &str) -> String {
    serde_json::to_string(s).expect("string as JSON")
}

impl Topo {
    pub fn named(mut self, name: &str) -> Topo {
        self.name = Some(name.to_owned());
        self
    }
    pub fn ns(mut self, short: &str) -> Topo {
        self.namespaces.push(short.to_owned());
        self
    }
    pub fn veth(mut self, name: &str, peer: &str, peer_ns: Option<&str>) -> Topo {
        self.parents.push((
            name.to_owned(),
            ParentSpec::Veth {
                peer: peer.to_owned(),
                peer_ns: peer_ns.map(str::to_owned),
                mtu: None,
            },
        ));
        self
    }
    pub fn existing(mut self, name: &str, mtu: Option<u32>) -> Topo {
        self.parents
            .push((name.to_owned(), ParentSpec::Existing { mtu }));
        self
    }
    pub fn mv(mut self, m: Mv) -> Topo {
        self.macvlans.push(m);
        self
    }
    pub fn without(mut self, ns: Option<&str>, name: &str) -> Topo {
        let before = self.macvlans.len();
        self.macvlans
            .retain(|m| !(m.ns.as_deref() == ns && m.name == name));
        assert_eq!(self.macvlans.len() + 1, before, "no macvlan {ns:?}/{name}");
        self
    }
    pub fn get(&mut self, ns: Option<&str>, name: &str) -> &mut Mv {
        self.macvlans
            .iter_mut()
            .find(|m| m.ns.as_deref() == ns && m.name == name)
            .unwrap_or_else(|| panic!("no macvlan {ns:?}/{name}"))
    }

    /// The topology file for `lab`: named after the lab's prefix, every namespace prefixed.
    pub fn toml(&self, lab: &Lab) -> String {
        let name = self.name.as_deref().unwrap_or(&lab.prefix);
        let mut s = format!("name = {}\n\n", q(name));
        for n in &self.namespaces {
            s += &format!("[namespace.{}]\n", q(&lab.ns(n)));
        }
        for (name, p) in &self.parents {
            s += &format!("\n[parent.{}]\n", q(name));
            match p {
                ParentSpec::Veth { peer, peer_ns, mtu } => {
                    s += "create = \"veth\"\n";
                    s += &format!("peer = {}\n", q(peer));
                    if let Some(n) = peer_ns {
                        s += &format!("peer-namespace = {}\n", q(&lab.ns(n)));
                    }
                    if let Some(m) = mtu {
                        s += &format!("mtu = {m}\n");
                    }
                }
                ParentSpec::Existing { mtu } => {
                    if let Some(m) = mtu {
                        s += &format!("mtu = {m}\n");
                    }
                }
            }
        }
        for m in &self.macvlans {
            s += "\n[[macvlan]]\n";
            s += &format!("name = {}\nparent = {}\n", q(&m.name), q(&m.parent));
            if let Some(n) = &m.ns {
                s += &format!("namespace = {}\n", q(&lab.ns(n)));
            }
            if let Some(mode) = &m.mode {
                s += &format!("mode = {}\n", q(mode));
            }
            if let Some(mac) = &m.mac {
                s += &format!("mac = {}\n", q(mac));
            }
            if let Some(mtu) = m.mtu {
                s += &format!("mtu = {mtu}\n");
            }
            if !m.up {
                s += "up = false\n";
            }
            let list = |v: &[String]| v.iter().map(|a| q(a)).collect::<Vec<_>>().join(", ");
            if !m.addrs.is_empty() {
                s += &format!("addresses = [{}]\n", list(&m.addrs));
            }
            if !m.routes.is_empty() {
                let r: Vec<String> = m
                    .routes
                    .iter()
                    .map(|(to, via)| match via {
                        Some(v) => format!("{{ to = {}, via = {} }}", q(to), q(v)),
                        None => format!("{{ to = {} }}", q(to)),
                    })
                    .collect();
                s += &format!("routes = [{}]\n", r.join(", "));
            }
            if !m.source_macs.is_empty() {
                s += &format!("source-macs = [{}]\n", list(&m.source_macs));
            }
        }
        s
    }
}

// ---------------------------------------------------------------------------------------
// The kernel, as iproute2 reports it.

/// Lab-short names of every lab namespace, "host" first.
pub fn shorts(lab: &Lab) -> Vec<String> {
    let mut v = vec!["host".to_owned()];
    let mut rest: Vec<String> = lab
        .all_namespaces()
        .into_iter()
        .map(|full| full[lab.prefix.len() + 1..].to_owned())
        .filter(|s| s != "host")
        .collect();
    rest.sort();
    v.extend(rest);
    v
}

pub fn is_up(l: &Value) -> bool {
    l["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == "UP"))
}

pub fn info(l: &Value) -> &Value {
    &l["linkinfo"]["info_data"]
}

pub fn source_macs(l: &Value) -> Vec<String> {
    let mut v: Vec<String> = info(l)["macaddr_data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Routes on `dev` that somebody added (not the kernel's own prefix and link-local routes),
/// both families, as "dst via gw" / "dst".
pub fn user_routes(lab: &Lab, short: &str, dev: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for fam in ["-4", "-6"] {
        for r in lab.routes(short, fam) {
            if r["dev"] != dev || r["protocol"] == "kernel" {
                continue;
            }
            let dst = r["dst"].as_str().unwrap_or("?");
            match r["gateway"].as_str() {
                Some(g) => out.insert(format!("{dst} via {g}")),
                None => out.insert(dst.to_owned()),
            };
        }
    }
    out
}

/// A route as `user_routes` writes it.
pub fn route_text(to: &str, via: &Option<String>) -> String {
    match via {
        Some(v) => format!("{to} via {v}"),
        None => to.to_owned(),
    }
}

/// Addresses of `dev` other than IPv6 link-local ones.
pub fn user_addrs(lab: &Lab, short: &str, dev: &str) -> BTreeSet<String> {
    lab.addrs(short, dev)
        .into_iter()
        .map(|(a, _)| a)
        .filter(|a| !a.starts_with("fe80:"))
        .collect()
}

/// Links in lab namespace `short` whose alias says topology `owner` owns them.
pub fn owned_links(lab: &Lab, short: &str, owner: &str) -> Vec<Value> {
    let alias = format!("mvtopo:{owner}");
    lab.links(short)
        .into_iter()
        .filter(|l| l["ifalias"] == alias.as_str())
        .collect()
}

/// The kernel holds exactly the macvlans of `t` (and no other macvlan owned by the lab's
/// topology), each with its mode, MTU, MAC, up state, alias, parent, source list, addresses
/// and routes, as `ip -j` reports them.
pub fn assert_kernel_matches(lab: &Lab, t: &Topo) {
    let m = kernel_mismatches(lab, t);
    assert!(
        m.is_empty(),
        "the kernel differs from the file:\n{}",
        m.join("\n")
    );
}

/// Every way the kernel differs from `t` (see `assert_kernel_matches`), one line each:
/// "CONTEXT FIELD: kernel X, file Y".
pub fn kernel_mismatches(lab: &Lab, t: &Topo) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |ctx: &str, field: &str, got: String, want: String| {
        if got != want {
            out.push(format!("{ctx} {field}: kernel {got}, file {want}"));
        }
    };
    let owner = t.name.clone().unwrap_or_else(|| lab.prefix.clone());
    let alias = format!("mvtopo:{owner}");
    let ns_of = |m: &Mv| m.ns.clone().unwrap_or_else(|| "host".to_owned());
    for short in shorts(lab) {
        let want: BTreeSet<&str> = t
            .macvlans
            .iter()
            .filter(|m| ns_of(m) == short)
            .map(|m| m.name.as_str())
            .collect();
        let got: BTreeSet<String> = owned_links(lab, &short, &owner)
            .iter()
            .filter(|l| l["linkinfo"]["info_kind"] == "macvlan")
            .map(|l| l["ifname"].as_str().unwrap_or("?").to_owned())
            .collect();
        let got: BTreeSet<&str> = got.iter().map(String::as_str).collect();
        check(
            &short,
            "owned macvlans",
            format!("{got:?}"),
            format!("{want:?}"),
        );
    }
    for m in &t.macvlans {
        let short = ns_of(m);
        let ctx = format!("{short}/{}", m.name);
        if !lab.has_ns(&short) {
            check(&ctx, "namespace exists", "no".into(), "yes".into());
            continue;
        }
        let Some(l) = lab
            .links(&short)
            .into_iter()
            .find(|l| l["ifname"] == m.name.as_str())
        else {
            check(&ctx, "exists", "no".into(), "yes".into());
            continue;
        };
        let parent = lab.link("host", &m.parent);
        let s = |v: &Value| v.to_string();
        check(
            &ctx,
            "kind",
            s(&l["linkinfo"]["info_kind"]),
            "\"macvlan\"".into(),
        );
        check(
            &ctx,
            "mode",
            s(&info(&l)["mode"]),
            format!("{:?}", m.kernel_mode()),
        );
        check(&ctx, "alias", s(&l["ifalias"]), format!("{alias:?}"));
        let want_mtu = m.mtu.map(u64::from).or_else(|| parent["mtu"].as_u64());
        check(
            &ctx,
            "mtu",
            format!("{:?}", l["mtu"].as_u64()),
            format!("{want_mtu:?}"),
        );
        match (&m.mac, m.kernel_mode()) {
            (Some(mac), _) => check(&ctx, "mac", s(&l["address"]), format!("{mac:?}")),
            // A passthru link takes its parent's MAC.
            (None, "passthru") => check(&ctx, "mac", s(&l["address"]), s(&parent["address"])),
            (None, _) => check(
                &ctx,
                "has a mac",
                l["address"].is_string().to_string(),
                "true".into(),
            ),
        }
        check(&ctx, "up", is_up(&l).to_string(), m.up.to_string());
        // The parent: by name in the same namespace, by ifindex across namespaces.
        match l["link"].as_str() {
            Some(p) => {
                check(&ctx, "parent namespace", short.clone(), "host".into());
                check(&ctx, "parent", p.to_owned(), m.parent.clone());
            }
            None => check(
                &ctx,
                "parent ifindex",
                s(&l["link_index"]),
                s(&parent["ifindex"]),
            ),
        }
        let mut want_src = m.source_macs.clone();
        want_src.sort();
        check(
            &ctx,
            "source macs",
            format!("{:?}", source_macs(&l)),
            format!("{want_src:?}"),
        );
        let want_addrs: BTreeSet<String> = m.addrs.iter().cloned().collect();
        check(
            &ctx,
            "addresses",
            format!("{:?}", user_addrs(lab, &short, &m.name)),
            format!("{want_addrs:?}"),
        );
        let want_routes: BTreeSet<String> = m
            .routes
            .iter()
            .map(|(to, via)| route_text(to, via))
            .collect();
        check(
            &ctx,
            "routes",
            format!("{:?}", user_routes(lab, &short, &m.name)),
            format!("{want_routes:?}"),
        );
    }
    out
}

/// Everything iproute2 says about every lab namespace (links with details, addresses,
/// routes of both families in every table) plus the lab's entries under /run/netns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    pub netns: Vec<String>,
    pub per_ns: BTreeMap<String, [Value; 4]>,
}

pub fn dump(lab: &Lab) -> Dump {
    let mut netns = lab.all_namespaces();
    netns.sort();
    let mut per_ns = BTreeMap::new();
    for short in shorts(lab) {
        let parse = |args: &[&str]| -> Value {
            serde_json::from_str(&lab.ip(&short, args)).expect("ip -j output")
        };
        let mut links = parse(&["-j", "-d", "link", "show"]);
        without_timers(&mut links);
        // `ip addr` repeats each link's flags and operstate: the same carrier rule.
        let mut addresses = parse(&["-j", "addr", "show"]);
        without_timers(&mut addresses);
        per_ns.insert(
            short.clone(),
            [
                links,
                addresses,
                parse(&["-4", "-j", "route", "show", "table", "all"]),
                parse(&["-6", "-j", "route", "show", "table", "all"]),
            ],
        );
    }
    Dump { netns, per_ns }
}

/// A bridge's and its ports' running timers (`hello_timer`, `gc_timer`, ...) tick on
/// their own: left out, or no two dumps of a lab with a bridge would agree. So are the
/// segmentation limits (`tso_max_size`, ...), which the kernel derives: a bridge lowers its
/// own to fit each port it adds and does not raise them when the port leaves, and a
/// macvlan follows its lower device's. They follow history, not anything mvtopo sets.
/// And the carrier and what derives from it (`operstate`, the LOWER_UP, NO-CARRIER and
/// M-DOWN flags): the kernel's link watcher updates them asynchronously, up to a second
/// after the admin state (IFF_UP, which stays in) changed, later under load; a dump taken
/// before it runs and one after it differ in nothing mvtopo sets.
fn without_timers(links: &mut Value) {
    for l in links.as_array_mut().into_iter().flatten() {
        if let Some(o) = l.as_object_mut() {
            o.retain(|k, _| {
                !(k.starts_with("tso_max") || k.starts_with("gso_max") || k == "operstate")
            });
            if let Some(flags) = o.get_mut("flags").and_then(Value::as_array_mut) {
                flags.retain(|f| !matches!(f.as_str(), Some("LOWER_UP" | "NO-CARRIER" | "M-DOWN")));
            }
        }
        for data in ["info_data", "info_slave_data"] {
            if let Some(d) = l["linkinfo"][data].as_object_mut() {
                d.retain(|k, _| !k.ends_with("_timer"));
            }
        }
    }
}

/// A dump taken once the kernel has stopped changing on its own: IPv6 duplicate address
/// detection and the link watcher's operstate updates run for a moment after links come up,
/// and a before/after comparison must not catch them half-way. Polls until two dumps a
/// little apart agree and no address is tentative (a hang guard fails it after a minute).
pub fn settled_dump(lab: &Lab) -> Dump {
    let mut prev = dump(lab);
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(1200));
        let now = dump(lab);
        let tentative = format!("{:?}", now.per_ns).contains("tentative");
        if now == prev && !tentative {
            return now;
        }
        prev = now;
    }
    panic!("the lab's kernel state never settled");
}

/// Compare two dumps namespace by namespace, so a failure names the part that differs.
pub fn assert_same_dump(before: &Dump, after: &Dump, what: &str) {
    assert_eq!(
        before.netns, after.netns,
        "{what}: /run/netns entries of the lab"
    );
    for (short, b) in &before.per_ns {
        let a = after
            .per_ns
            .get(short)
            .unwrap_or_else(|| panic!("{what}: namespace {short} is gone"));
        for (i, part) in ["ip -d link", "ip addr", "ip -4 route", "ip -6 route"]
            .iter()
            .enumerate()
        {
            assert_eq!(
                b[i],
                a[i],
                "{what}: `{part}` of {short} changed\nbefore: {}\nafter: {}",
                serde_json::to_string_pretty(&b[i]).unwrap_or_default(),
                serde_json::to_string_pretty(&a[i]).unwrap_or_default()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// `ip monitor`: proof that a run made no netlink change requests.

/// `ip -n NS monitor link address route` in the background, its output in events (a line
/// and its indented continuation lines).
pub struct Monitor {
    pub ns: String,
    child: Child,
    rx: Receiver<String>,
    /// Whether the last event head line read was the sentinel's: its continuation lines may
    /// arrive in the next call.
    in_sentinel: Cell<bool>,
}

impl Monitor {
    pub fn start(ns: &str) -> Monitor {
        let mut child = Command::new("ip")
            .args(["-n", ns, "monitor", "link", "address", "route"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ip monitor");
        let stdout = child.stdout.take().expect("monitor stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Monitor {
            ns: ns.to_owned(),
            child,
            rx,
            in_sentinel: Cell::new(false),
        }
    }

    /// Make a sentinel event in the monitored namespace (a veth pair `<tag>a`/`<tag>b`
    /// created and deleted) and collect every event line up to its end. Returns the lines
    /// that are not about the sentinel: everything else the namespace saw meanwhile.
    pub fn through_sentinel(&self, tag: &str) -> Vec<String> {
        let (a, b) = (format!("{tag}a"), format!("{tag}b"));
        run(
            "ip",
            &[
                "-n", &self.ns, "link", "add", &a, "type", "veth", "peer", "name", &b,
            ],
        );
        run("ip", &["-n", &self.ns, "link", "del", &a]);
        let mut others = Vec::new();
        let (mut gone_a, mut gone_b) = (false, false);
        let mut in_sentinel = self.in_sentinel.get();
        while !(gone_a && gone_b) {
            let line = match self.rx.recv_timeout(Duration::from_secs(60)) {
                Ok(l) => l,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("ip monitor of {} never showed sentinel {tag}", self.ns)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("ip monitor of {} ended", self.ns)
                }
            };
            let continuation = line.starts_with(char::is_whitespace);
            if !continuation {
                in_sentinel = line.contains(&format!(" {a}@")) || line.contains(&format!(" {b}@"));
                if line.starts_with("Deleted") {
                    gone_a |= line.contains(&format!(" {a}@"));
                    gone_b |= line.contains(&format!(" {b}@"));
                }
            }
            if !in_sentinel {
                others.push(line);
            }
        }
        self.in_sentinel.set(in_sentinel);
        others
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
