//! The apply lock (`/run/mvtopo/lock`): taken by every command that changes the system,
//! waited for with an optional limit (`--lock-timeout`), and naming the process that holds
//! it when mvtopo has to wait or give up.

use std::io::{Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use super::Exit;
use crate::code::Code;

/// Held while a command changes the system: two applies at once would each plan against a
/// state the other is changing. One lock for all topologies, since they share namespaces
/// and parents. `flock` locks are released by the kernel when the process ends, however
/// it ends, so a crashed run never leaves a stale lock.
pub(super) struct ApplyLock(#[allow(dead_code)] Flock<std::fs::File>);

pub(super) const LOCK_PATH: &str = "/run/mvtopo/lock";

/// How often a limited wait tries again: `flock` itself has no timeout.
const RETRY: Duration = Duration::from_millis(50);

/// `--lock-timeout SECS`: whole or fractional seconds, at least 0.
pub(super) fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?}: seconds must be 0 or more"))
}

/// Take the lock: wait for it without limit (`None`, saying so on stderr), at most
/// `timeout`, or not at all (`Some(0)`): then fail, exit 1, naming the holder.
pub(super) fn acquire(timeout: Option<Duration>) -> Result<ApplyLock, Exit> {
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
            code = Code::Lock.as_str(),
            help = "run as root",
            "opening the lock file {LOCK_PATH}: {e}"
        ))
    })?;
    let locked = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err((file, nix::errno::Errno::EWOULDBLOCK)) => wait(file, timeout)?,
        Err((_, e)) => {
            return Err(Exit::failure(miette::miette!(
                code = Code::Lock.as_str(),
                "locking {LOCK_PATH}: {e}"
            )));
        }
    };
    // Say who holds it, for the next run that has to wait (informational: /proc/locks is
    // what `holder` reads first).
    let mut f: &std::fs::File = &locked;
    let _ = f.set_len(0);
    let _ = f.rewind();
    let _ = writeln!(f, "{}", std::process::id());
    Ok(ApplyLock(locked))
}

fn wait(file: std::fs::File, timeout: Option<Duration>) -> Result<Flock<std::fs::File>, Exit> {
    let who = holder(&file).map_or_else(String::new, |h| format!(" ({h})"));
    let Some(limit) = timeout else {
        eprintln!(
            "waiting for the apply lock {LOCK_PATH}, held by another run{who}; --lock-timeout SECS limits the wait"
        );
        return Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| {
            Exit::failure(miette::miette!(
                code = Code::Lock.as_str(),
                "locking {LOCK_PATH}: {e}"
            ))
        });
    };
    if !limit.is_zero() {
        eprintln!(
            "waiting up to {} s for the apply lock {LOCK_PATH}, held by another run{who}",
            limit.as_secs_f64()
        );
    }
    let deadline = Instant::now() + limit;
    let mut file = file;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let who = holder(&file).map_or_else(String::new, |h| format!(" ({h})"));
            return Err(Exit::failure(miette::miette!(
                code = Code::Lock.as_str(),
                help = "wait for that run to finish, or give a longer --lock-timeout",
                "the apply lock {LOCK_PATH} is held by another run{who}; gave up after {} s (--lock-timeout), nothing changed",
                limit.as_secs_f64()
            )));
        }
        std::thread::sleep(left.min(RETRY));
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => return Ok(l),
            Err((f, nix::errno::Errno::EWOULDBLOCK)) => file = f,
            Err((_, e)) => {
                return Err(Exit::failure(miette::miette!(
                    code = Code::Lock.as_str(),
                    "locking {LOCK_PATH}: {e}"
                )));
            }
        }
    }
}

/// The process holding the lock, as "process PID (COMMAND LINE)", if it can be told: the
/// kernel's own list of flock holders first (/proc/locks: right whoever took the lock),
/// then the pid the holder wrote into the file.
fn holder(file: &std::fs::File) -> Option<String> {
    let meta = file.metadata().ok()?;
    let pid = std::fs::read_to_string("/proc/locks")
        .ok()
        .and_then(|locks| flock_holder(&locks, meta.dev(), meta.ino()))
        .or_else(|| {
            std::fs::read_to_string(LOCK_PATH)
                .ok()?
                .trim()
                .parse::<u32>()
                .ok()
        })?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    Some(if cmdline.is_empty() {
        format!("process {pid}")
    } else {
        format!("process {pid}: {cmdline}")
    })
}

/// The pid holding a FLOCK on the file (`dev`, `ino`) in /proc/locks text: lines like
/// `3: FLOCK  ADVISORY  WRITE 16753 fe:00:5719416 0 EOF` (device as hex major:minor);
/// waiters (`3: -> FLOCK ...`) do not hold it.
fn flock_holder(locks: &str, dev: u64, ino: u64) -> Option<u32> {
    let want = (
        u64::from(libc::major(dev)),
        u64::from(libc::minor(dev)),
        ino,
    );
    locks.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(1) != Some(&"FLOCK") {
            return None;
        }
        let mut id = f.get(5)?.split(':');
        let major = u64::from_str_radix(id.next()?, 16).ok()?;
        let minor = u64::from_str_radix(id.next()?, 16).ok()?;
        let inode = id.next()?.parse::<u64>().ok()?;
        ((major, minor, inode) == want)
            .then(|| f.get(4)?.parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse() {
        assert_eq!(parse_secs("0"), Ok(Duration::ZERO));
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("soon").is_err());
    }

    #[test]
    fn proc_locks_holder() {
        let text = "1: FLOCK  ADVISORY  WRITE 18504 fe:00:5366481 0 EOF\n\
                    2: -> FLOCK  ADVISORY  WRITE 99 fe:00:10133507 0 EOF\n\
                    3: FLOCK  ADVISORY  WRITE 16753 fe:00:10133507 0 EOF\n";
        let dev = libc::makedev(0xfe, 0);
        assert_eq!(flock_holder(text, dev, 10133507), Some(16753));
        assert_eq!(flock_holder(text, dev, 5366481), Some(18504));
        assert_eq!(flock_holder(text, dev, 1), None);
    }
}
