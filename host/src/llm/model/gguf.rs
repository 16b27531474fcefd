//! GGUF (versions 2 and 3) reader: the header, metadata and tensor infos are parsed eagerly,
//! tensor data stays in the memory-mapped file until a tensor is dequantized.
//!
//! Every size in the file is untrusted: counts and lengths are checked against what the remaining
//! bytes could hold (and against fixed limits) *before* anything is allocated, and every tensor's
//! byte range is checked against the data section, so a malformed file yields a [`ModelError`]
//! instead of a panic or a huge allocation.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use rayon::prelude::*;

use super::ggml::{self, GgmlType};
use super::ModelError;

/// "GGUF" read as a little-endian u32.
const MAGIC: u32 = 0x4655_4747;
/// Alignment of the tensor data section when `general.alignment` is absent (GGUF spec).
const DEFAULT_ALIGNMENT: u64 = 32;
/// Limits on counts that the remaining-bytes check alone would allow to be large.
const MAX_TENSORS: u64 = 1 << 20;
const MAX_KV: u64 = 1 << 20;
const MAX_STRING: u64 = 64 << 20;
const MAX_ARRAY: u64 = 1 << 28;
/// Nested arrays are legal GGUF but never used by real files; the limit bounds recursion.
const MAX_ARRAY_DEPTH: u32 = 4;
/// ggml tensors have at most four dimensions.
const MAX_DIMS: u32 = 4;
/// No tensor has more elements than this (2^40 f32 would be 4 TiB).
const MAX_ELEMENTS: u64 = 1 << 40;

/// A metadata value. Arrays keep their values; the GGUF element type is implied by them.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<MetaValue>),
}

impl MetaValue {
    /// The value as an unsigned integer, whatever integer type the writer chose.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v.into()),
            Self::U16(v) => Some(v.into()),
            Self::U32(v) => Some(v.into()),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float (f32 or f64 in the file).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::F32(v) => Some(v.into()),
            Self::F64(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Short description for error messages (never the whole of a long array).
    fn describe(&self) -> String {
        match self {
            Self::String(s) if s.len() > 40 => format!("string of {} bytes", s.len()),
            Self::Array(a) => format!("array of {}", a.len()),
            other => format!("{other}"),
        }
    }
}

impl fmt::Display for MetaValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::U8(v) => write!(f, "u8 {v}"),
            Self::I8(v) => write!(f, "i8 {v}"),
            Self::U16(v) => write!(f, "u16 {v}"),
            Self::I16(v) => write!(f, "i16 {v}"),
            Self::U32(v) => write!(f, "u32 {v}"),
            Self::I32(v) => write!(f, "i32 {v}"),
            Self::U64(v) => write!(f, "u64 {v}"),
            Self::I64(v) => write!(f, "i64 {v}"),
            Self::F32(v) => write!(f, "f32 {v}"),
            Self::F64(v) => write!(f, "f64 {v}"),
            Self::Bool(v) => write!(f, "bool {v}"),
            Self::String(s) => write!(f, "string {s:?}"),
            Self::Array(a) => write!(f, "array of {}", a.len()),
        }
    }
}

/// One tensor's description; `offset` is relative to the start of the data section.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the row length (the contiguous dimension).
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    pub offset: u64,
    pub n_bytes: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// The file's bytes: mapped from disk, or owned (for data built in memory).
enum Storage {
    Mmap(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Mmap(m) => m,
            Self::Owned(v) => v,
        }
    }
}

/// A parsed GGUF file.
pub struct Gguf {
    storage: Storage,
    version: u32,
    metadata: BTreeMap<String, MetaValue>,
    tensors: BTreeMap<String, TensorInfo>,
    data_start: u64,
}

impl fmt::Debug for Gguf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gguf")
            .field("version", &self.version)
            .field("metadata_keys", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("data_start", &self.data_start)
            .finish()
    }
}

impl Gguf {
    /// Maps `path` and parses its header, metadata and tensor infos.
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let io = |source| ModelError::Io { path: path.to_owned(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the map is read-only and private to this process; the model files are not
        // modified while spikeq runs (a concurrent writer could only change values, not lengths
        // that were already checked, and never memory safety of the slice bounds we check).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::parse(Storage::Mmap(map))
    }

    /// Parses a GGUF image held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ModelError> {
        Self::parse(Storage::Owned(bytes))
    }

    fn parse(storage: Storage) -> Result<Self, ModelError> {
        let mut r = Reader { buf: storage.bytes(), pos: 0 };
        let magic = r.u32("magic")?;
        if magic != MAGIC {
            return Err(ModelError::BadMagic { got: magic });
        }
        let version = r.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(ModelError::UnsupportedVersion { got: version });
        }
        // A tensor info takes at least 8 (name len) + 4 (n_dims) + 8 (one dim) + 4 (type) + 8 (offset)
        // bytes, a key/value at least 8 + 4 + 1.
        let n_tensors = r.count("tensor count", MAX_TENSORS, 32)?;
        let n_kv = r.count("metadata count", MAX_KV, 13)?;

        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = r.string("metadata key")?;
            let ty = r.u32("metadata value type")?;
            let value = r.value(&shown(&key), ty, 0)?;
            metadata.insert(key, value);
        }

        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(MetaValue::U32(a)) if a.is_power_of_two() => u64::from(*a),
            Some(other) => {
                return Err(ModelError::BadKey {
                    key: "general.alignment".into(),
                    expected: "u32 power of two".into(),
                    got: other.describe(),
                })
            }
        };

        let mut infos = Vec::with_capacity(n_tensors as usize);
        for _ in 0..n_tensors {
            infos.push(r.tensor_info(alignment)?);
        }
        let len = r.buf.len() as u64;
        let data_start = (r.pos as u64).div_ceil(alignment) * alignment;
        let data_len = len.saturating_sub(data_start);

        let mut tensors = BTreeMap::new();
        for t in infos {
            let end = t.offset.checked_add(t.n_bytes).filter(|&e| e <= data_len);
            if end.is_none() {
                return Err(ModelError::BadTensor {
                    tensor: shown(&t.name),
                    reason: format!(
                        "data [{}, +{}) runs past the data section of {data_len} bytes",
                        t.offset, t.n_bytes
                    ),
                });
            }
            if tensors.contains_key(&t.name) {
                return Err(ModelError::BadTensor { tensor: shown(&t.name), reason: "duplicate name".into() });
            }
            tensors.insert(t.name.clone(), t);
        }
        Ok(Self { storage, version, metadata, tensors, data_start })
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn metadata(&self) -> &BTreeMap<String, MetaValue> {
        &self.metadata
    }

    pub fn tensors(&self) -> impl Iterator<Item = &TensorInfo> {
        self.tensors.values()
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.get(name)
    }

    fn key(&self, key: &str) -> Result<&MetaValue, ModelError> {
        self.metadata.get(key).ok_or_else(|| ModelError::MissingKey { key: key.into() })
    }

    fn bad_key(key: &str, expected: &str, got: &MetaValue) -> ModelError {
        ModelError::BadKey { key: key.into(), expected: expected.into(), got: got.describe() }
    }

    /// A required non-negative integer key (any integer width).
    pub fn usize_key(&self, key: &str) -> Result<usize, ModelError> {
        let v = self.key(key)?;
        v.as_u64().and_then(|x| usize::try_from(x).ok()).ok_or_else(|| Self::bad_key(key, "unsigned integer", v))
    }

    /// A required float key (f32 or f64).
    pub fn f64_key(&self, key: &str) -> Result<f64, ModelError> {
        let v = self.key(key)?;
        v.as_f64().ok_or_else(|| Self::bad_key(key, "float", v))
    }

    pub fn str_key(&self, key: &str) -> Result<&str, ModelError> {
        let v = self.key(key)?;
        v.as_str().ok_or_else(|| Self::bad_key(key, "string", v))
    }

    pub fn array_key(&self, key: &str) -> Result<&[MetaValue], ModelError> {
        let v = self.key(key)?;
        v.as_array().ok_or_else(|| Self::bad_key(key, "array", v))
    }

    /// The raw bytes of a tensor (range checked at parse time).
    pub fn tensor_bytes(&self, t: &TensorInfo) -> &[u8] {
        let start = (self.data_start + t.offset) as usize;
        &self.storage.bytes()[start..start + t.n_bytes as usize]
    }

    /// Dequantizes a tensor to f32, in ggml order (rows of `dims[0]` elements).
    pub fn dequantize(&self, name: &str) -> Result<(Vec<u64>, Vec<f32>), ModelError> {
        let t = self.tensor(name).ok_or_else(|| ModelError::MissingTensor { name: name.into() })?;
        let bytes = self.tensor_bytes(t);
        let mut out = vec![0f32; t.n_elements() as usize];
        // Chunks of whole blocks, large enough to amortize the parallel split.
        let blocks_per_chunk = 4096;
        let chunk_elems = blocks_per_chunk * t.ty.block_len();
        let chunk_bytes = blocks_per_chunk * t.ty.block_bytes();
        out.par_chunks_mut(chunk_elems).zip(bytes.par_chunks(chunk_bytes)).for_each(|(o, b)| t.ty.dequantize(b, o));
        Ok((t.dims.clone(), out))
    }
}

/// A key or tensor name as error messages show it: whole when it is short, else its start and its
/// length (a garbage file's "name" can be megabytes long, and an error line must stay readable).
fn shown(name: &str) -> String {
    const SHOWN: usize = 64;
    match name.char_indices().nth(SHOWN) {
        None => name.to_owned(),
        Some((end, _)) => format!("{}… ({} bytes)", &name[..end], name.len()),
    }
}

/// A bounds-checked little-endian cursor over the file.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], ModelError> {
        let remaining = (self.buf.len() - self.pos) as u64;
        if n > remaining {
            return Err(ModelError::Truncated {
                what: what.into(),
                offset: self.pos as u64,
                need: n,
                len: self.buf.len() as u64,
            });
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ModelError> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, ModelError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count of items that each need at least `min_item_bytes`: rejected when above `limit` or
    /// when the rest of the file could not hold that many, so callers may allocate for it.
    fn count(&mut self, what: &str, limit: u64, min_item_bytes: u64) -> Result<u64, ModelError> {
        let n = self.u64(what)?;
        if n > limit {
            return Err(ModelError::TooLarge { what: what.into(), got: n, limit });
        }
        let remaining = (self.buf.len() - self.pos) as u64;
        if n.saturating_mul(min_item_bytes) > remaining {
            return Err(ModelError::Truncated {
                what: format!("{n} items of {what}"),
                offset: self.pos as u64,
                need: n.saturating_mul(min_item_bytes),
                len: self.buf.len() as u64,
            });
        }
        Ok(n)
    }

    fn string(&mut self, what: &str) -> Result<String, ModelError> {
        let len = self.u64(what)?;
        if len > MAX_STRING {
            return Err(ModelError::TooLarge { what: format!("{what} length"), got: len, limit: MAX_STRING });
        }
        let offset = self.pos as u64;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| ModelError::BadString { offset })
    }

    fn value(&mut self, key: &str, ty: u32, depth: u32) -> Result<MetaValue, ModelError> {
        let what = format!("value of {key:?}");
        Ok(match ty {
            0 => MetaValue::U8(self.array::<1>(&what)?[0]),
            1 => MetaValue::I8(self.array::<1>(&what)?[0] as i8),
            2 => MetaValue::U16(u16::from_le_bytes(self.array(&what)?)),
            3 => MetaValue::I16(i16::from_le_bytes(self.array(&what)?)),
            4 => MetaValue::U32(u32::from_le_bytes(self.array(&what)?)),
            5 => MetaValue::I32(i32::from_le_bytes(self.array(&what)?)),
            6 => MetaValue::F32(f32::from_le_bytes(self.array(&what)?)),
            7 => match self.array::<1>(&what)?[0] {
                0 => MetaValue::Bool(false),
                1 => MetaValue::Bool(true),
                b => {
                    return Err(ModelError::BadKey {
                        key: key.into(),
                        expected: "bool 0 or 1".into(),
                        got: b.to_string(),
                    })
                }
            },
            8 => MetaValue::String(self.string(&what)?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(ModelError::TooLarge {
                        what: format!("array nesting of {key:?}"),
                        got: u64::from(depth + 1),
                        limit: u64::from(MAX_ARRAY_DEPTH),
                    });
                }
                let elem_ty = self.u32(&what)?;
                let min_bytes = match elem_ty {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10 | 11 | 12 => 8,
                    9 => 12,
                    got => return Err(ModelError::UnknownValueType { key: key.into(), got }),
                };
                let n = self.count(&format!("array {key:?}"), MAX_ARRAY, min_bytes)?;
                // The count is bounded by the remaining bytes; grow rather than trust it fully.
                let mut items = Vec::with_capacity(n.min(1 << 16) as usize);
                for _ in 0..n {
                    items.push(self.value(key, elem_ty, depth + 1)?);
                }
                MetaValue::Array(items)
            }
            10 => MetaValue::U64(u64::from_le_bytes(self.array(&what)?)),
            11 => MetaValue::I64(i64::from_le_bytes(self.array(&what)?)),
            12 => MetaValue::F64(f64::from_le_bytes(self.array(&what)?)),
            got => return Err(ModelError::UnknownValueType { key: key.into(), got }),
        })
    }

    fn tensor_info(&mut self, alignment: u64) -> Result<TensorInfo, ModelError> {
        let name = self.string("tensor name")?;
        let bad = |reason: String| ModelError::BadTensor { tensor: shown(&name), reason };
        let n_dims = self.u32("tensor dimension count")?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(bad(format!("{n_dims} dimensions (1 to {MAX_DIMS} allowed)")));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        let mut n_elements: u64 = 1;
        for _ in 0..n_dims {
            let d = self.u64("tensor dimension")?;
            n_elements = n_elements
                .checked_mul(d)
                .filter(|&n| n <= MAX_ELEMENTS)
                .ok_or_else(|| bad(format!("shape {dims:?} x {d} has more than {MAX_ELEMENTS} elements")))?;
            dims.push(d);
        }
        if n_elements == 0 {
            return Err(bad(format!("empty shape {dims:?}")));
        }
        let ty_id = self.u32("tensor type")?;
        let ty = GgmlType::from_id(ty_id).ok_or_else(|| ModelError::UnsupportedTensorType {
            tensor: shown(&name),
            ty: match ggml::type_name(ty_id) {
                Some(known) => format!("type {known} (ggml id {ty_id})"),
                None => format!("unknown ggml type id {ty_id}"),
            },
            readable: ggml::readable_names(),
        })?;
        let block_len = ty.block_len() as u64;
        if dims[0] % block_len != 0 {
            return Err(bad(format!("row length {} is not a multiple of the block length {}", dims[0], block_len)));
        }
        let offset = self.u64("tensor offset")?;
        if offset % alignment != 0 {
            return Err(bad(format!("offset {offset} is not a multiple of the alignment {alignment}")));
        }
        let n_bytes = n_elements / block_len * ty.block_bytes() as u64;
        Ok(TensorInfo { name, dims, ty, offset, n_bytes })
    }
}
