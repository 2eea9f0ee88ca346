//! The command line: argument parsing, wiring the stages together, output and exit codes.
//!
//! Exit codes follow spec/TOPOLOGY.md: 0 ok, 1 failure, 2 changes pending (only with
//! `--detailed-exitcode`), 64 usage error, 65 invalid input (nothing changed).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use miette::{NamedSource, Report};

use crate::apply::{self, ApplyError};
use crate::backend::{Backend, BackendError};
use crate::live::LiveState;
use crate::model::Topology;
use crate::plan::Plan;
use crate::{diff, graph, kernel, load, render};

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;
pub const EXIT_USAGE: u8 = 64;
pub const EXIT_DATAERR: u8 = 65;

#[derive(Debug, Parser)]
#[command(
    name = "mvtopo",
    version,
    about = "Declarative macvlan topologies for Linux: check, plan, apply, verify",
    after_help = "The file format and every command are described in docs/TOPOLOGY.md and README.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    Toml,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and validate FILE (no kernel access, no root).
    Check {
        /// The topology file (TOML).
        file: PathBuf,
    },
    /// Show the diff of live vs desired and the ordered steps; changes nothing.
    Plan {
        /// The topology file (TOML).
        file: PathBuf,
        /// Plan against a saved live state (JSON from `mvtopo show --format json`) instead of
        /// the kernel: no root, no kernel access.
        #[arg(long, value_name = "STATE.json")]
        state: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Exit 0 when in sync, 2 when changes are pending.
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Execute the plan, then re-read the kernel and verify; undo everything on failure.
    Apply {
        /// The topology file (TOML).
        file: PathBuf,
        /// Print the plan (as `plan` does) and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: plan against a saved live state instead of the kernel.
        #[arg(long, value_name = "STATE.json", requires = "dry_run")]
        state: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// With --dry-run: exit 0 when in sync, 2 when changes are pending.
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Print the live state in the topology format (all macvlans, or those FILE owns).
    Show {
        /// Show only what this topology file's topology owns.
        file: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = ShowFormat::Toml)]
        format: ShowFormat,
    },
    /// Delete every object FILE's topology owns (never an existing NIC).
    Destroy {
        /// The topology file (TOML) whose objects are deleted.
        file: PathBuf,
        /// Print what would be deleted and change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the dependency graph as Graphviz DOT (`mvtopo graph lab.toml | dot -Tsvg`).
    Graph {
        /// The topology file (TOML).
        file: PathBuf,
    },
}

/// Parse the process arguments and run; returns the exit code.
pub fn main() -> u8 {
    // Diagnostics wrap to the terminal for a person; for a log or a script reading stderr,
    // a name or an errno split across lines is harder to find, so nothing is wrapped there.
    let tty = std::io::stderr().is_terminal();
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .wrap_lines(tty)
                .terminal_links(false)
                .build(),
        )
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    run(cli)
}

/// A failure that ends the command: what to print and the exit code.
struct Exit {
    code: u8,
    report: Option<Report>,
}

impl Exit {
    fn failure(report: impl Into<Report>) -> Exit {
        Exit {
            code: EXIT_FAILURE,
            report: Some(report.into()),
        }
    }
}

pub fn run(cli: Cli) -> u8 {
    let result = match cli.command {
        Command::Check { file } => cmd_check(&file),
        Command::Plan {
            file,
            state,
            format,
            detailed_exitcode,
        } => cmd_plan(&file, state.as_deref(), format, detailed_exitcode),
        Command::Apply {
            file,
            dry_run: true,
            state,
            format,
            detailed_exitcode,
        } => cmd_plan(&file, state.as_deref(), format, detailed_exitcode),
        Command::Apply { file, format, .. } => cmd_apply(&file, format),
        Command::Show { file, format } => cmd_show(file.as_deref(), format),
        Command::Destroy {
            file,
            dry_run,
            format,
        } => cmd_destroy(&file, dry_run, format),
        Command::Graph { file } => cmd_graph(&file),
    };
    match result {
        Ok(code) => code,
        Err(Exit { code, report }) => {
            if let Some(r) = report {
                eprintln!("{r:?}");
            }
            code
        }
    }
}

/// A loaded file: the validated topology and the name it is shown under.
struct Loaded {
    topology: Topology,
    name: String,
}

fn read_topology(path: &Path) -> Result<Loaded, Exit> {
    let text = std::fs::read_to_string(path).map_err(|e| Exit {
        code: match e.kind() {
            std::io::ErrorKind::NotFound => EXIT_USAGE,
            // Not UTF-8: the file is there but is not a TOML document.
            std::io::ErrorKind::InvalidData => EXIT_DATAERR,
            _ => EXIT_FAILURE,
        },
        report: Some(miette::miette!(
            help = "a topology file is UTF-8 TOML text (spec/TOPOLOGY.md)",
            "reading {}: {e}",
            path.display()
        )),
    })?;
    let name = path.display().to_string();
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let topology = load::load_str(&name, &text, &stem).map_err(|e| Exit {
        code: EXIT_DATAERR,
        report: Some(Report::new(e)),
    })?;
    // The graph is part of validation: a cycle through vlan links is invalid input.
    if let Err(e) = graph::build(&topology) {
        return Err(Exit {
            code: EXIT_DATAERR,
            report: Some(Report::new(e).with_source_code(NamedSource::new(&name, text))),
        });
    }
    Ok(Loaded { topology, name })
}

fn cmd_check(file: &Path) -> Result<u8, Exit> {
    let l = read_topology(file)?;
    let t = &l.topology;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}: valid (topology {:?}: {} namespace(s), {} parent(s), {} macvlan(s))",
        l.name,
        t.name,
        t.namespaces.len(),
        t.parents.len(),
        t.macvlans.len()
    );
    Ok(EXIT_OK)
}

fn cmd_graph(file: &Path) -> Result<u8, Exit> {
    let l = read_topology(file)?;
    print!("{}", graph::to_dot(&l.topology));
    Ok(EXIT_OK)
}

fn netlink() -> Result<kernel::Netlink, Exit> {
    kernel::Netlink::new().map_err(|e| Exit::failure(backend_report(&e, None)))
}

/// Settle what a run killed outright left half-made (under the lock, before the snapshot
/// the plan is made from), saying what was removed.
fn recover(backend: &mut kernel::Netlink) -> Result<(), Exit> {
    let notes = backend.recover().map_err(|e| {
        Exit::failure(backend_report(
            &e,
            Some("cleaning up after an interrupted run"),
        ))
    })?;
    for n in notes {
        eprintln!("note: {n}");
    }
    Ok(())
}

fn backend_report(e: &BackendError, context: Option<&str>) -> Report {
    let mut msg = match context {
        Some(c) => format!("{c}: {e}"),
        None => e.to_string(),
    };
    if let Some(h) = e.hint() {
        msg.push_str(&format!("\n  hint: {h}"));
    }
    miette::miette!("{msg}")
}

fn live_state(state: Option<&Path>) -> Result<LiveState, Exit> {
    match state {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| Exit {
                code: if e.kind() == std::io::ErrorKind::NotFound {
                    EXIT_USAGE
                } else {
                    EXIT_FAILURE
                },
                report: Some(miette::miette!("reading {}: {e}", p.display())),
            })?;
            let mut s: LiveState = serde_json::from_str(&text).map_err(|e| Exit {
                code: EXIT_DATAERR,
                report: Some(miette::miette!(
                    "{} is not a live state (the JSON of `mvtopo show --format json`): {e}",
                    p.display()
                )),
            })?;
            s.normalize();
            Ok(s)
        }
        None => netlink()?
            .snapshot()
            .map_err(|e| Exit::failure(backend_report(&e, Some("reading the kernel state")))),
    }
}

fn make_plan(t: &Topology, live: &LiveState) -> Result<Plan, Exit> {
    diff::diff(t, live).map_err(|e| Exit::failure(Report::new(e)))
}

fn color_stdout() -> bool {
    render::use_color(std::io::stdout().is_terminal())
}

fn cmd_plan(file: &Path, state: Option<&Path>, format: Format, detailed: bool) -> Result<u8, Exit> {
    let l = read_topology(file)?;
    let live = live_state(state)?;
    let plan = make_plan(&l.topology, &live)?;
    match format {
        Format::Json => println!("{}", render::plan_json(&plan)),
        Format::Text => print!(
            "{}",
            render::plan_text(&plan, &l.topology, &live, &l.name, color_stdout())
        ),
    }
    Ok(if detailed && !plan.in_sync {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

/// Held while a command changes the system: two applies at once would each plan against a
/// state the other is changing. One lock for all topologies, since they share namespaces
/// and parents. `flock` locks are released by the kernel when the process ends, however
/// it ends, so a crashed run never leaves a stale lock.
struct ApplyLock(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

const LOCK_PATH: &str = "/run/mvtopo/lock";

fn lock() -> Result<ApplyLock, Exit> {
    use nix::fcntl::{Flock, FlockArg};
    let open = || {
        std::fs::create_dir_all("/run/mvtopo")?;
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK_PATH)
    };
    let file = open().map_err(|e| {
        Exit::failure(miette::miette!(
            help = "run as root",
            "opening the lock file {LOCK_PATH}: {e}"
        ))
    })?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => Ok(ApplyLock(l)),
        Err((file, nix::errno::Errno::EWOULDBLOCK)) => {
            eprintln!("waiting for another mvtopo apply or destroy to finish ({LOCK_PATH})");
            Flock::lock(file, FlockArg::LockExclusive)
                .map(ApplyLock)
                .map_err(|(_, e)| Exit::failure(miette::miette!("locking {LOCK_PATH}: {e}")))
        }
        Err((_, e)) => Err(Exit::failure(miette::miette!("locking {LOCK_PATH}: {e}"))),
    }
}

fn cmd_apply(file: &Path, format: Format) -> Result<u8, Exit> {
    let l = read_topology(file)?;
    let _lock = lock()?;
    let mut backend = netlink()?;
    recover(&mut backend)?;
    let live = backend
        .snapshot()
        .map_err(|e| Exit::failure(backend_report(&e, Some("reading the kernel state"))))?;
    let plan = make_plan(&l.topology, &live)?;
    if format == Format::Text {
        print!(
            "{}",
            render::plan_text(&plan, &l.topology, &live, &l.name, color_stdout())
        );
        let _ = std::io::stdout().flush();
    }
    let t = &l.topology;
    let check = |after: &LiveState| match diff::diff(t, after) {
        Ok(p) => p.steps,
        // A blocker appearing after apply is itself a difference; report the plan error as
        // "pending" by keeping the original steps.
        Err(_) => plan.steps.clone(),
    };
    let result = apply::run(&mut backend, &plan, &live, &check);
    report_run(&plan, format, result, "apply")
}

fn report_run(
    plan: &Plan,
    format: Format,
    result: Result<apply::Outcome, ApplyError>,
    verb: &str,
) -> Result<u8, Exit> {
    match result {
        Ok(outcome) => {
            match format {
                Format::Json => {
                    let v = serde_json::json!({
                        "in_sync": plan.in_sync,
                        "steps": plan.steps,
                        "notes": plan.notes,
                        "executed": outcome.executed,
                        "verified": true,
                    });
                    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                }
                Format::Text if outcome.executed == 0 => {}
                Format::Text => println!(
                    "{verb}: done, {} step(s) executed and verified",
                    outcome.executed
                ),
            }
            Ok(EXIT_OK)
        }
        Err(e) => {
            if format == Format::Json {
                let v = serde_json::json!({
                    "in_sync": plan.in_sync,
                    "steps": plan.steps,
                    "error": e.to_string(),
                    "verified": false,
                    "undone": e.undo().map(|u| u.undone.len()).unwrap_or(0),
                    "undo_failed": e.undo().map(|u| u.failed.len()).unwrap_or(0),
                });
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
            Err(Exit::failure(miette::miette!(
                "{}",
                apply_error_text(&e, verb)
            )))
        }
    }
}

/// The whole story of a failed apply, for a person: what failed, why, what was undone.
fn apply_error_text(e: &ApplyError, verb: &str) -> String {
    let mut s = format!("{verb} failed: {e}");
    if let ApplyError::Step { step, .. } = e {
        s.push_str(&format!("\n  failed step: {}", render::step_line(step)));
    }
    if let ApplyError::Verify { remaining, .. } = e {
        for st in remaining {
            s.push_str(&format!("\n  still pending: {}", render::step_line(st)));
        }
    }
    if let Some(h) = e.hint() {
        s.push_str(&format!("\n  hint: {h}"));
    }
    if let Some(u) = e.undo() {
        if u.undone.is_empty() && u.failed.is_empty() {
            s.push_str("\n  nothing had been changed yet");
        } else {
            s.push_str(&format!(
                "\n  undone: {} step(s), in reverse order",
                u.undone.len()
            ));
            for st in &u.undone {
                s.push_str(&format!("\n    {}", render::step_line(st)));
            }
        }
        if u.complete() {
            s.push_str("\n  the system is as it was found");
        } else {
            for (st, err) in &u.failed {
                s.push_str(&format!(
                    "\n  could not undo: {} ({err})",
                    render::step_line(st)
                ));
            }
            s.push_str(
                "\n  the system may be partly changed: run `mvtopo plan` to see what remains",
            );
        }
    }
    s
}

fn cmd_show(file: Option<&Path>, format: ShowFormat) -> Result<u8, Exit> {
    let topology = match file {
        Some(f) => Some(read_topology(f)?.topology),
        None => None,
    };
    let live = live_state(None)?;
    match format {
        ShowFormat::Json => {
            // With FILE: everything its plans depend on, so `plan --state` on this output
            // gives the same plan as against the kernel.
            let live = match &topology {
                Some(t) => diff::relevant(t, &live),
                None => live,
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&live).map_err(|e| Exit::failure(miette::miette!(
                    "serializing the live state: {e}"
                )))?
            );
        }
        ShowFormat::Toml => print!(
            "{}",
            render::show_toml(&live, topology.as_ref().map(|t| t.name.as_str()))
        ),
    }
    Ok(EXIT_OK)
}

fn cmd_destroy(file: &Path, dry_run: bool, format: Format) -> Result<u8, Exit> {
    let l = read_topology(file)?;
    let name = l.topology.name.clone();
    let _lock = if dry_run { None } else { Some(lock()?) };
    let mut backend = netlink()?;
    if !dry_run {
        recover(&mut backend)?;
    }
    let live = backend
        .snapshot()
        .map_err(|e| Exit::failure(backend_report(&e, Some("reading the kernel state"))))?;
    let plan = diff::destroy(&name, &live);
    match format {
        Format::Json if dry_run => println!("{}", render::plan_json(&plan)),
        Format::Json => {}
        Format::Text => print!("{}", render::steps_text(&plan, color_stdout())),
    }
    if dry_run {
        return Ok(EXIT_OK);
    }
    let check = |after: &LiveState| diff::destroy(&name, after).steps;
    let result = apply::run(&mut backend, &plan, &live, &check);
    report_run(&plan, format, result, "destroy")
}
