//! The XDMA transport: the Xilinx XDMA driver's character devices. Registers are 32-bit
//! `pread`/`pwrite` at their offset on `xdma0_user` (the AXI4-Lite BAR); input packets are
//! `write`s to `xdma0_h2c_0` and outputs `read`s from `xdma0_c2h_0` (AXI4-Stream mode).
//!
//! Every call has a deadline, the opens included, so a board that stops answering (or a virtual
//! board that was killed) gives an error naming the register or stream, never a hang. The
//! accesses run in a child process ([`super::io_process`]): a FUSE call whose server stopped after taking the
//! request waits uninterruptibly, and only a process that does not hold it can still exit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use spikeq_hdl::{regmap, Bus};

use super::io_process::{IoFailure, IoProcess, Op};
use super::{poll_done, DriverError, Transport};

/// The device files, in the order the I/O process opens them.
const FILES: [(&str, bool); 3] = [("xdma0_user", true), ("xdma0_h2c_0", true), ("xdma0_c2h_0", false)];
const USER: usize = 0;
const H2C: usize = 1;
const C2H: usize = 2;

/// XDMA character devices under one directory (`/dev` or a virtual board's mount point).
#[derive(Debug)]
pub struct XdmaTransport {
    dir: PathBuf,
    timeout: Duration,
    io: IoProcess,
}

fn reg_name(addr: u32) -> String {
    format!("register {} ({addr:#04x})", regmap::name_of(addr))
}

impl XdmaTransport {
    /// Opens `DIR/xdma0_user`, `DIR/xdma0_h2c_0` and `DIR/xdma0_c2h_0` (within `timeout`: an
    /// open on a stopped virtual board blocks in the kernel like any other call).
    pub fn open(dir: &Path, timeout: Duration) -> Result<Self, DriverError> {
        let paths: Vec<PathBuf> = FILES.iter().map(|(name, _)| dir.join(name)).collect();
        let files: Vec<(&Path, bool)> = paths.iter().zip(FILES).map(|(p, (_, w))| (p.as_path(), w)).collect();
        let device = format!("xdma:{}", dir.display());
        let io = IoProcess::open(&files, timeout).map_err(|(i, failure)| match failure {
            IoFailure::Io(source) => DriverError::Io {
                what: format!(
                    "cannot open {} (is the XDMA driver loaded, or the virtual board mounted with `spikeq board`?)",
                    paths[i].display()
                ),
                source,
            },
            IoFailure::Timeout => DriverError::Timeout { what: format!("opening {}", FILES[i].0), device, timeout },
        })?;
        Ok(XdmaTransport { dir: dir.to_path_buf(), timeout, io })
    }

    /// One access within the deadline; `data` is sent (writes) or filled (reads).
    fn call(&mut self, op: Op, file: usize, offset: u64, data: &mut [u8], what: String) -> Result<(), DriverError> {
        let timeout = self.timeout;
        match self.io.call(op, file, offset, data, timeout) {
            Ok(()) => Ok(()),
            // A FUSE server that exited (the virtual board killed) aborts the connection: every
            // call, including one in flight, fails with ENOTCONN or ECONNABORTED.
            Err(IoFailure::Io(source))
                if matches!(source.raw_os_error(), Some(libc::ENOTCONN | libc::ECONNABORTED | libc::ENODEV)) =>
            {
                Err(DriverError::Gone { what, device: self.describe(), source })
            }
            Err(IoFailure::Io(source)) => {
                Err(DriverError::Io { what: format!("{what} on {}", self.describe()), source })
            }
            // The I/O process is stuck in the kernel and was given up: this transport is done.
            Err(IoFailure::Timeout) => Err(DriverError::Timeout { what, device: self.describe(), timeout }),
        }
    }
}

impl Bus for XdmaTransport {
    type Error = DriverError;
    fn read_reg(&mut self, addr: u32) -> Result<u32, DriverError> {
        let mut b = [0u8; 4];
        self.call(Op::ReadAt, USER, u64::from(addr), &mut b, format!("read of {}", reg_name(addr)))?;
        Ok(u32::from_le_bytes(b))
    }
    fn write_reg(&mut self, addr: u32, value: u32) -> Result<(), DriverError> {
        let mut b = value.to_le_bytes();
        self.call(Op::WriteAt, USER, u64::from(addr), &mut b, format!("write of {}", reg_name(addr)))
    }
    fn write_packet(&mut self, words: &[u32]) -> Result<(), DriverError> {
        let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let what = format!("{} words on stream xdma0_h2c_0", words.len());
        self.call(Op::Write, H2C, 0, &mut bytes, what)
    }
    fn read_words(&mut self, n: usize) -> Result<Vec<u32>, DriverError> {
        let mut bytes = vec![0u8; 4 * n];
        self.call(Op::Read, C2H, 0, &mut bytes, format!("{n} words on stream xdma0_c2h_0"))?;
        Ok(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
    fn wait_done(&mut self, during: &str) -> Result<(), DriverError> {
        poll_done(self, self.timeout, during)
    }
}

impl Transport for XdmaTransport {
    fn describe(&self) -> String {
        format!("xdma:{}", self.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::thread;

    #[test]
    fn missing_device_names_the_file_and_the_fix() {
        let e = XdmaTransport::open(Path::new("/nonexistent/xdma"), Duration::from_millis(10)).unwrap_err().to_string();
        assert!(e.contains("xdma0_user") && e.contains("spikeq board"), "{e}");
    }

    #[test]
    fn a_device_that_never_answers_times_out_naming_the_stream() {
        // A FIFO with a writer that never writes: reading c2h blocks forever, like a dead board.
        let dir = std::env::temp_dir().join(format!("spikeq-xdma-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("xdma0_user"), vec![0u8; 256]).unwrap();
        std::fs::write(dir.join("xdma0_h2c_0"), b"").unwrap();
        let fifo = dir.join("xdma0_c2h_0");
        let _ = std::fs::remove_file(&fifo);
        let ok = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success();
        assert!(ok, "mkfifo failed");
        // Keep a writer open so the reader's open() returns and its read() blocks.
        let f2 = fifo.clone();
        let _writer = thread::spawn(move || {
            let _w = OpenOptions::new().write(true).open(f2).unwrap();
            thread::sleep(Duration::from_secs(5));
        });
        let mut t = XdmaTransport::open(&dir, Duration::from_millis(300)).unwrap();
        assert_eq!(t.read_reg(0x10).unwrap(), 0);
        t.write_reg(0x1C, 0xdead_beef).unwrap();
        assert_eq!(t.read_reg(0x1C).unwrap(), 0xdead_beef);
        let e = t.read_words(4).unwrap_err().to_string();
        assert!(e.contains("timeout") && e.contains("xdma0_c2h_0"), "{e}");
        let e = t.read_reg(0x10).unwrap_err().to_string();
        assert!(e.contains("timeout") && e.contains("ID"), "{e}");
    }
}
