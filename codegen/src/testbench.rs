//! Self-checking Icarus testbench: a SystemVerilog module that replays a program (`stim.hex`:
//! register writes, stream packets, done polling) against the generated top and compares every
//! output word and checked register with `expect.hex`, computed here by the golden model from
//! seeded random layers and edge cases. Runs with no Rust involved:
//!
//! ```text
//! cd OUT && iverilog -g2012 -o tb/sim tb/spikeq_tb_<hash8>.sv *.v && vvp tb/sim +dir=tb
//! ```

use spikeq_hdl::config::{OutputMode, PeKind};
use spikeq_hdl::device::GoldenDevice;
use spikeq_hdl::regmap::{addr, ctrl, err, op};
use spikeq_hdl::{protocol, stream, Bus, Case, Derived, WeightFormat};
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

/// The program and the expected values.
#[derive(Debug, Default)]
struct Program {
    stim: Vec<u32>,
    expect: Vec<u32>,
    comments: Vec<String>,
}

/// Records the testbench program while running the register protocol against the golden device:
/// each write and packet becomes a command, each read a check of the value the golden device
/// gives, so the Icarus program is the protocol itself with the golden model's answers.
#[derive(Debug)]
struct Recorder {
    dev: GoldenDevice,
    p: Program,
}

impl Recorder {
    /// Sends words of which none carries TLAST (the core must flag ERROR.stream).
    fn send_unterminated(&mut self, words: &[u32]) {
        self.dev.push_unterminated(words);
        self.p.stim.extend([6, words.len() as u32]);
        self.p.stim.extend_from_slice(words);
    }
}

impl Bus for Recorder {
    type Error = CodegenError;
    fn read_reg(&mut self, a: u32) -> Result<u32, CodegenError> {
        let v = self.dev.read_reg(a);
        self.p.stim.extend([4, a]);
        self.p.expect.push(v);
        Ok(v)
    }
    fn write_reg(&mut self, a: u32, v: u32) -> Result<(), CodegenError> {
        self.dev.write_reg(a, v);
        self.p.stim.extend([1, a, v]);
        Ok(())
    }
    fn write_packet(&mut self, words: &[u32]) -> Result<(), CodegenError> {
        self.dev.push_packet(words);
        self.p.stim.extend([2, words.len() as u32]);
        self.p.stim.extend_from_slice(words);
        Ok(())
    }
    fn read_words(&mut self, n: usize) -> Result<Vec<u32>, CodegenError> {
        let words = Bus::read_words(&mut self.dev, n)?;
        self.p.stim.extend([3, n as u32]);
        self.p.expect.extend_from_slice(&words);
        Ok(words)
    }
    fn wait_done(&mut self, during: &str) -> Result<(), CodegenError> {
        Bus::wait_done(&mut self.dev, during)?;
        self.p.stim.push(5);
        Ok(())
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
            out.push(Case { name: format!("random {i} {mode:?}"), k, m, mode, weights, thresholds, codes });
        }
        // all-zero codes, full tile, K the largest tested
        let (k, m) = (kmax, rows);
        let weights: Vec<i8> = (0..m * k).map(|_| random_weight(&mut rng, d)).collect();
        out.push(Case {
            name: format!("all-zero codes {mode:?}"),
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
            name: format!("max codes, salient at borders {mode:?}"),
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
        name: "salient overflow, code range".into(),
        k,
        m,
        mode,
        weights,
        thresholds: (mode == OutputMode::Fire).then(|| thresholds(&mut rng, d, m, k)),
        codes,
    });
    out
}

fn program(d: &Derived, o: &TbOptions) -> Result<Program, CodegenError> {
    let mut r = Recorder { dev: GoldenDevice::new(d), p: Program::default() };
    protocol::identify(&mut r, d)?;
    r.read_reg(addr::CTRL)?;
    r.write_reg(addr::GIE, 1)?;
    r.write_reg(addr::IER, 3)?;
    r.write_reg(addr::SCRATCH, 0xA5C3_0F96)?;
    r.read_reg(addr::SCRATCH)?;
    // a bad descriptor (K = 0) finishes at once with ERROR.descriptor and consumes nothing
    for (a, v) in [(addr::OP, op::RUN), (addr::LAYER_K, 0), (addr::LAYER_M, 1), (addr::LAYER_N, 1), (addr::MODE, 0)] {
        r.write_reg(a, v)?;
    }
    r.write_reg(addr::CTRL, ctrl::AP_START)?;
    r.wait_done("a bad descriptor")?;
    r.read_reg(addr::ERROR)?;
    r.write_reg(addr::ERROR, err::DESCRIPTOR | err::SALIENT_OVERFLOW | err::CODE_RANGE | err::STREAM)?;
    r.read_reg(addr::ERROR)?;
    // ISR saw ap_ready (start accepted) and ap_done; write 1 to clear
    r.read_reg(addr::ISR)?;
    r.write_reg(addr::ISR, 3)?;
    r.read_reg(addr::ISR)?;
    r.write_reg(addr::GIE, 0)?;
    r.write_reg(addr::IER, 0)?;

    for case in cases(d, o) {
        r.p.comments.push(case.describe());
        let tile = case.tile();
        protocol::load(&mut r, d, &tile)?;
        r.read_reg(addr::ERROR)?;
        protocol::read_counter(&mut r, addr::CYCLES_LO)?;
        protocol::run(&mut r, &tile, &case.codes, |_, _| ())?;
        protocol::finish(&mut r)?;
        if case.n() <= d.config.code_buffer_tokens as usize {
            // protocol v3: the tokens stay in the code buffer; another tile replays them
            let flipped = case.rows_reversed();
            r.p.comments.push(flipped.describe());
            protocol::load(&mut r, d, &flipped.tile())?;
            protocol::replay(&mut r, &flipped.tile(), flipped.n(), |_, _| ())?;
            protocol::finish(&mut r)?;
        }
    }
    // a REPLAY of another N than the buffer holds is refused and consumes nothing
    let n = r.read_reg(addr::LAYER_N)?;
    r.write_reg(addr::LAYER_N, n + 1)?;
    r.write_reg(addr::OP, op::REPLAY)?;
    r.write_reg(addr::CTRL, ctrl::AP_START)?;
    r.wait_done("a REPLAY of another N")?;
    protocol::finish(&mut r)?;
    stream_errors(d, o, &mut r)?;
    r.read_reg(addr::CTRL)?;
    r.p.stim.push(0);
    Ok(r.p)
}

/// TLAST early (token 0: one word, then the missing codes count as zero) and missing (token 1):
/// ERROR.stream, outputs as the golden model computes them for the codes the core actually used.
fn stream_errors(d: &Derived, o: &TbOptions, r: &mut Recorder) -> Result<(), CodegenError> {
    let mut rng = Rng(o.seed ^ 0x7374_7265);
    let mode = if d.supports(OutputMode::Raw) { OutputMode::Raw } else { OutputMode::Fire };
    let k = (d.config.k_max as usize).min(11);
    let m = (d.config.rows as usize).min(2);
    let weights: Vec<i8> = (0..m * k).map(|_| random_weight(&mut rng, d)).collect();
    let thresholds = (mode == OutputMode::Fire).then(|| thresholds(&mut rng, d, m, k));
    let codes = random_codes(&mut rng, d, k, 2, 0);
    let case = Case { name: "stream errors".into(), k, m, mode, weights, thresholds, codes };
    r.p.comments.push(case.describe());
    let tile = case.tile();
    protocol::load(r, d, &tile)?;
    r.write_reg(addr::LAYER_N, 2)?;
    r.write_reg(addr::OP, op::RUN)?;
    r.write_reg(addr::CTRL, ctrl::AP_START)?;
    let per = stream::output_words(m, mode);
    let token = |t: usize| stream::pack_codes(&case.codes[t * k..(t + 1) * k]);
    r.write_packet(&token(0)[..1])?;
    r.read_words(per)?;
    r.send_unterminated(&token(1));
    r.read_words(per)?;
    r.wait_done("RUN with broken framing")?;
    protocol::finish(r)?;
    // the buffered tokens are the codes the core used (the missing ones zero)
    let flipped = case.rows_reversed();
    protocol::load(r, d, &flipped.tile())?;
    protocol::replay(r, &flipped.tile(), 2, |_, _| ())?;
    protocol::finish(r)?;
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
