//! The Verilator builder: one call takes generated RTL to a loaded, simulatable model.
//!
//! generate (the caller) → verilate (`--cc`, `--prefix` from the design, `-O3`) → compile the model,
//! the shim and the Verilator runtime with the `cc` crate → link a shared library → load it.
//!
//! **Everything is cached by content**: the key hashes every RTL file, the top name, the Verilator
//! flags, the shim, the compiler command and the Verilator version, so a second build of the same
//! design loads the library and compiles nothing ([`Model::cache_hit`] says so). The Verilator
//! runtime (`verilated.cpp`, the FST writer, …) is compiled once per Verilator version and flag set
//! into a shared folder and linked into every model. A file lock guards each cache entry, so
//! parallel tests and processes build a design once and never see a half-written library.

use std::ffi::CString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use spikeq_hdl::digest::CacheKey;

use crate::error::TbError;
use crate::shim::{self, ShimFn};

/// Bumped when the build recipe changes in a way the key does not see.
const RECIPE: &str = "spikeq-tb builder v1";

/// Flags given to every `verilator --cc` run (the prefix, top, trace and folders come on top).
/// SYMRSVDWORD is off because the contract's `interrupt` port is a C++ word: Verilator renames the
/// member (the shim reads the new name from the header) and would otherwise stop.
const VERILATOR_FLAGS: &[&str] =
    &["--cc", "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert", "-Wno-SYMRSVDWORD"];

/// One RTL source file, in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtlFile {
    /// File name (no directories), e.g. `spikeq_top_1234abcd.v`.
    pub name: String,
    /// Verilog text.
    pub text: String,
}

/// The design to build: its files and its top module.
#[derive(Debug, Clone)]
pub struct Rtl {
    /// Source files (one module per file).
    pub files: Vec<RtlFile>,
    /// Name of the top module; it carries the configuration hash (`spikeq_top_<hash8>`).
    pub top: String,
}

/// Where Verilator lives and what version it is.
#[derive(Debug, Clone)]
pub struct Verilator {
    /// The `verilator` executable.
    pub bin: PathBuf,
    /// Its root (the runtime sources are in `<root>/include`).
    pub root: PathBuf,
    /// `verilator --version`, e.g. `Verilator 5.006 2023-01-22 rev (Debian 5.006-3)`.
    pub version: String,
}

impl Verilator {
    /// Finds Verilator: `$VERILATOR` (the executable), else `$VERILATOR_ROOT/bin/verilator`, else
    /// `verilator` on `PATH`; so a newer Verilator can be chosen without touching Debian's.
    pub fn find() -> Result<Self, TbError> {
        let root_env = std::env::var_os("VERILATOR_ROOT").filter(|v| !v.is_empty());
        let bin = match (std::env::var_os("VERILATOR").filter(|v| !v.is_empty()), &root_env) {
            (Some(b), _) => PathBuf::from(b),
            (None, Some(root)) => Path::new(root).join("bin").join("verilator"),
            (None, None) => PathBuf::from("verilator"),
        };
        let tried = format!("{}", bin.display());
        let out = Command::new(&bin)
            .arg("--version")
            .output()
            .map_err(|_| TbError::VerilatorMissing { tried: tried.clone() })?;
        if !out.status.success() {
            return Err(TbError::VerilatorMissing { tried });
        }
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let root = match root_env {
            Some(r) => PathBuf::from(r),
            None => {
                let out = Command::new(&bin)
                    .args(["--getenv", "VERILATOR_ROOT"])
                    .output()
                    .map_err(|_| TbError::VerilatorMissing { tried: tried.clone() })?;
                PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
            }
        };
        if !root.join("include").join("verilated.cpp").is_file() {
            return Err(TbError::VerilatorMissing {
                tried: format!("{tried}: no include/verilated.cpp under {}", root.display()),
            });
        }
        Ok(Verilator { bin, root, version })
    }

    fn include(&self) -> PathBuf {
        self.root.join("include")
    }
}

/// How to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// Build with `--trace-fst` so [`crate::Sim::trace_open`] can write a waveform. Tracing slows
    /// the model down even when no file is open, so the suites build without and rebuild with it
    /// only to record a failing run.
    pub trace: bool,
    /// C++ optimisation level of the model and runtime. `-O1` (the default) builds the default
    /// array about twice as fast as `-O3` and simulates it about 10 % slower; the suites build
    /// several small arrays and run each for under a second, so build time wins (docs/benchmarks.md).
    pub opt_level: u32,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions { trace: false, opt_level: 1 }
    }
}

/// The Verilator builder: finds the tools once, then builds (or loads from the cache) designs.
#[derive(Debug, Clone)]
pub struct Builder {
    verilator: Verilator,
    cache: PathBuf,
    target: String,
}

impl Builder {
    /// A builder with Verilator from the environment and the default cache folder.
    pub fn new() -> Result<Self, TbError> {
        Self::with_cache(default_cache_dir())
    }

    /// A builder that caches in `cache`.
    pub fn with_cache(cache: impl Into<PathBuf>) -> Result<Self, TbError> {
        let verilator = Verilator::find()?;
        let target = format!("{}-unknown-{}-gnu", std::env::consts::ARCH, std::env::consts::OS);
        Ok(Builder { verilator, cache: cache.into(), target })
    }

    /// The Verilator in use.
    pub fn verilator(&self) -> &Verilator {
        &self.verilator
    }

    /// The cache folder.
    pub fn cache_dir(&self) -> &Path {
        &self.cache
    }

    /// Builds (or loads from the cache) a design and returns the loaded model.
    pub fn build(&self, rtl: &Rtl, opts: BuildOptions) -> Result<Arc<Model>, TbError> {
        check_rtl(rtl)?;
        let prefix = format!("V{}", rtl.top);
        // The key sees the shim as written for the plain port names; the real one (renamed members)
        // follows from the RTL, which the key also sees.
        let shim_key = shim::source(&prefix, opts.trace, &shim::port_names());
        let compiler = self.cc(opts.opt_level).try_get_compiler().map_err(|e| TbError::Compile(e.to_string()))?;
        let vflags = self.verilator_args(rtl, &prefix, opts);

        let mut key = CacheKey::new(RECIPE)
            .part("verilator", &self.verilator.version)
            .part("root", self.verilator.root.as_os_str().as_encoded_bytes())
            .part("compiler", tool_identity(&compiler))
            .part("flags", vflags.join(" "))
            .part("shim", &shim_key);
        let mut files: Vec<&RtlFile> = rtl.files.iter().collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        for f in files {
            key = key.part("file", &f.name).part("text", &f.text);
        }
        let key = key.hex()[..20].to_string();

        let models = self.cache.join("models");
        fs::create_dir_all(&models).map_err(TbError::io("create", &models))?;
        let dir = models.join(&key);
        let lib = dir.join(format!("lib{prefix}.so"));
        let _lock = lock(&models.join(format!("{key}.lock")))?;
        let cache_hit = lib.is_file();
        if !cache_hit {
            self.build_into(rtl, &prefix, &vflags, opts, &dir, &lib)?;
        }
        Model::load(&lib, &prefix, opts.trace, cache_hit)
    }

    fn verilator_args(&self, rtl: &Rtl, prefix: &str, opts: BuildOptions) -> Vec<String> {
        let mut a: Vec<String> = VERILATOR_FLAGS.iter().map(|s| s.to_string()).collect();
        a.extend(["--prefix".into(), prefix.into(), "--top-module".into(), rtl.top.clone()]);
        if opts.trace {
            a.push("--trace-fst".into());
        }
        a
    }

    /// A `cc` build set up for run time (no Cargo environment): explicit target, host, level,
    /// no Cargo metadata or warnings on stdout.
    fn cc(&self, opt_level: u32) -> cc::Build {
        let mut b = cc::Build::new();
        b.cpp(true)
            .target(&self.target)
            .host(&self.target)
            .opt_level(opt_level)
            .debug(false)
            .pic(true)
            .warnings(false)
            .cargo_metadata(false)
            .cargo_warnings(false)
            .cargo_output(false)
            .include(self.verilator.include())
            .include(self.verilator.include().join("vltstd"))
            // Verilator's own CFG_CXXFLAGS_NO_UNUSED, and hidden symbols so two models in one
            // process keep their own runtime.
            .flag("-faligned-new")
            .flag("-fvisibility=hidden")
            .flag("-Wno-unused-parameter")
            .flag("-Wno-unused-variable")
            .flag("-Wno-sign-compare");
        b
    }

    fn build_into(
        &self,
        rtl: &Rtl,
        prefix: &str,
        vflags: &[String],
        opts: BuildOptions,
        dir: &Path,
        lib: &Path,
    ) -> Result<(), TbError> {
        if dir.exists() {
            // A build that died half-way: start over.
            fs::remove_dir_all(dir).map_err(TbError::io("remove", dir))?;
        }
        let src = dir.join("rtl");
        let mdir = dir.join("obj");
        fs::create_dir_all(&src).map_err(TbError::io("create", &src))?;
        let mut vfiles = Vec::new();
        for f in &rtl.files {
            let p = src.join(&f.name);
            fs::write(&p, &f.text).map_err(TbError::io("write", &p))?;
            vfiles.push(p);
        }
        let mut cmd = Command::new(&self.verilator.bin);
        cmd.args(vflags).arg("--Mdir").arg(&mdir).args(&vfiles);
        run(cmd, "verilator", dir)?;

        let mk = mdir.join(format!("{prefix}_classes.mk"));
        let classes = ClassesMk::read(&mk)?;
        let header_path = mdir.join(format!("{prefix}.h"));
        let header = fs::read_to_string(&header_path).map_err(TbError::io("read", &header_path))?;
        let members = shim::port_members(&header).map_err(|port| TbError::Invalid {
            what: "top module ports",
            why: format!(
                "{} has no port {port}; the top must have the fixed spikeq port list (testbenches/src/ports.rs)",
                rtl.top
            ),
        })?;
        let shim_path = mdir.join(format!("{prefix}__spikeq_shim.cpp"));
        fs::write(&shim_path, shim::source(prefix, opts.trace, &members)).map_err(TbError::io("write", &shim_path))?;

        let runtime = self.runtime_objects(&classes, opts.opt_level)?;
        let mut sources: Vec<PathBuf> = classes.model_files().map(|n| mdir.join(format!("{n}.cpp"))).collect();
        sources.push(shim_path);
        let mut build = self.cc(opts.opt_level);
        build.include(&mdir);
        classes.define(&mut build);
        let objs = compile_parallel(&build, &sources, &dir.join("o"))?;

        let tmp = lib.with_extension("so.tmp");
        let compiler = build.try_get_compiler().map_err(|e| TbError::Compile(e.to_string()))?;
        let mut link = compiler.to_command();
        link.arg("-shared").arg("-Wl,-Bsymbolic").arg("-o").arg(&tmp).args(&objs).args(&runtime);
        link.args(["-lz", "-lpthread", "-latomic"]);
        run(link, "linking the model", dir)?;
        fs::rename(&tmp, lib).map_err(TbError::io("rename", lib))?;
        Ok(())
    }

    /// Objects of the Verilator runtime the model needs, compiled once per Verilator version,
    /// compiler and define set into `<cache>/runtime/<key>/<name>.o` and shared by every model.
    fn runtime_objects(&self, classes: &ClassesMk, opt_level: u32) -> Result<Vec<PathBuf>, TbError> {
        let mut build = self.cc(opt_level);
        classes.define(&mut build);
        let compiler = build.try_get_compiler().map_err(|e| TbError::Compile(e.to_string()))?;
        let key = CacheKey::new(RECIPE)
            .part("verilator", &self.verilator.version)
            .part("root", self.verilator.root.as_os_str().as_encoded_bytes())
            .part("compiler", tool_identity(&compiler))
            .hex()[..20]
            .to_string();
        let base = self.cache.join("runtime");
        fs::create_dir_all(&base).map_err(TbError::io("create", &base))?;
        let dir = base.join(&key);
        let _lock = lock(&base.join(format!("{key}.lock")))?;
        fs::create_dir_all(&dir).map_err(TbError::io("create", &dir))?;
        let want: Vec<&String> = classes.global.iter().collect();
        let missing: Vec<PathBuf> = want
            .iter()
            .filter(|n| !dir.join(format!("{n}.o")).is_file())
            .map(|n| self.verilator.include().join(format!("{n}.cpp")))
            .collect();
        if !missing.is_empty() {
            let tmp = dir.join("tmp");
            let objs = compile_parallel(&build, &missing, &tmp)?;
            for (src, obj) in missing.iter().zip(objs) {
                let stem = src.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                let dst = dir.join(format!("{stem}.o"));
                fs::rename(&obj, &dst).map_err(TbError::io("rename", &dst))?;
            }
            let _ = fs::remove_dir_all(&tmp);
        }
        Ok(want.iter().map(|n| dir.join(format!("{n}.o"))).collect())
    }
}

/// Refuses RTL that cannot be written to a folder safely or has no top.
fn check_rtl(rtl: &Rtl) -> Result<(), TbError> {
    if rtl.files.is_empty() {
        return Err(TbError::Invalid { what: "RTL", why: "no files".into() });
    }
    if rtl.top.is_empty() || !rtl.top.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(TbError::Invalid {
            what: "top module name",
            why: format!("{:?} is not a Verilog identifier", rtl.top),
        });
    }
    for f in &rtl.files {
        let ok = !f.name.is_empty()
            && f.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            && !f.name.starts_with('.')
            && (f.name.ends_with(".v")
                || f.name.ends_with(".sv")
                || f.name.ends_with(".vh")
                || f.name.ends_with(".svh"));
        if !ok {
            return Err(TbError::Invalid {
                what: "RTL file name",
                why: format!("{:?} (want a plain name ending in .v/.sv/.vh/.svh)", f.name),
            });
        }
    }
    Ok(())
}

/// Compiles `sources` into `out` with one `cc` build per core (the runtime and big models have
/// several files; `cc` alone would compile them one after the other).
fn compile_parallel(build: &cc::Build, sources: &[PathBuf], out: &Path) -> Result<Vec<PathBuf>, TbError> {
    let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(sources.len()).max(1);
    // Biggest files first, dealt round-robin, so the threads finish together.
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(fs::metadata(&sources[i]).map(|m| m.len()).unwrap_or(0)));
    let mut chunks: Vec<Vec<usize>> = vec![Vec::new(); jobs];
    for (n, i) in order.into_iter().enumerate() {
        chunks[n % jobs].push(i);
    }
    let results: Vec<Result<Vec<(usize, PathBuf)>, TbError>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .enumerate()
            .map(|(j, idx)| {
                let mut b = build.clone();
                let dir = out.join(format!("j{j}"));
                s.spawn(move || {
                    fs::create_dir_all(&dir).map_err(TbError::io("create", &dir))?;
                    b.out_dir(&dir);
                    for &i in idx {
                        b.file(&sources[i]);
                    }
                    let objs = b.try_compile_intermediates().map_err(|e| TbError::Compile(e.to_string()))?;
                    Ok(idx.iter().copied().zip(objs).collect())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(TbError::Compile("a compile thread panicked".into()))))
            .collect()
    });
    let mut objs = vec![PathBuf::new(); sources.len()];
    for r in results {
        for (i, o) in r? {
            objs[i] = o;
        }
    }
    Ok(objs)
}

/// What `V<prefix>_classes.mk` says: which generated files to compile, which runtime files to
/// link and the defines they need. Read, never guessed, so another Verilator version works.
#[derive(Debug, Clone, Default)]
struct ClassesMk {
    classes: Vec<String>,
    support: Vec<String>,
    global: Vec<String>,
    defines: Vec<(String, String)>,
}

impl ClassesMk {
    fn read(path: &Path) -> Result<Self, TbError> {
        let text = fs::read_to_string(path).map_err(TbError::io("read", path))?;
        Self::parse(&text).map_err(|why| TbError::ClassesMk { path: path.to_path_buf(), why })
    }

    fn parse(text: &str) -> Result<Self, String> {
        let mut mk = ClassesMk::default();
        // Join continuation lines, then read `VAR = value` and `VAR += words`.
        let joined = text.replace("\\\n", " ");
        for line in joined.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let Some((var, value)) = line.split_once('=') else { continue };
            let var = var.trim_end_matches('+').trim();
            let words = value.split_whitespace().map(str::to_string);
            match var {
                "VM_CLASSES_FAST" | "VM_CLASSES_SLOW" => mk.classes.extend(words),
                "VM_SUPPORT_FAST" | "VM_SUPPORT_SLOW" => mk.support.extend(words),
                "VM_GLOBAL_FAST" | "VM_GLOBAL_SLOW" => mk.global.extend(words),
                "VM_COVERAGE" | "VM_TRACE" | "VM_TRACE_FST" | "VM_TRACE_VCD" | "VM_TIMING" => {
                    mk.defines.push((var.to_string(), value.trim().to_string()))
                }
                _ => {}
            }
        }
        if mk.classes.is_empty() {
            return Err("no VM_CLASSES_FAST/SLOW entries".into());
        }
        if mk.global.is_empty() {
            return Err("no VM_GLOBAL_FAST/SLOW entries (the runtime files)".into());
        }
        mk.global.sort();
        mk.global.dedup();
        Ok(mk)
    }

    /// The generated files of the model (classes and support), without the runtime.
    fn model_files(&self) -> impl Iterator<Item = &String> {
        self.classes.iter().chain(&self.support)
    }

    /// The `-D` flags verilated.mk would pass (VM_SC is always 0: no SystemC here).
    fn define(&self, b: &mut cc::Build) {
        b.define("VM_SC", "0");
        for (k, v) in &self.defines {
            if k == "VM_TIMING" {
                if v != "0" {
                    b.flag("-fcoroutines");
                }
            } else {
                b.define(k, v.as_str());
            }
        }
    }
}

/// The compiler as a string: path and arguments (they include `CXXFLAGS` from the environment).
fn tool_identity(t: &cc::Tool) -> String {
    let mut s = t.path().display().to_string();
    for a in t.args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// An exclusive lock held until the returned file is dropped.
fn lock(path: &Path) -> Result<File, TbError> {
    let f =
        File::options().create(true).truncate(false).write(true).open(path).map_err(TbError::io("open lock", path))?;
    f.lock().map_err(TbError::io("lock", path))?;
    Ok(f)
}

/// Runs a tool, keeping its output in `<dir>/<tool>.log` and the end of it in the error.
fn run(mut cmd: Command, tool: &str, dir: &Path) -> Result<(), TbError> {
    let out = cmd.output().map_err(|e| TbError::Tool {
        tool: tool.into(),
        status: "could not start".into(),
        log: e.to_string(),
    })?;
    let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
    log.push_str(&String::from_utf8_lossy(&out.stderr));
    let name = tool.replace(' ', "_");
    let _ = fs::write(dir.join(format!("{name}.log")), &log);
    if out.status.success() {
        return Ok(());
    }
    let tail: String = {
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    };
    Err(TbError::Tool { tool: tool.into(), status: out.status.to_string(), log: tail })
}

/// The cache folder: `$SPIKEQ_CACHE_DIR`, else `<repo>/.cache/verilator` for the spikeq checkout
/// that holds the working directory (or this crate), else `$HOME/.cache/spikeq/verilator`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SPIKEQ_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let from_cwd = std::env::current_dir().ok().and_then(|d| repo_root(&d));
    let from_crate = repo_root(Path::new(env!("CARGO_MANIFEST_DIR")));
    if let Some(root) = from_cwd.or(from_crate) {
        return root.join(".cache").join("verilator");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("spikeq").join("verilator")
}

/// The root of the spikeq checkout that holds `start`: the nearest ancestor with
/// `scripts/setup.sh` (the script that fetches the assets into `.cache/`). The one rule for
/// "where is the repository" (the host's default asset paths use it too).
pub fn repo_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find(|d| d.join("scripts/setup.sh").is_file()).map(Path::to_path_buf)
}

/// Plain function pointers of a loaded shim; valid while the [`Model`]'s library is loaded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShimFns {
    pub new: unsafe extern "C" fn() -> *mut std::ffi::c_void,
    pub free: unsafe extern "C" fn(*mut std::ffi::c_void),
    pub eval: unsafe extern "C" fn(*mut std::ffi::c_void),
    pub tick: unsafe extern "C" fn(*mut std::ffi::c_void, u64),
    pub reset: unsafe extern "C" fn(*mut std::ffi::c_void, u32),
    pub set: unsafe extern "C" fn(*mut std::ffi::c_void, u32, u32) -> i32,
    pub get: unsafe extern "C" fn(*mut std::ffi::c_void, u32) -> u32,
    pub trace_open: unsafe extern "C" fn(*mut std::ffi::c_void, *const std::ffi::c_char) -> i32,
    pub trace_close: unsafe extern "C" fn(*mut std::ffi::c_void),
}

/// A loaded model library; [`crate::Sim::new`] makes instances of it.
#[derive(Debug)]
pub struct Model {
    pub(crate) fns: ShimFns,
    prefix: String,
    path: PathBuf,
    traced: bool,
    cache_hit: bool,
    // Last field: dropped after everything that points into it.
    _lib: libloading::Library,
}

impl Model {
    fn load(path: &Path, prefix: &str, traced: bool, cache_hit: bool) -> Result<Arc<Model>, TbError> {
        let bad = |why: String| TbError::Load { path: path.to_path_buf(), why };
        // SAFETY: the library is one this builder linked from Verilator's output and our shim; its
        // initialisers are Verilator's static constructors, which have no preconditions.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| bad(e.to_string()))?;
        fn get<T: Copy>(lib: &libloading::Library, name: &str) -> Result<T, String> {
            let c = CString::new(name).map_err(|e| e.to_string())?;
            // SAFETY: `T` is the exact signature the shim generator (shim.rs) writes for `name`.
            unsafe { lib.get::<T>(c.as_bytes_with_nul()).map(|s| *s).map_err(|e| e.to_string()) }
        }
        let s = |f| shim::symbol(prefix, f);
        let fns = ShimFns {
            new: get(&lib, &s(ShimFn::New)).map_err(bad)?,
            free: get(&lib, &s(ShimFn::Free)).map_err(bad)?,
            eval: get(&lib, &s(ShimFn::Eval)).map_err(bad)?,
            tick: get(&lib, &s(ShimFn::Tick)).map_err(bad)?,
            reset: get(&lib, &s(ShimFn::Reset)).map_err(bad)?,
            set: get(&lib, &s(ShimFn::Set)).map_err(bad)?,
            get: get(&lib, &s(ShimFn::Get)).map_err(bad)?,
            trace_open: get(&lib, &s(ShimFn::TraceOpen)).map_err(bad)?,
            trace_close: get(&lib, &s(ShimFn::TraceClose)).map_err(bad)?,
        };
        Ok(Arc::new(Model { fns, prefix: prefix.to_string(), path: path.to_path_buf(), traced, cache_hit, _lib: lib }))
    }

    /// Whether this build was loaded from the cache without compiling anything.
    pub fn cache_hit(&self) -> bool {
        self.cache_hit
    }

    /// Whether the model was built with FST tracing.
    pub fn traced(&self) -> bool {
        self.traced
    }

    /// The Verilator `--prefix` of the model.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The shared library.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_mk_is_read_not_guessed() {
        let text = "VM_TRACE = 1\nVM_TRACE_FST = 1\nVM_TIMING = 0\nVM_CLASSES_FAST += \\\n\tVx \\\n\tVx___024root__DepSet_h1__0 \\\n\nVM_CLASSES_SLOW += \\\n\tVx___024root__Slow \\\n\nVM_SUPPORT_FAST += \\\n\tVx__Trace__0 \\\n\nVM_SUPPORT_SLOW += \\\n\tVx__Syms \\\n\nVM_GLOBAL_FAST += \\\n\tverilated \\\n\tverilated_threads \\\n\nVM_GLOBAL_SLOW += \\\n\n";
        let mk = ClassesMk::parse(text).unwrap();
        let files: Vec<_> = mk.model_files().cloned().collect();
        assert_eq!(files, ["Vx", "Vx___024root__DepSet_h1__0", "Vx___024root__Slow", "Vx__Trace__0", "Vx__Syms"]);
        assert_eq!(mk.global, ["verilated", "verilated_threads"]);
        assert!(mk.defines.contains(&("VM_TRACE".into(), "1".into())));
        assert!(ClassesMk::parse("VM_TRACE = 0\n").is_err());
    }

    #[test]
    fn bad_rtl_is_refused() {
        let f = |name: &str| RtlFile { name: name.into(), text: "module x; endmodule".into() };
        assert!(check_rtl(&Rtl { files: vec![], top: "x".into() }).is_err());
        assert!(check_rtl(&Rtl { files: vec![f("../x.v")], top: "x".into() }).is_err());
        assert!(check_rtl(&Rtl { files: vec![f("x.v")], top: "x y".into() }).is_err());
        assert!(check_rtl(&Rtl { files: vec![f("x.v")], top: "x".into() }).is_ok());
    }
}
