//! Errors of the `spikeq-hdl` crate: each variant carries what was wrong and what would work.

use thiserror::Error;

use crate::config::OutputMode;

/// Any error of this crate.
#[derive(Debug, Error)]
pub enum HdlError {
    /// The configuration text is not valid TOML for an [`crate::ArrayConfig`].
    #[error("configuration does not parse: {0}")]
    Parse(String),
    /// The configuration parses but cannot be built.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A layer does not fit the array.
    #[error(transparent)]
    Layer(#[from] LayerError),
}

/// A configuration field that cannot be built, with the value that would work.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// One field is out of its range or too small for the worst case.
    #[error("invalid configuration field `{field}` = {got}: {fix}")]
    Invalid {
        /// Field name as written in the TOML file.
        field: &'static str,
        /// The value found.
        got: String,
        /// What would work instead.
        fix: String,
    },
}

impl ConfigError {
    /// The field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            ConfigError::Invalid { field, .. } => field,
        }
    }
}

/// A layer, tile or call that the array cannot run.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LayerError {
    /// A descriptor field is outside what the array serves.
    #[error("layer descriptor {field} = {got} is outside {limit}")]
    Descriptor {
        /// Descriptor field.
        field: &'static str,
        /// Value given.
        got: usize,
        /// Allowed range.
        limit: String,
    },
    /// The array was not built with this output mode.
    #[error("the array does not support output mode {0:?}; regenerate it with this mode in output_modes")]
    Mode(OutputMode),
    /// A buffer has the wrong length.
    #[error("{what} has {got} elements, expected {expected}")]
    Shape {
        /// Which buffer.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// A weight code outside its format's range.
    #[error("weight code {code} at index {index} is outside the {format} range")]
    WeightRange {
        /// Index in the tile's weights.
        index: usize,
        /// The code.
        code: i8,
        /// The format.
        format: String,
    },
    /// Fire mode without thresholds.
    #[error("fire mode needs one threshold per row")]
    MissingThresholds,
    /// A threshold of 0 or above the largest useful one.
    #[error("threshold of row {row} is {got}; thresholds must be in 1..={max}")]
    Threshold {
        /// Row in the tile.
        row: usize,
        /// The value.
        got: u64,
        /// Largest allowed.
        max: u64,
    },
}
