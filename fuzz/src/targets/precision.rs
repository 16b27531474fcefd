//! Precision files: TOML text → `Precision::from_toml`. An accepted file must print back to text
//! that parses to an equal value, and its per-layer table must give every layer the setting the
//! file's precedence rules give it (layer over block over kind over default).

use rand::rngs::StdRng;
use spikeq_host::llm::precision::Precision;

use super::{mutate_toml, s};
use crate::Target;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct PrecisionTarget;

/// SmolLM2-135M's block count: the files name blocks of it.
const BLOCKS: usize = 30;

const KEYS: [&str; 16] = [
    "selector",
    "default",
    "kinds",
    "blocks",
    "layers",
    "q",
    "down",
    "0",
    "29",
    "30",
    "0.q",
    "29.down",
    "12.up",
    "007",
    "1.x",
    "18446744073709551616",
];

impl Target for PrecisionTarget {
    fn name(&self) -> &'static str {
        "precision"
    }

    fn max_len(&self) -> usize {
        8192
    }

    fn run(&self, input: &[u8]) -> bool {
        let text = String::from_utf8_lossy(input);
        let Ok(p) = Precision::from_toml(&text) else { return false };
        let printed = p.to_toml();
        let back =
            Precision::from_toml(&printed).unwrap_or_else(|e| panic!("printed file does not parse: {e}\n{printed}"));
        assert_eq!(back, p, "printed file parses to another value:\n{printed}");
        let widest = p.widest();
        for spec in p.settings() {
            assert!(spec.acts <= widest.acts && spec.salient <= widest.salient, "{spec} wider than {widest}");
            let _ = spec.memory_bytes(49152, 1536);
        }
        if p.check_blocks(BLOCKS).is_ok() {
            let table = p.assignment(BLOCKS);
            for id in table.ids() {
                assert_eq!(table.get(id), p.spec(id), "{id:?}");
            }
        }
        true
    }

    fn structured(&self, input: &[u8], rng: &mut StdRng) -> Option<Vec<u8>> {
        let values = [
            s("mad:6"),
            s("mad:nan"),
            s("mad:inf"),
            s("mad:-1"),
            s("topk:0.01"),
            s("topk:2"),
            s("topk:"),
            s("none"),
            s("w4a8"),
            s("w8a8"),
            s("wta4s8"),
            s("wba2s3"),
            s("w2a2"),
            s("w9a8"),
            s("w4a8s8"),
            s("w4a4s9"),
            s(""),
            toml::Value::Table(toml::Table::new()),
        ];
        mutate_toml(input, &KEYS, &values, rng)
    }
}
