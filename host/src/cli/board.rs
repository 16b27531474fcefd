//! `spikeq board --config FILE [--scheme S] --mount DIR`: serves a virtual XDMA board (the
//! configuration's RTL in Verilator) as `DIR/xdma0_user`, `DIR/xdma0_h2c_0`, `DIR/xdma0_c2h_0`
//! until interrupted, for `spikeq eval --backend xdma:DIR`.

use std::path::PathBuf;
use std::sync::mpsc;

use anyhow::{Context, Result};
use clap::Args;
use spikeq_host::device::verilator;
use spikeq_host::files::config_file;
use spikeq_host::llm::precision::DEFAULT_SELECTOR;
use spikeq_host::llm::quant::Scheme;
use spikeq_tb::board::{check_mount_point, mount, VirtualBoard, DEVICE_FILES};

#[derive(Debug, Args)]
pub struct BoardArgs {
    /// Array configuration (TOML) whose RTL the board runs.
    #[arg(long)]
    config: PathBuf,
    /// Apply a quantization scheme's widths to the configuration, as `spikeq eval --scheme` does,
    /// so that the board matches what eval will ask for (e.g. spikequant).
    #[arg(long)]
    scheme: Option<Scheme>,
    /// Empty directory to mount the device files on (created if missing).
    #[arg(long)]
    mount: PathBuf,
}

pub fn run(a: BoardArgs) -> Result<()> {
    let base = config_file::read(&a.config)?;
    let derived = match a.scheme {
        None => base,
        Some(s) => s
            .quantization(DEFAULT_SELECTOR)
            .with_context(|| format!("scheme {s} runs on the host, not on a board"))?
            .array(&base.config)?,
    };
    check_mount_point(&a.mount).with_context(|| format!("cannot mount the board on {}", a.mount.display()))?;
    eprintln!("board: building (or loading from the cache) the Verilator model of {}", derived.config.name);
    let (driver, name) = verilator::simulate(&derived)?;
    // Catch Ctrl-C/SIGTERM before mounting, so that no signal can end the process between the
    // mount and the handler and leave a stale mount.
    let (tx, rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .context("cannot install the Ctrl-C handler")?;
    let board = VirtualBoard::new(driver);
    let stats = board.stats_handle();
    let session = mount(board, &a.mount).with_context(|| {
        format!(
            "cannot mount FUSE on {} (needs /dev/fuse and fusermount3: scripts/setup.sh installs fuse3)",
            a.mount.display()
        )
    })?;
    println!(
        "board ready: {} (array {}, hash {:#010x}) on {}: {}; Ctrl-C to stop",
        name,
        derived.config.name,
        derived.hash32,
        a.mount.display(),
        DEVICE_FILES.join(", ")
    );
    let _ = rx.recv();
    let st = stats.get();
    eprintln!(
        "board: served {} register reads, {} writes, {:.2} MB in (H2C), {:.2} MB out (C2H), {} refused requests; unmounting {}",
        st.reg_reads,
        st.reg_writes,
        st.h2c_bytes as f64 / 1e6,
        st.c2h_bytes as f64 / 1e6,
        st.errors,
        a.mount.display()
    );
    if let Err(e) = session.umount_and_join() {
        // Clients still hold the device files open (EBUSY): detach the mount; when this process
        // exits their next call fails with ENOTCONN, which the XDMA transport reports.
        eprintln!("board: {e}; detaching the mount (clients still have the device files open)");
        let ok = std::process::Command::new("fusermount3")
            .arg("-u")
            .arg("-z")
            .arg(&a.mount)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        anyhow::ensure!(ok, "cannot unmount {}: run `fusermount3 -u -z {}`", a.mount.display(), a.mount.display());
    }
    Ok(())
}
