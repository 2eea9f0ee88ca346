//! Named network namespaces as files: listing /run/netns, creating and deleting them without
//! forking, the ownership marker, and opening a netlink socket inside a namespace.
//!
//! `setns` and `unshare` act on the calling thread only, so everything here that changes
//! namespace does it on a short-lived OS thread of its own and hands back file descriptors;
//! no runtime thread ever changes namespace (async tasks migrate between threads).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::names::NsName;

/// Where `ip netns` keeps its namespaces (bind mounts of nsfs files).
pub const NETNS_DIR: &str = "/run/netns";
/// Where mvtopo records which topology created a namespace: one file per namespace, holding
/// the owner on its first line and the namespace's identity (nsfs device and inode) on the
/// second, so a marker left behind by a namespace deleted with `ip netns del` never makes a
/// later namespace of the same name look owned.
pub const MARKER_DIR: &str = "/run/mvtopo/netns";

/// The identity of a network namespace: device and inode of its nsfs file. Two paths name
/// the same namespace exactly when these are equal.
pub type NsId = (u64, u64);

/// An open namespace file and its identity.
#[derive(Debug)]
pub struct NsFile {
    pub file: File,
    pub id: NsId,
}

impl NsFile {
    pub fn open(path: &Path) -> io::Result<NsFile> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        Ok(NsFile {
            file,
            id: (meta.dev(), meta.ino()),
        })
    }
}

pub fn path_of(name: &NsName) -> PathBuf {
    Path::new(NETNS_DIR).join(name.as_str())
}

fn marker_of(name: &NsName) -> PathBuf {
    Path::new(MARKER_DIR).join(name.as_str())
}

/// The identity of the namespace now mounted at /run/netns/NAME (stat follows the mount).
pub fn id_of(name: &NsName) -> io::Result<NsId> {
    let meta = fs::metadata(path_of(name))?;
    Ok((meta.dev(), meta.ino()))
}

/// Names under /run/netns, sorted. A missing directory means no named namespaces; names the
/// tool could not address (not valid `NsName`s) are left out.
pub fn list() -> io::Result<Vec<NsName>> {
    let dir = match fs::read_dir(NETNS_DIR) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in dir {
        let entry = entry?;
        if let Some(name) = entry.file_name().to_str().and_then(|s| NsName::new(s).ok()) {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// The owner recorded for a namespace, if its marker exists and still describes the
/// namespace mounted under that name.
pub fn owner(name: &NsName, id: NsId) -> Option<String> {
    let text = fs::read_to_string(marker_of(name)).ok()?;
    let mut lines = text.lines();
    let owner = lines.next()?.trim();
    if owner.is_empty() || lines.next()? != id_line(id) {
        return None;
    }
    Some(owner.to_owned())
}

fn id_line(id: NsId) -> String {
    format!("netns {}:{}", id.0, id.1)
}

fn write_marker(name: &NsName, owner: &str, id: NsId) -> io::Result<()> {
    fs::create_dir_all(MARKER_DIR)?;
    // Written to a temporary file and renamed, so a reader never sees half a marker.
    let path = marker_of(name);
    let tmp = Path::new(MARKER_DIR).join(format!(".{}.tmp{}", name, std::process::id()));
    let mut f = File::create(&tmp)?;
    writeln!(f, "{owner}\n{}", id_line(id))?;
    drop(f);
    fs::rename(&tmp, &path)
}

/// Mark the namespace now mounted at /run/netns/NAME as owned by `owner` (`mvtopo adopt`):
/// the same marker `create` writes, with the identity of the namespace found there.
pub fn claim(name: &NsName, owner: &str) -> io::Result<()> {
    let id = id_of(name)?;
    write_marker(name, owner, id)
}

/// Serializes the "is /run/netns a shared mount point" fix-up within this process (tests
/// create namespaces from many threads at once).
static MOUNT_SETUP: Mutex<()> = Mutex::new(());

/// Make /run/netns a shared mount point, like `ip netns add` does: bind mounts made under it
/// then propagate to every mount namespace that shares it, so a namespace created here is
/// visible to `ip netns exec` and friends. When it is not a mount point yet (EINVAL), bind it
/// on itself first.
fn ensure_shared_run_dir() -> io::Result<()> {
    let _guard = MOUNT_SETUP.lock().unwrap_or_else(|p| p.into_inner());
    fs::create_dir_all(NETNS_DIR)?;
    let shared = || {
        nix::mount::mount::<str, str, str, str>(
            Some(""),
            NETNS_DIR,
            Some("none"),
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None,
        )
    };
    match shared() {
        Ok(()) => return Ok(()),
        Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => return Err(e.into()),
    }
    nix::mount::mount::<str, str, str, str>(
        Some(NETNS_DIR),
        NETNS_DIR,
        Some("none"),
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    shared().map_err(io::Error::from)
}

/// Create /run/netns/NAME holding a fresh network namespace and mark it as owned by `owner`.
///
/// `ip netns add` forks; rtnetlink's `NetworkNamespace::add` forks a multi-threaded process
/// and blocks in `waitpid` inside an async fn. Instead: a fresh OS thread unshares its
/// network namespace and bind-mounts its own namespace file onto the placeholder. It must be
/// `/proc/thread-self/ns/net`: `/proc/self/ns/net` is the *main* thread's namespace, so
/// binding it would bind the namespace the process runs in.
pub fn create(name: &NsName, owner: &str) -> io::Result<()> {
    ensure_shared_run_dir()?;
    let path = path_of(name);
    // O_EXCL: an existing namespace of that name is an error (EEXIST), never reused.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(&path)?;
    let target = path.clone();
    let bound = std::thread::Builder::new()
        .name("mvtopo-netns-add".into())
        .spawn(move || -> io::Result<()> {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET)?;
            nix::mount::mount::<str, Path, str, str>(
                Some("/proc/thread-self/ns/net"),
                &target,
                Some("none"),
                MsFlags::MS_BIND,
                None,
            )?;
            Ok(())
        })
        .map_err(io::Error::other)
        .and_then(|t| {
            t.join()
                .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
        });
    if let Err(e) = bound {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    let marked = id_of(name).and_then(|id| write_marker(name, owner, id));
    if let Err(e) = marked {
        let _ = delete(name);
        return Err(e);
    }
    Ok(())
}

/// Unmount and remove /run/netns/NAME and its marker. The namespace itself dies once nothing
/// else holds it (a process inside, an open file or socket): the kernel then destroys its
/// interfaces asynchronously, which is why callers must drop their own sockets first.
pub fn delete(name: &NsName) -> io::Result<()> {
    let path = path_of(name);
    // MNT_DETACH: like `ip netns del`, do not fail when someone still has it open.
    match nix::mount::umount2(&path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
        Err(e) => return Err(e.into()),
    }
    fs::remove_file(&path)?;
    match fs::remove_file(marker_of(name)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Open one NETLINK_ROUTE socket inside each of `namespaces`, on one short-lived OS thread
/// that enters them in turn. A netlink socket stays bound to the namespace it was created in,
/// whatever thread later uses it; the thread is discarded afterwards, so the namespace
/// switch never leaks to anything else.
pub fn sockets_in(namespaces: &[&File]) -> Vec<io::Result<OwnedFd>> {
    let fds: Vec<io::Result<OwnedFd>> = namespaces
        .iter()
        .map(|f| f.as_fd().try_clone_to_owned())
        .collect();
    let n = fds.len();
    let run = move || -> Vec<io::Result<OwnedFd>> {
        fds.into_iter()
            .map(|fd| {
                let fd = fd?;
                nix::sched::setns(&fd, CloneFlags::CLONE_NEWNET)?;
                let sock = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE)?;
                // Non-blocking before tokio's AsyncFd takes it over.
                sock.set_non_blocking(true)?;
                // SAFETY: `into_raw_fd` gives up ownership of a valid, open descriptor.
                Ok(unsafe { OwnedFd::from_raw_fd(sock.into_raw_fd()) })
            })
            .collect()
    };
    match std::thread::Builder::new()
        .name("mvtopo-netns-socket".into())
        .spawn(run)
    {
        Ok(t) => t.join().unwrap_or_else(|_| {
            (0..n)
                .map(|_| Err(io::Error::other("namespace thread panicked")))
                .collect()
        }),
        Err(e) => (0..n)
            .map(|_| Err(io::Error::new(e.kind(), e.to_string())))
            .collect(),
    }
}
