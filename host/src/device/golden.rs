//! The golden transport: the register- and stream-level golden device of `spikeq-hdl`. The
//! driver runs whole layers through [`Golden::run_layer`] on it (its native model), and the
//! register path through the device; a test checks the two agree.

use std::time::Duration;

use spikeq_hdl::device::GoldenDevice;
use spikeq_hdl::{Bus, Derived, Golden, ProtocolError};

use super::{DriverError, Transport};

/// The golden model as a device.
#[derive(Debug)]
pub struct GoldenTransport {
    device: GoldenDevice,
    golden: Golden,
}

impl GoldenTransport {
    /// A golden device for a configuration.
    pub fn new(d: &Derived) -> Self {
        GoldenTransport { device: GoldenDevice::new(d), golden: Golden::new(d) }
    }
}

/// The golden device's protocol errors (a wait with nothing running, words never produced) are
/// what a real device shows as a timeout.
fn protocol(e: ProtocolError, device: String) -> DriverError {
    DriverError::Timeout { what: e.to_string(), device, timeout: Duration::ZERO }
}

impl Bus for GoldenTransport {
    type Error = DriverError;
    fn read_reg(&mut self, addr: u32) -> Result<u32, DriverError> {
        Ok(self.device.read_reg(addr))
    }
    fn write_reg(&mut self, addr: u32, value: u32) -> Result<(), DriverError> {
        self.device.write_reg(addr, value);
        Ok(())
    }
    fn write_packet(&mut self, words: &[u32]) -> Result<(), DriverError> {
        self.device.push_packet(words);
        Ok(())
    }
    fn read_words(&mut self, n: usize) -> Result<Vec<u32>, DriverError> {
        Bus::read_words(&mut self.device, n).map_err(|e| protocol(e, self.describe()))
    }
    fn wait_done(&mut self, during: &str) -> Result<(), DriverError> {
        Bus::wait_done(&mut self.device, during).map_err(|e| protocol(e, self.describe()))
    }
}

impl Transport for GoldenTransport {
    fn describe(&self) -> String {
        format!("golden model of {}", self.golden.derived().config.name)
    }
    fn native_model(&self) -> Option<&Golden> {
        Some(&self.golden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Accelerator;
    use spikeq_hdl::{ArrayConfig, Layer, OutputMode};

    #[test]
    fn a_bitstream_of_protocol_v2_is_refused_with_the_version_named() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/tiny.toml")).unwrap();
        let d = ArrayConfig::from_toml(&text).unwrap().validate().unwrap();
        let mut old = GoldenTransport::new(&d);
        old.device = old.device.with_version(0x0002_0000);
        let e = Accelerator::open(old, &d).unwrap_err().to_string();
        assert!(e.contains("VERSION reads 0x00020000, expected 0x00030000"), "{e}");
        assert!(e.contains("regenerate/flash the bitstream"), "{e}");
    }

    #[test]
    fn native_path_equals_register_path() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/tiny.toml")).unwrap();
        let d = ArrayConfig::from_toml(&text).unwrap().validate().unwrap();
        // 19 tokens: chunks of 4 (and 3) through the code buffer of tiny, 3 row tiles each
        let (m, k, n) = (11usize, 37usize, 19usize);
        let w: Vec<i8> = (0..m * k).map(|i| ((i * 7 + 3) % 15) as i8 - 7).collect();
        let codes: Vec<i8> = (0..n * k).map(|i| [0i8, 3, -7, 1, 90, -2, 0, 5, -120][i % 9]).collect();
        let th: Vec<u64> = (0..m).map(|r| 1 + (r as u64 * 97) % 3000).collect();
        for (mode, th) in [(OutputMode::Raw, None), (OutputMode::Fire, Some(&th[..]))] {
            let layer = Layer { m, k, weights: &w, thresholds: th, mode, codes: &codes };
            let mut native = Accelerator::open(GoldenTransport::new(&d), &d).unwrap();
            let mut regs = Accelerator::open(GoldenTransport::new(&d), &d).unwrap();
            regs.force_register_path();
            let a = native.run_layer(&layer).unwrap();
            let b = regs.run_layer(&layer).unwrap();
            assert_eq!(a, b, "{mode:?}");
            assert!(a.flags.salient_overflow, "9 tokens' worth of salient codes exceed max_salient = 4");
        }
    }
}
