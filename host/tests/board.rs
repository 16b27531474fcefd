//! The virtual board (`spikeq board`): the XDMA transport against the FUSE device files backed by
//! the Verilator model gives the golden model's outputs and counters; XDMA file semantics; a board
//! that stops answering (SIGSTOP) gives a timeout naming the register or stream, and a board that
//! is killed (SIGKILL) an error naming it, never a hang.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use common::board::{mount_dir, BoardProcess};
use rand::{Rng, SeedableRng};
use spikeq_hdl::quant::{quantize_acts, quantize_weights, ActBits, SalientSelector};
use spikeq_hdl::regmap::{addr, ctrl, op, ID_MAGIC};
use spikeq_hdl::stream;
use spikeq_hdl::{ArrayConfig, Case, Derived, OutputMode};
use spikeq_host::device::golden::GoldenTransport;
use spikeq_host::device::xdma::XdmaTransport;
use spikeq_host::device::{Accelerator, DriverError};

const BUILD_WAIT: Duration = Duration::from_secs(900);

fn tiny() -> Derived {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/tiny.toml")).unwrap();
    ArrayConfig::from_toml(&text).unwrap().validate().unwrap()
}

/// A random raw-mode layer for the tiny array: weights and activation codes as the quantizers
/// make them (salient codes included).
fn random_layer(d: &Derived, rng: &mut rand::rngs::StdRng) -> Case {
    let (m, k, n) = (rng.gen_range(1..=12), rng.gen_range(1..=d.config.k_max as usize), rng.gen_range(1..=5));
    let w: Vec<f32> = (0..m * k).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let x: Vec<f32> = (0..n * k)
        .map(|_| if rng.gen_bool(0.05) { rng.gen_range(-40.0..40.0) } else { rng.gen_range(-1.0..1.0) })
        .collect();
    let bits = ActBits { normal: d.config.act_bits, salient: d.config.salient_bits };
    let qx = quantize_acts(&x, k, bits, SalientSelector::Mad { tau: 3.0 }, d.config.max_salient as usize, None);
    let weights = quantize_weights(&w, m, k, d.config.weight_format).codes;
    Case { name: "random".into(), m, k, mode: OutputMode::Raw, weights, thresholds: None, codes: qx.codes }
}

#[test]
fn xdma_transport_on_the_virtual_board_equals_the_golden_model() {
    let d = tiny();
    let dir = mount_dir("equal");
    let board = BoardProcess::start("configs/tiny.toml", None, &dir, BUILD_WAIT);
    assert!(board.ready_line.contains(&format!("{:#010x}", d.hash32)), "{}", board.ready_line);

    // Raw XDMA semantics: 4-byte register accesses at their offset, anything else is refused.
    let user = std::fs::OpenOptions::new().read(true).write(true).open(dir.join("xdma0_user")).unwrap();
    let mut b = [0u8; 4];
    user.read_exact_at(&mut b, addr::ID as u64).unwrap();
    assert_eq!(u32::from_le_bytes(b), ID_MAGIC);
    user.write_all_at(&0x1234_5678u32.to_le_bytes(), addr::SCRATCH as u64).unwrap();
    user.read_exact_at(&mut b, addr::SCRATCH as u64).unwrap();
    assert_eq!(u32::from_le_bytes(b), 0x1234_5678);
    let e = user.read_at(&mut [0u8; 8], addr::ID as u64).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "an 8-byte register read is refused");
    let e = user.write_at(&[1, 2], 2).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "an unaligned 2-byte write is refused");
    let h2c = std::fs::OpenOptions::new().write(true).open(dir.join("xdma0_h2c_0")).unwrap();
    let e = (&h2c).write(&[1, 2, 3]).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "a packet that is not whole words is refused");

    // A C2H read larger than the packet ends at TLAST with a short read (one token's outputs).
    let layer = random_layer(&d, &mut rand::rngs::StdRng::seed_from_u64(3));
    let c2h = std::fs::File::open(dir.join("xdma0_c2h_0")).unwrap();
    let reg = |a: u32, v: u32| user.write_all_at(&v.to_le_bytes(), a as u64).unwrap();
    let wait_done = || loop {
        let mut b = [0u8; 4];
        user.read_exact_at(&mut b, addr::CTRL as u64).unwrap();
        if u32::from_le_bytes(b) & ctrl::AP_DONE != 0 {
            break;
        }
    };
    let (mt, k) = (layer.m.min(d.config.rows as usize), layer.k);
    for (a, v) in [
        (addr::LAYER_K, k as u32),
        (addr::LAYER_M, mt as u32),
        (addr::LAYER_N, 1),
        (addr::MODE, 0),
        (addr::OP, op::LOAD),
    ] {
        reg(a, v);
    }
    reg(addr::CTRL, ctrl::AP_START);
    let bytes = |w: Vec<u32>| w.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    (&h2c).write_all(&bytes(stream::pack_load(&d, &layer.weights[..mt * k], mt, k, None))).unwrap();
    wait_done();
    reg(addr::OP, op::RUN);
    reg(addr::CTRL, ctrl::AP_START);
    (&h2c).write_all(&bytes(stream::pack_codes(&layer.codes[..k]))).unwrap();
    let mut big = vec![0u8; 4096];
    let got = (&c2h).read(&mut big).unwrap();
    assert_eq!(got, 4 * stream::output_words(mt, OutputMode::Raw), "the read ends at the packet's TLAST");
    wait_done();
    drop((user, h2c, c2h));

    let timeout = Duration::from_secs(30);
    let mut xdma = Accelerator::open(XdmaTransport::open(&dir, timeout).unwrap(), &d).unwrap();
    let mut golden = Accelerator::open(GoldenTransport::new(&d), &d).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for call in 0..30 {
        let layer = random_layer(&d, &mut rng);
        let got = xdma.run_layer(&layer.layer()).unwrap();
        let want = golden.run_layer(&layer.layer()).unwrap();
        assert_eq!(got.outputs, want.outputs, "call {call}: outputs ({}x{})", layer.m, layer.k);
        assert_eq!(got.counters, want.counters, "call {call}: cycles, spikes, accumulates");
    }
    assert_eq!(xdma.traffic, golden.traffic);
}

/// Runs random layers until the board stops answering; returns the error and how long it took to
/// come after the signal.
fn run_until_error(
    dir: &std::path::Path,
    board: &BoardProcess,
    sig: i32,
    timeout: Duration,
) -> (DriverError, Duration) {
    let d = tiny();
    let mut acc = Accelerator::open(XdmaTransport::open(dir, timeout).unwrap(), &d).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let started = Instant::now();
    let mut signalled: Option<Instant> = None;
    loop {
        if signalled.is_none() && started.elapsed() > Duration::from_millis(500) {
            board.signal(sig);
            signalled = Some(Instant::now());
        }
        let layer = random_layer(&d, &mut rng);
        if let Err(e) = acc.run_layer(&layer.layer()) {
            let after = signalled.expect("no error before the signal").elapsed();
            return (e, after);
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the board never stopped answering");
    }
}

fn names_register_or_stream(msg: &str) -> bool {
    msg.contains("register ") || msg.contains("xdma0_h2c_0") || msg.contains("xdma0_c2h_0")
}

#[test]
fn a_board_that_stops_answering_times_out_naming_the_register_or_stream() {
    let dir = mount_dir("stop");
    let board = BoardProcess::start("configs/tiny.toml", None, &dir, BUILD_WAIT);
    let timeout = Duration::from_secs(2);
    let (e, after) = run_until_error(&dir, &board, libc::SIGSTOP, timeout);
    let msg = e.to_string();
    eprintln!("stopped board: {msg}");
    assert!(matches!(e, DriverError::Timeout { .. }), "{msg}");
    assert!(names_register_or_stream(&msg) && msg.contains("timeout after 2s"), "{msg}");
    assert!(after < timeout * 3, "the error came {after:?} after the board stopped");
}

#[test]
fn a_killed_board_gives_an_error_naming_the_register_or_stream() {
    let dir = mount_dir("kill");
    let board = BoardProcess::start("configs/tiny.toml", None, &dir, BUILD_WAIT);
    let (e, after) = run_until_error(&dir, &board, libc::SIGKILL, Duration::from_secs(2));
    let msg = e.to_string();
    eprintln!("killed board: {msg}");
    assert!(matches!(e, DriverError::Gone { .. }), "{msg}");
    assert!(names_register_or_stream(&msg) && msg.contains("spikeq board"), "{msg}");
    assert!(after < Duration::from_secs(6), "the error came {after:?} after the board was killed");

    // The killed board left a stale mount; a new board on it says how to clear it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spikeq"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["board", "--config", "configs/tiny.toml", "--mount"])
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("fusermount3 -u"), "{stderr}");
}

#[test]
fn an_eval_whose_board_stops_answering_exits_and_a_second_board_is_refused() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let dir = mount_dir("exit");
    let board = BoardProcess::start("configs/default.toml", Some("spikequant"), &dir, BUILD_WAIT);

    // A second board on the same mount point is told a board is there (not "not empty").
    let second = Command::new(env!("CARGO_BIN_EXE_spikeq"))
        .current_dir(root)
        .args(["board", "--config", "configs/tiny.toml", "--mount"])
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success() && stderr.contains("already mounted"), "{stderr}");

    // The whole CLI: after the board stops, eval prints the timeout and exits (before the fix, a
    // thread stuck in a FUSE call, or the flush of its files at exit, kept the process alive).
    let mut eval = Command::new(env!("CARGO_BIN_EXE_spikeq"))
        .current_dir(root)
        // No calibration and no f32 pass: the layers go to the board at once (with an empty GPTQ
        // cache, as on a fresh clone, GPTQ alone would outlast the wait below).
        .args(["eval", "--windows", "1", "--smooth", "off", "--gptq", "off", "--f32-reference", "off"])
        .args(["--timeout", "2", "--backend"])
        .arg(format!("xdma:{}", dir.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let lines = std::io::BufReader::new(eval.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in lines.lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all += &line;
            all.push('\n');
        }
        all
    });
    let started = Instant::now();
    while !rx.recv_timeout(Duration::from_secs(120)).unwrap_or_default().contains("evaluating") {
        assert!(started.elapsed() < Duration::from_secs(120), "eval never started its layers");
    }
    std::thread::sleep(Duration::from_secs(1));
    board.signal(libc::SIGSTOP);
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = eval.try_wait().unwrap() {
            break status;
        }
        if stopped.elapsed() > Duration::from_secs(60) {
            let _ = eval.kill();
            panic!("eval did not exit within 60 s of the board stopping");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = reader.join().unwrap();
    assert!(!status.success() && stderr.contains("timeout after 2s"), "{status}: {stderr}");
}
