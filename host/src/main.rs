//! The `spikeq` command line.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    keep_freed_memory();
    match cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli::report(&e));
            ExitCode::FAILURE
        }
    }
}

/// Lets glibc's allocator keep what the forward frees: every layer call allocates and frees
/// buffers of a few MB (activations, codes, outputs), which glibc by default maps fresh and
/// returns to the kernel each time, so the next call pays a page fault and a cleared page per
/// 4 KiB (13 % of the quantized evaluation's time in `perf`). The largest threshold glibc takes
/// (32 MiB on 64-bit) and no trimming keep them in the heap for reuse.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
