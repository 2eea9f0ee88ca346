//! What every test crate shares: private lab namespaces for kernel tests (unique names,
//! iproute2 as the independent oracle, a guard that deletes everything even when the test
//! panics), skips that are never silent, and small helpers for files and processes; the
//! golden case folders in `cases`. (Values from text, `ln`, `ns`, `mac`, … and the lab
//! generator are in the crate, `mvtopo::testing`, where the benches and unit tests reach
//! them too.)
#![allow(dead_code)]

pub mod cases;

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A lab: every namespace it makes is called `<prefix>-<short>`, the prefix being
/// `mvt<pid>-<n>`, so concurrent tests and other processes never collide. `host` is the
/// namespace the backend is rooted at.
pub struct Lab {
    pub prefix: String,
}

/// Kernel trials (libtest-mimic) as this machine can run them. Without root and with
/// MVTOPO_ALLOW_SKIP=1 they are marked ignored, after one loud SKIPPED line, so the summary
/// counts them as not run; otherwise they run as they are (and `Lab::new` fails them, loudly,
/// where the machine cannot run them).
pub fn kernel_trials(trials: Vec<libtest_mimic::Trial>) -> Vec<libtest_mimic::Trial> {
    if is_root() || std::env::var("MVTOPO_ALLOW_SKIP").as_deref() != Ok("1") {
        return trials;
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {} kernel trials need root (CAP_NET_ADMIN, CAP_SYS_ADMIN); shown as ignored",
        trials.len()
    );
    trials
        .into_iter()
        .map(|t| t.with_ignored_flag(true))
        .collect()
}

/// Whether the tests run as root.
#[allow(unsafe_code)]
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) takes nothing, touches no memory and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Say loudly that a test could not run; fail unless MVTOPO_ALLOW_SKIP=1 allows it.
pub fn skip(reason: &str) {
    // Straight to the process's stderr: libtest captures `eprintln!` of passing tests, and a
    // skip must be seen.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
    if std::env::var("MVTOPO_ALLOW_SKIP").as_deref() != Ok("1") {
        panic!("SKIPPED: {reason} (set MVTOPO_ALLOW_SKIP=1 to let skipped kernel tests pass)");
    }
}

impl Lab {
    /// A lab with its host namespace, or `None` (after `skip`) when this machine cannot
    /// run kernel tests.
    pub fn new() -> Option<Lab> {
        if !is_root() {
            skip("kernel tests need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)");
            return None;
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let lab = Lab {
            prefix: format!("mvt{}-{n}", std::process::id()),
        };
        let out = Command::new("ip")
            .args(["netns", "add", &lab.ns("host")])
            .output();
        match out {
            Ok(o) if o.status.success() => Some(lab),
            Ok(o) => {
                skip(&format!(
                    "no network namespace support: ip netns add: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
                None
            }
            Err(e) => {
                skip(&format!("cannot run iproute2 `ip`: {e}"));
                None
            }
        }
    }

    /// The full name of lab namespace `short`.
    pub fn ns(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }

    pub fn host_path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.ns("host")))
    }

    pub fn netlink(&self) -> mvtopo::kernel::Netlink {
        mvtopo::kernel::Netlink::rooted_at(&self.host_path()).expect("backend rooted at the lab")
    }

    /// `ip netns add` a lab namespace.
    pub fn add_ns(&self, short: &str) -> String {
        let name = self.ns(short);
        run("ip", &["netns", "add", &name]);
        name
    }

    /// `ip -n <lab ns> ARGS`, which must succeed; returns stdout.
    pub fn ip(&self, short: &str, args: &[&str]) -> String {
        let ns = self.ns(short);
        let mut all = vec!["-n", ns.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// `ip -n <lab ns> -j -d link show [dev]`, parsed.
    pub fn links(&self, short: &str) -> Vec<Value> {
        let out = self.ip(short, &["-j", "-d", "link", "show"]);
        serde_json::from_str::<Vec<Value>>(&out).expect("ip -j link output")
    }

    pub fn link(&self, short: &str, name: &str) -> Value {
        self.links(short)
            .into_iter()
            .find(|l| l["ifname"] == name)
            .unwrap_or_else(|| panic!("{} has no link {name}", self.ns(short)))
    }

    pub fn has_link(&self, short: &str, name: &str) -> bool {
        self.links(short).iter().any(|l| l["ifname"] == name)
    }

    /// Addresses of `dev` as "addr/prefix" strings, with their flags.
    pub fn addrs(&self, short: &str, dev: &str) -> Vec<(String, Value)> {
        let out = self.ip(short, &["-j", "addr", "show", "dev", dev]);
        let v: Vec<Value> = serde_json::from_str(&out).expect("ip -j addr output");
        v.iter()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .map(|a| {
                (
                    format!("{}/{}", a["local"].as_str().unwrap_or(""), a["prefixlen"]),
                    a,
                )
            })
            .collect()
    }

    /// Routes of one family in the main table, as parsed JSON.
    pub fn routes(&self, short: &str, family: &str) -> Vec<Value> {
        let out = self.ip(short, &[family, "-j", "route", "show", "table", "main"]);
        serde_json::from_str(&out).expect("ip -j route output")
    }

    /// `ip netns exec <lab ns> ping -c1 -W1 ADDR` succeeded.
    pub fn ping(&self, short: &str, addr: &str) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.ns(short), "ping", "-c1", "-W1", addr])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// The switch: namespace `sw` with bridge br0, and a veth parent `parent` in the host
    /// whose other end is a port of br0 with hairpin (reflective relay) on or off.
    pub fn switch_with_parent(&self, parent: &str, port: &str, hairpin: bool) {
        if !self.has_ns("sw") {
            self.add_ns("sw");
            self.ip("sw", &["link", "add", "br0", "type", "bridge"]);
            self.ip("sw", &["link", "set", "br0", "up"]);
        }
        let sw = self.ns("sw");
        self.ip(
            "host",
            &[
                "link", "add", parent, "type", "veth", "peer", "name", port, "netns", &sw,
            ],
        );
        self.ip("sw", &["link", "set", port, "master", "br0", "up"]);
        let hp = if hairpin { "on" } else { "off" };
        self.ip(
            "sw",
            &["link", "set", port, "type", "bridge_slave", "hairpin", hp],
        );
        self.ip("host", &["link", "set", parent, "up"]);
    }

    /// An external host `short` behind the switch: eth0 with a fixed MAC and `addr`.
    pub fn ext_host(&self, short: &str, port: &str, mac: &str, addr: &str) {
        self.add_ns(short);
        let sw = self.ns("sw");
        self.ip(
            short,
            &[
                "link", "add", "eth0", "address", mac, "type", "veth", "peer", "name", port,
                "netns", &sw,
            ],
        );
        self.ip("sw", &["link", "set", port, "master", "br0", "up"]);
        self.ip(short, &["addr", "add", addr, "dev", "eth0"]);
        self.ip(short, &["link", "set", "eth0", "up"]);
    }

    pub fn has_ns(&self, short: &str) -> bool {
        std::path::Path::new(&format!("/run/netns/{}", self.ns(short))).exists()
    }

    /// Every namespace under /run/netns that belongs to this lab.
    pub fn all_namespaces(&self) -> Vec<String> {
        let mine = format!("{}-", self.prefix);
        std::fs::read_dir("/run/netns")
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|n| n.starts_with(&mine))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let mine = format!("{}-", self.prefix);
        for ns in self.all_namespaces() {
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
        if let Ok(d) = std::fs::read_dir("/run/mvtopo/netns") {
            for e in d.flatten() {
                if e.file_name().to_string_lossy().starts_with(&mine) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

/// The repository's root.
/// Every `.rs` file below `dir`, in no particular order.
pub fn rust_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).expect("read dir") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `text` written to file `name` in a new temporary directory: the directory (deleted when
/// dropped) and the file's path.
pub fn tmp(name: &str, text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write the temporary file");
    let s = p.display().to_string();
    (dir, s)
}

/// The exit status of a process that exited (not killed by a signal).
pub fn code(o: &std::process::Output) -> i32 {
    o.status.code().expect("exit code (not a signal)")
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run `cmd` with `input` on its standard input (its stdout captured); wait for it.
pub fn with_stdin(cmd: &mut Command, input: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// Run a command that must succeed; return its stdout.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
