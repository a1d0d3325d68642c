//! Claiming the control socket's path: never another program's file, never another
//! live vtep's socket, and mode 0600 whatever the umask.

// The crate is no_std; this driver is not.
use std::prelude::rust_2024::*;

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};

/// The file a socket was bound to: its device and inode, so that only that file is
/// removed when the socket closes, not one another program put at the path since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BoundFile {
    device: u64,
    inode: u64,
}

/// Listens on a new socket at `path`, non-blocking, readable and writable by its owner
/// only. A socket file already there that nobody answers on (left by a vtep that did not
/// stop cleanly) is replaced.
///
/// # Errors
/// `AlreadyExists` when `path` is something other than a socket; `AddrInUse` when a
/// process answers on the socket there; what binding reports (no such directory, no
/// permission).
pub(super) fn listen(path: &Path) -> io::Result<(UnixListener, BoundFile)> {
    match std::fs::symlink_metadata(path) {
        Ok(found) if !found.file_type().is_socket() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a socket: refusing to replace it",
            ));
        }
        Ok(_) if answered(path)? => {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another process answers on this socket (another vtep?)",
            ));
        }
        Ok(_) => std::fs::remove_file(path)?,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    socket::bind(fd.as_raw_fd(), &UnixAddr::new(path)?)?;
    // Bound but not yet listening, the socket refuses every connection: narrowing the
    // mode the umask gave the file leaves no moment at which a stranger could connect.
    // (A socket's descriptor has no mode of its own to set: the file's is what counts.)
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    socket::listen(&fd, Backlog::MAXCONN)?;
    let bound = std::fs::symlink_metadata(path)?;
    let file = BoundFile {
        device: bound.dev(),
        inode: bound.ino(),
    };
    Ok((UnixListener::from(fd), file))
}

/// Removes `path` if it is still the file `file`.
pub(super) fn release(path: &Path, file: BoundFile) {
    let ours = std::fs::symlink_metadata(path)
        .is_ok_and(|found| (found.dev(), found.ino()) == (file.device, file.inode));
    if ours {
        let _ = std::fs::remove_file(path);
    }
}

/// Whether a process answers on the socket at `path`. A connection that would have to
/// wait (the listener's queue is full) is an answer too: that process is busy, not gone.
fn answered(path: &Path) -> io::Result<bool> {
    let probe = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    match socket::connect(probe.as_raw_fd(), &UnixAddr::new(path)?) {
        Ok(()) | Err(Errno::EAGAIN) => Ok(true),
        Err(Errno::ECONNREFUSED) => Ok(false),
        Err(errno) => Err(errno.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;
    use std::path::PathBuf;

    fn path(test: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("vtep-listen-{test}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn a_stale_socket_is_replaced_by_one_of_mode_0600_whatever_the_umask() {
        let path = path("stale");
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists(), "a socket file nobody answers on");
        // SAFETY: umask takes no pointers. The process's umask: put back at once.
        let before = unsafe { libc::umask(0) };
        let listened = listen(&path);
        // SAFETY: as above.
        unsafe { libc::umask(before) };
        let (listener, file) = listened.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        let _client = UnixStream::connect(&path).unwrap();
        assert!(listener.accept().is_ok(), "the new socket answers");
        release(&path, file);
        assert!(!path.exists());
    }

    #[test]
    fn a_file_or_a_socket_someone_answers_on_is_never_replaced() {
        let path = path("taken");
        std::fs::write(&path, "precious").unwrap();
        let error = listen(&path).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists, "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
        std::fs::remove_file(&path).unwrap();

        let live = UnixListener::bind(&path).unwrap();
        let error = listen(&path).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse, "{error}");
        let _client = UnixStream::connect(&path).unwrap();
        assert!(live.accept().is_ok(), "the other socket still answers");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn release_leaves_a_file_put_at_the_path_since() {
        let path = path("since");
        let (_listener, file) = listen(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "someone else's").unwrap();
        release(&path, file);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "someone else's");
        std::fs::remove_file(&path).unwrap();
    }
}
