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

/// Where an [`adder_tree`]'s leaves come from.
pub(crate) enum Leaves<'a> {
    /// The slices of `width` bits of this packed vector.
    Slices(&'a str),
    /// One signal per leaf: the pattern with `#` replaced by the leaf's index.
    Each(&'a str),
}

/// A balanced adder tree: Verilog that sums `count` leaves of `width` bits into the wire `name`.
/// The leaves are the slices of a packed vector ([`Leaves::Slices`]) or one signal per leaf
/// ([`Leaves::Each`]: a pattern in which `#` stands for the leaf's index, e.g. `g_term[#].t_q`;
/// separate registers simulate much faster than slices of one wide vector). The nodes are in
/// heap order (leaves at count-1..2*count-2, node i is node 2i+1 plus node 2i+2), so the sum is
/// about log2(count) adders deep instead of the chain of count-1 that a `for` loop of `+=`
/// synthesises as; `count` and `width` stay named constants, so the text does not depend on the
/// array's size.
pub(crate) fn adder_tree(name: &str, leaves: Leaves, count: &str, width: &str) -> String {
    let n = if count.contains(['+', '-', '*']) { format!("({count})") } else { count.to_string() };
    let index = format!("({name}_i-({n}-1))");
    let (what, leaf) = match leaves {
        Leaves::Slices(vec) => (format!("the {count} slices of {vec}"), format!("{vec}[{index}*{width} +: {width}]")),
        Leaves::Each(pattern) => (format!("{count} leaves {pattern}"), pattern.replace('#', &index)),
    };
    format!(
        "    // {name}: balanced adder tree over {what} (heap order, one wire per node)\n\
         \x20   genvar {name}_i;\n\
         \x20   generate\n\
         \x20       for ({name}_i = 0; {name}_i < 2*{n}-1; {name}_i = {name}_i + 1) begin : g_{name}\n\
         \x20           wire [{width}-1:0] s;\n\
         \x20           if ({name}_i >= {n}-1) begin : g_leaf\n\
         \x20               assign s = {leaf};\n\
         \x20           end else begin : g_add\n\
         \x20               assign s = g_{name}[2*{name}_i+1].s + g_{name}[2*{name}_i+2].s;\n\
         \x20           end\n\
         \x20       end\n\
         \x20   endgenerate\n\
         \x20   wire [{width}-1:0] {name} = g_{name}[0].s;"
    )
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
    // `adder_tree(name, vec | leaf, count, width)`: see [`adder_tree`]; `count` a constant expression
    t.register_function("adder_tree", move |args: &HashMap<String, Value>| {
        let count = arg_str(args, "count")?;
        k.eval(count).map_err(tera::Error::msg)?;
        let leaves = match (args.contains_key("vec"), args.contains_key("leaf")) {
            (true, false) => Leaves::Slices(arg_str(args, "vec")?),
            (false, true) => Leaves::Each(arg_str(args, "leaf")?),
            _ => return Err(tera::Error::msg("adder_tree takes exactly one of `vec` and `leaf`")),
        };
        Ok(Value::String(adder_tree(arg_str(args, "name")?, leaves, count, arg_str(args, "width")?)))
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
    fn adder_tree_is_in_heap_order() {
        let t = adder_tree("s", Leaves::Slices("v"), "A+B", "W");
        assert!(t.contains("for (s_i = 0; s_i < 2*(A+B)-1; s_i = s_i + 1) begin : g_s"), "{t}");
        assert!(t.contains("assign s = v[(s_i-((A+B)-1))*W +: W];"), "{t}");
        assert!(t.contains("assign s = g_s[2*s_i+1].s + g_s[2*s_i+2].s;"), "{t}");
        assert!(t.ends_with("wire [W-1:0] s = g_s[0].s;"), "{t}");
    }

    #[test]
    fn adder_tree_takes_one_signal_per_leaf() {
        let t = adder_tree("s", Leaves::Each("g_t[#].q"), "N", "W");
        assert!(t.contains("assign s = g_t[(s_i-(N-1))].q;"), "{t}");
        assert!(t.contains("assign s = g_s[2*s_i+1].s + g_s[2*s_i+2].s;"), "{t}");
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
