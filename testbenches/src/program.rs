//! Replays the generator's Icarus testbench program (`tb/stim.hex`, `tb/expect.hex`) over the
//! [`Driver`], so Verilator and Icarus run the very same vectors (`spikeq bench cosim`).
//!
//! Commands (codegen/templates/spikeq_tb.sv.tera): 0 END | 1 WRITE addr data | 2 SEND n words
//! (TLAST on the last) | 3 RECV n | 4 CHECK addr | 5 WAIT_DONE | 6 SEND_NOLAST n words.

use crate::axi::Driver;
use crate::error::TbError;

/// Outcome of one replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramRun {
    /// Output words and register reads compared.
    pub checked: usize,
    /// How many differed from `expect.hex`.
    pub mismatches: usize,
    /// First difference: (index into expect, got, expected).
    pub first: Option<(usize, u32, u32)>,
}

/// Reads a `$readmemh` file of 32-bit words (`//` comments, one word per line).
pub fn parse_hex(text: &str) -> Result<Vec<u32>, TbError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .map(|l| u32::from_str_radix(l, 16).map_err(|_| TbError::Invalid { what: "hex word", why: format!("{l:?}") }))
        .collect()
}

/// Plays `stim` against the driver and compares with `expect`.
pub fn replay(drv: &mut Driver, stim: &[u32], expect: &[u32]) -> Result<ProgramRun, TbError> {
    let bad = |why: String| TbError::Invalid { what: "stimulus program", why };
    let mut sp = 0usize;
    let mut ep = 0usize;
    let mut run = ProgramRun { checked: 0, mismatches: 0, first: None };
    let next = |sp: &mut usize| -> Result<u32, TbError> {
        let w = stim.get(*sp).copied().ok_or_else(|| bad(format!("ends inside a command at word {sp}")))?;
        *sp += 1;
        Ok(w)
    };
    let compare = |got: u32, run: &mut ProgramRun, ep: &mut usize| -> Result<(), TbError> {
        let want = expect
            .get(*ep)
            .copied()
            .ok_or_else(|| bad(format!("more checks than the {} expected words", expect.len())))?;
        run.checked += 1;
        if got != want {
            run.mismatches += 1;
            run.first.get_or_insert((*ep, got, want));
        }
        *ep += 1;
        Ok(())
    };
    loop {
        match next(&mut sp)? {
            0 => return Ok(run),
            1 => {
                let (a, v) = (next(&mut sp)?, next(&mut sp)?);
                drv.write_reg(a, v)?;
            }
            cmd @ (2 | 6) => {
                let n = next(&mut sp)? as usize;
                let words = stim.get(sp..sp + n).ok_or_else(|| bad(format!("SEND of {n} words past the end")))?;
                sp += n;
                drv.write_stream(words, cmd == 2)?;
            }
            3 => {
                let n = next(&mut sp)? as usize;
                for w in drv.read_stream(n)? {
                    compare(w, &mut run, &mut ep)?;
                }
            }
            4 => {
                let a = next(&mut sp)?;
                let v = drv.read_reg(a)?;
                compare(v, &mut run, &mut ep)?;
            }
            5 => drv.wait_done()?,
            c => return Err(bad(format!("unknown command {c} at word {}", sp - 1))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_files_parse_with_comments() {
        assert_eq!(parse_hex("// title\n// more\n0000000a\nFFFFFFFF\n\n").unwrap(), vec![10, u32::MAX]);
        assert!(parse_hex("xyz\n").is_err());
    }
}
