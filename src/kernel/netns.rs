//! Named network namespaces as files: reading /run/netns safely, creating and deleting
//! namespaces without forking, the ownership marker and the identity it records, and opening
//! a netlink socket inside a namespace.
//!
//! `setns` and `unshare` act on the calling thread only, so everything here that changes
//! namespace does it on a short-lived OS thread of its own and hands back file descriptors;
//! no runtime thread ever changes namespace (async tasks migrate between threads).
//!
//! /run/netns is writable by anyone with root, and other tools (or people) leave all sorts of
//! things there. Only a bind-mounted namespace file counts as a namespace: every entry is
//! opened with O_PATH|O_NOFOLLOW (which neither follows a symlink nor blocks on a FIFO, and
//! opens nothing for I/O) and checked with fstatfs for nsfs before anything else is done
//! with it. A usable descriptor is then re-opened through /proc/self/fd, which reaches the
//! very object checked, never the path again.

#![allow(unsafe_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::names::NsName;

/// Where `ip netns` keeps its namespaces (bind mounts of nsfs files).
pub const NETNS_DIR: &str = "/run/netns";
/// Where mvtopo records which topology created a namespace: one file per namespace, holding
/// the owner on its first line and the namespace's identity on the second (see `Identity`).
pub const MARKER_DIR: &str = "/run/mvtopo/netns";

/// The mode of the empty file a namespace is bind-mounted on while `create` makes it. No
/// other tool uses it (`ip netns add` makes its placeholder with mode 0), so a leftover
/// placeholder found at a name the journal lists is known to be mvtopo's own.
pub const PLACEHOLDER_MODE: u32 = 0o400;

/// Where a namespace file is, for the backend's own bookkeeping: device and inode of its
/// nsfs file. Valid for telling apart namespaces that are alive at the same time (a
/// namespace's inode number is only handed out again once the namespace is freed), so it
/// is used for sockets this process holds open, never for markers.
pub type NsId = (u64, u64);

/// An open namespace file and its identity.
#[derive(Debug)]
pub struct NsFile {
    pub file: File,
    pub id: NsId,
}

impl NsFile {
    /// Open a namespace file the caller names explicitly (`/proc/thread-self/ns/net`, a test's
    /// /run/netns path): symlinks are followed (the /proc ones are symlinks), but the result
    /// must be a namespace, and a FIFO does not block (O_NONBLOCK).
    pub fn open(path: &Path) -> io::Result<NsFile> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)?;
        if !is_nsfs(&file)? {
            return Err(not_a_namespace(path, &file.metadata()?.file_type()));
        }
        NsFile::from_file(file)
    }

    /// Open /run/netns/NAME, which must be a mounted namespace (see the module comment).
    pub fn named(name: &NsName) -> io::Result<NsFile> {
        match entry(name)? {
            Entry::Namespace(path_fd) => NsFile::from_file(reopen(&path_fd)?),
            Entry::Missing => Err(io::Error::from_raw_os_error(libc::ENOENT)),
            other => Err(other.in_the_way(name)),
        }
    }

    fn from_file(file: File) -> io::Result<NsFile> {
        let meta = file.metadata()?;
        Ok(NsFile {
            file,
            id: (meta.dev(), meta.ino()),
        })
    }
}

/// What there is at /run/netns/NAME.
#[derive(Debug)]
pub enum Entry {
    Missing,
    /// A mounted namespace, as an O_PATH descriptor.
    Namespace(OwnedFd),
    /// An empty regular file with `PLACEHOLDER_MODE` that is not a mount: left by a `create`
    /// that never got to bind the namespace on it.
    Placeholder,
    /// Anything else (a symlink, a FIFO, another tool's file or placeholder): not a
    /// namespace, never opened, followed or removed. The text says what it is.
    Other(&'static str),
}

impl Entry {
    /// The error for an object that stands where a namespace should be.
    pub fn in_the_way(&self, name: &NsName) -> io::Error {
        let what = match self {
            Entry::Other(what) => what,
            Entry::Placeholder => "an unmounted placeholder file",
            Entry::Missing | Entry::Namespace(_) => "a namespace",
        };
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is {what}, not a mounted network namespace: a foreign object in the way (mvtopo leaves it alone)",
                path_of(name).display()
            ),
        )
    }
}

/// Classify /run/netns/NAME without following a symlink or opening it for I/O.
pub fn entry(name: &NsName) -> io::Result<Entry> {
    let path = path_of(name);
    let fd = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
    {
        Ok(f) => OwnedFd::from(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Entry::Missing),
        Err(e) => return Err(e),
    };
    if is_nsfs(&fd)? {
        return Ok(Entry::Namespace(fd));
    }
    let meta = File::from(fd.try_clone()?).metadata()?;
    let ft = meta.file_type();
    Ok(if ft.is_file() {
        if meta.len() == 0 && meta.mode() & 0o7777 == PLACEHOLDER_MODE {
            Entry::Placeholder
        } else {
            Entry::Other("a plain file")
        }
    } else {
        Entry::Other(kind_of(&ft))
    })
}

fn kind_of(ft: &fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_dir() {
        "a directory"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device file"
    } else {
        "a plain file"
    }
}

fn not_a_namespace(path: &Path, ft: &fs::FileType) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is {}, not a network namespace",
            path.display(),
            kind_of(ft)
        ),
    )
}

/// Whether `fd` is a file of nsfs, the filesystem of namespace files. An unmounted
/// placeholder, a symlink (opened O_PATH|O_NOFOLLOW) or a FIFO is on tmpfs instead.
fn is_nsfs(fd: &impl AsFd) -> io::Result<bool> {
    let st = nix::sys::statfs::fstatfs(fd)?;
    Ok(st.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
}

/// A readable descriptor for the object an O_PATH descriptor refers to: setns and
/// IFLA_NET_NS_FD do not take O_PATH descriptors. /proc/self/fd/N is a magic link to the
/// object itself, so this cannot be redirected by renaming or replacing the path meanwhile.
fn reopen(path_fd: &OwnedFd) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(format!("/proc/self/fd/{}", path_fd.as_raw_fd()))
}

pub fn path_of(name: &NsName) -> PathBuf {
    Path::new(NETNS_DIR).join(name.as_str())
}

fn marker_of(name: &NsName) -> PathBuf {
    Path::new(MARKER_DIR).join(name.as_str())
}

/// Device and inode of what is at /run/netns/NAME now, without following a symlink or
/// opening anything (one lstat: the path lookup still crosses the bind mount, so for a
/// namespace these are its nsfs file's). Cheap enough for every step; callers compare it
/// with the id of a namespace file they opened with `NsFile::named`, so a match means the
/// same namespace is still mounted there.
pub fn id_of(name: &NsName) -> io::Result<NsId> {
    let meta = fs::symlink_metadata(path_of(name))?;
    Ok((meta.dev(), meta.ino()))
}

/// Names under /run/netns that are mounted namespaces, sorted. Anything else there (an
/// unmounted placeholder, a symlink, a FIFO) is not a namespace and left out, and so are
/// names the tool could not address (not valid `NsName`s). A missing directory means no
/// named namespaces.
pub fn list() -> io::Result<Vec<NsName>> {
    let dir = match fs::read_dir(NETNS_DIR) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in dir {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().and_then(|s| NsName::new(s).ok()) else {
            continue;
        };
        // Vanished meanwhile, or not a namespace: not listed.
        if let Ok(Entry::Namespace(_)) = self::entry(&name) {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Identity and the marker

/// What the marker records to recognize its namespace: the namespace cookie (a 64-bit
/// counter the kernel never hands out twice while the system is up, unlike the nsfs inode
/// number, which is reused as soon as a namespace is freed) and the boot it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub cookie: u64,
    pub boot: String,
}

impl Identity {
    fn line(&self) -> String {
        format!("netns-cookie {} boot {}", self.cookie, self.boot)
    }

    fn parse(line: &str) -> Option<Identity> {
        let mut w = line.split_whitespace();
        if w.next()? != "netns-cookie" {
            return None;
        }
        let cookie = w.next()?.parse().ok()?;
        if w.next()? != "boot" {
            return None;
        }
        let boot = w.next()?.to_owned();
        w.next().is_none().then_some(Identity { cookie, boot })
    }

    /// The identity of the namespace a socket lives in, in this boot.
    pub fn of_socket(sock: &impl AsFd) -> io::Result<Identity> {
        Ok(Identity {
            cookie: socket_cookie(sock)?,
            boot: boot_id()?.to_owned(),
        })
    }
}

/// This boot's id (/proc/sys/kernel/random/boot_id), read once.
pub fn boot_id() -> io::Result<&'static str> {
    static BOOT: OnceLock<Result<String, String>> = OnceLock::new();
    BOOT.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_owned())
            .map_err(|e| e.to_string())
    })
    .as_deref()
    .map_err(|e| io::Error::other(format!("reading the boot id: {e}")))
}

/// SO_NETNS_COOKIE of a socket: the cookie of the namespace it was created in (any socket
/// family; Linux 5.14+).
pub fn socket_cookie(sock: &impl AsFd) -> io::Result<u64> {
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: the descriptor is open; `cookie` and `len` are valid for writes of the sizes
    // given.
    let r = unsafe {
        libc::getsockopt(
            sock.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NETNS_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cookie)
}

/// A throwaway socket in the calling thread's namespace, to read its cookie.
fn own_cookie() -> io::Result<u64> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    socket_cookie(&sock)
}

/// What a marker file says: the owner and, when it is in the current format, the identity.
struct Marker {
    owner: String,
    identity: Option<Identity>,
}

fn read_marker(name: &NsName) -> io::Result<Marker> {
    let text = fs::read_to_string(marker_of(name))?;
    let mut lines = text.lines();
    let owner = lines.next().unwrap_or("").trim().to_owned();
    Ok(Marker {
        owner,
        identity: lines.next().and_then(Identity::parse),
    })
}

/// The owner recorded for a namespace, if its marker exists and records exactly `identity`.
/// A marker in the older device:inode format is never trusted: the kernel reuses inodes.
pub fn owner(name: &NsName, identity: &Identity) -> Option<String> {
    let m = read_marker(name).ok()?;
    (!m.owner.is_empty() && m.identity.as_ref() == Some(identity)).then_some(m.owner)
}

/// The owner a namespace's marker records, unverified: for a namespace this user cannot
/// enter (no root), whose identity cannot be read. Only read-only commands use it, and a
/// plan that depends on such a namespace is refused anyway (see `Netlink::unreadable`).
pub fn recorded_owner(name: &NsName) -> Option<String> {
    let m = read_marker(name).ok()?;
    (!m.owner.is_empty()).then_some(m.owner)
}

fn write_marker(name: &NsName, owner: &str, identity: &Identity) -> io::Result<()> {
    static TMP: AtomicU64 = AtomicU64::new(0);
    fs::create_dir_all(MARKER_DIR)?;
    // Written to a temporary file and renamed, so a reader never sees half a marker. The
    // temporary name does not contain the namespace's, which may be up to 200 bytes long.
    let path = marker_of(name);
    let tmp = Path::new(MARKER_DIR).join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        TMP.fetch_add(1, Ordering::Relaxed)
    ));
    let mut f = File::create(&tmp)?;
    let written = writeln!(f, "{owner}\n{}", identity.line());
    drop(f);
    written
        .and_then(|()| fs::rename(&tmp, &path))
        .inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
}

fn remove_marker(name: &NsName) -> io::Result<()> {
    match fs::remove_file(marker_of(name)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Mark the namespace now mounted at /run/netns/NAME as owned by `owner` (`mvtopo adopt`):
/// the same marker `create` writes, with the identity of the namespace found there.
pub fn claim(name: &NsName, owner: &str) -> io::Result<()> {
    let ns = NsFile::named(name)?;
    let sock = sockets_in(&[&ns.file])
        .pop()
        .unwrap_or_else(|| Err(io::Error::other("no socket")))?;
    write_marker(name, owner, &Identity::of_socket(&sock)?)
}

/// Remove the markers that describe no namespace: the namespace under that name is gone
/// (deleted by hand), or it is another namespace than the one the marker records (deleted
/// and made again by hand). Either way the namespace there is not mvtopo's. Returns one
/// note per marker removed.
///
/// A marker whose name holds a placeholder is left: `create` writes the marker before it
/// mounts the namespace, so that may be a namespace being made right now (the journal's
/// recovery removes a placeholder left by a crash, and the marker goes on the next sweep).
/// So is a marker in the older device:inode format whose namespace exists: an older mvtopo
/// may still be using it.
pub fn sweep_markers() -> io::Result<Vec<String>> {
    let dir = match fs::read_dir(MARKER_DIR) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let mut gone = Vec::new();
    // Namespaces to compare with their marker: sockets for all of them are made at once,
    // on one thread (see `sockets_in`).
    let mut compare: Vec<(NsName, Identity, File)> = Vec::new();
    for e in dir {
        let e = e?;
        let file = e.file_name();
        let Some(name) = file
            .to_str()
            .filter(|s| !s.starts_with('.'))
            .and_then(|s| NsName::new(s).ok())
        else {
            continue;
        };
        match entry(&name) {
            Ok(Entry::Missing) => gone.push(name),
            Ok(Entry::Namespace(fd)) => {
                if let Ok(Marker {
                    identity: Some(recorded),
                    ..
                }) = read_marker(&name)
                    && let Ok(f) = reopen(&fd)
                {
                    compare.push((name, recorded, f));
                }
            }
            _ => {}
        }
    }
    let mut notes = Vec::new();
    let note = |name: &NsName, why: &str| {
        format!(
            "removed the stale ownership marker of namespace {name}: {why}; mvtopo does not own what is there now"
        )
    };
    for name in gone {
        remove_marker(&name)?;
        notes.push(note(&name, "the namespace is gone (deleted by hand?)"));
    }
    let files: Vec<&File> = compare.iter().map(|(_, _, f)| f).collect();
    let sockets = sockets_in(&files);
    for ((name, recorded, _), sock) in compare.iter().zip(sockets) {
        // A namespace that could not be entered is left as it is: only a proven mismatch
        // removes a marker.
        if let Ok(now) = sock.and_then(|s| Identity::of_socket(&s))
            && now != *recorded
        {
            remove_marker(name)?;
            notes.push(note(
                name,
                "the namespace now there is another one (deleted and made again by hand?)",
            ));
        }
    }
    Ok(notes)
}

// ---------------------------------------------------------------------------------------
// Creating and deleting

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
///
/// The marker is written before the mount, so the namespace is never visible unmarked: a
/// crash before the mount leaves a marker that describes nothing (removed by the next
/// `sweep_markers`) and the placeholder (which the caller's journal entry names).
pub fn create(name: &NsName, owner: &str) -> io::Result<()> {
    ensure_shared_run_dir()?;
    // Journaled: a crash between the placeholder and the mount leaves an empty file that
    // would make every later create of this name fail with EEXIST. `make` removes what it
    // made when it fails, so the entry only outlives a process that died inside it.
    let ids = super::journal::intend(vec![super::journal::Intent::Namespace {
        name: name.clone(),
    }])?;
    let made = make(name, owner);
    super::journal::clear(&ids);
    made
}

fn make(name: &NsName, owner: &str) -> io::Result<()> {
    let path = path_of(name);
    // O_EXCL: an existing namespace of that name is an error (EEXIST), never reused; so is
    // anything else there, which is described instead of "file exists".
    let placeholder = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PLACEHOLDER_MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) => {
            return Err(match entry(name) {
                Ok(other @ (Entry::Other(_) | Entry::Placeholder)) => other.in_the_way(name),
                _ => e,
            });
        }
    };
    // The mode given to open() is masked by the umask; the placeholder must carry exactly
    // PLACEHOLDER_MODE for recovery to recognize it.
    let moded = placeholder.set_permissions(PermissionsExt::from_mode(PLACEHOLDER_MODE));
    drop(placeholder);
    if let Err(e) = moded {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    let target = path.clone();
    let ns_name = name.clone();
    let owner = owner.to_owned();
    let made = std::thread::Builder::new()
        .name("mvtopo-netns-add".into())
        .spawn(move || -> io::Result<()> {
            nix::sched::unshare(CloneFlags::CLONE_NEWNET)?;
            let identity = Identity {
                cookie: own_cookie()?,
                boot: boot_id()?.to_owned(),
            };
            write_marker(&ns_name, &owner, &identity)?;
            super::journal::crash_point(super::journal::CrashPoint::BeforeMount);
            nix::mount::mount::<str, Path, str, str>(
                Some("/proc/thread-self/ns/net"),
                &target,
                Some("none"),
                MsFlags::MS_BIND,
                None,
            )
            .map_err(io::Error::from)
            .inspect_err(|_| {
                let _ = remove_marker(&ns_name);
            })
        })
        .map_err(io::Error::other)
        .and_then(|t| {
            t.join()
                .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
        });
    if let Err(e) = made {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok(())
}

/// Unmount and remove /run/netns/NAME and its marker. The namespace itself dies once nothing
/// else holds it (a process inside, an open file or socket): the kernel then destroys its
/// interfaces asynchronously, which is why callers must drop their own sockets first.
///
/// Only a mounted namespace (or mvtopo's own leftover placeholder) is removed: anything else
/// at the name is an error, and the unmount never follows a symlink (UMOUNT_NOFOLLOW), so a
/// symlink put there cannot make it unmount the link's target.
pub fn delete(name: &NsName) -> io::Result<()> {
    let path = path_of(name);
    match entry(name)? {
        Entry::Namespace(_) => {
            // MNT_DETACH: like `ip netns del`, do not fail when someone still has it open.
            match nix::mount::umount2(&path, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW) {
                Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
                Err(e) => return Err(e.into()),
            }
            fs::remove_file(&path)?;
        }
        Entry::Placeholder => fs::remove_file(&path)?,
        Entry::Missing => return Err(io::Error::from_raw_os_error(libc::ENOENT)),
        other @ Entry::Other(_) => return Err(other.in_the_way(name)),
    }
    remove_marker(name)
}

/// Remove mvtopo's placeholders made before this boot: where /run is not a tmpfs (some
/// containers and VMs), a placeholder survives a power cut that ended the run making it,
/// and the journal naming it may not have reached the disk. No run of this boot can still
/// be making a file older than the boot. Returns one note per file removed.
pub fn sweep_old_placeholders() -> io::Result<Vec<String>> {
    let dir = match fs::read_dir(NETNS_DIR) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let Some(boot) = boot_time() else {
        return Ok(vec![]);
    };
    let mut notes = Vec::new();
    for e in dir {
        let e = e?;
        let Some(name) = e.file_name().to_str().and_then(|s| NsName::new(s).ok()) else {
            continue;
        };
        if !matches!(entry(&name), Ok(Entry::Placeholder)) {
            continue;
        }
        let path = path_of(&name);
        if fs::symlink_metadata(&path).is_ok_and(|m| m.mtime() < boot) && remove_placeholder(&name)?
        {
            notes.push(format!(
                "removed {}, the empty placeholder of a namespace that an mvtopo run was creating when the system went down",
                path.display()
            ));
        }
    }
    Ok(notes)
}

/// When this boot began, in seconds since the epoch (`btime` in /proc/stat).
fn boot_time() -> Option<i64> {
    fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Remove the placeholder `create` left at NAME when a crash stopped it before the mount.
/// Returns whether there was one; anything else at the name is left alone.
pub fn remove_placeholder(name: &NsName) -> io::Result<bool> {
    match entry(name)? {
        Entry::Placeholder => {
            fs::remove_file(path_of(name))?;
            Ok(true)
        }
        _ => Ok(false),
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
                // Dump requests' headers are then filters the kernel applies (the route dump's
                // table and type); a kernel without it (before 4.20) ignores them, and the
                // snapshot filters the same again itself.
                let _ = sock.set_netlink_get_strict_chk(true);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_lines_round_trip_and_old_markers_do_not_parse() {
        let id = Identity {
            cookie: 4097,
            boot: "0b5e7c1a-1d2e-4f00-9a1b-2c3d4e5f6a7b".into(),
        };
        assert_eq!(Identity::parse(&id.line()), Some(id));
        assert_eq!(Identity::parse("netns 4:4026532281"), None);
        assert_eq!(Identity::parse("netns-cookie x boot y"), None);
        assert_eq!(Identity::parse("netns-cookie 1 boot y z"), None);
    }
}
