//! The XDMA transport: the Xilinx XDMA driver's character devices. Registers are 32-bit
//! `pread`/`pwrite` at their offset on `xdma0_user` (the AXI4-Lite BAR); input packets are
//! `write`s to `xdma0_h2c_0` and outputs `read`s from `xdma0_c2h_0` (AXI4-Stream mode).
//!
//! Every call has a deadline: the file operations run on an I/O thread and the caller waits with
//! a timeout, so a board that stops answering (or a virtual board that was killed) gives an error
//! naming the register or stream, never a hang.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::Duration;

use spikeq_hdl::{regmap, Bus};

use super::{poll_done, DriverError, Transport};

/// One request to the I/O thread.
enum Req {
    Read(u32),
    Write(u32, u32),
    Packet(Vec<u32>),
    Words(usize),
}

type Reply = std::io::Result<Vec<u32>>;

/// XDMA character devices under one directory (`/dev` or a virtual board's mount point).
#[derive(Debug)]
pub struct XdmaTransport {
    dir: PathBuf,
    timeout: Duration,
    tx: Sender<Req>,
    rx: Receiver<Reply>,
}

fn reg_name(addr: u32) -> String {
    format!("register {} ({addr:#04x})", regmap::name_of(addr))
}

impl XdmaTransport {
    /// Opens `DIR/xdma0_user`, `DIR/xdma0_h2c_0` and `DIR/xdma0_c2h_0`.
    pub fn open(dir: &Path, timeout: Duration) -> Result<Self, DriverError> {
        let open = |name: &str, write: bool| -> Result<File, DriverError> {
            let p = dir.join(name);
            OpenOptions::new().read(true).write(write).open(&p).map_err(|source| DriverError::Io {
                what: format!(
                    "cannot open {} (is the XDMA driver loaded, or the virtual board mounted with `spikeq board`?)",
                    p.display()
                ),
                source,
            })
        };
        let user = open("xdma0_user", true)?;
        let mut h2c = open("xdma0_h2c_0", true)?;
        let mut c2h = open("xdma0_c2h_0", false)?;
        let (tx, req_rx) = channel::<Req>();
        let (reply_tx, rx) = channel::<Reply>();
        thread::Builder::new()
            .name("xdma-io".into())
            .spawn(move || {
                for req in req_rx {
                    let reply = match req {
                        Req::Read(a) => {
                            let mut b = [0u8; 4];
                            user.read_exact_at(&mut b, a as u64).map(|_| vec![u32::from_le_bytes(b)])
                        }
                        Req::Write(a, v) => user.write_all_at(&v.to_le_bytes(), a as u64).map(|_| vec![]),
                        Req::Packet(words) => {
                            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                            h2c.write_all(&bytes).map(|_| vec![])
                        }
                        Req::Words(n) => {
                            let mut b = vec![0u8; 4 * n];
                            c2h.read_exact(&mut b).map(|_| {
                                b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
                            })
                        }
                    };
                    if reply_tx.send(reply).is_err() {
                        break;
                    }
                }
            })
            .map_err(|source| DriverError::Io { what: "cannot start the XDMA I/O thread".into(), source })?;
        Ok(XdmaTransport { dir: dir.to_path_buf(), timeout, tx, rx })
    }

    fn call(&mut self, req: Req, what: String) -> Result<Vec<u32>, DriverError> {
        let timeout = self.timeout;
        if self.tx.send(req).is_err() {
            return Err(DriverError::Timeout { what, device: self.describe(), timeout });
        }
        match self.rx.recv_timeout(timeout) {
            Ok(Ok(v)) => Ok(v),
            // A FUSE server that exited (the virtual board killed) aborts the connection: every
            // call, including one in flight, fails with ENOTCONN or ECONNABORTED.
            Ok(Err(source))
                if matches!(source.raw_os_error(), Some(libc::ENOTCONN | libc::ECONNABORTED | libc::ENODEV)) =>
            {
                Err(DriverError::Gone { what, device: self.describe(), source })
            }
            Ok(Err(source)) => Err(DriverError::Io { what: format!("{what} on {}", self.describe()), source }),
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                // The I/O thread is stuck in the kernel; this transport cannot be used again.
                let (tx, _) = channel();
                self.tx = tx;
                Err(DriverError::Timeout { what, device: self.describe(), timeout })
            }
        }
    }
}

impl Bus for XdmaTransport {
    type Error = DriverError;
    fn read_reg(&mut self, addr: u32) -> Result<u32, DriverError> {
        Ok(self.call(Req::Read(addr), format!("read of {}", reg_name(addr)))?[0])
    }
    fn write_reg(&mut self, addr: u32, value: u32) -> Result<(), DriverError> {
        self.call(Req::Write(addr, value), format!("write of {}", reg_name(addr))).map(|_| ())
    }
    fn write_packet(&mut self, words: &[u32]) -> Result<(), DriverError> {
        let n = words.len();
        self.call(Req::Packet(words.to_vec()), format!("{n} words on stream xdma0_h2c_0")).map(|_| ())
    }
    fn read_words(&mut self, n: usize) -> Result<Vec<u32>, DriverError> {
        self.call(Req::Words(n), format!("{n} words on stream xdma0_c2h_0"))
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
