//! The named constants of the generated Verilog, and their declaration at the top of a module.
//!
//! Templates write names, never numbers: every integer field of [`Derived`] and of its
//! configuration is a constant of the same name in capitals (`frac_bits` is `FRAC_BITS`,
//! `k_index_bits` is `K_INDEX_BITS`), so is the stream's `CODES_PER_WORD`, and the register map
//! adds its own ([`verilog_consts`]:
//! `ADDR_LAYER_K`, `ERR_STREAM`, ...). After rendering, [`Constants::declare`] declares exactly the
//! names a module uses (Verilator `-Wall` rejects unused ones): those its port list needs as
//! parameters in the module header (Verilog-2005 has no forward references), the rest as
//! `localparam`s right after the port list.

use std::collections::{BTreeMap, BTreeSet};

use spikeq_hdl::config::CODES_PER_WORD;
use spikeq_hdl::regmap::verilog_consts;
use spikeq_hdl::Derived;

use crate::CodegenError;

/// One named constant.
#[derive(Debug, Clone)]
struct Constant {
    value: u64,
    /// Declared width (`localparam [7:0] ADDR_ID = 8'h10`), or none: an untyped integer that
    /// Verilog sizes from its context.
    width: Option<u32>,
}

/// Every name a template may use, with its value for one configuration.
#[derive(Debug, Clone)]
pub(crate) struct Constants {
    by_name: BTreeMap<String, Constant>,
}

/// Integer fields of a serialized struct (nested objects flattened, other values skipped).
fn integer_fields(value: &serde_json::Value, out: &mut Vec<(String, u64)>) {
    if let Some(map) = value.as_object() {
        for (k, v) in map {
            match v {
                serde_json::Value::Object(_) => integer_fields(v, out),
                _ => {
                    if let Some(n) = v.as_u64() {
                        out.push((k.to_uppercase(), n));
                    }
                }
            }
        }
    }
}

impl Constants {
    /// The constants of configuration `d`. Two sources giving one name is a generator bug.
    pub fn new(d: &Derived) -> Result<Self, CodegenError> {
        let json = serde_json::to_value(d).map_err(|e| CodegenError::Template(format!("Derived: {e}")))?;
        let mut fields = vec![("CODES_PER_WORD".to_string(), CODES_PER_WORD as u64)];
        integer_fields(&json, &mut fields);
        let all = fields
            .into_iter()
            .map(|(name, value)| (name, Constant { value, width: None }))
            .chain(verilog_consts(d).into_iter().map(|c| (c.name, Constant { value: c.value.into(), width: c.width })));
        let mut by_name = BTreeMap::new();
        for (name, c) in all {
            if by_name.insert(name.clone(), c).is_some() {
                return Err(CodegenError::Template(format!("two constants are called {name}")));
            }
        }
        Ok(Constants { by_name })
    }

    /// Value of a name.
    pub fn value(&self, name: &str) -> Option<u64> {
        self.by_name.get(name).map(|c| c.value)
    }

    /// Value of a width expression as templates write them: a name or an integer, or two of them
    /// joined by one `+`, `-` or `*` (`ACC_BITS-1`, `ROWS*8`).
    pub fn eval(&self, expr: &str) -> Result<u64, String> {
        let term = |t: &str| {
            let t = t.trim();
            t.parse::<u64>().ok().or_else(|| self.value(t)).ok_or_else(|| format!("unknown constant {t:?}"))
        };
        match expr.find(['+', '-', '*']) {
            None => term(expr),
            Some(i) => {
                let (a, b) = (term(&expr[..i])?, term(&expr[i + 1..])?);
                match &expr[i..=i] {
                    "+" => Ok(a + b),
                    "*" => Ok(a * b),
                    _ => a.checked_sub(b).ok_or_else(|| format!("{expr} is negative")),
                }
            }
        }
    }

    /// The declaration of one name, in the header (`parameter`) or the body (`localparam`).
    fn declaration(&self, name: &str, header: bool) -> Result<String, CodegenError> {
        let c = &self.by_name[name];
        match c.width {
            Some(w) if header => Err(CodegenError::Template(format!("{name} ({w} bits) in a port list"))),
            Some(w) => Ok(format!(
                "localparam [{}:0] {name} = {w}'h{:0width$X};",
                w - 1,
                c.value,
                width = w.div_ceil(4) as usize
            )),
            None if c.value > i32::MAX as u64 => {
                Err(CodegenError::Template(format!("{name} = {} does not fit an untyped constant", c.value)))
            }
            None if header => Ok(format!("parameter {name} = {}", c.value)),
            None => Ok(format!("localparam {name} = {};", c.value)),
        }
    }

    /// Declares the constants a rendered module uses: parameters in the header for names in its
    /// port list, `localparam`s after the port list for the others, each group in name order.
    pub fn declare(&self, text: &str) -> Result<String, CodegenError> {
        let lines: Vec<&str> = text.lines().collect();
        let start = lines
            .iter()
            .position(|l| l.starts_with("module "))
            .ok_or_else(|| CodegenError::Template("no module line".into()))?;
        // a module without ports (`module tb;`) has no port list
        let end = if lines[start].trim_end().ends_with(';') {
            start
        } else {
            start
                + lines[start..]
                    .iter()
                    .position(|l| l.trim() == ");")
                    .ok_or_else(|| CodegenError::Template("no end of the port list".into()))?
        };
        let header: BTreeSet<&str> = self.used(&lines[start..=end]);
        let body: BTreeSet<&str> = self.used(&lines[end + 1..]).difference(&header).copied().collect();

        let mut out = String::with_capacity(text.len() + 64 * (header.len() + body.len()));
        for l in &lines[..start] {
            out.push_str(l);
            out.push('\n');
        }
        if header.is_empty() {
            out.push_str(lines[start]);
            out.push('\n');
        } else {
            let open = lines[start]
                .trim_end()
                .strip_suffix('(')
                .ok_or_else(|| CodegenError::Template(format!("module line {:?} does not end in '('", lines[start])))?;
            out.push_str(&format!("{open}#(\n"));
            let params = header.iter().map(|n| self.declaration(n, true)).collect::<Result<Vec<_>, _>>()?;
            out.push_str(&format!("    {}\n) (\n", params.join(",\n    ")));
        }
        for l in &lines[start + 1..=end] {
            out.push_str(l);
            out.push('\n');
        }
        if !body.is_empty() {
            out.push_str("    // named constants of this configuration (docs/codegen.md)\n");
            for n in &body {
                out.push_str(&format!("    {}\n", self.declaration(n, false)?));
            }
            out.push('\n');
        }
        for l in &lines[end + 1..] {
            out.push_str(l);
            out.push('\n');
        }
        Ok(out)
    }

    /// Names of constants that occur in Verilog lines outside comments and strings.
    fn used<'a>(&'a self, lines: &[&str]) -> BTreeSet<&'a str> {
        let mut used = BTreeSet::new();
        for line in lines {
            let code = line.split("//").next().unwrap_or("");
            let outside_strings = code.split('"').step_by(2);
            for part in outside_strings {
                for word in part.split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')) {
                    if let Some((name, _)) = self.by_name.get_key_value(word) {
                        used.insert(name.as_str());
                    }
                }
            }
        }
        used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Derived {
        let text = include_str!("../../configs/tiny.toml");
        Derived::from_toml(text).unwrap()
    }

    #[test]
    fn names_are_the_fields_in_capitals() {
        let d = tiny();
        let c = Constants::new(&d).unwrap();
        assert_eq!(c.value("FRAC_BITS"), Some(d.config.frac_bits as u64));
        assert_eq!(c.value("K_INDEX_BITS"), Some(d.k_index_bits as u64));
        assert_eq!(c.value("ADDR_LAYER_K"), Some(0x24));
        assert_eq!(c.eval("ACC_BITS-1"), Ok(d.acc_bits as u64 - 1));
        assert_eq!(c.eval("ROWS*8"), Ok(32));
        assert!(c.eval("NO_SUCH").is_err());
    }

    #[test]
    fn declares_what_the_module_uses() {
        let c = Constants::new(&tiny()).unwrap();
        let text = [
            "// LANES in a comment",
            "module m (",
            "    input wire [ACC_BITS-1:0] v",
            ");",
            "    wire [LANES-1:0] x = \"ROWS\";",
            "    assign y = ADDR_ID;",
            "endmodule",
        ]
        .join("\n");
        let out = c.declare(&text).unwrap();
        assert!(out.contains("module m #(\n    parameter ACC_BITS = "), "{out}");
        let body = ");\n    // named constants of this configuration (docs/codegen.md)\n";
        assert!(
            out.contains(&format!("{body}    localparam [7:0] ADDR_ID = 8'h10;\n    localparam LANES = 4;\n\n")),
            "{out}"
        );
        assert!(!out.contains("localparam ROWS") && !out.contains("localparam ACC_BITS"), "{out}");
    }
}
