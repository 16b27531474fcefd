//! Self-checking Icarus testbench: a SystemVerilog module that replays a program (`stim.hex`:
//! register writes, stream packets, done polling) against the generated top and compares every
//! output word and checked register with `expect.hex`, computed here by the golden model from
//! seeded random layers and edge cases. Runs with no Rust involved:
//!
//! ```text
//! cd OUT && iverilog -g2012 -o tb/sim tb/spikeq_tb_<hash8>.sv *.v && vvp tb/sim +dir=tb
//! ```

use spikeq_hdl::config::{OutputMode, PeKind};
use spikeq_hdl::golden::{Golden, Tile};
use spikeq_hdl::regmap::{addr, err, op, reset_value, REGISTERS};
use spikeq_hdl::{stream, Derived, WeightFormat};
use tera::{Context, Tera};

use crate::{rtl, CodegenError, GenFile};

/// What the testbench covers.
#[derive(Debug, Clone)]
pub struct TbOptions {
    /// Seed of the random layers (and of the testbench's valid/ready jitter).
    pub seed: u64,
    /// Random tiles per supported output mode.
    pub random_cases: usize,
    /// Largest K used by the vectors (capped at k_max); keeps Icarus runs short for big arrays.
    pub k_limit: u32,
    /// Tokens per RUN call.
    pub tokens: usize,
}

impl Default for TbOptions {
    fn default() -> Self {
        TbOptions { seed: 1, random_cases: 3, k_limit: 96, tokens: 3 }
    }
}

/// splitmix64: a small seeded generator, so the vectors never depend on a crate's RNG version.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in lo..=hi.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
}

/// One tile test: LOAD then RUN.
#[derive(Debug, Clone)]
struct Case {
    what: String,
    k: usize,
    m: usize,
    mode: OutputMode,
    weights: Vec<i8>,
    thresholds: Option<Vec<u64>>,
    codes: Vec<i8>,
}

/// The program and the expected values.
#[derive(Debug, Default)]
struct Program {
    stim: Vec<u32>,
    expect: Vec<u32>,
    comments: Vec<String>,
}

impl Program {
    fn write(&mut self, a: u32, v: u32) {
        self.stim.extend([1, a, v]);
    }
    fn send(&mut self, words: &[u32]) {
        self.stim.extend([2, words.len() as u32]);
        self.stim.extend_from_slice(words);
    }
    fn send_nolast(&mut self, words: &[u32]) {
        self.stim.extend([6, words.len() as u32]);
        self.stim.extend_from_slice(words);
    }
    fn recv(&mut self, words: &[u32]) {
        self.stim.extend([3, words.len() as u32]);
        self.expect.extend_from_slice(words);
    }
    fn check(&mut self, a: u32, v: u32) {
        self.stim.extend([4, a]);
        self.expect.push(v);
    }
    fn wait_done(&mut self) {
        self.stim.push(5);
    }
    fn check64(&mut self, lo: u32, v: u64) {
        self.check(lo, v as u32);
        self.check(lo + 4, (v >> 32) as u32);
    }
}

fn random_weight(rng: &mut Rng, d: &Derived) -> i8 {
    if d.config.weight_format == WeightFormat::Binary {
        if rng.next() & 1 == 0 {
            1
        } else {
            -1
        }
    } else {
        rng.range(-(d.qw as i64), d.qw as i64) as i8
    }
}

fn max_weight(d: &Derived, sign: i8) -> i8 {
    sign * d.qw as i8
}

/// Random codes: mostly normal, a few salient (within the budget unless `overflow`).
fn random_codes(rng: &mut Rng, d: &Derived, k: usize, n: usize, salient_pct: u64) -> Vec<i8> {
    let (qa, qs) = (d.qa as i64, d.qs as i64);
    let mut out = Vec::with_capacity(k * n);
    for _ in 0..n {
        let mut budget = d.salient_depth as usize;
        for _ in 0..k {
            let mac = d.config.pe == PeKind::Mac;
            let sal = qs > qa && rng.next() % 100 < salient_pct && (mac || budget > 0);
            let q = if sal {
                budget = budget.saturating_sub(1);
                let mag = rng.range(qa + 1, qs);
                if rng.next() & 1 == 0 {
                    mag
                } else {
                    -mag
                }
            } else {
                rng.range(-qa, qa)
            };
            out.push(q as i8);
        }
    }
    out
}

fn thresholds(rng: &mut Rng, d: &Derived, m: usize, k: usize) -> Vec<u64> {
    // spread so that a useful share of rows fires a few spikes: th around |V|*2^F / Qy
    let f = d.config.frac_bits;
    let typical = ((k as u64 * d.qa as u64 * d.qw as u64).max(1) << f) / 4 / d.qy as u64;
    (0..m)
        .map(|_| match rng.next() % 8 {
            0 => 1,
            1 => d.th_max,
            _ => (rng.range(1, (typical.max(2) * 2) as i64) as u64).clamp(1, d.th_max),
        })
        .collect()
}

fn cases(d: &Derived, o: &TbOptions) -> Vec<Case> {
    let c = &d.config;
    let mut rng = Rng(o.seed ^ 0x5350_4B51);
    let kmax = c.k_max.min(o.k_limit.max(1)) as usize;
    let rows = c.rows as usize;
    let lanes = c.lanes as usize;
    let n = o.tokens.max(1);
    let mut modes = Vec::new();
    if d.supports(OutputMode::Raw) {
        modes.push(OutputMode::Raw);
    }
    if d.supports(OutputMode::Fire) {
        modes.push(OutputMode::Fire);
    }
    let mut out = Vec::new();
    for &mode in &modes {
        let th = |rng: &mut Rng, m, k| (mode == OutputMode::Fire).then(|| thresholds(rng, d, m, k));
        for i in 0..o.random_cases {
            let k = rng.range(1, kmax as i64) as usize;
            let m = rng.range(1, rows as i64) as usize;
            let weights = (0..m * k).map(|_| random_weight(&mut rng, d)).collect();
            let codes = random_codes(&mut rng, d, k, n, 6);
            let thresholds = th(&mut rng, m, k);
            out.push(Case { what: format!("random {i} {mode:?}"), k, m, mode, weights, thresholds, codes });
        }
        // all-zero codes, full tile, K the largest tested
        let (k, m) = (kmax, rows);
        let weights: Vec<i8> = (0..m * k).map(|_| random_weight(&mut rng, d)).collect();
        out.push(Case {
            what: format!("all-zero codes {mode:?}"),
            k,
            m,
            mode,
            weights: weights.clone(),
            thresholds: th(&mut rng, m, k),
            codes: vec![0; k * n],
        });
        // max codes and max weights; thresholds 1 and th_max
        let k2 = if kmax > lanes { lanes + 1 + (kmax - lanes - 1) / 2 } else { kmax };
        let m2 = if rows > 1 { rows - 1 } else { 1 };
        let mut codes = Vec::new();
        for t in 0..n {
            for kk in 0..k2 {
                let s = if (kk + t) % 2 == 0 { 1 } else { -1 };
                codes.push((s * d.qa) as i8);
            }
        }
        // salient codes at tile borders: k = 0, lanes-1, lanes, K-1 (within the budget)
        let borders = [0, lanes.saturating_sub(1), lanes, k2 - 1];
        let mut used = 0;
        for &b in &borders {
            if d.qs > d.qa && b < k2 && (c.pe == PeKind::Mac || used < d.salient_depth as usize) {
                used += 1;
                for t in 0..n {
                    codes[t * k2 + b] = if t % 2 == 0 { d.qs as i8 } else { -(d.qs as i8) };
                }
            }
        }
        let w2: Vec<i8> = (0..m2 * k2).map(|i| max_weight(d, if i % 3 == 0 { -1 } else { 1 })).collect();
        let th2 = (mode == OutputMode::Fire).then(|| (0..m2).map(|r| if r % 2 == 0 { 1 } else { d.th_max }).collect());
        out.push(Case {
            what: format!("max codes, salient at borders {mode:?}"),
            k: k2,
            m: m2,
            mode,
            weights: w2,
            thresholds: th2,
            codes,
        });
    }
    // salient overflow and out-of-range codes (raises ERROR bits), first mode only
    let mode = modes[0];
    let k = kmax.min(3 * lanes + 2).max(1);
    let m = rows.min(3);
    let weights: Vec<i8> = (0..m * k).map(|_| random_weight(&mut rng, d)).collect();
    let mut codes = random_codes(&mut rng, d, k, 2, 50);
    codes[0] = -128;
    out.push(Case {
        what: "salient overflow, code range".into(),
        k,
        m,
        mode,
        weights,
        thresholds: (mode == OutputMode::Fire).then(|| thresholds(&mut rng, d, m, k)),
        codes,
    });
    out
}

/// The LOAD packet of a case, in the stream layout of `spikeq_hdl::stream`.
fn pack_weights(d: &Derived, case: &Case) -> Vec<u32> {
    stream::pack_load(d, &case.weights, case.m, case.k, case.thresholds.as_deref())
}

/// Codes or fired outputs, one byte each, in the stream layout of `spikeq_hdl::stream`.
fn pack_bytes(v: &[i32]) -> Vec<u32> {
    stream::pack_outputs(v, OutputMode::Fire)
}

fn program(d: &Derived, o: &TbOptions) -> Result<Program, CodegenError> {
    let golden = Golden::new(d);
    let mut p = Program::default();
    // identification registers
    for reg in REGISTERS
        .iter()
        .filter(|r| matches!(r.name, "ID" | "VERSION" | "CFG_HASH" | "ROWS" | "LANES" | "K_MAX" | "FORMAT"))
    {
        p.check(reg.offset, reset_value(reg, d));
    }
    p.check(addr::CTRL, 0xC);
    p.write(addr::GIE, 1);
    p.write(addr::IER, 3);
    p.write(addr::SCRATCH, 0xA5C3_0F96);
    p.check(addr::SCRATCH, 0xA5C3_0F96);
    // a bad descriptor (K = 0) finishes at once with ERROR.descriptor and consumes nothing
    p.write(addr::OP, op::RUN);
    p.write(addr::LAYER_K, 0);
    p.write(addr::LAYER_M, 1);
    p.write(addr::LAYER_N, 1);
    p.write(addr::MODE, 0);
    p.write(addr::CTRL, 1);
    p.wait_done();
    p.check(addr::ERROR, err::DESCRIPTOR);
    p.write(addr::ERROR, 0xF);
    p.check(addr::ERROR, 0);
    // ISR saw ap_ready (start accepted) and ap_done; write 1 to clear
    p.check(addr::ISR, 3);
    p.write(addr::ISR, 3);
    p.check(addr::ISR, 0);
    p.write(addr::GIE, 0);
    p.write(addr::IER, 0);

    for case in cases(d, o) {
        p.comments.push(format!("{}: K {} M {} mode {:?}", case.what, case.k, case.m, case.mode));
        let tile = Tile {
            k: case.k,
            m: case.m,
            weights: &case.weights,
            thresholds: case.thresholds.as_deref(),
            mode: case.mode,
        };
        let run =
            golden.run_tile(&tile, &case.codes).map_err(|e| CodegenError::Golden(format!("{}: {e}", case.what)))?;
        // LOAD
        p.write(addr::OP, op::LOAD);
        p.write(addr::LAYER_K, case.k as u32);
        p.write(addr::LAYER_M, case.m as u32);
        p.write(addr::MODE, case.mode.code());
        p.write(addr::CTRL, 1);
        p.send(&pack_weights(d, &case));
        p.wait_done();
        p.check(addr::ERROR, 0);
        p.check64(addr::CYCLES_LO, 0);
        // RUN
        let n = case.codes.len() / case.k;
        p.write(addr::OP, op::RUN);
        p.write(addr::LAYER_N, n as u32);
        p.write(addr::CTRL, 1);
        for (t, token) in case.codes.chunks(case.k).enumerate() {
            let codes: Vec<i32> = token.iter().map(|&q| q as i32).collect();
            p.send(&pack_bytes(&codes));
            let out = &run.outputs[t * case.m..(t + 1) * case.m];
            match case.mode {
                OutputMode::Raw => p.recv(&out.iter().map(|&v| v as u32).collect::<Vec<_>>()),
                OutputMode::Fire => p.recv(&pack_bytes(out)),
            }
        }
        p.wait_done();
        p.check64(addr::CYCLES_LO, run.counters.cycles);
        p.check64(addr::SPIKES_LO, run.counters.spikes);
        p.check64(addr::ACCUM_LO, run.counters.accumulates);
        let e = if run.flags.salient_overflow { err::SALIENT_OVERFLOW } else { 0 }
            | if run.flags.code_range { err::CODE_RANGE } else { 0 };
        p.check(addr::ERROR, e);
        p.write(addr::ERROR, 0xF);
    }
    stream_errors(d, &golden, o, &mut p)?;
    p.check(addr::CTRL, 0xC);
    p.stim.push(0);
    Ok(p)
}

/// TLAST early (token 0: one word, then the missing codes count as zero) and missing (token 1):
/// ERROR.stream, outputs as the golden model computes them for the codes the core actually used.
fn stream_errors(d: &Derived, golden: &Golden, o: &TbOptions, p: &mut Program) -> Result<(), CodegenError> {
    let mut rng = Rng(o.seed ^ 0x7374_7265);
    let mode = if d.supports(OutputMode::Raw) { OutputMode::Raw } else { OutputMode::Fire };
    let k = (d.config.k_max as usize).min(11);
    let m = (d.config.rows as usize).min(2);
    let weights: Vec<i8> = (0..m * k).map(|_| random_weight(&mut rng, d)).collect();
    let th = (mode == OutputMode::Fire).then(|| thresholds(&mut rng, d, m, k));
    let sent = random_codes(&mut rng, d, k, 2, 0);
    let mut used = sent.clone();
    for q in &mut used[4.min(k)..k] {
        *q = 0;
    }
    let case = Case { what: "stream errors".into(), k, m, mode, weights, thresholds: th, codes: used };
    let tile = Tile { k, m, weights: &case.weights, thresholds: case.thresholds.as_deref(), mode };
    let run = golden.run_tile(&tile, &case.codes).map_err(|e| CodegenError::Golden(format!("stream errors: {e}")))?;
    p.comments.push(format!("stream errors: K {k} M {m} mode {mode:?}"));
    p.write(addr::OP, op::LOAD);
    p.write(addr::LAYER_K, k as u32);
    p.write(addr::LAYER_M, m as u32);
    p.write(addr::MODE, mode.code());
    p.write(addr::CTRL, 1);
    p.send(&pack_weights(d, &case));
    p.wait_done();
    p.write(addr::OP, op::RUN);
    p.write(addr::LAYER_N, 2);
    p.write(addr::CTRL, 1);
    let pack = |t: usize| pack_bytes(&sent[t * k..(t + 1) * k].iter().map(|&q| q as i32).collect::<Vec<_>>());
    let words0 = pack(0);
    p.send(&words0[..1]);
    let out = |t: usize| -> Vec<u32> {
        let o = &run.outputs[t * m..(t + 1) * m];
        match mode {
            OutputMode::Raw => o.iter().map(|&v| v as u32).collect(),
            OutputMode::Fire => pack_bytes(o),
        }
    };
    p.recv(&out(0));
    p.send_nolast(&pack(1));
    p.recv(&out(1));
    p.wait_done();
    p.check64(addr::CYCLES_LO, run.counters.cycles);
    // token 1 always lacks its TLAST; token 0's single word ends early when K > 4
    let e = err::STREAM
        | if run.flags.code_range { err::CODE_RANGE } else { 0 }
        | if run.flags.salient_overflow { err::SALIENT_OVERFLOW } else { 0 };
    p.check(addr::ERROR, e);
    p.write(addr::ERROR, 0xF);
    Ok(())
}

fn hex(words: &[u32], title: &str, comments: &[String]) -> String {
    let mut s = format!("// {title}\n");
    for c in comments {
        s.push_str(&format!("// {c}\n"));
    }
    for w in words {
        s.push_str(&format!("{w:08x}\n"));
    }
    s
}

/// The testbench files (`tb/spikeq_tb_<hash8>.sv`, `tb/stim.hex`, `tb/expect.hex`, `tb/run_icarus.sh`).
pub fn generate(d: &Derived, o: &TbOptions) -> Result<Vec<GenFile>, CodegenError> {
    let p = program(d, o)?;
    let cycles_bound = 200_000 + p.stim.len() as u64 * 40 + p.expect.len() as u64 * 40;
    let mut t = Tera::default();
    t.autoescape_on(vec![]);
    t.add_raw_template("tb", include_str!("../templates/spikeq_tb.sv.tera"))
        .map_err(|e| CodegenError::Template(format!("{e:?}")))?;
    let h = d.short_hash();
    let module = format!("spikeq_tb_{h}");
    let mut x = Context::new();
    x.insert("h", h);
    x.insert("header", &rtl::header(d, &format!("{module}: self-checking Icarus testbench")));
    x.insert("n_stim", &p.stim.len());
    x.insert("n_exp", &p.expect.len().max(1));
    x.insert("timeout", &(cycles_bound * 20));
    x.insert("seed", &(o.seed as u32 & 0x7fff_ffff));
    let sv = t.render("tb", &x).map_err(|e| CodegenError::Template(format!("testbench: {e:?}")))?;
    let sv = rtl::declare_constants(d, &sv)?;
    let run = format!(
        "#!/bin/sh\n# Runs the self-checking testbench of {} under Icarus Verilog; prints PASS or FAIL <n> mismatches.\nset -e\ncd \"$(dirname \"$0\")/..\"\niverilog -g2012 -o tb/sim -s {module} tb/{module}.sv *.v\nvvp -n tb/sim +dir=tb\n",
        d.config.name
    );
    let mut expect = p.expect.clone();
    if expect.is_empty() {
        expect.push(0);
    }
    Ok(vec![
        GenFile { path: format!("tb/{module}.sv"), contents: sv },
        GenFile {
            path: "tb/stim.hex".into(),
            contents: hex(&p.stim, "stimulus program (see the testbench header)", &p.comments),
        },
        GenFile {
            path: "tb/expect.hex".into(),
            contents: hex(&expect, "expected outputs and registers (golden model)", &[]),
        },
        GenFile { path: "tb/run_icarus.sh".into(), contents: run },
    ])
}
