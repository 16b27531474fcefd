//! The fuzz targets: one per parser of untrusted input, each with the properties it checks.

mod config;
mod gguf;
mod precision;
mod stream;
mod tokenizer;

use rand::rngs::StdRng;
use rand::Rng;

pub use config::ConfigTarget;
pub use gguf::GgufTarget;
pub use precision::PrecisionTarget;
pub use stream::StreamTarget;
pub use tokenizer::TokenizerTarget;

/// Target names, in the order `--target all` runs them.
pub const NAMES: [&str; 5] = ["gguf", "tokenizer", "config", "precision", "stream"];

/// Structure-aware TOML mutation shared by the config and precision targets: parse the input as
/// a table (nested one level, as both files are), then set one key of `keys` (or a stray one) to
/// one of `values` or to an interesting integer or float, or drop a key; serialize it back.
fn mutate_toml(input: &[u8], keys: &[&str], values: &[toml::Value], rng: &mut StdRng) -> Option<Vec<u8>> {
    let mut table: toml::Table = std::str::from_utf8(input).ok()?.parse().ok()?;
    // Inside a sub-table (precision's [kinds], [blocks], [layers]) or at the top.
    let sub_names: Vec<String> = table.iter().filter(|(_, v)| v.is_table()).map(|(k, _)| k.clone()).collect();
    let target = match rng.gen_bool(0.3).then(|| sub_names.get(rng.gen_range(0..sub_names.len().max(1)))).flatten() {
        Some(name) => table.get_mut(name)?.as_table_mut()?,
        None => &mut table,
    };
    let key = if rng.gen_bool(0.9) { keys[rng.gen_range(0..keys.len())].to_string() } else { "stray".into() };
    match rng.gen_range(0..5) {
        0 => {
            target.remove(&key);
        }
        1 => {
            let v = crate::mutate::interesting(rng) as i64;
            target.insert(key, toml::Value::Integer(v));
        }
        2 => {
            let f = [f64::NAN, f64::INFINITY, -f64::INFINITY, -0.0, 1e300, 5e-324, 0.5, 1e6][rng.gen_range(0..8)];
            target.insert(key, toml::Value::Float(f));
        }
        _ => {
            target.insert(key, values[rng.gen_range(0..values.len())].clone());
        }
    }
    toml::to_string(&table).ok().map(String::into_bytes)
}

/// A TOML string value.
fn s(text: &str) -> toml::Value {
    toml::Value::String(text.into())
}

/// The target called `name`; `model` is the GGUF whose tokenizer the tokenizer target uses.
pub fn build(name: &str, model: &std::path::Path) -> anyhow::Result<Box<dyn crate::Target>> {
    Ok(match name {
        "gguf" => Box::new(GgufTarget),
        "tokenizer" => Box::new(TokenizerTarget::load(model)?),
        "config" => Box::new(ConfigTarget),
        "precision" => Box::new(PrecisionTarget),
        "stream" => Box::new(StreamTarget::default()),
        other => anyhow::bail!("unknown target {other:?}: use one of {} or all", NAMES.join(", ")),
    })
}
