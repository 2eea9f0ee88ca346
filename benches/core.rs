//! Timings of the pure pipeline on a large topology: 10,000 macvlans in 500 namespaces over
//! 4 veth parents, one address each (`testing::LabShape`). `cargo bench --bench core` prints
//! a table in ms. Everything here should be well under a second.
//!
//! Then the scale cases, through the binary (`plan --state`, one existing parent, one
//! namespace): churn (the state holds N owned macvlans, the file wants N others) at 10k and
//! 80k with the growth ratio (8 is linear), and 200k macvlans in sync, with `check`'s peak
//! RSS. `cargo bench --bench core -- --no-scale` leaves them out; `-- --write-inputs DIR`
//! only writes the topology and the empty and matching states there.

// A bench may unwrap, expect, panic and exit; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::exit)]

use std::time::{Duration, Instant};

use mvtopo::diff::diff;
use mvtopo::fake::FakeBackend;
use mvtopo::graph;
use mvtopo::live::LiveState;
use mvtopo::testing::LabShape;

const NAMESPACES: usize = 500;
const PER_NAMESPACE: usize = 20;
const PARENTS: usize = 4;
const RUNS: usize = 7;

fn topology_text() -> String {
    LabShape {
        name: "bench".to_owned(),
        namespaces: (0..NAMESPACES).map(|n| format!("ns{n:03}")).collect(),
        parents: (0..PARENTS).map(|p| format!("lab{p}")).collect(),
        macvlans: NAMESPACES * PER_NAMESPACE,
        subnet: 0,
    }
    .toml()
}

/// Best and median of `RUNS` runs of `f`.
fn time<T>(mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut times = Vec::with_capacity(RUNS);
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = std::hint::black_box(f());
        times.push(start.elapsed());
        last = Some(out);
    }
    times.sort();
    let Some(out) = last else {
        unreachable!("RUNS > 0")
    };
    (times[0], times[RUNS / 2], out)
}

fn ms(d: Duration) -> String {
    format!("{:>9.2}", d.as_secs_f64() * 1e3)
}

// ---------------------------------------------------------------------------------------
// Scale: the churn and in-sync cases (one existing parent, one namespace), at growing N.

/// A file of `n` macvlans a0.. in namespace ns0 on the existing parent eth1, each with a
/// MAC and one IPv4 address; and a live state of `n` owned macvlans: the same ones (`sync`)
/// or `n` others (b0.., other MACs and addresses: the churn case).
fn scale_case(n: usize, sync: bool) -> (String, LiveState) {
    let mac = |i: usize| {
        format!(
            "02:00:{:02x}:{:02x}:{:02x}:{:02x}",
            (i >> 24) & 255,
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        )
    };
    let addr = |i: usize| format!("10.{}.{}.{}/8", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    let mut s = String::with_capacity(n * 140);
    s.push_str("name = \"b\"\n[namespace.ns0]\n[parent.eth1]\n");
    for i in 0..n {
        s.push_str(&format!(
            "[[macvlan]]\nname = \"a{i}\"\nparent = \"eth1\"\nnamespace = \"ns0\"\nmode = \"bridge\"\nmac = \"{}\"\naddresses = [\"{}\"]\n",
            mac(i),
            addr(i + 1)
        ));
    }
    let mut json = String::with_capacity(n * 220);
    json.push_str(r#"{"namespaces":[{"name":"ns0","owner":"b"}],"links":[{"name":"eth1","kind":"device","mtu":1500,"up":true}"#);
    let off = if sync { 0 } else { n };
    for i in 0..n {
        let name = if sync {
            format!("a{i}")
        } else {
            format!("b{i}")
        };
        json.push_str(&format!(
            r#",{{"namespace":"ns0","name":"{name}","kind":"macvlan","parent":{{"name":"eth1"}},"mode":"bridge","mac":"{}","mtu":1500,"up":true,"addresses":["{}"],"owner":"b"}}"#,
            mac(i + off),
            addr(i + off + 1)
        ));
    }
    json.push_str("]}");
    let mut live: LiveState = match serde_json::from_str(&json) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("the generated state does not parse: {e}");
            std::process::exit(1);
        }
    };
    live.normalize();
    (s, live)
}

/// Run the binary with `args`; wall time, exit code and the child's peak RSS in KiB.
#[allow(unsafe_code)]
fn run_measured(args: &[std::ffi::OsString]) -> (Duration, Option<i32>, i64) {
    let start = Instant::now();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_mvtopo"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(child) = child else {
        return (start.elapsed(), None, 0);
    };
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for the child we spawned (and reaps
    // it, so std's Child must not wait again: it is dropped without).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: as above: `status` and `usage` are valid for writes; `pid` is our child.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = start.elapsed();
    let code = (r == pid && libc::WIFEXITED(status)).then(|| libc::WEXITSTATUS(status));
    (elapsed, code, usage.ru_maxrss)
}

/// The scale cases: rows of (case, best, median, note), best/median of `runs`.
fn scale_rows(dir: &std::path::Path, runs: usize) -> Vec<(String, Duration, Duration, String)> {
    let mut rows = Vec::new();
    let mut churn_best = Vec::new();
    for (n, sync) in [(10_000, false), (80_000, false), (200_000, true)] {
        let (text, live) = scale_case(n, sync);
        let file = dir.join(format!("scale{n}.toml"));
        let state = dir.join(format!("scale{n}.json"));
        let written = serde_json::to_string(&live)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(&state, json))
            .and_then(|()| std::fs::write(&file, &text));
        if let Err(e) = written {
            eprintln!("writing the scale case {n}: {e}");
            std::process::exit(1);
        }
        drop((text, live));
        let plan: Vec<std::ffi::OsString> = vec![
            "plan".into(),
            file.clone().into(),
            "--state".into(),
            state.clone().into(),
        ];
        let mut times = Vec::new();
        let mut rss = 0;
        let mut code = None;
        for _ in 0..runs {
            let (t, c, r) = run_measured(&plan);
            times.push(t);
            rss = rss.max(r);
            code = c;
        }
        times.sort();
        let name = if sync {
            format!("in sync {}k: plan --state", n / 1000)
        } else {
            churn_best.push(times[0]);
            format!("churn {}k: plan --state", n / 1000)
        };
        rows.push((
            name,
            times[0],
            times[runs / 2],
            format!("exit {code:?}, peak RSS {} MB", rss / 1024),
        ));
        if sync {
            let (t, c, r) = run_measured(&["check".into(), file.clone().into()]);
            rows.push((
                format!("in sync {}k: check", n / 1000),
                t,
                t,
                format!("exit {c:?}, peak RSS {} MB", r / 1024),
            ));
        }
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(&state);
    }
    if let [small, large] = churn_best[..] {
        rows.push((
            "churn 80k / 10k (8 is linear)".to_owned(),
            Duration::ZERO,
            Duration::ZERO,
            format!(
                "{:.1}x",
                large.as_secs_f64() / small.as_secs_f64().max(1e-9)
            ),
        ));
    }
    rows
}

fn main() {
    let text = topology_text();
    let mut rows: Vec<(&str, Duration, Duration, String)> = Vec::new();

    let (best, median, loaded) = time(|| mvtopo::check::load_str("bench.toml", &text, "bench"));
    let topology = match loaded {
        Ok(t) => t,
        Err(e) => {
            eprintln!("the generated topology does not load: {e:?}");
            std::process::exit(1);
        }
    };
    rows.push((
        "load + resolve",
        best,
        median,
        format!("{} KiB of TOML", text.len() / 1024),
    ));

    let (best, median, g) = time(|| graph::build(&topology));
    let nodes = g.map(|g| g.len()).unwrap_or_default();
    rows.push(("graph build", best, median, format!("{nodes} nodes")));

    let (best, median, order) = time(|| graph::build(&topology).map(|g| g.order().len()));
    rows.push((
        "graph build + order",
        best,
        median,
        format!("{} keys", order.unwrap_or_default()),
    ));

    let empty = LiveState::default();
    let (best, median, plan) = time(|| diff(&topology, &empty));
    let plan = match plan {
        Ok(p) => p,
        Err(e) => {
            eprintln!("plan against an empty state fails: {e:?}");
            std::process::exit(1);
        }
    };
    rows.push((
        "plan, empty state",
        best,
        median,
        format!("{} steps", plan.steps.len()),
    ));

    let start = Instant::now();
    let mut fake = FakeBackend::new(LiveState::default());
    if let Err(e) = fake.apply_all(&plan.steps, &topology.name) {
        eprintln!("applying the plan on the fake kernel fails: {e}");
        std::process::exit(1);
    }
    let applied = start.elapsed();
    rows.push((
        "apply on the fake (once)",
        applied,
        applied,
        format!("{} links", fake.state.links.len()),
    ));

    let (best, median, again) = time(|| diff(&topology, &fake.state));
    let detail = match again {
        Ok(p) if p.in_sync => "in sync".to_owned(),
        Ok(p) => format!("NOT in sync: {} steps", p.steps.len()),
        Err(e) => format!("error: {e}"),
    };
    rows.push(("plan, matching state", best, median, detail));

    // The same through the binary, as CI runs it: process start, reading the files,
    // rendering (the unified diff of 10,000 macvlans included) and printing.
    // `--write-inputs DIR`: write the three files there and stop (scripts/bench-instructions.sh
    // runs two builds of the binary on them).
    let keep = std::env::args()
        .skip_while(|a| a != "--write-inputs")
        .nth(1)
        .map(std::path::PathBuf::from);
    let dir = keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("mvtopo-bench-{}", std::process::id()))
    });
    let files = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::write(dir.join("bench.toml"), &text)?;
        std::fs::write(dir.join("empty.json"), "{}")?;
        let state = serde_json::to_string(&fake.state).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("matching.json"), state)
    });
    if let Err(e) = files {
        eprintln!("writing the bench files to {}: {e}", dir.display());
        std::process::exit(1);
    }
    if let Some(kept) = keep {
        println!("bench inputs written to {}", kept.display());
        return;
    }
    let file = dir.join("bench.toml");
    let cli = |args: &[std::ffi::OsString]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mvtopo"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.code())
    };
    let args = |a: &[&str]| -> Vec<std::ffi::OsString> {
        a.iter()
            .map(|s| match *s {
                "FILE" => file.clone().into_os_string(),
                "EMPTY" => dir.join("empty.json").into_os_string(),
                "MATCHING" => dir.join("matching.json").into_os_string(),
                other => other.into(),
            })
            .collect()
    };
    let runs = [
        ("mvtopo check", args(&["check", "FILE"])),
        (
            "mvtopo plan --state empty",
            args(&["plan", "FILE", "--state", "EMPTY"]),
        ),
        (
            "mvtopo plan --state matching",
            args(&["plan", "FILE", "--state", "MATCHING", "--detailed-exitcode"]),
        ),
        (
            "  same as empty, --format json",
            args(&["plan", "FILE", "--state", "EMPTY", "--format", "json"]),
        ),
    ];
    for (name, a) in runs {
        let (best, median, status) = time(|| cli(&a));
        rows.push((name, best, median, format!("exit {status:?}")));
    }
    let scale = if std::env::args().any(|a| a == "--no-scale") {
        Vec::new()
    } else {
        scale_rows(&dir, 3)
    };
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "mvtopo core: {} macvlans in {NAMESPACES} namespaces, {PARENTS} veth parents, best/median of {RUNS}",
        NAMESPACES * PER_NAMESPACE
    );
    println!("{:<32} {:>9} {:>9}  note", "stage", "best ms", "median ms");
    for (name, best, median, note) in rows {
        println!("{name:<32} {} {}  {note}", ms(best), ms(median));
    }
    if !scale.is_empty() {
        println!(
            "\nscale: one existing parent, one namespace, through the binary; best/median of 3"
        );
        for (name, best, median, note) in scale {
            // The growth ratio is a note without times.
            if best.is_zero() {
                println!("{name:<32} {:>9} {:>9}  {note}", "", "");
            } else {
                println!("{name:<32} {} {}  {note}", ms(best), ms(median));
            }
        }
    }
}
