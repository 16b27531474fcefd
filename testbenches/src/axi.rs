//! The AXI driver: AXI4-Lite register reads and writes and AXI4-Stream transfers over a [`Sim`],
//! the way the host driver talks to a board (so the host's Verilator transport wraps this).
//!
//! Every clock goes through one function ([`Driver::edge`]) that also drains the output stream
//! into a queue, so pushing input can never dead-lock against an output the core waits to send.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use spikeq_hdl::{regmap, Bus};

use crate::error::TbError;
use crate::ports::PortId as P;
use crate::sim::Sim;

/// Clocks `ap_rst_n` is held low at reset.
pub const RESET_CYCLES: u32 = 4;

/// One word received on `m_axis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutWord {
    /// `m_axis_tdata`.
    pub data: u32,
    /// `m_axis_tlast`.
    pub last: bool,
    /// Clock cycle of the rising edge that transferred it.
    pub cycle: u64,
}

/// Random stalls on both streams, to prove the core neither loses nor duplicates data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backpressure {
    /// Seed of the stall pattern (reproducible runs).
    pub seed: u64,
    /// Probability that `m_axis_tready` is low in a cycle.
    pub out_stall: f64,
    /// Probability that `s_axis_tvalid` is held low in a cycle while words wait.
    pub in_gap: f64,
}

/// Cycle limits of the driver's waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Cycles one register access may take.
    pub register: u64,
    /// Cycles a stream may go without progress (covers the longest compute of a token).
    pub stream: u64,
    /// Cycles a wait for ap_done may take.
    pub done: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { register: 1_000, stream: 200_000, done: 1_000_000 }
    }
}

/// AXI4-Lite and AXI4-Stream driver over one simulated array.
#[derive(Debug)]
pub struct Driver {
    sim: Sim,
    out: VecDeque<OutWord>,
    stalls: Option<(StdRng, Backpressure)>,
    /// Limits of the waits.
    pub timeouts: Timeouts,
}

impl Driver {
    /// Takes over a simulation and resets it.
    pub fn new(mut sim: Sim) -> Self {
        sim.reset(RESET_CYCLES);
        Driver { sim, out: VecDeque::new(), stalls: None, timeouts: Timeouts::default() }
    }

    /// The simulation (for tracing or direct port access).
    pub fn sim_mut(&mut self) -> &mut Sim {
        &mut self.sim
    }

    /// Clock cycles since the simulation started.
    pub fn cycles(&self) -> u64 {
        self.sim.cycle()
    }

    /// Turns random stalls on (or off with `None`).
    pub fn set_backpressure(&mut self, bp: Option<Backpressure>) {
        self.stalls = bp.map(|b| (StdRng::seed_from_u64(b.seed), b));
    }

    /// Resets the core (`ap_rst_n` low) and forgets queued output.
    pub fn reset(&mut self) {
        self.sim.reset(RESET_CYCLES);
        self.out.clear();
    }

    /// One clock: drive `m_axis_tready`, settle, let `sample` read this cycle's outputs, take an
    /// output word if one transfers, then the rising and falling edges.
    fn edge<T>(&mut self, sample: impl FnOnce(&Sim) -> T) -> T {
        let ready = match &mut self.stalls {
            Some((rng, b)) => !rng.gen_bool(b.out_stall),
            None => true,
        };
        self.sim.set_bit(P::MReady, ready);
        self.sim.eval();
        if ready && self.sim.get_bit(P::MValid) {
            let w = OutWord { data: self.sim.get(P::MData), last: self.sim.get_bit(P::MLast), cycle: self.sim.cycle() };
            self.out.push_back(w);
        }
        let t = sample(&self.sim);
        self.sim.tick(1);
        t
    }

    /// `n` clocks with nothing driven (output still drained).
    pub fn idle(&mut self, n: u64) {
        for _ in 0..n {
            self.edge(|_| ());
        }
    }

    fn timeout(&self, during: String, cycles: u64) -> TbError {
        TbError::Timeout { during, cycles, at: self.sim.cycle() }
    }

    /// AXI4-Lite write of one register (address and data offered together, all byte lanes).
    pub fn write_reg(&mut self, addr: u32, value: u32) -> Result<(), TbError> {
        if addr > 0xFF || addr & 3 != 0 {
            return Err(TbError::Invalid {
                what: "register address",
                why: format!("{addr:#x} is not a word offset in 0..=0xFC"),
            });
        }
        self.sim.set_raw(P::AwAddr, addr);
        self.sim.set_bit(P::AwValid, true);
        self.sim.set_raw(P::WData, value);
        self.sim.set_raw(P::WStrb, 0xF);
        self.sim.set_bit(P::WValid, true);
        self.sim.set_bit(P::BReady, true);
        let (mut aw, mut w) = (false, false);
        for _ in 0..self.timeouts.register {
            let (awr, wr, bv, bresp) =
                self.edge(|s| (s.get_bit(P::AwReady), s.get_bit(P::WReady), s.get_bit(P::BValid), s.get(P::BResp)));
            if !aw && awr {
                aw = true;
                self.sim.set_bit(P::AwValid, false);
            }
            if !w && wr {
                w = true;
                self.sim.set_bit(P::WValid, false);
            }
            if bv {
                self.sim.set_bit(P::BReady, false);
                if !(aw && w) {
                    return Err(TbError::Invalid {
                        what: "AXI4-Lite slave",
                        why: format!("BVALID before address and data of {} were accepted", regmap::name_of(addr)),
                    });
                }
                return match bresp {
                    0 => Ok(()),
                    r => Err(TbError::Response { op: "write", addr, resp: r }),
                };
            }
        }
        self.sim.set_bit(P::AwValid, false);
        self.sim.set_bit(P::WValid, false);
        self.sim.set_bit(P::BReady, false);
        Err(self.timeout(format!("writing register {}", regmap::name_of(addr)), self.timeouts.register))
    }

    /// AXI4-Lite read of one register.
    pub fn read_reg(&mut self, addr: u32) -> Result<u32, TbError> {
        if addr > 0xFF || addr & 3 != 0 {
            return Err(TbError::Invalid {
                what: "register address",
                why: format!("{addr:#x} is not a word offset in 0..=0xFC"),
            });
        }
        self.sim.set_raw(P::ArAddr, addr);
        self.sim.set_bit(P::ArValid, true);
        self.sim.set_bit(P::RReady, true);
        let mut ar = false;
        for _ in 0..self.timeouts.register {
            let (arr, rv, data, resp) =
                self.edge(|s| (s.get_bit(P::ArReady), s.get_bit(P::RValid), s.get(P::RData), s.get(P::RResp)));
            if !ar && arr {
                ar = true;
                self.sim.set_bit(P::ArValid, false);
            }
            if rv {
                self.sim.set_bit(P::RReady, false);
                if !ar {
                    return Err(TbError::Invalid {
                        what: "AXI4-Lite slave",
                        why: format!("RVALID before the address of {} was accepted", regmap::name_of(addr)),
                    });
                }
                return match resp {
                    0 => Ok(data),
                    r => Err(TbError::Response { op: "read", addr, resp: r }),
                };
            }
        }
        self.sim.set_bit(P::ArValid, false);
        self.sim.set_bit(P::RReady, false);
        Err(self.timeout(format!("reading register {}", regmap::name_of(addr)), self.timeouts.register))
    }

    /// Pushes words into `s_axis` (tlast on the final one if `last_on_final`), draining `m_axis`
    /// into the queue meanwhile.
    pub fn write_stream(&mut self, words: &[u32], last_on_final: bool) -> Result<(), TbError> {
        let n = words.len();
        let mut i = 0;
        let mut waited = 0u64;
        while i < n {
            let gap = match &mut self.stalls {
                Some((rng, b)) => rng.gen_bool(b.in_gap),
                None => false,
            };
            self.sim.set_bit(P::SValid, !gap);
            self.sim.set_raw(P::SData, if gap { 0 } else { words[i] });
            self.sim.set_bit(P::SLast, !gap && last_on_final && i + 1 == n);
            let ready = self.edge(|s| s.get_bit(P::SReady));
            if ready && !gap {
                i += 1;
                waited = 0;
            } else {
                waited += 1;
                if waited > self.timeouts.stream {
                    self.sim.set_bit(P::SValid, false);
                    self.sim.set_bit(P::SLast, false);
                    return Err(self.timeout(format!("pushing word {i} of {n} into s_axis (TREADY low)"), waited));
                }
            }
        }
        self.sim.set_bit(P::SValid, false);
        self.sim.set_bit(P::SLast, false);
        self.sim.set_raw(P::SData, 0);
        Ok(())
    }

    /// Clocks until `n` words are queued from `m_axis`, then returns them with their cycles.
    pub fn read_stream_words(&mut self, n: usize) -> Result<Vec<OutWord>, TbError> {
        let mut waited = 0u64;
        let mut have = self.out.len();
        while self.out.len() < n {
            self.edge(|_| ());
            if self.out.len() > have {
                have = self.out.len();
                waited = 0;
            } else {
                waited += 1;
                if waited > self.timeouts.stream {
                    return Err(
                        self.timeout(format!("reading m_axis: {} of {n} words arrived", self.out.len()), waited)
                    );
                }
            }
        }
        Ok(self.out.drain(..n).collect())
    }

    /// Clocks until `n` words are queued from `m_axis`, then returns their data.
    pub fn read_stream(&mut self, n: usize) -> Result<Vec<u32>, TbError> {
        Ok(self.read_stream_words(n)?.into_iter().map(|w| w.data).collect())
    }

    /// Words received but not yet read (e.g. data the core sent that nobody asked for).
    pub fn queued(&self) -> usize {
        self.out.len()
    }

    /// Polls CTRL until ap_done (which clears on read), draining output meanwhile, for at most
    /// `timeouts.done` cycles.
    pub fn wait_done(&mut self) -> Result<(), TbError> {
        let t0 = self.sim.cycle();
        loop {
            if self.read_reg(regmap::addr::CTRL)? & regmap::ctrl::AP_DONE != 0 {
                return Ok(());
            }
            if self.sim.cycle() - t0 > self.timeouts.done {
                return Err(self.timeout("waiting for CTRL.ap_done".into(), self.sim.cycle() - t0));
            }
        }
    }
}

/// The simulated array as a bus for the protocol steps; waits are counted in clock cycles.
impl Bus for Driver {
    type Error = TbError;
    fn read_reg(&mut self, addr: u32) -> Result<u32, TbError> {
        Driver::read_reg(self, addr)
    }
    fn write_reg(&mut self, addr: u32, value: u32) -> Result<(), TbError> {
        Driver::write_reg(self, addr, value)
    }
    fn write_packet(&mut self, words: &[u32]) -> Result<(), TbError> {
        self.write_stream(words, true)
    }
    fn read_words(&mut self, n: usize) -> Result<Vec<u32>, TbError> {
        self.read_stream(n)
    }
    fn wait_done(&mut self, _during: &str) -> Result<(), TbError> {
        Driver::wait_done(self)
    }
}
