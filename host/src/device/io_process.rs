//! File I/O in a child process, so that a call stuck in the kernel can be abandoned.
//!
//! A read or write on a FUSE file whose server has taken the request and then stopped (a virtual
//! board under SIGSTOP) waits uninterruptibly until the server answers: a thread doing it can
//! never be killed, and a process holding such a thread can never exit. The XDMA transport
//! therefore opens the device files in a forked child and asks it for each access over a pipe,
//! with a deadline; on a timeout the parent gives the child up (SIGKILL, taken whenever the kernel
//! lets go of it) and stays free to exit. The child is forked from a multi-threaded process, so
//! it runs only async-signal-safe system calls on memory prepared before the fork: no allocation,
//! no lock, no panic path.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Bytes one request can move: the shared buffer (reserved address space, touched on use).
pub const MAX_TRANSFER: usize = 64 << 20;

/// What the child does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Op {
    /// `pread` of `len` bytes at `offset` of file `file`.
    ReadAt = 1,
    /// `pwrite` of `len` bytes at `offset` of file `file`.
    WriteAt = 2,
    /// One `write` of `len` bytes (looped until all are taken) on file `file`.
    Write = 3,
    /// `read` until `len` bytes arrived on file `file` (end of file is an error).
    Read = 4,
}

/// One request, as it crosses the pipe.
#[derive(Clone, Copy)]
#[repr(C)]
struct Request {
    op: u32,
    file: u32,
    offset: u64,
    len: u64,
}

/// The answer: 0 or an errno.
#[derive(Clone, Copy)]
#[repr(C)]
struct Answer {
    errno: i32,
}

/// Files opened by a child process that does I/O on them on request.
#[derive(Debug)]
pub struct IoProcess {
    pid: libc::pid_t,
    requests: libc::c_int,
    answers: libc::c_int,
    buffer: *mut u8,
    /// Set once a request timed out: the child is given up and every later call fails.
    abandoned: bool,
}

// SAFETY: the buffer is owned by this value alone (the child has its own copy of the mapping,
// shared only through the request/answer handshake), so moving it to another thread is sound.
unsafe impl Send for IoProcess {}

/// How a request failed.
#[derive(Debug)]
pub enum IoFailure {
    /// The system call failed.
    Io(io::Error),
    /// No answer within the deadline (the child is abandoned).
    Timeout,
}

impl IoProcess {
    /// Forks a child that opens `files` (path, writable) and waits for requests; fails if a file
    /// does not open within `timeout` (the index of the file and the error).
    pub fn open(files: &[(&Path, bool)], timeout: Duration) -> Result<Self, (usize, IoFailure)> {
        let paths: Vec<CString> = files
            .iter()
            .map(|(p, _)| CString::new(p.as_os_str().as_bytes()))
            .collect::<Result<_, _>>()
            .map_err(|e| (0, IoFailure::Io(io::Error::new(io::ErrorKind::InvalidInput, e))))?;
        let flags: Vec<libc::c_int> =
            files.iter().map(|&(_, w)| libc::O_CLOEXEC | if w { libc::O_RDWR } else { libc::O_RDONLY }).collect();
        let os = |what| (0, IoFailure::Io(what));
        let (mut req, mut ans) = ([0; 2], [0; 2]);
        // SAFETY: pipe2 writes two descriptors into each array.
        if unsafe { libc::pipe2(req.as_mut_ptr(), libc::O_CLOEXEC) } != 0
            || unsafe { libc::pipe2(ans.as_mut_ptr(), libc::O_CLOEXEC) } != 0
        {
            return Err(os(io::Error::last_os_error()));
        }
        // SAFETY: a fresh anonymous shared mapping; checked for MAP_FAILED below.
        let buffer = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                MAX_TRANSFER,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if buffer == libc::MAP_FAILED {
            return Err(os(io::Error::last_os_error()));
        }
        let mut fds = [-1 as libc::c_int; 8];
        assert!(files.len() <= fds.len(), "at most 8 files");
        // SAFETY: fork(2); the child runs `serve`, which only makes async-signal-safe calls on
        // memory that exists before the fork, and never returns.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: in the child; see `serve`.
            unsafe { serve(&paths, &flags, &mut fds[..files.len()], req[0], ans[1], buffer.cast()) }
        }
        // SAFETY: closing the child's ends of the pipes in the parent.
        unsafe {
            libc::close(req[0]);
            libc::close(ans[1]);
        }
        let mut p = IoProcess { pid, requests: req[1], answers: ans[0], buffer: buffer.cast(), abandoned: false };
        if pid < 0 {
            return Err(os(io::Error::last_os_error()));
        }
        // The child answers once per file it opened.
        for i in 0..files.len() {
            p.answer(Instant::now() + timeout).map_err(|e| (i, e))?;
        }
        Ok(p)
    }

    /// Runs one request within `timeout`: `data` is sent (writes) or filled (reads).
    pub fn call(
        &mut self,
        op: Op,
        file: usize,
        offset: u64,
        data: &mut [u8],
        timeout: Duration,
    ) -> Result<(), IoFailure> {
        if self.abandoned {
            return Err(IoFailure::Timeout);
        }
        if data.len() > MAX_TRANSFER {
            return Err(IoFailure::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} bytes in one transfer; the limit is {MAX_TRANSFER}", data.len()),
            )));
        }
        let deadline = Instant::now() + timeout;
        if matches!(op, Op::WriteAt | Op::Write) {
            // SAFETY: `data` fits the mapping (checked above); no request is in flight, so the
            // child does not touch the buffer now.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.buffer, data.len()) };
        }
        let r = Request { op: op as u32, file: file as u32, offset, len: data.len() as u64 };
        // SAFETY: a plain-old-data struct viewed as its bytes.
        let bytes =
            unsafe { std::slice::from_raw_parts((&r as *const Request).cast::<u8>(), std::mem::size_of::<Request>()) };
        // SAFETY: write(2) of the request bytes on our end of the request pipe (PIPE_BUF-sized, so
        // atomic).
        let n = unsafe { libc::write(self.requests, bytes.as_ptr().cast(), bytes.len()) };
        if n != bytes.len() as isize {
            return Err(IoFailure::Io(io::Error::last_os_error()));
        }
        self.answer(deadline)?;
        if matches!(op, Op::ReadAt | Op::Read) {
            // SAFETY: the child answered, so it is done with the buffer.
            unsafe { std::ptr::copy_nonoverlapping(self.buffer, data.as_mut_ptr(), data.len()) };
        }
        Ok(())
    }

    /// Waits for the child's answer until `deadline`; gives the child up on a timeout.
    fn answer(&mut self, deadline: Instant) -> Result<(), IoFailure> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd { fd: self.answers, events: libc::POLLIN, revents: 0 };
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: poll(2) on one valid descriptor.
            let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
            if ready < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            if ready <= 0 {
                self.abandon();
                return Err(IoFailure::Timeout);
            }
            let mut a = Answer { errno: 0 };
            // SAFETY: read(2) into a plain-old-data struct.
            let n = unsafe { libc::read(self.answers, (&mut a as *mut Answer).cast(), std::mem::size_of::<Answer>()) };
            return match n {
                n if n == std::mem::size_of::<Answer>() as isize => match a.errno {
                    0 => Ok(()),
                    e => Err(IoFailure::Io(io::Error::from_raw_os_error(e))),
                },
                _ => Err(IoFailure::Io(io::Error::new(io::ErrorKind::BrokenPipe, "the I/O process exited"))),
            };
        }
    }

    /// Kills the child (the kernel delivers it as soon as the stuck call lets go) and refuses
    /// every later call.
    fn abandon(&mut self) {
        self.abandoned = true;
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
    }
}

impl Drop for IoProcess {
    fn drop(&mut self) {
        // SAFETY: our descriptors and mapping; the child sees end of file on its request pipe and
        // exits (or has been killed); WNOHANG reaps it if it is gone already, and a child stuck
        // in the kernel is left to init rather than waited for.
        unsafe {
            libc::close(self.requests);
            libc::close(self.answers);
            if !self.abandoned {
                let mut status = 0;
                libc::waitpid(self.pid, &mut status, 0);
            } else {
                libc::waitpid(self.pid, std::ptr::null_mut(), libc::WNOHANG);
            }
            libc::munmap(self.buffer.cast(), MAX_TRANSFER);
        }
    }
}

/// The child: opens the files (one answer each), then serves requests until the request pipe
/// closes. Only async-signal-safe system calls, no allocation, no panic.
///
/// # Safety
/// Call only in a freshly forked child; `buffer` must map [`MAX_TRANSFER`] bytes.
unsafe fn serve(
    paths: &[CString],
    flags: &[libc::c_int],
    fds: &mut [libc::c_int],
    requests: libc::c_int,
    answers: libc::c_int,
    buffer: *mut u8,
) -> ! {
    // SAFETY (whole body): raw system calls on descriptors and memory that exist in the child.
    unsafe {
        // Keep only the two pipe ends: a copy of another transport's request pipe held here
        // would keep that transport's child from seeing the end of its requests, and a copy of
        // stdout or stderr would keep a reader of the parent's output (a pipe, a test harness)
        // waiting after the parent exited.
        let (lo, hi) = (requests.min(answers) as libc::c_uint, requests.max(answers) as libc::c_uint);
        libc::syscall(libc::SYS_close_range, 0 as libc::c_uint, lo - 1, 0);
        libc::syscall(libc::SYS_close_range, lo + 1, hi - 1, 0);
        libc::syscall(libc::SYS_close_range, hi + 1, libc::c_uint::MAX, 0);
        let send = |errno: i32| {
            let a = Answer { errno };
            libc::write(answers, (&a as *const Answer).cast(), std::mem::size_of::<Answer>());
        };
        let errno = || *libc::__errno_location();
        for i in 0..fds.len() {
            fds[i] = libc::open(paths[i].as_ptr(), flags[i]);
            if fds[i] < 0 {
                send(errno());
                libc::_exit(1);
            }
            send(0);
        }
        loop {
            let mut r = Request { op: 0, file: 0, offset: 0, len: 0 };
            let n = libc::read(requests, (&mut r as *mut Request).cast(), std::mem::size_of::<Request>());
            if n != std::mem::size_of::<Request>() as isize {
                libc::_exit(0);
            }
            let fd = match fds.get(r.file as usize) {
                Some(&fd) if r.len as usize <= MAX_TRANSFER => fd,
                _ => {
                    send(libc::EINVAL);
                    continue;
                }
            };
            let len = r.len as usize;
            let mut done = 0usize;
            let mut err = 0;
            while done < len {
                let p = buffer.add(done);
                const READ_AT: u32 = Op::ReadAt as u32;
                const WRITE_AT: u32 = Op::WriteAt as u32;
                const WRITE: u32 = Op::Write as u32;
                const READ: u32 = Op::Read as u32;
                let at = (r.offset + done as u64) as libc::off_t;
                let n = match r.op {
                    READ_AT => libc::pread(fd, p.cast(), len - done, at),
                    WRITE_AT => libc::pwrite(fd, p.cast(), len - done, at),
                    WRITE => libc::write(fd, p.cast(), len - done),
                    READ => libc::read(fd, p.cast(), len - done),
                    _ => {
                        err = libc::EINVAL;
                        break;
                    }
                };
                if n < 0 {
                    if errno() == libc::EINTR {
                        continue;
                    }
                    err = errno();
                    break;
                }
                if n == 0 {
                    // End of file (reads) or a device that takes nothing (writes).
                    err = libc::EIO;
                    break;
                }
                done += n as usize;
            }
            send(err);
        }
    }
}
