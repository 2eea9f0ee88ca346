//! `mvtopo try FILE`: apply, show what changed, then keep it only when confirmed (Enter on
//! its terminal, or SIGUSR1); a timeout, SIGINT, SIGTERM or SIGHUP reverts to exactly the
//! state found, with the same undo as a failed apply (netplan try's convention).

use std::io::{BufRead, IsTerminal, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::apply::{self, ApplyError};
use crate::interrupt;
use crate::live::LiveState;
use crate::{diff, render};

use super::{
    EXIT_FAILURE, EXIT_OK, Exit, Format, Run, color_stdout, guarded, lock, make_plan, netlink,
    read_kernel, read_topology, recover, report_run,
};

/// Reverted because no confirmation came in time.
pub(super) const EXIT_NOT_CONFIRMED: u8 = 3;

pub(super) const AFTER_HELP: &str = "\
Confirm with Enter on the terminal mvtopo runs in, or with SIGUSR1 to its process \
(kill -USR1 PID). Until then the apply lock is held.

Exit status:
  0    confirmed: the change is kept (or there was nothing to change)
  1    the apply itself failed (everything undone, as `apply`)
  3    reverted: no confirmation within --timeout
  129  reverted on SIGHUP (the session that started it closed)
  130  reverted on SIGINT (Ctrl-C)
  143  reverted on SIGTERM
  64, 65  usage error, invalid file (nothing changed)";

pub(super) fn run(
    file: &Path,
    timeout: Duration,
    lock_timeout: Option<Duration>,
) -> Result<u8, Exit> {
    let l = read_topology(file)?;
    let _lock = lock::acquire(lock_timeout)?;
    let mut backend = netlink(Some(&l.topology))?;
    recover(&mut backend)?;
    let live = read_kernel(&mut backend)?;
    let plan = make_plan(&l.topology, &live)?;
    print!(
        "{}",
        render::plan_text(&plan, &l.topology, &live, &l.name, color_stdout())
    );
    let _ = std::io::stdout().flush();
    if plan.steps.is_empty() {
        return Ok(EXIT_OK);
    }
    let t = &l.topology;
    // A plan error here (a blocker that appeared meanwhile) fails the try, by name.
    let check = |after: &LiveState| diff::diff(t, after).map(|p| p.steps);
    let steps = plan.steps.len();
    let mut confirm = || {
        // Never println!/eprintln! from here on: they panic when the terminal is gone (the
        // SSH session died, which is what SIGHUP says), and a panic here would skip the
        // revert.
        let _ = writeln!(
            std::io::stdout(),
            "try: {steps} step(s) executed and verified"
        );
        let _ = std::io::stdout().flush();
        wait_for_confirmation(timeout)
    };
    let result = guarded::run(&mut backend, &plan, &live, &check, Some(&mut confirm))?;
    match result {
        Ok(_) => {
            let _ = writeln!(std::io::stdout(), "try: confirmed; the change is kept");
            Ok(EXIT_OK)
        }
        Err(e @ ApplyError::Reverted { .. }) => {
            let code = match interrupt::STOP.load(Ordering::SeqCst) {
                0 => EXIT_NOT_CONFIRMED,
                signal => interrupt::exit_code(signal),
            };
            match report_run(&plan, Format::Text, Err(e), Run::Try) {
                Err(Exit { report, json, .. }) => Err(Exit { code, report, json }),
                Ok(_) => Ok(code),
            }
        }
        Err(e) => report_run(&plan, Format::Text, Err(e), Run::Try).map(|_| EXIT_FAILURE),
    }
}

/// Wait until SIGUSR1, a line on the terminal, a stopping signal or the timeout: Ok(()) to
/// keep the change, Err(why) to revert it.
fn wait_for_confirmation(timeout: Duration) -> Result<(), String> {
    let pid = std::process::id();
    if interrupt::CONFIRM.swap(false, Ordering::SeqCst) {
        let _ = writeln!(
            std::io::stderr(),
            "try: a SIGUSR1 sent before the change was verified does not confirm it; send it again"
        );
    }
    let stdin = std::io::stdin();
    // Only a terminal whose foreground this process is: reading it (or flushing its input)
    // from the background stops the process with SIGTTIN/SIGTTOU, and a stopped `try`
    // would never reach its timeout and revert.
    let mut watch_stdin = stdin.is_terminal() && foreground(&stdin);
    if watch_stdin {
        // Enter pressed while the change was being made must not confirm it unseen.
        let _ = nix::sys::termios::tcflush(stdin.as_fd(), nix::sys::termios::FlushArg::TCIFLUSH);
    }
    let stderr = std::io::stderr();
    let countdown = stderr.is_terminal()
        && nix::unistd::tcgetpgrp(stderr.as_fd()).is_ok_and(|p| p == nix::unistd::getpgrp());
    let how = if watch_stdin {
        format!("press Enter here, or run `kill -USR1 {pid}`")
    } else {
        format!("run `kill -USR1 {pid}`")
    };
    let _ = writeln!(
        std::io::stderr(),
        "try: to keep this change, {how} within {} s\n     otherwise, or on Ctrl-C, SIGTERM or SIGHUP, it is reverted",
        secs(timeout)
    );
    let deadline = Instant::now() + timeout;
    let mut shown = None;
    let end = |result: Result<(), String>| {
        if countdown {
            let _ = writeln!(std::io::stderr());
        }
        result
    };
    loop {
        let signal = interrupt::STOP.load(Ordering::SeqCst);
        if signal != 0 {
            return end(Err(format!("{} received", apply::signal_name(signal))));
        }
        if interrupt::CONFIRM.load(Ordering::SeqCst) {
            return end(Ok(()));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return end(Err(format!("no confirmation within {} s", secs(timeout))));
        }
        if countdown {
            show_countdown(left, &mut shown);
        }
        let slice = left.min(Duration::from_millis(200));
        if line_entered(&stdin, slice, &mut watch_stdin) {
            return end(Ok(()));
        }
    }
}

/// Redraw the countdown line when the whole seconds `left` changed since it was `shown`.
fn show_countdown(left: Duration, shown: &mut Option<u64>) {
    let whole = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    if *shown != Some(whole) {
        *shown = Some(whole);
        // Short enough for one line of a narrow terminal: `\r` and erase-line only
        // redraw the line the cursor is on.
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[2Ktry: reverting in {whole} s unless confirmed"
        );
        let _ = std::io::stderr().flush();
    }
}

/// Wait up to `slice` for a line on the terminal (while it is watched and this process is
/// in its foreground, else just sleep): true when one came. At its end, it stops watching.
fn line_entered(stdin: &std::io::Stdin, slice: Duration, watch_stdin: &mut bool) -> bool {
    if !(*watch_stdin && foreground(stdin)) {
        std::thread::sleep(slice);
        return false;
    }
    let mut fds = [nix::poll::PollFd::new(
        stdin.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let ms = u16::try_from(slice.as_millis()).unwrap_or(200);
    // EINTR (a signal) only means: look at the flags again.
    if let Ok(n) = nix::poll::poll(&mut fds, ms)
        && n > 0
    {
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => *watch_stdin = false,
            Ok(_) => return true,
        }
    }
    false
}

/// This process is in the foreground process group of the terminal `stdin` is.
fn foreground(stdin: &std::io::Stdin) -> bool {
    nix::unistd::tcgetpgrp(stdin.as_fd()).is_ok_and(|p| p == nix::unistd::getpgrp())
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", d.as_secs())
    } else {
        format!("{s}")
    }
}
