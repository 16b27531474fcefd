//! The builder, the shim and the AXI driver on a hand-written design with the spikeq port list
//! (an AXI4-Lite register file and a FIFO loopback stream), independent of the generator.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use spikeq_tb::{Backpressure, BuildOptions, Builder, Driver, Rtl, RtlFile, Sim, TbError};

fn fixture() -> Rtl {
    let text = include_str!("fixtures/spikeq_top_fixture.v");
    Rtl {
        files: vec![RtlFile { name: "spikeq_top_fixture.v".into(), text: text.into() }],
        top: "spikeq_top_fixture".into(),
    }
}

#[test]
fn second_build_is_a_cache_hit() {
    let b = Builder::new().unwrap();
    let first = b.build(&fixture(), BuildOptions::default()).unwrap();
    let second = b.build(&fixture(), BuildOptions::default()).unwrap();
    assert!(second.cache_hit(), "second build of the same design compiled again (first hit: {})", first.cache_hit());
    assert_eq!(first.path(), second.path());
    // Any change to the RTL is a different key.
    let mut changed = fixture();
    changed.files[0].text.push_str("\n// changed\n");
    let other = b.build(&changed, BuildOptions::default()).unwrap();
    assert_ne!(other.path(), first.path());
}

#[test]
fn registers_read_back_and_time_out_by_name() {
    let b = Builder::new().unwrap();
    let mut drv = Driver::new(Sim::new(b.build(&fixture(), BuildOptions::default()).unwrap()));
    for (i, addr) in (0..0x100).step_by(4).enumerate() {
        drv.write_reg(addr, 0x1234_0000 + i as u32).unwrap();
    }
    for (i, addr) in (0..0x100).step_by(4).enumerate() {
        assert_eq!(drv.read_reg(addr).unwrap(), 0x1234_0000 + i as u32);
    }
    assert!(matches!(drv.write_reg(0x3, 0), Err(TbError::Invalid { .. })));
    // Stop the clock's partner: a read whose RVALID never comes must time out naming the register.
    drv.timeouts.register = 0;
    let e = drv.read_reg(0x24).unwrap_err().to_string();
    assert!(e.contains("LAYER_K"), "{e}");
}

#[test]
fn loopback_stream_under_backpressure_loses_and_duplicates_nothing() {
    let b = Builder::new().unwrap();
    let mut drv = Driver::new(Sim::new(b.build(&fixture(), BuildOptions::default()).unwrap()));
    drv.write_reg(0x1C, 0xA5A5_0000).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    for round in 0..20 {
        if round % 2 == 1 {
            drv.set_backpressure(Some(Backpressure { seed: round, out_stall: 0.6, in_gap: 0.3 }));
        } else {
            drv.set_backpressure(None);
        }
        let words: Vec<u32> = (0..rng.gen_range(1..40)).map(|_| rng.gen()).collect();
        drv.write_stream(&words, true).unwrap();
        let got = drv.read_stream_words(words.len()).unwrap();
        let data: Vec<u32> = got.iter().map(|w| w.data ^ 0xA5A5_0000).collect();
        assert_eq!(data, words, "round {round}");
        assert!(got.iter().enumerate().all(|(i, w)| w.last == (i + 1 == words.len())));
        assert!(got.windows(2).all(|p| p[0].cycle < p[1].cycle));
        drv.idle(10);
        assert_eq!(drv.queued(), 0, "round {round}: extra words");
    }
    drv.timeouts.stream = 50;
    assert!(matches!(drv.read_stream(1), Err(TbError::Timeout { .. })));
}

#[test]
fn traced_build_writes_an_fst() {
    let b = Builder::new().unwrap();
    let model = b.build(&fixture(), BuildOptions { trace: true, ..Default::default() }).unwrap();
    assert!(model.traced());
    let dir = std::env::temp_dir().join(format!("spikeq-tb-fixture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fixture.fst");
    let mut sim = Sim::new(model);
    sim.trace_open(&path).unwrap();
    let mut drv = Driver::new(sim);
    drv.write_reg(0x10, 1).unwrap();
    drv.write_stream(&[1, 2, 3], true).unwrap();
    drv.read_stream(3).unwrap();
    drv.sim_mut().trace_close();
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 100, "FST has {len} bytes");
    // An untraced model refuses to trace instead of writing nothing.
    let plain = b.build(&fixture(), BuildOptions::default()).unwrap();
    assert!(Sim::new(plain).trace_open(&path).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}
