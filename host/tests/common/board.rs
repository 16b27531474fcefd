//! A `spikeq board` process for the tests: started on a fresh temporary mount point, waited for
//! until it prints that it is ready, and always stopped and unmounted when dropped (a board the
//! test killed leaves a stale mount, which is unmounted with fusermount3).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct BoardProcess {
    pub child: Child,
    pub dir: PathBuf,
    pub ready_line: String,
}

/// A mount point under the target directory, unique per test.
pub fn mount_dir(tag: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("board-{tag}-{}", std::process::id()));
    let _ = Command::new("fusermount3").arg("-u").arg(&dir).stderr(Stdio::null()).status();
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl BoardProcess {
    /// Starts `spikeq board --config CONFIG [--scheme S] --mount DIR` and waits (up to `wait`,
    /// which covers a first Verilator build) for its ready line.
    pub fn start(config: &str, scheme: Option<&str>, dir: &Path, wait: Duration) -> BoardProcess {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_spikeq"));
        cmd.current_dir(root()).args(["board", "--config", config, "--mount"]).arg(dir);
        if let Some(s) = scheme {
            cmd.args(["--scheme", s]);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spikeq board starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut board = BoardProcess { child, dir: dir.to_path_buf(), ready_line: String::new() };
        match rx.recv_timeout(wait) {
            Ok(line) if line.starts_with("board ready") => board.ready_line = line,
            other => panic!("spikeq board did not get ready within {wait:?}: {other:?}"),
        }
        board
    }

    /// Sends a signal to the board process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let r = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(r, 0, "kill({sig}) failed");
    }
}

impl Drop for BoardProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on our own child, which has not been reaped.
            unsafe {
                libc::kill(self.child.id() as i32, libc::SIGCONT);
                libc::kill(self.child.id() as i32, libc::SIGINT);
            }
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("fusermount3").arg("-u").arg(&self.dir).stderr(Stdio::null()).status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}
