//! The options every command shares and how they reach the output: `--color`, `-q`, `-v`,
//! the miette report handler, the progress of a run that changes the system, and the
//! exit-status text shown by `--help` and the man page.

#![allow(unsafe_code)]

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::ValueEnum;

/// `--color WHEN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorChoice {
    /// Color when the stream is a terminal and NO_COLOR is unset or empty.
    #[default]
    Auto,
    /// Color, also into a file or a pipe.
    Always,
    /// No color.
    Never,
}

impl ColorChoice {
    /// Whether to color a stream that is (`tty`) or is not a terminal.
    pub fn resolve(self, tty: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => crate::render::use_color(tty),
        }
    }

    /// `--color` as written on a command line that clap has not parsed yet (for clap's own
    /// help and error output, which is printed before parsing succeeds). The last one wins.
    pub fn from_args<I: IntoIterator<Item = std::ffi::OsString>>(args: I) -> ColorChoice {
        let mut choice = ColorChoice::Auto;
        let mut args = args.into_iter();
        while let Some(a) = args.next() {
            let value = match a.to_str() {
                Some("--color") => args.next(),
                Some(s) => match s.strip_prefix("--color=") {
                    Some(v) => Some(v.into()),
                    None => continue,
                },
                None => continue,
            };
            if let Some(c) = value
                .as_ref()
                .and_then(|v| v.to_str())
                .and_then(|v| ColorChoice::from_str(v, false).ok())
            {
                choice = c;
            }
        }
        choice
    }
}

// The settings are process-wide (one command line per process); atomics rather than a
// OnceLock so that tests can run commands in-process one after another.
static QUIET: AtomicBool = AtomicBool::new(false);
static VERBOSE: AtomicBool = AtomicBool::new(false);
static COLOR_STDOUT: AtomicBool = AtomicBool::new(false);

/// Applies the shared options: remembers them for the output helpers below and installs
/// miette's report handler for stderr.
pub fn init(color: ColorChoice, quiet: bool, verbose: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
    VERBOSE.store(verbose, Ordering::Relaxed);
    COLOR_STDOUT.store(
        color.resolve(std::io::stdout().is_terminal()),
        Ordering::Relaxed,
    );
    let tty = std::io::stderr().is_terminal();
    let color_stderr = color.resolve(tty);
    // Diagnostics wrap to the terminal for a person; for a log or a script reading stderr,
    // a name or an errno split across lines is harder to find, so nothing is wrapped there.
    // A hook can be set once per process; a second `init` (in-process tests) keeps the first.
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .wrap_lines(tty)
                .terminal_links(false)
                .color(color_stderr)
                .build(),
        )
    }));
}

/// `-q`: print errors only.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// `-v`: print each kernel request as it is made.
pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// Whether what goes to stdout is colored (`--color`, the terminal, NO_COLOR).
pub fn color_stdout() -> bool {
    COLOR_STDOUT.load(Ordering::Relaxed)
}

/// A line for the person watching (progress, "valid", "done"), left out with `-q`.
pub fn say(text: &str) {
    if !quiet() {
        println!("{text}");
    }
}

/// A notice on stderr that is not an error (e.g. waiting for the lock), left out with `-q`.
pub fn notice(text: &str) {
    if !quiet() {
        eprintln!("{text}");
    }
}

/// The least time between two updates of the progress line (and before the first: a run
/// shorter than this shows none). Ten a second: the counter stays readable, and a run of
/// thousands of requests writes to the terminal a few dozen times.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// What the person sees of a run's kernel requests, on stderr: with `-v`, each request on
/// a line of its own as it is made; otherwise, on a terminal, one line rewritten in place
/// ("mvtopo: request 12/40: create macvlan red/mv3"), at most ten times a second, and
/// cleared by `clear` before anything else is printed; off a terminal or with `-q`,
/// nothing. Never anything on stdout.
pub struct RunProgress {
    verbose: bool,
    live: bool,
    /// When the line was last drawn (the start until it first is).
    last: Instant,
    /// A line is on the screen.
    shown: bool,
}

impl RunProgress {
    /// As `-q`, `-v` and stderr say.
    pub fn from_settings() -> RunProgress {
        let verbose = verbose();
        RunProgress::new(
            verbose,
            !verbose && !quiet() && std::io::stderr().is_terminal(),
        )
    }

    fn new(verbose: bool, live: bool) -> RunProgress {
        RunProgress {
            verbose,
            live,
            last: Instant::now(),
            shown: false,
        }
    }

    /// Whether it prints anything at all (else the run need not call it).
    pub fn active(&self) -> bool {
        self.verbose || self.live
    }

    /// Request `done + 1` of `total` is about to be made.
    pub fn observe(&mut self, done: usize, total: usize, request: &dyn std::fmt::Display) {
        if self.verbose {
            let _ = writeln!(std::io::stderr(), "request {}/{total}: {request}", done + 1);
        } else if self.live {
            let now = Instant::now();
            if now.duration_since(self.last) < PROGRESS_EVERY {
                return;
            }
            self.last = now;
            let text = format!("mvtopo: request {}/{total}: {request}", done + 1);
            // One screen line: a wrapped line could not be rewritten with \r.
            let text: String = text
                .chars()
                .take(terminal_width().saturating_sub(1))
                .collect();
            let _ = write!(std::io::stderr(), "\r{text}\x1b[K");
            self.shown = true;
        }
    }

    /// Take the progress line off the screen (if one is shown), before the report.
    pub fn clear(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
            self.shown = false;
        }
    }
}

impl Drop for RunProgress {
    fn drop(&mut self) {
        self.clear();
    }
}

/// The width of the terminal on stderr; 80 when it cannot be known.
fn terminal_width() -> usize {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct it is given, which lives
    // for the call.
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        usize::from(size.ws_col)
    } else {
        80
    }
}

/// Shown after every command's `--help` and in the man page.
pub const EXIT_STATUS: &str = "\
Exit status:
  0   success (plan --detailed-exitcode: in sync)
  1   failure: the kernel refused a step (everything done was undone), a plan is blocked by an
      object mvtopo does not own, a saved plan no longer matches the live state;
      fmt --check: the file is not in the canonical layout
  2   plan --detailed-exitcode, apply --dry-run --detailed-exitcode: changes pending
  64  usage error: bad arguments, a file that does not exist
  65  invalid input (topology, state or plan file): nothing was changed

With --format json, every command writes exactly one JSON object to stdout, also when it
fails: {\"format_version\": 1, \"error\": {\"code\", \"message\", \"exit_code\", \"diagnostics\"}}.";

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<std::ffi::OsString> {
        a.iter().map(Into::into).collect()
    }

    #[test]
    fn color_is_found_before_parsing() {
        assert_eq!(
            ColorChoice::from_args(args(&["mvtopo", "plan"])),
            ColorChoice::Auto
        );
        assert_eq!(
            ColorChoice::from_args(args(&["mvtopo", "--color", "never", "plan"])),
            ColorChoice::Never
        );
        assert_eq!(
            ColorChoice::from_args(args(&["mvtopo", "plan", "--color=always"])),
            ColorChoice::Always
        );
        assert_eq!(
            ColorChoice::from_args(args(&["mvtopo", "--color=never", "--color", "always"])),
            ColorChoice::Always
        );
        // A bad value is clap's to report; until then nothing is forced.
        assert_eq!(
            ColorChoice::from_args(args(&["mvtopo", "--color", "blue"])),
            ColorChoice::Auto
        );
    }

    #[test]
    fn always_and_never_ignore_the_terminal() {
        assert!(ColorChoice::Always.resolve(false));
        assert!(!ColorChoice::Never.resolve(true));
    }
}
