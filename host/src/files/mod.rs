//! The user's files: reading array configurations, where assets live, which output directories
//! are ours to write, content digests and cache keys. **Nothing the user wrote is overwritten
//! without asking**: every writer goes through `spikeq_codegen::outdir`.

pub mod config_file;
pub mod digest;
pub mod paths;
