//! The `spikeq` command line.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    keep_freed_memory();
    match on_the_pool(cli::run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cli::report(&e));
            ExitCode::FAILURE
        }
    }
}

/// Runs `command` on a worker of rayon's pool instead of the main thread. Called from outside
/// the pool, every parallel loop hands its work to the pool's threads and sleeps until they are
/// done, and the serial code between two loops runs on a third thread while the workers spin
/// down: on two cores each hand-over costs a wake-up and a reschedule, thousands per window of
/// the quantized forward. On a worker, a parallel loop starts on the thread that reached it and
/// the other worker steals its share. The stack is the main thread's 8 MiB, not a worker's 2.
fn on_the_pool<R: Send>(command: impl FnOnce() -> R + Send) -> R {
    // Fails only when the pool exists already (it does not before `main` uses it): then it is
    // the default one, which serves as well.
    let _ = rayon::ThreadPoolBuilder::new().stack_size(8 << 20).build_global();
    rayon::scope(|_| command())
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
