//! Timings of the pure pipeline on a large topology: 10,000 macvlans in 500 namespaces over
//! 4 veth parents, one address each. `cargo bench --bench core` prints a table in ms.
//! Everything here should be well under a second.

use std::time::{Duration, Instant};

use mvtopo::diff::diff;
use mvtopo::fake::FakeBackend;
use mvtopo::graph;
use mvtopo::live::LiveState;

const NAMESPACES: usize = 500;
const PER_NAMESPACE: usize = 20;
const PARENTS: usize = 4;
const RUNS: usize = 7;

fn topology_text() -> String {
    let mut s = String::with_capacity(2 << 20);
    s.push_str("name = \"bench\"\n\n");
    for n in 0..NAMESPACES {
        s.push_str(&format!("[namespace.ns{n:03}]\n"));
    }
    for p in 0..PARENTS {
        s.push_str(&format!("\n[parent.lab{p}]\ncreate = \"veth\"\n"));
    }
    let mut k = 0;
    for n in 0..NAMESPACES {
        for j in 0..PER_NAMESPACE {
            s.push_str(&format!(
                "\n[[macvlan]]\nname = \"mv{j:02}\"\nparent = \"lab{}\"\nnamespace = \"ns{n:03}\"\nmode = \"bridge\"\naddresses = [\"10.{}.{}.{}/24\"]\n",
                k % PARENTS,
                n / 200,
                n % 200,
                j + 2
            ));
            k += 1;
        }
    }
    s
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

fn main() {
    let text = topology_text();
    let mut rows: Vec<(&str, Duration, Duration, String)> = Vec::new();

    let (best, median, loaded) = time(|| mvtopo::load::load_str("bench.toml", &text, "bench"));
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
    let dir = std::env::temp_dir().join(format!("mvtopo-bench-{}", std::process::id()));
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
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "mvtopo core: {} macvlans in {NAMESPACES} namespaces, {PARENTS} veth parents, best/median of {RUNS}",
        NAMESPACES * PER_NAMESPACE
    );
    println!("{:<32} {:>9} {:>9}  note", "stage", "best ms", "median ms");
    for (name, best, median, note) in rows {
        println!("{name:<32} {} {}  {note}", ms(best), ms(median));
    }
}
