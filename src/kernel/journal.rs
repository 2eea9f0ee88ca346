//! The write-ahead journal of creates, and the recovery that reads it: what a run killed
//! outright (SIGKILL, OOM, a crash) was in the middle of making, so that the next `apply` or
//! `destroy` removes it instead of being blocked by it.
//!
//! Two things can outlive a run killed at the wrong moment:
//! - a link created but not yet marked as owned: the kernel ignores IFLA_IFALIAS in a
//!   create, so the `mvtopo:NAME` alias goes in a second request (the claim). Unmarked, it
//!   looks foreign, and every later plan stops on it as "in the way";
//! - the empty placeholder file a namespace is bind-mounted on (a bind mount needs an
//!   existing file), when the run dies between making it and mounting.
//!
//! So before each create, the intent (which link in which namespace, which namespace file)
//! is appended to this process's journal file, in one write(); the claim (or the mount)
//! clears it. A write() that returned is in the page cache, so it survives the death of the
//! process, which is what this guards against. It is not fsync'd: a power cut or reboot
//! ends every link and namespace the journal could describe (and /run is normally a tmpfs
//! that goes with them), and where /run is on disk, what can outlive the boot, a
//! placeholder file, is recognized by its mode and its age (`netns::sweep_old_placeholders`)
//! without the journal. An fsync costs ~3 ms where /run is on disk, which is more than a
//! whole macvlan create.
//!
//! A link is created in a reserved interface group (`CREATING_GROUP`, which the kernel
//! honours in a create, unlike the alias) and the claim puts it back in group 0 in the same
//! request that sets the alias. Recovery only deletes a link that the journal names, that
//! has no alias and that is still in the reserved group: never a link of the same name made
//! by someone else (a create that failed because such a link existed leaves that link in
//! its own group), and never one that was claimed.
//!
//! Each process writes its own file, `/run/mvtopo/journal/PID-NANOS`, and holds an `flock`
//! on it for as long as it lives; the kernel drops the lock when the process dies, however
//! it dies. Recovery only reads files it can lock: those of dead processes.

#![allow(unsafe_code)]

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use futures::TryStreamExt;
use netlink_packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkInfo, LinkMessage};
use serde::{Deserialize, Serialize};

use super::netns::{self, NsFile};
use super::{Netlink, io_err, nl_err};
use crate::apply::backend::BackendError;
use crate::live::LinkRef;
use crate::names::{LinkName, NsName};

/// Where the journal files are.
pub const JOURNAL_DIR: &str = "/run/mvtopo/journal";

/// The interface group a link is created in, until the claim sets its alias and puts it back
/// in group 0 (the default). "mvtp" in ASCII: an arbitrary value no distribution assigns.
pub const CREATING_GROUP: u32 = 0x6d76_7470;

/// One thing a create is about to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Intent {
    /// A link `name` that will be in the namespace whose cookie is `cookie` in boot `boot`
    /// (named `namespace`, or the run's own namespace when `None`).
    Link {
        cookie: u64,
        boot: String,
        namespace: Option<NsName>,
        name: LinkName,
    },
    /// The namespace file /run/netns/NAME.
    Namespace { name: NsName },
}

/// A line of a journal file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Begin { id: u64, intent: Intent },
    Done { done: u64 },
}

/// This process's journal: opened on the first intent, so reading commands never write one.
struct Open {
    file: File,
    path: PathBuf,
    next: u64,
    outstanding: Vec<(u64, Intent)>,
}

static JOURNAL: Mutex<Option<Open>> = Mutex::new(None);

fn journal() -> std::sync::MutexGuard<'static, Option<Open>> {
    JOURNAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn open_new() -> io::Result<Open> {
    fs::create_dir_all(JOURNAL_DIR)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let path = Path::new(JOURNAL_DIR).join(format!("{}-{nanos}", std::process::id()));
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)?;
    // Held until the process ends: recovery by another run takes this as "still alive".
    if let Err(e) = flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok(Open {
        file,
        path,
        next: 1,
        outstanding: Vec::new(),
    })
}

fn flock(file: &File, op: libc::c_int) -> io::Result<()> {
    // SAFETY: flock on an open descriptor.
    if unsafe { libc::flock(file.as_raw_fd(), op) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Record `intents` in the journal before the create that makes them (see the module
/// comment on why a write() is enough). The ids clear them again.
pub fn intend(intents: Vec<Intent>) -> io::Result<Vec<u64>> {
    let mut guard = journal();
    if guard.is_none() {
        *guard = Some(open_new()?);
    }
    let Some(j) = guard.as_mut() else {
        return Err(io::Error::other("journal not open"));
    };
    let mut text = String::new();
    let mut ids = Vec::with_capacity(intents.len());
    for intent in intents {
        let id = j.next;
        j.next += 1;
        let line = Line::Begin {
            id,
            intent: intent.clone(),
        };
        text.push_str(&serde_json::to_string(&line).map_err(io::Error::other)?);
        text.push('\n');
        ids.push(id);
        j.outstanding.push((id, intent));
    }
    // One write: a line is either all there or (cut by a crash) ignored when read.
    let written = j.file.write_all(text.as_bytes());
    if let Err(e) = written {
        j.outstanding.retain(|(id, _)| !ids.contains(id));
        return Err(e);
    }
    Ok(ids)
}

/// The create that `ids` announced is finished (or never happened): forget it. When nothing
/// is outstanding the file is emptied, so it stays a few lines long however much is created.
/// A failure here only leaves an entry that recovery will find already settled.
pub fn clear(ids: &[u64]) {
    let mut guard = journal();
    let Some(j) = guard.as_mut() else { return };
    j.outstanding.retain(|(id, _)| !ids.contains(id));
    if j.outstanding.is_empty() {
        let _ = j.file.set_len(0);
    } else {
        let mut text = String::new();
        for id in ids {
            if let Ok(s) = serde_json::to_string(&Line::Done { done: *id }) {
                text.push_str(&s);
                text.push('\n');
            }
        }
        let _ = j.file.write_all(text.as_bytes());
    }
}

/// Clear the entry of link `name` in the namespace with `cookie`, if any (called by the claim).
pub fn clear_link(cookie: u64, name: &LinkName) {
    let ids: Vec<u64> = journal()
        .as_ref()
        .map(|j| {
            j.outstanding
                .iter()
                .filter(|(_, i)| {
                    matches!(i, Intent::Link { cookie: c, name: n, .. } if *c == cookie && n == name)
                })
                .map(|(id, _)| *id)
                .collect()
        })
        .unwrap_or_default();
    if !ids.is_empty() {
        clear(&ids);
    }
}

/// Remove this process's journal file if nothing is outstanding (a backend is done). An
/// entry still outstanding (a create whose cleanup failed) keeps the file for recovery.
pub fn release() {
    let mut guard = journal();
    if guard.as_ref().is_some_and(|j| j.outstanding.is_empty())
        && let Some(j) = guard.take()
    {
        let _ = fs::remove_file(&j.path);
    }
}

// ---------------------------------------------------------------------------------------
// The hooks around a link create (called by `exec::new_link` and `exec::claim`)

/// Before a create: record the links it makes, `made` (namespace and name of each end), and
/// put them in `CREATING_GROUP`, the veth peer included.
pub(super) fn before_create(
    nl: &mut Netlink,
    made: &[(Option<&NsName>, &LinkName)],
    msg: &mut LinkMessage,
) -> Result<Vec<u64>, BackendError> {
    let what = || {
        made.first()
            .map(|(ns, n)| at(*ns, n).to_string())
            .unwrap_or_default()
    };
    let boot =
        netns::boot_id().map_err(|e| io_err("record the create in the journal", what(), &e))?;
    let mut intents = Vec::with_capacity(made.len());
    for (ns, name) in made {
        let cookie = nl.conn(*ns)?.cookie;
        intents.push(Intent::Link {
            cookie,
            boot: boot.to_owned(),
            namespace: ns.cloned(),
            name: (*name).clone(),
        });
    }
    mark_creating(msg);
    intend(intents).map_err(|e| io_err("record the create in the journal", what(), &e))
}

/// After a create: a request the kernel refused made nothing, so its entries go. Any other
/// outcome keeps them until the claim (a transport error may hide a link that was made).
pub(super) fn after_create(ids: &[u64], sent: &Result<(), rtnetlink::Error>) {
    match sent {
        Ok(()) => crash_point(CrashPoint::AfterCreate),
        Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code() != 0 => clear(ids),
        Err(_) => {}
    }
}

/// After a successful claim of `name` in `ns`: its entry goes.
pub(super) fn claimed(nl: &mut Netlink, ns: Option<&NsName>, name: &LinkName) {
    if let Ok(c) = nl.conn(ns) {
        clear_link(c.cookie, name);
    }
}

fn mark_creating(msg: &mut LinkMessage) {
    msg.attributes.push(LinkAttribute::Group(CREATING_GROUP));
    for a in &mut msg.attributes {
        if let LinkAttribute::LinkInfo(infos) = a {
            for i in infos {
                if let LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))) = i {
                    peer.attributes.push(LinkAttribute::Group(CREATING_GROUP));
                }
            }
        }
    }
}

/// The moments a crash leaves something half-made, where test builds can be told to die.
#[derive(Debug, Clone, Copy)]
pub enum CrashPoint {
    /// After a link create, before its claim: an unmarked link.
    AfterCreate,
    /// After a namespace's placeholder and marker, before the mount.
    BeforeMount,
}

/// Test builds only: `MVTOPO_TEST_CRASH_AFTER_CREATE=N` (or `..._BEFORE_MOUNT=N`) kills the
/// process with SIGKILL at the N-th time it reaches that point: the moments that leave
/// something half-made, which timing alone hits only by luck. Compiled out of release
/// builds.
#[cfg(debug_assertions)]
pub fn crash_point(at: CrashPoint) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CREATES: AtomicU64 = AtomicU64::new(0);
    static MOUNTS: AtomicU64 = AtomicU64::new(0);
    let (count, var) = match at {
        CrashPoint::AfterCreate => (&CREATES, "MVTOPO_TEST_CRASH_AFTER_CREATE"),
        CrashPoint::BeforeMount => (&MOUNTS, "MVTOPO_TEST_CRASH_BEFORE_MOUNT"),
    };
    let n = count.fetch_add(1, Ordering::SeqCst) + 1;
    let wanted = std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok());
    if wanted == Some(n) {
        // SAFETY: signalling our own process.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

#[cfg(not(debug_assertions))]
pub fn crash_point(_: CrashPoint) {}

fn at(ns: Option<&NsName>, name: &LinkName) -> LinkRef {
    LinkRef {
        namespace: ns.cloned(),
        name: name.clone(),
    }
}

// ---------------------------------------------------------------------------------------
// Recovery

/// The entries a journal file leaves outstanding: every begun intent not marked done. A
/// last line cut short by a crash is ignored (its create was never sent: the sync comes
/// before it).
fn outstanding(text: &str) -> Vec<Intent> {
    let mut open: Vec<(u64, Intent)> = Vec::new();
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    for line in complete.lines() {
        match serde_json::from_str::<Line>(line) {
            Ok(Line::Begin { id, intent }) => open.push((id, intent)),
            Ok(Line::Done { done }) => open.retain(|(id, _)| *id != done),
            Err(_) => {}
        }
    }
    open.into_iter().map(|(_, i)| i).collect()
}

/// What recovery did with one entry.
enum Settled {
    /// Nothing left to do (removed, or found claimed, gone or not ours), with a note when
    /// something was removed.
    Done(Option<String>),
    /// The namespace it names cannot be reached from here (the entry comes from a run in
    /// another network namespace): kept for a run that can.
    Kept,
}

/// Settle the journals of runs that died: remove the half-made links and placeholders they
/// name, then the ownership markers that describe no namespace. Returns a note for each
/// thing removed. Runs under the apply lock, before the snapshot.
pub fn recover(nl: &mut Netlink) -> Result<Vec<String>, BackendError> {
    let mut notes = Vec::new();
    let own = journal().as_ref().map(|j| j.path.clone());
    let dir = match fs::read_dir(JOURNAL_DIR) {
        Ok(d) => Some(d),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_err("read the journal", JOURNAL_DIR, &e)),
    };
    let mut cookies: Option<HashMap<u64, NsName>> = None;
    for entry in dir.into_iter().flatten() {
        let Ok(entry) = entry else { continue };
        let path = entry.path();
        if Some(&path) == own.as_ref() {
            continue;
        }
        let Ok(mut file) = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
        else {
            continue;
        };
        // Locked: its process is alive. Unlinked after we opened it: another run recovered it.
        if flock(&file, libc::LOCK_EX | libc::LOCK_NB).is_err()
            || file.metadata().map(|m| m.nlink()).unwrap_or(0) == 0
        {
            continue;
        }
        let pid = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('-').next())
            .unwrap_or("?")
            .to_owned();
        let mut text = String::new();
        if let Err(e) = file.read_to_string(&mut text) {
            return Err(io_err("read the journal", path.display(), &e));
        }
        let mut kept = Vec::new();
        for intent in outstanding(&text) {
            match settle(nl, &intent, &pid, &mut cookies)? {
                Settled::Done(note) => notes.extend(note),
                Settled::Kept => kept.push(intent),
            }
        }
        if kept.is_empty() {
            fs::remove_file(&path).map_err(|e| io_err("clear the journal", path.display(), &e))?;
        } else {
            let mut text = String::new();
            for (i, intent) in kept.into_iter().enumerate() {
                let line = Line::Begin {
                    id: i as u64 + 1,
                    intent,
                };
                text.push_str(&serde_json::to_string(&line).unwrap_or_default());
                text.push('\n');
            }
            file.set_len(0)
                .and_then(|()| file.write_all(text.as_bytes()))
                .map_err(|e| io_err("rewrite the journal", path.display(), &e))?;
        }
    }
    let old = netns::sweep_old_placeholders()
        .map_err(|e| io_err("check for old placeholders", netns::NETNS_DIR, &e))?;
    notes.extend(old);
    let swept =
        netns::sweep_markers().map_err(|e| io_err("check the markers", netns::MARKER_DIR, &e))?;
    notes.extend(swept);
    Ok(notes)
}

fn settle(
    nl: &mut Netlink,
    intent: &Intent,
    pid: &str,
    cookies: &mut Option<HashMap<u64, NsName>>,
) -> Result<Settled, BackendError> {
    match intent {
        Intent::Namespace { name } => {
            let removed = netns::remove_placeholder(name).map_err(|e| {
                io_err(
                    "remove a leftover placeholder",
                    netns::path_of(name).display(),
                    &e,
                )
            })?;
            Ok(Settled::Done(removed.then(|| {
                format!(
                    "removed {}, the empty placeholder of a namespace that an interrupted mvtopo run (pid {pid}) was creating",
                    netns::path_of(name).display()
                )
            })))
        }
        // A link of another boot died with it.
        Intent::Link { boot, .. } if netns::boot_id().is_ok_and(|b| b != boot) => {
            Ok(Settled::Done(None))
        }
        Intent::Link {
            cookie,
            namespace,
            name,
            ..
        } => {
            // Where the link is: the namespace with the recorded cookie, looked up under the
            // recorded name, as the own namespace, or (for a link made in another run's own
            // namespace) among the named ones.
            let place: Option<Option<NsName>> = match namespace {
                Some(ns) => match nl.conn(Some(ns)) {
                    Ok(c) if c.cookie == *cookie => Some(Some(ns.clone())),
                    // Gone, or another namespace now: the link went with the old one.
                    _ => return Ok(Settled::Done(None)),
                },
                None if nl.root.cookie == *cookie => Some(None),
                None => named_by_cookie(cookies).get(cookie).cloned().map(Some),
            };
            let Some(ns) = place else {
                return Ok(Settled::Kept);
            };
            let removed = remove_unclaimed(nl, ns.as_ref(), name)?;
            Ok(Settled::Done(removed.then(|| {
                format!(
                    "removed {}, a link that an interrupted mvtopo run (pid {pid}) created and never marked as owned",
                    at(ns.as_ref(), name)
                )
            })))
        }
    }
}

/// Cookie → name of every named namespace, computed once per recovery and only when an
/// entry needs it.
fn named_by_cookie(cache: &mut Option<HashMap<u64, NsName>>) -> &HashMap<u64, NsName> {
    cache.get_or_insert_with(|| {
        let names = netns::list().unwrap_or_default();
        let files: Vec<(NsName, NsFile)> = names
            .into_iter()
            .filter_map(|n| NsFile::named(&n).ok().map(|f| (n, f)))
            .collect();
        let refs: Vec<&File> = files.iter().map(|(_, f)| &f.file).collect();
        let socks = netns::sockets_in(&refs);
        files
            .iter()
            .zip(socks)
            .filter_map(|((n, _), s)| Some((netns::socket_cookie(&s.ok()?).ok()?, n.clone())))
            .collect()
    })
}

/// Delete link `name` in `ns` if it is a half-made one: no alias, still in `CREATING_GROUP`.
/// Returns whether it deleted it.
fn remove_unclaimed(
    nl: &mut Netlink,
    ns: Option<&NsName>,
    name: &LinkName,
) -> Result<bool, BackendError> {
    let what = at(ns, name).to_string();
    let conn = nl.conn(ns)?;
    let index = match super::ifindex(&conn.ctl, name.as_str()) {
        Ok(i) => i,
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => return Ok(false),
        Err(e) => return Err(io_err("find link", &what, &e)),
    };
    let handle = conn.handle.clone();
    let found: Vec<LinkMessage> = match nl.rt.block_on(
        handle
            .link()
            .get()
            .match_index(index)
            .execute()
            .try_collect(),
    ) {
        Ok(v) => v,
        Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code() == -libc::ENODEV => {
            return Ok(false);
        }
        Err(e) => return Err(nl_err("read link", &what, e)),
    };
    let half_made = found.iter().any(|l| {
        let group = l.attributes.iter().find_map(|a| match a {
            LinkAttribute::Group(g) => Some(*g),
            _ => None,
        });
        let aliased = l
            .attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::IfAlias(s) if !s.is_empty()));
        group == Some(CREATING_GROUP) && !aliased
    });
    if !half_made {
        return Ok(false);
    }
    match nl.rt.block_on(handle.link().del(index).execute()) {
        Ok(()) => Ok(true),
        Err(rtnetlink::Error::NetlinkError(m)) if m.raw_code() == -libc::ENODEV => Ok(false),
        Err(e) => Err(nl_err("delete half-made link", &what, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str) -> Intent {
        Intent::Link {
            cookie: 7,
            boot: "b".into(),
            namespace: Some(NsName::new("red\nx").unwrap()),
            name: LinkName::new(name).unwrap(),
        }
    }

    fn line(l: &Line) -> String {
        serde_json::to_string(l).unwrap() + "\n"
    }

    #[test]
    fn outstanding_is_begun_minus_done_and_ignores_a_cut_line() {
        let mut text = String::new();
        text += &line(&Line::Begin {
            id: 1,
            intent: link("a"),
        });
        text += &line(&Line::Begin {
            id: 2,
            intent: Intent::Namespace {
                name: NsName::new("blue").unwrap(),
            },
        });
        text += &line(&Line::Done { done: 1 });
        text += &line(&Line::Begin {
            id: 3,
            intent: link("b"),
        });
        assert_eq!(
            outstanding(&text),
            vec![
                Intent::Namespace {
                    name: NsName::new("blue").unwrap()
                },
                link("b")
            ]
        );
        // A crash in the middle of a write: the partial line never counted.
        let cut = &text[..text.len() - 5];
        assert_eq!(outstanding(cut).len(), 1);
        assert!(outstanding("garbage\n").is_empty());
    }

    #[test]
    fn the_creating_group_marks_both_ends_of_a_veth() {
        use rtnetlink::{LinkUnspec, LinkVeth};
        let peer = LinkUnspec::new_with_name("b").build();
        let mut msg = LinkVeth::new("a", "b")
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .build();
        mark_creating(&mut msg);
        let text = format!("{msg:?}");
        assert_eq!(text.matches(&format!("Group({CREATING_GROUP})")).count(), 2);
    }
}
