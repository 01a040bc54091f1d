//! A bounded GGUF reader and a small writer (no_std + alloc).
//!
//! Why our own reader rather than candle's `gguf_file`: candle allocates every string and array
//! at the length the file claims before reading it, so a single flipped byte in a header can ask
//! for exabytes and abort the process. Here every count and length is checked against the bytes
//! that are actually left before anything is allocated, every tensor's data range is checked to
//! lie inside the file, and every error says where and what. The parsed file borrows the bytes:
//! tensor data is never copied by the reader.
//!
//! Layout (GGUF v2/v3): magic `GGUF`, version u32, tensor count u64, metadata count u64,
//! metadata `(key: str, type: u32, value)`, tensor infos `(name: str, n_dims: u32,
//! dims: [u64; n_dims], type: u32, offset: u64)`, padding to `general.alignment` (default 32),
//! tensor data. All little-endian; a string is a u64 length and UTF-8 bytes.
use crate::error::{Error, Result};
use alloc::{format, string::String, vec::Vec};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml tensors have at most 4 dimensions.
const MAX_DIMS: u32 = 4;
/// Arrays of arrays exist in the spec but no model uses more than one level.
const MAX_ARRAY_DEPTH: u32 = 2;

/// The ggml tensor types we know the size of. Other codes are rejected by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum TensorType {
    /// 32-bit float (code 0).
    F32,
    /// 16-bit float (code 1).
    F16,
    /// 4-bit blocks of 32 with one scale (code 2).
    Q4_0,
    /// 4-bit blocks of 32 with a scale and a minimum (code 3): the shipped model's weights.
    Q4_1,
    /// 5-bit blocks with one scale (code 6).
    Q5_0,
    /// 5-bit blocks with a scale and a minimum (code 7).
    Q5_1,
    /// 8-bit blocks of 32 with one scale (code 8): the shipped model's embedding and output head.
    Q8_0,
    /// 8-bit blocks with a scale and a sum (code 9).
    Q8_1,
    /// 2-bit k-quant super-blocks (code 10).
    Q2K,
    /// 3-bit k-quant super-blocks (code 11).
    Q3K,
    /// 4-bit k-quant super-blocks (code 12).
    Q4K,
    /// 5-bit k-quant super-blocks (code 13).
    Q5K,
    /// 6-bit k-quant super-blocks (code 14).
    Q6K,
    /// 8-bit k-quant super-blocks (code 15).
    Q8K,
    /// bfloat16 (code 30).
    BF16,
}

impl TensorType {
    /// The type of a ggml type code; `None` for codes we do not know the size of.
    pub fn from_code(code: u32) -> Option<Self> {
        use TensorType::*;
        Some(match code {
            0 => F32,
            1 => F16,
            2 => Q4_0,
            3 => Q4_1,
            6 => Q5_0,
            7 => Q5_1,
            8 => Q8_0,
            9 => Q8_1,
            10 => Q2K,
            11 => Q3K,
            12 => Q4K,
            13 => Q5K,
            14 => Q6K,
            15 => Q8K,
            30 => BF16,
            _ => return None,
        })
    }
    /// The ggml type code written in a file.
    pub fn code(self) -> u32 {
        use TensorType::*;
        match self {
            F32 => 0,
            F16 => 1,
            Q4_0 => 2,
            Q4_1 => 3,
            Q5_0 => 6,
            Q5_1 => 7,
            Q8_0 => 8,
            Q8_1 => 9,
            Q2K => 10,
            Q3K => 11,
            Q4K => 12,
            Q5K => 13,
            Q6K => 14,
            Q8K => 15,
            BF16 => 30,
        }
    }
    /// (elements per block, bytes per block)
    pub fn block(self) -> (u64, u64) {
        use TensorType::*;
        match self {
            F32 => (1, 4),
            F16 | BF16 => (1, 2),
            Q4_0 => (32, 18),
            Q4_1 => (32, 20),
            Q5_0 => (32, 22),
            Q5_1 => (32, 24),
            Q8_0 => (32, 34),
            Q8_1 => (32, 36),
            Q2K => (256, 84),
            Q3K => (256, 110),
            Q4K => (256, 144),
            Q5K => (256, 176),
            Q6K => (256, 210),
            Q8K => (256, 292),
        }
    }
}

/// A metadata value, as typed in the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// GGUF type 0.
    U8(u8),
    /// GGUF type 1.
    I8(i8),
    /// GGUF type 2.
    U16(u16),
    /// GGUF type 3.
    I16(i16),
    /// GGUF type 4.
    U32(u32),
    /// GGUF type 5.
    I32(i32),
    /// GGUF type 10.
    U64(u64),
    /// GGUF type 11.
    I64(i64),
    /// GGUF type 6.
    F32(f32),
    /// GGUF type 12.
    F64(f64),
    /// GGUF type 7.
    Bool(bool),
    /// GGUF type 8 (UTF-8).
    String(String),
    /// GGUF type 9: values of one type.
    Array(Vec<Value>),
}

impl Value {
    /// Any unsigned or non-negative integer, widened; `None` for other types.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) if v >= 0 => Some(v as u64),
            Value::I16(v) if v >= 0 => Some(v as u64),
            Value::I32(v) if v >= 0 => Some(v as u64),
            Value::I64(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }
    /// A float (f32, or f64 narrowed); `None` for other types.
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            Value::F32(v) => Some(v),
            Value::F64(v) => Some(v as f32),
            _ => self.as_u64().map(|v| v as f32),
        }
    }
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    /// A short human-readable rendering (arrays abbreviated), for `inspect`.
    pub fn summary(&self) -> String {
        match self {
            Value::String(s) if s.len() > 80 => {
                format!("{:?}… ({} bytes)", &s[..s.floor_char_boundary_compat(80)], s.len())
            }
            Value::String(s) => format!("{s:?}"),
            Value::Array(a) if a.len() > 4 => format!("[{}, {}, … {} items]", a[0].summary(), a[1].summary(), a.len()),
            Value::Array(a) => format!("[{}]", a.iter().map(Value::summary).collect::<Vec<_>>().join(", ")),
            Value::Bool(b) => format!("{b}"),
            Value::F32(v) => format!("{v}"),
            Value::F64(v) => format!("{v}"),
            other => format!(
                "{}",
                other.as_u64().map(|v| v as i128).unwrap_or_else(|| match other {
                    Value::I8(v) => *v as i128,
                    Value::I16(v) => *v as i128,
                    Value::I32(v) => *v as i128,
                    Value::I64(v) => *v as i128,
                    _ => 0,
                })
            ),
        }
    }
}

trait FloorCharBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}
impl FloorCharBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

/// Where one tensor sits in the file and how it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// ggml order: `dims[0]` is the contiguous (row-length) dimension.
    pub dims: Vec<u64>,
    /// Storage type of the data.
    pub ttype: TensorType,
    /// Absolute byte range of the tensor's data inside the file.
    pub start: usize,
    /// Length of the data in bytes.
    pub len: usize,
}

impl TensorInfo {
    /// Number of elements (product of the dimensions).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// A parsed GGUF file borrowing its bytes.
#[derive(Debug)]
pub struct Gguf<'a> {
    /// GGUF format version (2 or 3).
    pub version: u32,
    /// Metadata key/value pairs in file order.
    pub metadata: Vec<(String, Value)>,
    /// Tensor directory in file order.
    pub tensors: Vec<TensorInfo>,
    bytes: &'a [u8],
}

impl<'a> Gguf<'a> {
    /// Parses and validates the header, metadata and tensor directory of `bytes` (tensor data is read lazily).
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let mut r = Reader { bytes, pos: 0 };
        let magic = r.take(4, "the magic number")?;
        if magic != MAGIC {
            return Err(r.err_at(0, format!("bad magic {magic:02x?}: not a GGUF file")));
        }
        let version = r.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(r.err_at(4, format!("unsupported GGUF version {version} (expected 2 or 3)")));
        }
        let n_tensors = r.u64("the tensor count")?;
        let n_kv = r.u64("the metadata count")?;
        // Each metadata entry takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor
        // info at least 8 + 4 + 4 + 8. A count larger than the rest of the file allows is a lie.
        r.check_count(n_kv, 13, "metadata entries")?;
        r.check_count(n_tensors, 24, "tensors")?;
        let mut metadata = Vec::new();
        for _ in 0..n_kv {
            let key = r.string("a metadata key")?;
            let vtype = r.u32("a metadata type")?;
            let value = r.value(vtype, 0).map_err(|e| e.context(&key))?;
            metadata.push((key, value));
        }
        let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some((_, v)) => match v.as_u64() {
                Some(a) if a.is_power_of_two() => a,
                _ => return Err(r.err(format!("general.alignment is {v:?}, not a power of two"))),
            },
        };
        let mut infos = Vec::new();
        for _ in 0..n_tensors {
            infos.push(r.tensor_info()?);
        }
        let data_start = r.pos.div_ceil(alignment as usize) * alignment as usize;
        let mut tensors = Vec::with_capacity(infos.len());
        for (name, dims, ttype, offset) in infos {
            tensors.push(tensor_range(bytes.len(), data_start, alignment, name, dims, ttype, offset)?);
        }
        Ok(Gguf { version, metadata, tensors, bytes })
    }

    /// The metadata value under `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    /// The metadata value under `key`, or an error naming the missing key.
    pub fn require(&self, key: &str) -> Result<&Value> {
        self.get(key).ok_or_else(|| Error::MissingMetadata(key.into()))
    }
    /// The integer under `key`, or an error naming the key and what was found.
    pub fn require_u64(&self, key: &str) -> Result<u64> {
        self.require(key)?.as_u64().ok_or_else(|| Error::Invalid(format!("GGUF metadata `{key}` is not an integer")))
    }
    /// The string under `key`, or an error naming the key and what was found.
    pub fn require_str(&self, key: &str) -> Result<&str> {
        self.require(key)?.as_str().ok_or_else(|| Error::Invalid(format!("GGUF metadata `{key}` is not a string")))
    }
    /// The directory entry of tensor `name`, or an error naming it.
    pub fn tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name).ok_or_else(|| Error::MissingTensor(name.into()))
    }
    /// The raw bytes of a tensor's data (already bounds-checked by `parse`).
    pub fn data(&self, t: &TensorInfo) -> &'a [u8] {
        &self.bytes[t.start..t.start + t.len]
    }

    /// Checks that every number stored as a float in a tensor's data is finite: each element of
    /// an F32, F16 or BF16 tensor, and each block's scale (and minimum) in the quantized types,
    /// whose other fields are small integers. A weight built from finite parts is finite, so a
    /// corrupt file is refused here, naming the tensor and the element, instead of turning into
    /// NaN logits later. Reads the data once without allocating.
    pub fn check_finite(&self, t: &TensorInfo) -> Result<()> {
        let (per_block, block_bytes) = t.ttype.block();
        let what = if per_block == 1 { "element" } else { "a scale of block" };
        for (i, block) in self.data(t).chunks_exact(block_bytes as usize).enumerate() {
            for &(at, kind) in t.ttype.float_fields() {
                let v = match kind {
                    Float::F32 => f32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]]),
                    Float::F16 => half::f16::from_le_bytes([block[at], block[at + 1]]).to_f32(),
                    Float::BF16 => half::bf16::from_le_bytes([block[at], block[at + 1]]).to_f32(),
                };
                if !v.is_finite() {
                    return Err(Error::Gguf {
                        offset: (t.start + i * block_bytes as usize + at) as u64,
                        problem: format!("tensor `{}`: {what} {i} is {v}, not a finite number", t.name),
                    });
                }
            }
        }
        Ok(())
    }
}

/// How a float field of a tensor block is stored.
#[derive(Debug, Clone, Copy)]
enum Float {
    F32,
    F16,
    BF16,
}

impl TensorType {
    /// The float fields (byte offset, storage) of one block: the element itself for F32, F16
    /// and BF16; for the quantized types, as ggml lays their blocks out (`ggml-common.h`), the
    /// scale `d` and the minimum `m` / `dmin` (or `s` = `d`·Σq in Q8_1) — everything else in a
    /// block is small integers.
    fn float_fields(self) -> &'static [(usize, Float)] {
        use TensorType::*;
        match self {
            F32 => &[(0, Float::F32)],
            F16 => &[(0, Float::F16)],
            BF16 => &[(0, Float::BF16)],
            Q4_0 | Q5_0 | Q8_0 => &[(0, Float::F16)],
            Q4_1 | Q5_1 | Q8_1 | Q4K | Q5K => &[(0, Float::F16), (2, Float::F16)],
            Q2K => &[(80, Float::F16), (82, Float::F16)],
            Q3K => &[(108, Float::F16)],
            Q6K => &[(208, Float::F16)],
            Q8K => &[(0, Float::F32)],
        }
    }
}

fn tensor_range(
    file_len: usize, data_start: usize, alignment: u64, name: String, dims: Vec<u64>, ttype: TensorType, offset: u64,
) -> Result<TensorInfo> {
    let bad =
        |problem: String| Error::Gguf { offset: data_start as u64, problem: format!("tensor `{name}`: {problem}") };
    if !offset.is_multiple_of(alignment) {
        return Err(bad(format!("data offset {offset} is not aligned to {alignment}")));
    }
    let (block, block_bytes) = ttype.block();
    let n = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad("element count overflows".into()))?;
    if dims.first().is_some_and(|d0| !d0.is_multiple_of(block)) {
        return Err(bad(format!("row length {} is not a multiple of the {ttype:?} block size {block}", dims[0])));
    }
    let len = (n / block).checked_mul(block_bytes).ok_or_else(|| bad("byte size overflows".into()))?;
    let start = (data_start as u64).checked_add(offset).ok_or_else(|| bad("offset overflows".into()))?;
    let end = start.checked_add(len).ok_or_else(|| bad("offset overflows".into()))?;
    if end > file_len as u64 {
        return Err(bad(format!(
            "data ends at byte {end}, past the end of the file ({file_len} bytes): truncated file?"
        )));
    }
    Ok(TensorInfo { name, dims, ttype, start: start as usize, len: len as usize })
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Error {
    fn context(self, key: &str) -> Error {
        match self {
            Error::Gguf { offset, problem } => Error::Gguf { offset, problem: format!("metadata `{key}`: {problem}") },
            e => e,
        }
    }
}

impl<'a> Reader<'a> {
    fn err(&self, problem: String) -> Error {
        self.err_at(self.pos, problem)
    }
    fn err_at(&self, pos: usize, problem: String) -> Error {
        Error::Gguf { offset: pos as u64, problem }
    }
    fn left(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.left() {
            return Err(self.err(format!("file ends while reading {what} ({n} bytes needed, {} left)", self.left())));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        Ok(self.take(N, what)?.try_into().expect("take returned N bytes"))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A claimed count of items of at least `min_size` bytes each must fit in what is left.
    fn check_count(&self, count: u64, min_size: u64, what: &str) -> Result<()> {
        if count.saturating_mul(min_size) > self.left() as u64 {
            return Err(self.err(format!("{count} {what} claimed, but only {} bytes are left", self.left())));
        }
        Ok(())
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let len = self.u64(what)?;
        self.check_count(len, 1, "string bytes")?;
        let at = self.pos;
        let raw = self.take(len as usize, what)?;
        String::from_utf8(raw.to_vec()).map_err(|_| self.err_at(at, format!("{what} is not valid UTF-8")))
    }

    fn value(&mut self, vtype: u32, depth: u32) -> Result<Value> {
        Ok(match vtype {
            0 => Value::U8(self.array::<1>("a u8")?[0]),
            1 => Value::I8(self.array::<1>("an i8")?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array("a u16")?)),
            3 => Value::I16(i16::from_le_bytes(self.array("an i16")?)),
            4 => Value::U32(self.u32("a u32")?),
            5 => Value::I32(i32::from_le_bytes(self.array("an i32")?)),
            6 => Value::F32(f32::from_le_bytes(self.array("an f32")?)),
            7 => match self.array::<1>("a bool")?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(self.err(format!("bool value {b} is neither 0 nor 1"))),
            },
            8 => Value::String(self.string("a string value")?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(self.err("arrays nested too deeply".into()));
                }
                let etype = self.u32("an array element type")?;
                let count = self.u64("an array length")?;
                self.check_count(count, min_value_size(etype), "array elements")?;
                let mut items = Vec::new();
                for _ in 0..count {
                    items.push(self.value(etype, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64("a u64")?),
            11 => Value::I64(i64::from_le_bytes(self.array("an i64")?)),
            12 => Value::F64(f64::from_le_bytes(self.array("an f64")?)),
            t => return Err(self.err(format!("unknown metadata value type {t}"))),
        })
    }

    fn tensor_info(&mut self) -> Result<(String, Vec<u64>, TensorType, u64)> {
        let name = self.string("a tensor name")?;
        let n_dims = self.u32("a tensor's dimension count")?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(self.err(format!("tensor `{name}` has {n_dims} dimensions (1..={MAX_DIMS} allowed)")));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(self.u64("a tensor dimension")?);
        }
        let code = self.u32("a tensor type")?;
        let ttype = TensorType::from_code(code)
            .ok_or_else(|| self.err(format!("tensor `{name}` has unsupported quantization type {code}")))?;
        let offset = self.u64("a tensor offset")?;
        Ok((name, dims, ttype, offset))
    }
}

fn min_value_size(vtype: u32) -> u64 {
    match vtype {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 => 8,
        9 => 12,
        _ => 8,
    }
}

/// Writes GGUF v3 files: control vectors, test fixtures, synthetic models.
#[derive(Default)]
pub struct Writer {
    metadata: Vec<(String, Value)>,
    tensors: Vec<(String, Vec<u64>, TensorType, Vec<u8>)>,
}

impl Writer {
    /// An empty file: no metadata, no tensors.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a metadata key.
    pub fn meta(&mut self, key: &str, value: Value) -> &mut Self {
        self.metadata.push((key.into(), value));
        self
    }
    /// `dims` in ggml order (row length first); `data` already in `ttype`'s layout.
    pub fn tensor(&mut self, name: &str, dims: &[u64], ttype: TensorType, data: Vec<u8>) -> &mut Self {
        self.tensors.push((name.into(), dims.to_vec(), ttype, data));
        self
    }
    /// The file's bytes (GGUF v3, 32-byte alignment).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (k, v) in &self.metadata {
            put_str(&mut out, k);
            out.extend_from_slice(&value_type(v).to_le_bytes());
            put_value(&mut out, v);
        }
        let mut offset = 0u64;
        for (name, dims, ttype, data) in &self.tensors {
            put_str(&mut out, name);
            out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&ttype.code().to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offset = (offset + data.len() as u64).div_ceil(DEFAULT_ALIGNMENT) * DEFAULT_ALIGNMENT;
        }
        for (_, _, _, data) in &self.tensors {
            out.resize(out.len().div_ceil(DEFAULT_ALIGNMENT as usize) * DEFAULT_ALIGNMENT as usize, 0);
            out.extend_from_slice(data);
        }
        out
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn value_type(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => put_str(out, s),
        Value::Array(items) => {
            // An empty array is written as u8-typed.
            let etype = items.first().map(value_type).unwrap_or(0);
            out.extend_from_slice(&etype.to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for it in items {
                put_value(out, it);
            }
        }
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = Writer::new();
        w.meta("general.architecture", Value::String("llama".into()))
            .meta("tokens", Value::Array(alloc::vec![Value::String("a".into()), Value::String("b".into())]))
            .tensor("t", &[32, 2], TensorType::F32, alloc::vec![1u8; 256]);
        w.to_bytes()
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let g = Gguf::parse(&bytes).unwrap();
        assert_eq!(g.require_str("general.architecture").unwrap(), "llama");
        assert_eq!(g.get("tokens").unwrap().as_array().unwrap().len(), 2);
        let t = g.tensor("t").unwrap();
        assert_eq!(t.dims, alloc::vec![32, 2]);
        assert_eq!(g.data(t), &[1u8; 256][..]);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            let err = Gguf::parse(&bytes[..cut]).unwrap_err();
            assert!(matches!(err, Error::Gguf { .. }), "cut {cut}: {err}");
        }
    }

    #[test]
    fn huge_string_length_is_refused_without_allocating() {
        let mut bytes = sample();
        // The first key's length field sits right after the 24-byte fixed header.
        bytes[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        let err = Gguf::parse(&bytes).unwrap_err();
        assert!(format!("{err}").contains("left"), "{err}");
    }
}
