//! The command line: argument parsing, wiring the stages together, output and exit codes.
//!
//! Exit codes: 0 ok, 1 failure, 2 changes pending (only with `--detailed-exitcode`), 64
//! usage error, 65 invalid input (nothing changed); `ui::EXIT_STATUS` lists them for users.

mod adopt_cmd;
mod docs;
mod format;
mod guarded;
mod input;
pub mod json;
mod lock;
mod report;
mod saved;
mod try_cmd;
pub mod ui;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use miette::{NamedSource, Report};
use serde_json::json;

use crate::apply::backend::Backend;
use crate::code::Code;
use crate::live::LiveState;
use crate::model::Topology;
use crate::plan::Plan;
use crate::{check, diff, graph, kernel, render};

use report::{Run, backend_report, report_run};

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
    after_help = ui::EXIT_STATUS
)]
pub struct Cli {
    /// Color the output: auto (a terminal and NO_COLOR unset), always, never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ui::ColorChoice::Auto)]
    pub color: ui::ColorChoice,
    /// Print errors only (JSON and what a command exists to print, such as `show`'s state,
    /// are still written).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print each kernel request to stderr as it is made ("request 12/40: create macvlan
    /// red/mv3"), also when stderr is not a terminal. Not together with -q.
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The clap definition, with the exit status after every command's help (after what the
/// command says of its own, such as the signal statuses of those that change the system).
pub fn command() -> clap::Command {
    Cli::command().mut_subcommands(|s| {
        let help = match s.get_after_help() {
            Some(own) => format!("{own}\n\n{}", ui::EXIT_STATUS),
            None => ui::EXIT_STATUS.to_owned(),
        };
        s.after_help(help)
    })
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
        /// The topology file (TOML); `-` reads standard input.
        file: PathBuf,
        /// `json`: one object; on failure every diagnostic with its code, severity, message,
        /// help and labelled spans (byte offset, length, line, column).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show the diff of live vs desired and the ordered steps; changes nothing.
    Plan {
        /// The topology file (TOML); `-` reads standard input.
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
        /// Also save the plan, with the live state it depends on, for `apply --plan`.
        #[arg(long, value_name = "PLAN.json")]
        out: Option<PathBuf>,
    },
    /// Execute the plan, then re-read the kernel and verify; undo everything on failure.
    #[command(after_help = guarded::AFTER_HELP)]
    Apply {
        /// The topology file (TOML); `-` reads standard input.
        #[arg(required_unless_present = "plan")]
        file: Option<PathBuf>,
        /// Execute exactly this saved plan (`plan --out`); refused, changing nothing, when
        /// the live state it depends on has changed since it was made.
        #[arg(long, value_name = "PLAN.json", conflicts_with = "file")]
        plan: Option<PathBuf>,
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
        /// Wait at most SECS for another run's lock (0: fail at once); default: wait.
        #[arg(long, value_name = "SECS", value_parser = lock::parse_secs)]
        lock_timeout: Option<Duration>,
    },
    /// Print the live state in the topology format (all macvlans, or those FILE owns).
    Show {
        /// Show only what this topology file's topology owns (`-`: standard input).
        file: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = ShowFormat::Toml)]
        format: ShowFormat,
    },
    /// Delete every object FILE's topology owns (never an existing NIC).
    #[command(after_help = guarded::AFTER_HELP)]
    Destroy {
        /// The topology file (TOML) whose objects are deleted; `-` reads standard input.
        file: PathBuf,
        /// Print what would be deleted and change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Wait at most SECS for another run's lock (0: fail at once); default: wait.
        #[arg(long, value_name = "SECS", value_parser = lock::parse_secs)]
        lock_timeout: Option<Duration>,
    },
    /// Print the dependency graph as Graphviz DOT (`mvtopo graph lab.toml | dot -Tsvg`).
    Graph {
        /// The topology file (TOML); `-` reads standard input.
        file: PathBuf,
    },
    /// Apply FILE, then keep the change only if confirmed (Enter, or SIGUSR1); otherwise
    /// revert to exactly the state found.
    #[command(after_help = try_cmd::AFTER_HELP)]
    Try {
        /// The topology file (TOML).
        file: PathBuf,
        /// Seconds to wait for the confirmation before reverting.
        #[arg(long, value_name = "SECS", default_value = "120", value_parser = lock::parse_secs)]
        timeout: Duration,
        /// Wait at most SECS for another run's lock (0: fail at once); default: wait.
        #[arg(long, value_name = "SECS", value_parser = lock::parse_secs)]
        lock_timeout: Option<Duration>,
    },
    /// Claim existing, unowned objects that match FILE exactly for its topology (never
    /// what differs); print what is claimed and what is not, and why.
    #[command(after_help = adopt_cmd::AFTER_HELP)]
    Adopt {
        /// The topology file (TOML).
        file: PathBuf,
        /// Print what would be claimed and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Wait at most SECS for another run's lock (0: fail at once); default: wait.
        #[arg(long, value_name = "SECS", value_parser = lock::parse_secs)]
        lock_timeout: Option<Duration>,
    },
    /// Rewrite FILE in the canonical layout, comments kept (`-`: standard input to stdout).
    #[command(long_about = crate::fmt::CANONICAL)]
    Fmt {
        /// The topology file (TOML); `-` reads standard input and writes standard output.
        file: PathBuf,
        /// Change nothing; exit 1 when FILE is not in the canonical layout.
        #[arg(long)]
        check: bool,
    },
    /// Print the JSON Schema (draft 2020-12) of the topology file, for editors (taplo).
    Schema,
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the man page, mvtopo(1), as roff.
    Man,
}

/// Parse the process arguments and run; returns the exit code.
pub fn main() -> u8 {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // clap prints its help and errors before `--color` is parsed: find it first.
    let color = match ui::ColorChoice::from_args(args.iter().skip(1).cloned()) {
        ui::ColorChoice::Auto => clap::ColorChoice::Auto,
        ui::ColorChoice::Always => clap::ColorChoice::Always,
        ui::ColorChoice::Never => clap::ColorChoice::Never,
    };
    let args_for_json = args.clone();
    let parsed = command()
        .color(color)
        .try_get_matches_from(args)
        .and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            if code == EXIT_USAGE && json::in_args(&args_for_json) {
                // The promise of --format json holds for usage errors too.
                println!("{}", json::usage_error(&e, code));
            }
            let _ = e.print();
            return code;
        }
    };
    if !cli.command.changes_the_system() {
        default_sigpipe();
    }
    run(cli)
}

impl Command {
    /// Whether the command may change the system (and so runs with the signal guard).
    fn changes_the_system(&self) -> bool {
        match self {
            Command::Apply { dry_run, .. } | Command::Destroy { dry_run, .. } => !dry_run,
            Command::Try { .. } => true,
            Command::Adopt { dry_run, .. } => !dry_run,
            _ => false,
        }
    }
}

/// Die quietly of SIGPIPE when the reader of stdout goes away (`mvtopo plan ... | head`),
/// as Unix filters do. Rust starts programs with SIGPIPE ignored, which turns the closed
/// pipe into an error that `println!` answers with a panic. Commands that change the system
/// keep it ignored: dying there would skip the undo, and their output after the change is
/// written without panicking.
#[allow(unsafe_code)]
fn default_sigpipe() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: SIG_DFL installs no handler code; nothing else in the process has set a
    // SIGPIPE disposition it relies on.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// A failure that ends the command: what to print and the exit code.
struct Exit {
    code: u8,
    report: Option<Report>,
    /// With `--format json`: members the failure object carries besides `"error"` (a failed
    /// apply's steps and what was undone).
    json: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Exit {
    fn new(code: u8, report: impl Into<Report>) -> Exit {
        Exit {
            code,
            report: Some(report.into()),
            json: None,
        }
    }

    fn failure(report: impl Into<Report>) -> Exit {
        Exit::new(EXIT_FAILURE, report)
    }
}

// long: one match arm per subcommand, each a call to the command's function, and the one place
// a failure becomes an exit status and a report.
pub fn run(cli: Cli) -> u8 {
    ui::init(cli.color, cli.quiet, cli.verbose);
    let json = json::wanted(&cli.command);
    let result = match cli.command {
        Command::Check { file, format } => cmd_check(&file, format),
        Command::Plan {
            file,
            state,
            format,
            detailed_exitcode,
            out,
        } => cmd_plan(
            &file,
            state.as_deref(),
            format,
            detailed_exitcode,
            out.as_deref(),
        ),
        Command::Apply {
            plan: Some(plan),
            dry_run,
            state,
            format,
            detailed_exitcode,
            lock_timeout,
            ..
        } => saved::cmd_apply_saved(
            &plan,
            dry_run,
            state.as_deref(),
            format,
            detailed_exitcode,
            lock_timeout,
        ),
        Command::Apply { file: None, .. } => Err(Exit::new(
            EXIT_USAGE,
            miette::miette!(
                code = Code::Usage.as_str(),
                "apply needs a topology FILE or --plan PLAN.json"
            ),
        )),
        Command::Apply {
            file: Some(file),
            dry_run: true,
            state,
            format,
            detailed_exitcode,
            ..
        } => cmd_plan(&file, state.as_deref(), format, detailed_exitcode, None),
        Command::Apply {
            file: Some(file),
            format,
            lock_timeout,
            ..
        } => cmd_apply(&file, format, lock_timeout),
        Command::Show { file, format } => cmd_show(file.as_deref(), format),
        Command::Destroy {
            file,
            dry_run,
            format,
            lock_timeout,
        } => cmd_destroy(&file, dry_run, format, lock_timeout),
        Command::Graph { file } => cmd_graph(&file),
        Command::Try {
            file,
            timeout,
            lock_timeout,
        } => try_cmd::run(&file, timeout, lock_timeout),
        Command::Adopt {
            file,
            dry_run,
            lock_timeout,
        } => adopt_cmd::run(&file, dry_run, lock_timeout),
        Command::Fmt { file, check } => format::cmd_fmt(&file, check),
        Command::Schema => {
            println!("{}", json::pretty(&crate::schema::schema()));
            Ok(EXIT_OK)
        }
        Command::Completions { shell } => {
            docs::completions(shell, &mut std::io::stdout().lock());
            Ok(EXIT_OK)
        }
        Command::Man => docs::man(&mut std::io::stdout().lock())
            .map(|()| EXIT_OK)
            .map_err(|e| {
                Exit::failure(miette::miette!(
                    code = Code::Io.as_str(),
                    "writing the man page: {e}"
                ))
            }),
    };
    match result {
        Ok(code) => code,
        Err(Exit {
            code,
            report,
            json: extra,
        }) => {
            if json {
                println!("{}", json::failure(code, report.as_ref(), extra));
            }
            if let Some(r) = report {
                // Not eprintln!: it panics when stderr is gone (a run stopped by SIGHUP
                // after its terminal closed), and the exit status must still say why.
                let _ = writeln!(std::io::stderr(), "{r:?}");
            }
            code
        }
    }
}

/// A loaded file: the validated topology, the name it is shown under, and its text.
struct Loaded {
    topology: Topology,
    name: String,
    text: String,
}

/// Reads a file (or standard input for `-`) as the command line names it; `help` says what
/// the file should be.
fn read_file(path: &Path, help: &str) -> Result<input::Text, Exit> {
    input::read_text(path).map_err(|e| {
        let (code, msg) = match e {
            input::ReadError::NotFound(m) => (EXIT_USAGE, m),
            input::ReadError::NotText(m) => (EXIT_DATAERR, m),
            input::ReadError::Other(m) => (EXIT_FAILURE, m),
        };
        Exit::new(
            code,
            miette::miette!(
                code = Code::InputRead.as_str(),
                help = help.to_owned(),
                "{msg}"
            ),
        )
    })
}

fn read_topology(path: &Path) -> Result<Loaded, Exit> {
    let input::Text { text, name, stem } = read_file(path, "a topology file is UTF-8 TOML text")?;
    load_topology(text, name, &stem)
}

fn load_topology(text: String, name: String, stem: &str) -> Result<Loaded, Exit> {
    let topology = check::load_str(&name, &text, stem).map_err(|e| Exit::new(EXIT_DATAERR, e))?;
    // The graph is part of validation: a cycle through vlan links is invalid input (the
    // only cycle a file can make; checked without building the whole graph).
    if let Err(e) = graph::check_vlan_cycles(&topology) {
        return Err(Exit::new(
            EXIT_DATAERR,
            Report::new(e).with_source_code(NamedSource::new(&name, text)),
        ));
    }
    Ok(Loaded {
        topology,
        name,
        text,
    })
}

fn cmd_check(file: &Path, format: Format) -> Result<u8, Exit> {
    let l = read_topology(file)?;
    let t = &l.topology;
    match format {
        Format::Json => println!(
            "{}",
            json::pretty(&json!({
                "format_version": json::FORMAT_VERSION,
                "file": l.name,
                "valid": true,
                "topology": t.name,
                "namespaces": t.namespaces.len(),
                "parents": t.parents.len(),
                "macvlans": t.macvlans.len(),
            }))
        ),
        Format::Text => ui::say(&format!(
            "{}: valid (topology {:?}: {} namespace(s), {} parent(s), {} macvlan(s))",
            l.name,
            t.name,
            t.namespaces.len(),
            t.parents.len(),
            t.macvlans.len()
        )),
    }
    Ok(EXIT_OK)
}

fn cmd_graph(file: &Path) -> Result<u8, Exit> {
    let l = read_topology(file)?;
    print!("{}", render::to_dot(&l.topology));
    Ok(EXIT_OK)
}

/// The kernel backend; its snapshots read what `topology`'s plans depend on consistently
/// (`kernel::Scope`; `None`: `show` of everything).
fn netlink(topology: Option<&Topology>) -> Result<kernel::Netlink, Exit> {
    let mut nl = kernel::Netlink::new().map_err(|e| Exit::failure(backend_report(&e, None)))?;
    nl.set_scope(topology.map(kernel::Scope::of));
    Ok(nl)
}

/// The kernel's state, saying which named namespaces were left out for changing all along.
fn read_kernel(backend: &mut kernel::Netlink) -> Result<LiveState, Exit> {
    let live = backend
        .snapshot()
        .map_err(|e| Exit::failure(backend_report(&e, Some("reading the kernel state"))))?;
    let unsettled = backend.unsettled();
    if !unsettled.is_empty() {
        let names: Vec<&str> = unsettled.iter().map(|n| n.as_str()).collect();
        ui::notice(&format!(
            "note: named namespace(s) {} kept changing while being read (another tool at work?): listed without their interfaces, which nothing here depends on",
            names.join(", ")
        ));
    }
    Ok(live)
}

/// The backend and the kernel's state for a command that may change it. Unless `dry_run`:
/// under the apply lock (returned, for the caller to hold) and after recovering what a
/// crashed run left, so the state read is the one the change will start from.
fn state_for_change(
    topology: &Topology,
    dry_run: bool,
    lock_timeout: Option<Duration>,
) -> Result<(Option<lock::ApplyLock>, kernel::Netlink, LiveState), Exit> {
    let held = if dry_run {
        None
    } else {
        Some(lock::acquire(lock_timeout)?)
    };
    let mut backend = netlink(Some(topology))?;
    if !dry_run {
        recover(&mut backend)?;
    }
    let live = read_kernel(&mut backend)?;
    Ok((held, backend, live))
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
        ui::notice(&format!("note: {n}"));
    }
    Ok(())
}

/// A JSON document mvtopo wrote (a live state, a saved plan), or invalid input pointing
/// into it.
fn read_json<T: serde::de::DeserializeOwned>(
    p: &Path,
    what: &'static str,
    help: &str,
) -> Result<T, Exit> {
    let file = read_file(p, help)?;
    input::parse_json(&file.name, &file.text, what, help).map_err(|e| Exit::new(EXIT_DATAERR, *e))
}

/// The live state from `state` (a saved JSON file) or the kernel. Reading the kernel
/// needs no root for the namespace mvtopo runs in; a named namespace that cannot be
/// entered (no root) is an error only when `topology` names it or owns it (with no
/// topology, `show` of everything: a note on stderr).
fn live_state(state: Option<&Path>, topology: Option<&Topology>) -> Result<LiveState, Exit> {
    match state {
        Some(p) => {
            let mut s: LiveState = read_json(
                p,
                "a live state",
                "a live state is the JSON that `mvtopo show --format json` writes",
            )?;
            s.normalize();
            Ok(s)
        }
        None => {
            let mut nl = netlink(topology)?;
            let live = read_kernel(&mut nl)?;
            unreadable_namespaces(nl.unreadable(), &live, topology)?;
            Ok(live)
        }
    }
}

fn unreadable_namespaces(
    unreadable: &[crate::names::NsName],
    live: &LiveState,
    topology: Option<&Topology>,
) -> Result<(), Exit> {
    let list = |names: &[&crate::names::NsName]| {
        names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(t) = topology else {
        if !unreadable.is_empty() {
            let all: Vec<_> = unreadable.iter().collect();
            eprintln!(
                "note: named namespace(s) {} could not be entered (that needs root): their interfaces are not shown",
                list(&all)
            );
        }
        return Ok(());
    };
    let needed: Vec<_> = unreadable
        .iter()
        .filter(|n| {
            t.namespaces.contains_key(*n) || live.namespace(n).is_some_and(|x| x.owned_by(&t.name))
        })
        .collect();
    if needed.is_empty() {
        return Ok(());
    }
    Err(Exit::failure(miette::miette!(
        help = "run as root, or plan against a saved state: `mvtopo show --format json FILE > state.json` as root, then `mvtopo plan FILE --state state.json` as anyone",
        "cannot read namespace(s) {} that topology {} names or owns: entering a named namespace needs root (permission denied)",
        list(&needed),
        t.name
    )))
}

fn make_plan(t: &Topology, live: &LiveState) -> Result<Plan, Exit> {
    diff::diff(t, live).map_err(|e| Exit::failure(Report::new(e)))
}

fn color_stdout() -> bool {
    ui::color_stdout()
}

fn cmd_plan(
    file: &Path,
    state: Option<&Path>,
    format: Format,
    detailed: bool,
    out: Option<&Path>,
) -> Result<u8, Exit> {
    let l = read_topology(file)?;
    let live = live_state(state, Some(&l.topology))?;
    let plan = make_plan(&l.topology, &live)?;
    if let Some(out) = out {
        let saved = saved::SavedPlan::new(&plan, &l.topology, &live, &l.name, &l.text);
        std::fs::write(out, json::pretty(&json::versioned(&saved)) + "\n").map_err(|e| {
            Exit::failure(miette::miette!(
                code = Code::Io.as_str(),
                "writing the plan to {}: {e}",
                out.display()
            ))
        })?;
    }
    print_plan(&plan, &l, &live, format);
    Ok(if detailed && !plan.in_sync {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

fn cmd_apply(file: &Path, format: Format, lock_timeout: Option<Duration>) -> Result<u8, Exit> {
    let l = read_topology(file)?;
    let _lock = lock::acquire(lock_timeout)?;
    let mut backend = netlink(Some(&l.topology))?;
    recover(&mut backend)?;
    let live = read_kernel(&mut backend)?;
    let plan = make_plan(&l.topology, &live)?;
    execute(&mut backend, &plan, &l, &live, format)
}

/// Carry out `plan` (shown first, as text), verified against `l`'s topology, and report.
fn execute(
    backend: &mut kernel::Netlink,
    plan: &Plan,
    l: &Loaded,
    live: &LiveState,
    format: Format,
) -> Result<u8, Exit> {
    if format == Format::Text {
        print_plan(plan, l, live, format);
        let _ = std::io::stdout().flush();
    }
    let t = &l.topology;
    // A plan error here (a blocker that appeared meanwhile) fails the apply, by name.
    let check = |after: &LiveState| diff::diff(t, after).map(|p| p.steps);
    let result = guarded::run(backend, plan, live, &check, None)?;
    report_run(plan, format, result, Run::Apply)
}

fn cmd_show(file: Option<&Path>, format: ShowFormat) -> Result<u8, Exit> {
    let topology = match file {
        Some(f) => Some(read_topology(f)?.topology),
        None => None,
    };
    let live = live_state(None, topology.as_ref())?;
    match format {
        ShowFormat::Json => {
            // With FILE: everything its plans depend on, so `plan --state` on this output
            // gives the same plan as against the kernel.
            let live = match &topology {
                Some(t) => diff::relevant(t, &live),
                None => live,
            };
            println!("{}", json::pretty(&json::versioned(&live)));
        }
        ShowFormat::Toml => print!(
            "{}",
            render::show_toml(&live, topology.as_ref().map(|t| t.name.as_str()))
        ),
    }
    Ok(EXIT_OK)
}

fn cmd_destroy(
    file: &Path,
    dry_run: bool,
    format: Format,
    lock_timeout: Option<Duration>,
) -> Result<u8, Exit> {
    let l = read_topology(file)?;
    let name = l.topology.name.clone();
    let (_lock, mut backend, live) = state_for_change(&l.topology, dry_run, lock_timeout)?;
    let plan = diff::destroy(&name, &live).map_err(|e| Exit::failure(Report::new(e)))?;
    match format {
        Format::Json if dry_run => println!("{}", json::pretty(&json::versioned(&plan))),
        Format::Json => {}
        Format::Text if ui::quiet() => {}
        Format::Text => print!("{}", render::steps_text(&plan, color_stdout())),
    }
    if dry_run {
        return Ok(EXIT_OK);
    }
    let check = |after: &LiveState| diff::destroy(&name, after).map(|p| p.steps);
    let result = guarded::run(&mut backend, &plan, &live, &check, None)?;
    report_run(&plan, format, result, Run::Destroy)
}

/// `plan`'s output: the plan as JSON, or the diff, steps and summary for a person (left out
/// with `-q`: the exit status and `--detailed-exitcode` still tell).
fn print_plan(plan: &Plan, l: &Loaded, live: &LiveState, format: Format) {
    match format {
        Format::Json => println!("{}", json::pretty(&json::versioned(plan))),
        Format::Text if ui::quiet() => {}
        Format::Text => print!(
            "{}",
            render::plan_text(plan, &l.topology, live, &l.name, color_stdout())
        ),
    }
}
