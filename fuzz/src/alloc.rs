//! A counting global allocator: the fuzz binary (and its test) install it so that one input that
//! makes the code allocate beyond a stated bound stops the run with its reproducer saved, instead
//! of passing unnoticed (or taking the machine down).
//!
//! Live bytes are counted over all threads (rayon's workers allocate for the input too). While a
//! run is armed, an allocation that would take the live bytes more than the limit above the
//! level at arming writes the current input to the pre-opened reproducer file, prints what
//! happened to stderr and aborts: allocating, unwinding or formatting inside the allocator is
//! not possible, so the message is written from a stack buffer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// The allocator to install with `#[global_allocator]`.
#[derive(Debug)]
pub struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static BASE: AtomicUsize = AtomicUsize::new(0);
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);
static ARMED: AtomicBool = AtomicBool::new(false);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The input being executed (capacity reserved up front, so setting it never allocates) and the
/// file its copy goes to when it breaks the bound.
pub(crate) static CURRENT: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static SINK: OnceLock<(File, String)> = OnceLock::new();

/// Whether the counting allocator is the global allocator of this process (set on its first use).
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Sets where an over-limit input is written and the bound in bytes.
pub(crate) fn configure(sink: File, path: String, limit: usize) {
    // A second run in the same process keeps the first file (the path is printed either way).
    let _ = SINK.set((sink, path));
    LIMIT.store(limit, Ordering::SeqCst);
}

/// Arms the bound for one execution: from now on, the live bytes may grow by at most the limit.
pub(crate) fn arm() {
    let live = LIVE.load(Ordering::SeqCst);
    BASE.store(live, Ordering::SeqCst);
    PEAK.store(live, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
}

/// Disarms and returns the execution's peak above the level at arming.
pub(crate) fn disarm() -> usize {
    ARMED.store(false, Ordering::SeqCst);
    PEAK.load(Ordering::SeqCst).saturating_sub(BASE.load(Ordering::SeqCst))
}

fn charge(n: usize) {
    let live = LIVE.fetch_add(n, Ordering::SeqCst) + n;
    PEAK.fetch_max(live, Ordering::SeqCst);
    if ARMED.load(Ordering::SeqCst) && live.saturating_sub(BASE.load(Ordering::SeqCst)) > LIMIT.load(Ordering::SeqCst) {
        over_limit(n);
    }
}

/// Saves the input, says so, aborts. Nothing here allocates.
#[cold]
fn over_limit(request: usize) -> ! {
    ARMED.store(false, Ordering::SeqCst);
    let mut msg = [0u8; 512];
    let mut w = std::io::Cursor::new(&mut msg[..]);
    let _ = write!(
        w,
        "\nspikeq-fuzz: ALLOCATION over the bound of {} bytes (request of {request} bytes)",
        LIMIT.load(Ordering::SeqCst)
    );
    if let (Some((file, path)), Ok(input)) = (SINK.get(), CURRENT.try_lock()) {
        let mut f = file;
        if f.write_all(&input).is_ok() {
            let _ = write!(w, "; reproducer: {path}");
        }
    }
    let _ = writeln!(w);
    let n = w.position() as usize;
    let _ = std::io::stderr().write_all(&msg[..n]);
    std::process::abort()
}

// SAFETY: every method forwards to the system allocator with the same arguments; the counting
// around it neither allocates nor touches the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        charge(layout.size());
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        charge(layout.size());
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: `ptr` came from this allocator (hence from `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            charge(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::SeqCst);
        }
        // SAFETY: as `dealloc` for `ptr`/`layout`; `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
