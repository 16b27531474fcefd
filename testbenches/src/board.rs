//! The virtual board: the generated RTL, simulated by Verilator, behind the three character
//! devices of the Xilinx XDMA driver, served as a FUSE filesystem. The XDMA transport runs
//! unchanged against it, so the whole host path to a PCIe board (register BAR by
//! `pread`/`pwrite`, H2C and C2H AXI4-Stream channels by `write`/`read`) is tested without one.
//!
//! XDMA semantics reproduced (PG195, AXI4-Stream mode, and the `xdma` Linux driver):
//! - `xdma0_user` is the AXI4-Lite BAR: a 4-byte `pread`/`pwrite` at offset A is one register
//!   read/write at address A. Other sizes or unaligned offsets fail with `EINVAL`.
//! - `xdma0_h2c_0`: one `write` is one DMA transfer, i.e. one AXI4-Stream packet, TLAST on its
//!   last word. The length must be a whole number of 32-bit words.
//! - `xdma0_c2h_0`: a `read` of S bytes completes when S bytes arrived or when a word with TLAST
//!   ends the packet early (the read then returns fewer bytes), like a C2H transfer whose
//!   descriptor sees end-of-packet.
//! - A device that does not produce what was asked within the simulator's cycle limit answers
//!   `ETIMEDOUT`, as the driver does when a transfer times out.
//!
//! All files are opened in direct-I/O mode (no page cache) so every system call reaches the
//! board as one request; the kernel splits requests above its `max_write` (1 MiB with fuser's
//! defaults), which is far above the largest packet the driver sends.

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Driver, TbError};
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner, MountOption,
    OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEntry, ReplyOpen, ReplyWrite, Request, WriteFlags,
};

/// Size of the register BAR as a file (the register map lives in its first bytes).
pub const USER_BAR_BYTES: u64 = 64 * 1024;

/// The three device files, in inode order after the root directory.
pub const DEVICE_FILES: [&str; 3] = ["xdma0_user", "xdma0_h2c_0", "xdma0_c2h_0"];

const USER: u64 = 2;
const H2C: u64 = 3;
const C2H: u64 = 4;

/// Requests the board served, for its report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BoardStats {
    /// Register reads.
    pub reg_reads: u64,
    /// Register writes.
    pub reg_writes: u64,
    /// Bytes received on H2C.
    pub h2c_bytes: u64,
    /// Bytes sent on C2H.
    pub c2h_bytes: u64,
    /// Requests refused (bad size, simulator timeout).
    pub errors: u64,
}

struct State {
    driver: Driver,
    stats: BoardStats,
}

/// Reads a mounted board's [`BoardStats`].
pub struct StatsHandle(Arc<Mutex<State>>);

impl std::fmt::Debug for StatsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StatsHandle").finish_non_exhaustive()
    }
}

impl StatsHandle {
    /// Requests served so far.
    pub fn get(&self) -> BoardStats {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).stats
    }
}

/// The FUSE filesystem of one simulated board.
pub struct VirtualBoard {
    state: Arc<Mutex<State>>,
    uid: u32,
    gid: u32,
}

impl std::fmt::Debug for VirtualBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualBoard").finish_non_exhaustive()
    }
}

fn errno(e: &TbError) -> Errno {
    match e {
        TbError::Timeout { .. } => Errno::ETIMEDOUT,
        _ => Errno::EIO,
    }
}

fn words_of(data: &[u8]) -> Vec<u32> {
    data.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

impl VirtualBoard {
    /// A board around a simulation of the generated top (the driver resets it).
    pub fn new(driver: Driver) -> Self {
        // SAFETY: getuid/getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        VirtualBoard { state: Arc::new(Mutex::new(State { driver, stats: BoardStats::default() })), uid, gid }
    }

    /// A handle that reads the board's request counts while FUSE owns the board.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle(Arc::clone(&self.state))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while serving one request must not take the board down for the next one.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let (kind, perm, size, nlink) = match ino {
            1 => (FileType::Directory, 0o755, 0, 2),
            USER => (FileType::RegularFile, 0o600, USER_BAR_BYTES, 1),
            H2C | C2H => (FileType::RegularFile, 0o600, 0, 1),
            _ => return None,
        };
        let t = SystemTime::now();
        Some(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: 0,
            atime: t,
            mtime: t,
            ctime: t,
            crtime: UNIX_EPOCH,
            kind,
            perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            flags: 0,
            blksize: 4096,
        })
    }

    /// One register read (4 bytes at a 4-aligned offset).
    fn read_user(&self, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        if size != 4 || !offset.is_multiple_of(4) || offset >= USER_BAR_BYTES {
            return Err(Errno::EINVAL);
        }
        let mut s = self.lock();
        s.stats.reg_reads += 1;
        s.driver.read_reg(offset as u32).map(|v| v.to_le_bytes().to_vec()).map_err(|e| errno(&e))
    }

    fn write_user(&self, offset: u64, data: &[u8]) -> Result<(), Errno> {
        if data.len() != 4 || !offset.is_multiple_of(4) || offset >= USER_BAR_BYTES {
            return Err(Errno::EINVAL);
        }
        let mut s = self.lock();
        s.stats.reg_writes += 1;
        s.driver.write_reg(offset as u32, words_of(data)[0]).map_err(|e| errno(&e))
    }

    /// One H2C transfer: a packet with TLAST on its last word.
    fn write_h2c(&self, data: &[u8]) -> Result<(), Errno> {
        if data.is_empty() || !data.len().is_multiple_of(4) {
            return Err(Errno::EINVAL);
        }
        let mut s = self.lock();
        s.stats.h2c_bytes += data.len() as u64;
        s.driver.write_stream(&words_of(data), true).map_err(|e| errno(&e))
    }

    /// One C2H transfer: up to `size` bytes, ending early at TLAST.
    fn read_c2h(&self, size: u32) -> Result<Vec<u8>, Errno> {
        if size == 0 || !size.is_multiple_of(4) {
            return Err(Errno::EINVAL);
        }
        let mut s = self.lock();
        let mut out = Vec::with_capacity(size as usize);
        while out.len() < size as usize {
            let w = s.driver.read_stream_words(1).map_err(|e| errno(&e))?[0];
            out.extend_from_slice(&w.data.to_le_bytes());
            if w.last {
                break;
            }
        }
        s.stats.c2h_bytes += out.len() as u64;
        Ok(out)
    }

    fn count_error<T>(&self, r: Result<T, Errno>) -> Result<T, Errno> {
        if r.is_err() {
            self.lock().stats.errors += 1;
        }
        r
    }
}

const TTL: Duration = Duration::from_secs(1);

impl Filesystem for VirtualBoard {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let ino = DEVICE_FILES.iter().position(|f| OsStr::new(f) == name).map(|i| i as u64 + 2);
        match (u64::from(parent), ino.and_then(|i| self.attr(i))) {
            (1, Some(a)) => reply.entry(&TTL, &a, Generation(0)),
            _ => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr(ino.into()) {
            Some(a) => reply.attr(&TTL, &a),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match u64::from(ino) {
            // NOFLUSH: a close sends no FLUSH request, whose answer the kernel would wait for
            // uninterruptibly; so a driver that gave up on a stopped board can still exit.
            USER => reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO | FopenFlags::FOPEN_NOFLUSH),
            H2C | C2H => reply.opened(
                FileHandle(0),
                FopenFlags::FOPEN_DIRECT_IO | FopenFlags::FOPEN_NONSEEKABLE | FopenFlags::FOPEN_NOFLUSH,
            ),
            _ => reply.error(Errno::EISDIR),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let r = match u64::from(ino) {
            USER => self.read_user(offset, size),
            C2H => self.read_c2h(size),
            _ => Err(Errno::EBADF),
        };
        match self.count_error(r) {
            Ok(d) => reply.data(&d),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let r = match u64::from(ino) {
            USER => self.write_user(offset, data),
            H2C => self.write_h2c(data),
            _ => Err(Errno::EBADF),
        };
        match self.count_error(r) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        if u64::from(ino) != 1 {
            reply.error(Errno::ENOTDIR);
            return;
        }
        let entries = [(1, FileType::Directory, "."), (1, FileType::Directory, "..")]
            .into_iter()
            .chain(DEVICE_FILES.iter().enumerate().map(|(i, f)| (i as u64 + 2, FileType::RegularFile, *f)));
        for (i, (ino, kind, name)) in entries.enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), (i + 1) as u64, kind, name) {
                break;
            }
        }
        reply.ok();
    }
}

/// Mounts the board on `dir` in a background thread; the mount lasts as long as the returned
/// session (dropping it unmounts).
pub fn mount(board: VirtualBoard, dir: &Path) -> io::Result<fuser::BackgroundSession> {
    let mut c = fuser::Config::default();
    c.mount_options = vec![MountOption::FSName("spikeq-board".into()), MountOption::Subtype("spikeq".into())];
    fuser::spawn_mount(board, dir, &c)
}

/// Whether `dir` is the mount point of a virtual board (live or stale), from /proc/self/mounts.
fn is_board_mount(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else { return false };
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else { return false };
    mounts.lines().any(|line| {
        let mut f = line.split(' ');
        // The mount point field escapes spaces as \040.
        let (source, point) = (f.next(), f.next().map(|p| p.replace("\\040", " ")));
        source == Some("spikeq-board") && point.as_deref() == dir.to_str()
    })
}

/// Refuses a mount point that would hide files: mounting over a non-empty directory makes its
/// contents invisible until unmount, which a user would take for data loss.
pub fn check_mount_point(dir: &Path) -> io::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(_) if is_board_mount(dir) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "a board is already mounted on {}: stop it (Ctrl-C in its terminal), or mount this one on another empty directory",
                dir.display()
            ),
        )),
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} is not empty; mount the board on an empty directory", dir.display()),
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir_all(dir),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Err(io::Error::new(
            e.kind(),
            format!(
                "{} is the stale mount of a board that was killed; unmount it with `fusermount3 -u {}`",
                dir.display(),
                dir.display()
            ),
        )),
        Err(e) => Err(e),
    }
}
