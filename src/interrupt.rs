//! Signals while mvtopo changes the system: SIGINT, SIGTERM and SIGHUP stop a run so that
//! it undoes what it did (instead of dying half-way), and SIGUSR1 confirms a `try`.
//!
//! The handlers are installed only around the part of a command that changes the system
//! (`Guard`), and the dispositions found are put back when it ends: before it, nothing has
//! changed and the default (die at once) is right; after it, the outcome is settled. A
//! signal the process inherited as ignored (`nohup` ignores SIGHUP, a shell's background job
//! SIGINT) stays ignored: whoever started mvtopo asked for that.
//!
//! The handlers only store the signal number (`STOP`, read by `apply::Control::stop`) and
//! write a line to stderr with write(2), both async-signal-safe. The first signal is kept;
//! later ones are not allowed to cut the undo short, and say so.

#![allow(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

/// The first stopping signal received while a `Guard` is alive (0: none).
pub static STOP: AtomicI32 = AtomicI32::new(0);

/// Set by SIGUSR1 while a `Guard` with `confirm_on_usr1` is alive.
pub static CONFIRM: AtomicBool = AtomicBool::new(false);

/// The signals that stop a run, with the exit status each gives (128 + the number, the
/// shell's convention: 130, 143, 129).
pub const STOPPING: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// The exit status of a run stopped by `signal`.
pub fn exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(1)
}

/// Handlers installed; the dispositions found are restored on drop.
pub struct Guard {
    saved: Vec<(Signal, SigAction)>,
}

impl Guard {
    /// Install the handlers for SIGINT, SIGTERM and SIGHUP (and SIGUSR1 when
    /// `confirm_on_usr1`), clearing `STOP` and `CONFIRM`.
    pub fn install(confirm_on_usr1: bool) -> io::Result<Guard> {
        STOP.store(0, Ordering::SeqCst);
        CONFIRM.store(false, Ordering::SeqCst);
        // SA_RESTART: a netlink request in flight is finished, not cut short by EINTR.
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        let mut guard = Guard { saved: Vec::new() };
        let mut signals = STOPPING.to_vec();
        if confirm_on_usr1 {
            signals.push(Signal::SIGUSR1);
        }
        for sig in signals {
            // SAFETY: the handler only touches atomics and calls write(2).
            let old = unsafe { sigaction(sig, &action) }.map_err(io::Error::from)?;
            if matches!(old.handler(), SigHandler::SigIgn) && sig != Signal::SIGUSR1 {
                // Inherited as ignored: leave it so.
                // SAFETY: puts back exactly the action that was there.
                unsafe { sigaction(sig, &old) }.map_err(io::Error::from)?;
                continue;
            }
            guard.saved.push((sig, old));
        }
        Ok(guard)
    }

    /// The stopping signal received so far, if any.
    pub fn stopped(&self) -> Option<i32> {
        match STOP.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for (sig, old) in self.saved.drain(..).rev() {
            // SAFETY: restores the action found when the guard was made.
            let _ = unsafe { sigaction(sig, &old) };
        }
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    if sig == libc::SIGUSR1 {
        CONFIRM.store(true, Ordering::SeqCst);
        say(b"\nmvtopo: SIGUSR1: confirmed\n");
        return;
    }
    let first = STOP
        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok();
    let msg: &[u8] = match (first, sig) {
        (true, libc::SIGINT) => {
            b"\nmvtopo: SIGINT: finishing the request in flight, then undoing everything this run changed; another Ctrl-C will not stop the undo\n"
        }
        (true, libc::SIGTERM) => {
            b"\nmvtopo: SIGTERM: finishing the request in flight, then undoing everything this run changed\n"
        }
        (true, _) => {
            b"\nmvtopo: SIGHUP: finishing the request in flight, then undoing everything this run changed\n"
        }
        (false, _) => {
            b"\nmvtopo: still undoing; the undo runs to the end (stopping it half-way would leave a half-made topology)\n"
        }
    };
    say(msg);
}

/// write(2) to stderr, the one output call allowed in a signal handler. A closed stderr
/// (SIGHUP after the terminal went away) only loses the message.
fn say(msg: &[u8]) {
    // SAFETY: writes a valid buffer to fd 2; write(2) is async-signal-safe.
    let _ = unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(libc::SIGINT), 130);
        assert_eq!(exit_code(libc::SIGTERM), 143);
        assert_eq!(exit_code(libc::SIGHUP), 129);
    }

    /// One test touches the process's signal dispositions, so nothing else in this binary
    /// races with it: the first signal is kept, a second does not replace it, SIGUSR1
    /// confirms, the dispositions found are back after the guard, and an ignored one stays
    /// ignored.
    #[test]
    fn guard_records_the_first_signal_and_restores_the_disposition() {
        let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        let ign = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
        let saved: Vec<_> = [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT]
            .iter()
            // SAFETY: SIG_DFL installs no handler code.
            .map(|&s| (s, unsafe { sigaction(s, &dfl) }.expect("sigaction")))
            .collect();
        // SAFETY: SIG_IGN installs no handler code.
        unsafe { sigaction(Signal::SIGINT, &ign) }.expect("sigaction");
        {
            let g = Guard::install(true).expect("install");
            assert_eq!(g.stopped(), None);
            assert!(
                matches!(current(Signal::SIGINT), SigHandler::SigIgn),
                "ignored stays so"
            );
            nix::sys::signal::raise(Signal::SIGHUP).expect("raise");
            assert_eq!(g.stopped(), Some(libc::SIGHUP));
            nix::sys::signal::raise(Signal::SIGTERM).expect("raise");
            assert_eq!(g.stopped(), Some(libc::SIGHUP), "the first signal is kept");
            nix::sys::signal::raise(Signal::SIGUSR1).expect("raise");
            assert!(CONFIRM.load(Ordering::SeqCst));
        }
        assert!(
            matches!(current(Signal::SIGHUP), SigHandler::SigDfl),
            "restored"
        );
        assert!(
            matches!(current(Signal::SIGTERM), SigHandler::SigDfl),
            "restored"
        );
        for (s, old) in saved {
            // SAFETY: puts back exactly the action that was there before the test.
            unsafe { sigaction(s, &old) }.expect("restore");
        }
    }

    fn current(sig: Signal) -> SigHandler {
        let probe = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        // SAFETY: SIG_DFL for a moment, no handler code; the old action is put back next.
        let old = unsafe { sigaction(sig, &probe) }.expect("sigaction");
        // SAFETY: puts back exactly the action that was there.
        unsafe { sigaction(sig, &old) }.expect("sigaction");
        old.handler()
    }
}
