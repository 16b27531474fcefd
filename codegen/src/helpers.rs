//! Tera functions of the RTL templates. They write Verilog that resizes or assembles values by
//! name (`zext(x="c_mag", from="CODE_MAG_BITS", to="LANE_CODE_BITS")`) and pick the form from
//! the widths' values, so that no replication is ever zero wide (a Verilator warning).

use std::collections::HashMap;
use std::sync::Arc;

use spikeq_hdl::regmap;
use spikeq_hdl::WeightFormat;
use tera::{Tera, Value};

use crate::constants::Constants;

/// A width as a template passes it: an integer or a constant expression (`ACC_BITS-1`).
struct Width {
    text: String,
    value: u64,
    literal: bool,
}

impl Width {
    fn arg(args: &HashMap<String, Value>, key: &str, k: &Constants) -> tera::Result<Self> {
        match args.get(key) {
            Some(Value::Number(n)) => {
                let value = n.as_u64().ok_or_else(|| tera::Error::msg(format!("{key} = {n} is not a width")))?;
                Ok(Width { text: value.to_string(), value, literal: true })
            }
            Some(Value::String(s)) => {
                let value = k.eval(s).map_err(tera::Error::msg)?;
                Ok(Width { text: s.clone(), value, literal: false })
            }
            _ => Err(tera::Error::msg(format!("missing width argument {key}"))),
        }
    }

    /// The width minus one, for the top index of a range.
    fn msb(&self) -> String {
        if self.literal {
            (self.value - 1).to_string()
        } else if self.text.contains(['+', '-', '*']) {
            format!("({})-1", self.text)
        } else {
            format!("{}-1", self.text)
        }
    }

    /// `self - from`, for a replication count.
    fn minus(&self, from: &Width) -> String {
        if self.literal && from.literal {
            (self.value - from.value).to_string()
        } else if from.text.contains(['+', '-', '*']) {
            format!("({}-({}))", self.text, from.text)
        } else {
            format!("({}-{})", self.text, from.text)
        }
    }
}

fn arg_str<'a>(args: &'a HashMap<String, Value>, key: &str) -> tera::Result<&'a str> {
    args.get(key).and_then(Value::as_str).ok_or_else(|| tera::Error::msg(format!("missing argument {key}")))
}

/// Verilog for `x` (`from` bits) resized to `to` bits: truncated, or extended with zeros or with
/// its sign bit (`x` must then be an identifier or a select).
fn resize(x: &str, from: &Width, to: &Width, signed: bool) -> String {
    use std::cmp::Ordering::*;
    match to.value.cmp(&from.value) {
        Equal => x.to_string(),
        Less => format!("{x}[{}:0]", to.msb()),
        Greater if signed => format!("{{ {{{}{{{x}[{}]}}}}, {x} }}", to.minus(from), from.msb()),
        Greater => format!("{{ {{{}{{1'b0}}}}, {x} }}", to.minus(from)),
    }
}

/// A register word (or its low `to` bits) from one signal per field of the register map, in the
/// map's layout: `pack(reg="STATUS", busy="busy", phase="phase")` is `{24'd0, phase, 3'd0, busy}`.
fn pack(args: &HashMap<String, Value>, k: &Constants) -> tera::Result<String> {
    let name = arg_str(args, "reg")?;
    let reg = regmap::register(name).ok_or_else(|| tera::Error::msg(format!("no register {name}")))?;
    let top = if args.contains_key("to") { Width::arg(args, "to", k)?.value as u32 } else { 32 };
    for key in args.keys().filter(|a| *a != "reg" && *a != "to") {
        if reg.field(key).is_none() {
            return Err(tera::Error::msg(format!("{name} has no field {key}")));
        }
    }
    let mut fields: Vec<_> = reg.fields.iter().collect();
    fields.sort_by_key(|f| std::cmp::Reverse(f.lsb));
    let (mut parts, mut bit) = (Vec::new(), top);
    for f in fields {
        let signal = arg_str(args, f.name)?;
        if f.lsb + f.width > bit {
            return Err(tera::Error::msg(format!("{name}.{} does not fit {top} bits", f.name)));
        }
        if f.lsb + f.width < bit {
            parts.push(format!("{}'d0", bit - f.lsb - f.width));
        }
        parts.push(signal.to_string());
        bit = f.lsb;
    }
    if bit > 0 {
        parts.push(format!("{bit}'d0"));
    }
    Ok(format!("{{{}}}", parts.join(", ")))
}

/// A balanced adder tree: wire declarations that sum the `count` slices of `width` bits of the packed
/// vector `vec` into the wire `name`, pairwise level by level, so the sum is ceil(log2 count) adders
/// deep instead of a chain of `count - 1` (a `for` loop of `+=` synthesises as the chain).
pub(crate) fn adder_tree(name: &str, vec: &str, count: u64, width: &str) -> String {
    let mut out = String::new();
    let mut level: Vec<String> = (0..count).map(|i| format!("{vec}[{i}*{width} +: {width}]")).collect();
    let mut depth = 0;
    while level.len() > 1 {
        depth += 1;
        let next: Vec<String> = level
            .chunks(2)
            .enumerate()
            .map(|(i, pair)| {
                let wire = format!("{name}_{depth}_{i}");
                let sum = pair.join(" + ");
                out.push_str(&format!("    wire [{width}-1:0] {wire} = {sum};\n"));
                wire
            })
            .collect();
        level = next;
    }
    let root = level.pop().unwrap_or_else(|| "0".into());
    out.push_str(&format!("    wire [{width}-1:0] {name} = {root};"));
    out
}

/// Registers `zext`, `sext`, `decode`, `value`, `pack` and `adder_tree` for one configuration.
pub(crate) fn register(t: &mut Tera, k: Arc<Constants>, format: WeightFormat) {
    for signed in [false, true] {
        let k = Arc::clone(&k);
        t.register_function(if signed { "sext" } else { "zext" }, move |args: &HashMap<String, Value>| {
            let (from, to) = (Width::arg(args, "from", &k)?, Width::arg(args, "to", &k)?);
            Ok(Value::String(resize(arg_str(args, "x")?, &from, &to, signed)))
        });
    }
    // `decode(x, to)`: a stored weight (WEIGHT_BITS) as a `to`-bit two's-complement number
    let kd = Arc::clone(&k);
    t.register_function("decode", move |args: &HashMap<String, Value>| {
        let (x, to) = (arg_str(args, "x")?, Width::arg(args, "to", &kd)?);
        Ok(Value::String(match format {
            // stored 1 = +1, 0 = -1: to-1 copies of ~x, then a 1
            WeightFormat::Binary => format!("{{ {{{}{{~{x}}}}}, 1'b1 }}", to.minus(&Width::one())),
            _ => resize(x, &Width::named("WEIGHT_BITS", &kd)?, &to, true),
        }))
    });
    // `value(of)`: the number a constant expression stands for, to initialise a sized localparam
    // (`LANES-1` in Verilog would be as wide as LANES, wider than a lane index)
    let kv = Arc::clone(&k);
    t.register_function("value", move |args: &HashMap<String, Value>| {
        Ok(Value::from(kv.eval(arg_str(args, "of")?).map_err(tera::Error::msg)?))
    });
    let kp = Arc::clone(&k);
    t.register_function("pack", move |args: &HashMap<String, Value>| Ok(Value::String(pack(args, &kp)?)));
    // `adder_tree(name, vec, count, width)`: see [`adder_tree`]; `count` a number or constant expression
    t.register_function("adder_tree", move |args: &HashMap<String, Value>| {
        let count = match args.get("count") {
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| tera::Error::msg("adder_tree: count"))?,
            _ => k.eval(arg_str(args, "count")?).map_err(tera::Error::msg)?,
        };
        Ok(Value::String(adder_tree(arg_str(args, "name")?, arg_str(args, "vec")?, count, arg_str(args, "width")?)))
    });
}

impl Width {
    fn one() -> Self {
        Width { text: "1".into(), value: 1, literal: true }
    }

    fn named(name: &str, k: &Constants) -> tera::Result<Self> {
        let value = k.value(name).ok_or_else(|| tera::Error::msg(format!("unknown constant {name}")))?;
        Ok(Width { text: name.into(), value, literal: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str, value: u64) -> Width {
        Width { text: text.into(), value, literal: text.parse::<u64>().is_ok() }
    }

    #[test]
    fn resize_picks_the_form_from_the_values() {
        assert_eq!(resize("x", &w("A", 4), &w("B", 4), false), "x");
        assert_eq!(resize("x", &w("A", 6), &w("B", 4), false), "x[B-1:0]");
        assert_eq!(resize("x", &w("A", 4), &w("64", 64), false), "{ {(64-A){1'b0}}, x }");
        assert_eq!(resize("x", &w("A-1", 4), &w("B", 6), true), "{ {(B-(A-1)){x[(A-1)-1]}}, x }");
    }

    #[test]
    fn adder_tree_is_balanced() {
        let t = adder_tree("s", "v", 5, "W");
        assert_eq!(
            t,
            "    wire [W-1:0] s_1_0 = v[0*W +: W] + v[1*W +: W];\n    wire [W-1:0] s_1_1 = v[2*W +: W] + v[3*W +: W];\n    \
             wire [W-1:0] s_1_2 = v[4*W +: W];\n    wire [W-1:0] s_2_0 = s_1_0 + s_1_1;\n    wire [W-1:0] s_2_1 = s_1_2;\n    \
             wire [W-1:0] s_3_0 = s_2_0 + s_2_1;\n    wire [W-1:0] s = s_3_0;"
        );
        assert_eq!(adder_tree("s", "v", 1, "W"), "    wire [W-1:0] s = v[0*W +: W];");
    }

    #[test]
    fn pack_follows_the_register_map() {
        let d = spikeq_hdl::Derived::from_toml(include_str!("../../configs/tiny.toml")).unwrap();
        let k = Constants::new(&d).unwrap();
        let args = |kv: &[(&str, &str)]| -> HashMap<String, Value> {
            kv.iter().map(|(a, b)| (a.to_string(), Value::String(b.to_string()))).collect()
        };
        let status = pack(&args(&[("reg", "STATUS"), ("busy", "busy"), ("phase", "phase")]), &k).unwrap();
        assert_eq!(status, "{24'd0, phase, 3'd0, busy}");
        let ctrl = [("reg", "CTRL"), ("ap_start", "s"), ("ap_done", "d"), ("ap_idle", "i"), ("ap_ready", "r")];
        assert_eq!(pack(&args(&ctrl), &k).unwrap(), "{28'd0, r, i, d, s}");
        let isr = [("reg", "ISR"), ("to", "ISR_BITS"), ("done", "a"), ("ready", "b")];
        assert_eq!(pack(&args(&isr), &k).unwrap(), "{b, a}");
        assert!(pack(&args(&[("reg", "STATUS"), ("busy", "busy")]), &k).is_err(), "a field is missing");
        assert!(pack(&args(&[("reg", "GIE"), ("enable", "g"), ("nope", "x")]), &k).is_err(), "no such field");
    }
}
