//! llama.cpp control-vector GGUF files (the format repeng's `export_gguf` writes and llama.cpp's
//! `--control-vector` reads), no_std + alloc.
//!
//! Format, as checked against the sources:
//! - metadata `general.architecture = "controlvector"`, `controlvector.model_hint` (string, the
//!   model type) and `controlvector.layer_count` (u32: the number of direction tensors; repeng
//!   `extract.py::export_gguf`). llama.cpp's loader (`common_control_vector_load_one` in
//!   common/common.cpp) reads none of these metadata keys.
//! - one tensor per steered layer, named `direction.N`, F32, 1-D of the model width. llama.cpp
//!   rejects a name it cannot parse, `direction.0`, a non-F32 or non-1-D tensor and mismatched
//!   widths; it adds the row into a buffer at `(N-1)·n_embd` ("layer 1 at \[0\]").
//! - `llama_adapter_cvec::apply` (src/llama-adapter.cpp) copies row `N-1` into `tensors[N]`;
//!   `tensors[0]` is always null, and every model graph calls `build_cvec(cur, il)` on the output
//!   of block `il` (0-based, after the FFN residual add). So `direction.N` is added to the output
//!   of block `N` = our residual site of layer `N` — **no offset**. Block 0's output can never be
//!   steered by llama.cpp; we refuse to write layer 0 rather than write a file llama.cpp rejects.
//! - repeng numbers layers the same way: its key `L` reads `hidden_states[L+1]` (output of
//!   block `L`) and `ControlModel` adds at `model.layers[L]`'s output; the default layer range
//!   `range(-1, -n_layers, -1)` also skips block 0.
//!
//! Our own self-describing metadata goes under `steerscope.` (ignored by llama.cpp and repeng).
use crate::error::{Error, Result};
use crate::gguf::{Gguf, TensorType, Value, Writer};
use alloc::{format, string::String, vec::Vec};

/// `general.architecture` of a control-vector GGUF (llama.cpp's convention).
pub const ARCHITECTURE: &str = "controlvector";
/// Value of `steerscope.layer_numbering`: layer `N` is the output of block `N`, 0-based, which
/// is also what `direction.N` means to llama.cpp.
pub const LAYER_NUMBERING: &str = "block_output_0based";

/// Optional self-describing metadata (written under `steerscope.`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Meta {
    /// `controlvector.model_hint` (repeng writes the HF `model_type`, e.g. "llama").
    pub model_hint: Option<String>,
    /// "add" or "project_out".
    pub operation: Option<String>,
    /// "residual".
    pub site: Option<String>,
    /// How layers are numbered (see [`LAYER_NUMBERING`]).
    pub layer_numbering: Option<String>,
    /// Norm of each direction as scaled in the file (strength folded in), if meaningful.
    pub norm: Option<f32>,
    /// How the direction's sign was chosen (e.g. positive minus negative).
    pub sign_rule: Option<String>,
    /// The method that made the vector (e.g. `diffmean`).
    pub method: Option<String>,
    /// sha256 of the model the vector was fitted on.
    pub model_sha256: Option<String>,
    /// sha256 of the pairs it was fitted on.
    pub dataset_sha256: Option<String>,
    /// Any other metadata found in a file (kept so a round trip loses nothing).
    pub extra: Vec<(String, Value)>,
}

const STR_KEYS: [&str; 7] = [
    "steerscope.operation",
    "steerscope.site",
    "steerscope.layer_numbering",
    "steerscope.sign_rule",
    "steerscope.method",
    "steerscope.model_sha256",
    "steerscope.dataset_sha256",
];

impl Meta {
    fn str_fields(&self) -> [&Option<String>; 7] {
        [
            &self.operation,
            &self.site,
            &self.layer_numbering,
            &self.sign_rule,
            &self.method,
            &self.model_sha256,
            &self.dataset_sha256,
        ]
    }
    fn str_fields_mut(&mut self) -> [&mut Option<String>; 7] {
        [
            &mut self.operation,
            &mut self.site,
            &mut self.layer_numbering,
            &mut self.sign_rule,
            &mut self.method,
            &mut self.model_sha256,
            &mut self.dataset_sha256,
        ]
    }
}

/// A llama.cpp-compatible control vector: one residual-stream direction per layer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ControlVector {
    /// `(our 0-based layer = llama.cpp's N in direction.N, vector)`, in file order.
    pub directions: Vec<(usize, Vec<f32>)>,
    /// Self-describing metadata.
    pub meta: Meta,
}

/// What a steering vector file says about where the vector came from (for [`ControlVector::residual_add`]).
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// The method that made the vector.
    pub method: Option<String>,
    /// sha256 of the model it was fitted on.
    pub model_sha256: Option<String>,
    /// sha256 of the pairs it was fitted on.
    pub dataset_sha256: Option<String>,
}

impl ControlVector {
    /// One vector `v` added to the residual stream after block `layer` (strength folded in),
    /// with our self-describing metadata: what the CLI's `vector --out X.gguf` and the page's
    /// download write.
    pub fn residual_add(layer: usize, v: Vec<f32>, from: Provenance) -> Self {
        let norm = crate::math::vector::norm(&v);
        ControlVector {
            directions: alloc::vec![(layer, v)],
            meta: Meta {
                model_hint: Some("llama".into()),
                operation: Some("add".into()),
                site: Some("residual".into()),
                layer_numbering: Some(LAYER_NUMBERING.into()),
                norm: Some(norm),
                sign_rule: Some("positive strength moves toward the positive completions".into()),
                method: from.method,
                model_sha256: from.model_sha256,
                dataset_sha256: from.dataset_sha256,
                extra: Vec::new(),
            },
        }
    }

    /// Width of the directions (0 if there are none).
    pub fn width(&self) -> usize {
        self.directions.first().map_or(0, |(_, v)| v.len())
    }

    fn validate(&self) -> Result<()> {
        if self.directions.is_empty() {
            return Err(Error::Invalid("control vector has no directions".into()));
        }
        let w = self.width();
        for (i, (layer, v)) in self.directions.iter().enumerate() {
            if *layer == 0 {
                return Err(Error::Invalid(
                    "control vector direction for layer 0: llama.cpp never steers block 0's output and rejects `direction.0`".into(),
                ));
            }
            if v.len() != w || w == 0 {
                return Err(Error::Invalid(format!(
                    "control vector direction for layer {layer} has width {}, the first has {w}",
                    v.len()
                )));
            }
            if self.directions[..i].iter().any(|(l, _)| l == layer) {
                return Err(Error::Invalid(format!("control vector has two directions for layer {layer}")));
            }
            if let Some(j) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::Invalid(format!(
                    "control vector direction for layer {layer}: element {j} is {}, not a finite number",
                    v[j]
                )));
            }
        }
        Ok(())
    }

    /// The vector as a control-vector GGUF, readable by llama.cpp's `--control-vector`.
    pub fn to_gguf_bytes(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let mut w = Writer::new();
        w.meta("general.architecture", Value::String(ARCHITECTURE.into()));
        w.meta(
            "controlvector.model_hint",
            Value::String(self.meta.model_hint.clone().unwrap_or_else(|| "llama".into())),
        );
        w.meta("controlvector.layer_count", Value::U32(self.directions.len() as u32));
        for (key, val) in STR_KEYS.iter().zip(self.meta.str_fields()) {
            if let Some(v) = val {
                w.meta(key, Value::String(v.clone()));
            }
        }
        if let Some(n) = self.meta.norm {
            w.meta("steerscope.norm", Value::F32(n));
        }
        for (k, v) in &self.meta.extra {
            w.meta(k, v.clone());
        }
        for (layer, v) in &self.directions {
            let data: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            w.tensor(&format!("direction.{layer}"), &[v.len() as u64], TensorType::F32, data);
        }
        Ok(w.to_bytes())
    }

    /// Reads a control-vector GGUF; a non-finite value, a bad layer or a wrong architecture is an error naming it.
    pub fn from_gguf_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty() {
            return Err(Error::Invalid("control vector file is empty".into()));
        }
        let g = Gguf::parse(bytes)?;
        let mut meta = Meta::default();
        for (key, value) in &g.metadata {
            let as_str = || {
                value.as_str().map(String::from).ok_or_else(|| {
                    Error::Invalid(format!("control vector metadata `{key}` is not a string: {}", value.summary()))
                })
            };
            match key.as_str() {
                "general.architecture" => {
                    let a = as_str()?;
                    if a != ARCHITECTURE {
                        return Err(Error::Invalid(format!(
                            "general.architecture is `{a}`, not `{ARCHITECTURE}`: this is not a control vector file"
                        )));
                    }
                }
                "controlvector.model_hint" => meta.model_hint = Some(as_str()?),
                // Derived from the tensors on write; llama.cpp ignores it too.
                "controlvector.layer_count" => {
                    value.as_u64().ok_or_else(|| {
                        Error::Invalid(format!(
                            "control vector metadata `controlvector.layer_count` is not an integer: {}",
                            value.summary()
                        ))
                    })?;
                }
                "steerscope.norm" => {
                    meta.norm = Some(value.as_f32().ok_or_else(|| {
                        Error::Invalid(format!(
                            "control vector metadata `steerscope.norm` is not a number: {}",
                            value.summary()
                        ))
                    })?)
                }
                k => match STR_KEYS.iter().position(|s| *s == k) {
                    Some(i) => *meta.str_fields_mut()[i] = Some(as_str()?),
                    None => meta.extra.push((key.clone(), value.clone())),
                },
            }
        }
        let mut directions = Vec::with_capacity(g.tensors.len());
        for t in &g.tensors {
            let number = t
                .name
                .strip_prefix("direction.")
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    Error::Invalid(format!("control vector tensor `{}` is not named `direction.N`", t.name))
                })?;
            let layer = number.parse::<u32>().map_err(|_| {
                Error::Invalid(format!("control vector tensor `{}`: layer {number} is out of range", t.name))
            })? as usize;
            if t.ttype != TensorType::F32 {
                return Err(Error::Invalid(format!(
                    "control vector tensor `{}` is {:?}, must be F32",
                    t.name, t.ttype
                )));
            }
            if t.dims.len() != 1 {
                return Err(Error::Invalid(format!(
                    "control vector tensor `{}` has {} dimensions, must be 1-D",
                    t.name,
                    t.dims.len()
                )));
            }
            let v = g.data(t).chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            directions.push((layer, v));
        }
        let cv = ControlVector { directions, meta };
        cv.validate()?;
        Ok(cv)
    }

    /// Does this file fit a model with `n_layers` blocks of width `hidden`?
    pub fn check_fits(&self, n_layers: usize, hidden: usize) -> Result<()> {
        let max_layer = self.directions.iter().map(|(l, _)| *l).max().unwrap_or(0);
        let width = self.width();
        if width != hidden || max_layer >= n_layers {
            return Err(Error::Invalid(format!(
                "control vector does not fit the model: the file has width {width} and directions up to layer {max_layer} \
                 (needs at least {} layers); the model has width {hidden} and {n_layers} layers (0..={})",
                max_layer + 1,
                n_layers.saturating_sub(1)
            )));
        }
        Ok(())
    }
}

/// Exporting a steering update (needs the model types: the `model` feature).
#[cfg(feature = "model")]
impl ControlVector {
    /// An update as a llama.cpp control vector at `strength` (folded in, and kept as
    /// `steerscope.strength`): what the CLI's `vector --out X.gguf` and the page's download
    /// export. A control vector adds one vector to the residual stream at every position, so
    /// anything else — another site or operation, a position mask, a weight update — is refused
    /// naming what it is, as is a strength that is 0 or not finite.
    pub fn export(
        name: &str, layer: usize, site: crate::model::Site, positions: crate::model::sites::Positions,
        edit: &crate::model::Edit, strength: f32, from: Provenance,
    ) -> Result<Self> {
        let refuse = |what: String| {
            Error::Invalid(format!("llama.cpp control vectors add one vector to the residual stream at every position; {what} cannot be exported as one"))
        };
        use crate::model::{sites::Positions, Edit, Site};
        let Edit::AddVector(v) = edit else {
            let kind = match edit {
                Edit::ProjectOut(_) => "project-out (it can only add)",
                Edit::Clamp(_) => "clamp (it can only add)",
                _ => "a weight update (LoRA, local weight)",
            };
            return Err(refuse(format!("{name} at {site}, {kind},")));
        };
        if site != Site::Residual {
            return Err(refuse(format!("{name} at site `{site}`")));
        }
        if positions != Positions::All {
            return Err(refuse(format!("{name} steering positions `{}`", positions.name())));
        }
        if !strength.is_finite() || strength == 0.0 {
            return Err(Error::Invalid(format!(
                "strength {strength} would export a {} vector: pick a finite, nonzero strength",
                if strength == 0.0 { "zero" } else { "non-finite" }
            )));
        }
        let v: Vec<f32> = (v * strength as f64)?.to_vec1()?;
        let mut cv = ControlVector::residual_add(layer, v, from);
        cv.meta.extra.push(("steerscope.strength".into(), Value::F32(strength)));
        Ok(cv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sample() -> ControlVector {
        ControlVector {
            directions: vec![(15, (0..64).map(|i| i as f32 * 0.5 - 3.0).collect()), (3, vec![f32::MIN_POSITIVE; 64])],
            meta: Meta {
                model_hint: Some("llama".into()),
                operation: Some("add".into()),
                site: Some("residual".into()),
                layer_numbering: Some(LAYER_NUMBERING.into()),
                norm: Some(1.25),
                sign_rule: Some("positive minus negative".into()),
                method: Some("diffmean".into()),
                model_sha256: Some("ab".into()),
                dataset_sha256: Some("cd".into()),
                extra: vec![("custom.key".into(), Value::I32(-7))],
            },
        }
    }

    #[test]
    fn round_trip_loses_nothing() {
        let cv = sample();
        let bytes = cv.to_gguf_bytes().unwrap();
        let back = ControlVector::from_gguf_bytes(&bytes).unwrap();
        assert_eq!(back, cv);
        assert_eq!(back.to_gguf_bytes().unwrap(), bytes);
    }

    #[test]
    fn bad_files_are_errors() {
        assert!(ControlVector::from_gguf_bytes(&[]).is_err());
        let bytes = sample().to_gguf_bytes().unwrap();
        for cut in 0..bytes.len() {
            assert!(ControlVector::from_gguf_bytes(&bytes[..cut]).is_err());
        }
        let mut w = Writer::new();
        w.tensor("blk.0.attn_q.weight", &[4], TensorType::F32, vec![0; 16]);
        let e = ControlVector::from_gguf_bytes(&w.to_bytes()).unwrap_err();
        assert!(format!("{e}").contains("direction.N"), "{e}");
        let mut w = Writer::new();
        w.tensor("direction.2", &[4], TensorType::F16, vec![0; 8]);
        let e = ControlVector::from_gguf_bytes(&w.to_bytes()).unwrap_err();
        assert!(format!("{e}").contains("F32"), "{e}");
        let mut w = Writer::new();
        w.tensor("direction.0", &[4], TensorType::F32, vec![0; 16]);
        assert!(ControlVector::from_gguf_bytes(&w.to_bytes()).is_err());
        let empty = Writer::new().to_bytes();
        assert!(ControlVector::from_gguf_bytes(&empty).is_err());
        let mut w = Writer::new();
        w.meta("general.architecture", Value::String("llama".into()));
        w.tensor("direction.1", &[4], TensorType::F32, vec![0; 16]);
        assert!(ControlVector::from_gguf_bytes(&w.to_bytes()).is_err());
    }

    /// Regressions found by the mutation test: a NaN direction loaded (and steered every logit
    /// to NaN), and `direction.N` with N past `usize` was "not named `direction.N`".
    #[test]
    fn non_finite_and_huge_layers_are_named() {
        let mut nan = sample();
        nan.directions[1].1[5] = f32::NAN;
        let e = format!("{}", nan.to_gguf_bytes().unwrap_err());
        assert!(e.contains("layer 3: element 5 is NaN"), "{e}");
        let mut w = Writer::new();
        w.tensor(
            "direction.2",
            &[2],
            TensorType::F32,
            [1f32, f32::INFINITY].iter().flat_map(|x| x.to_le_bytes()).collect(),
        );
        let e = format!("{}", ControlVector::from_gguf_bytes(&w.to_bytes()).unwrap_err());
        assert!(e.contains("layer 2: element 1 is inf"), "{e}");
        let mut w = Writer::new();
        w.tensor("direction.99999999999999999999", &[4], TensorType::F32, vec![0; 16]);
        let e = format!("{}", ControlVector::from_gguf_bytes(&w.to_bytes()).unwrap_err());
        assert!(e.contains("layer 99999999999999999999 is out of range"), "{e}");
        let mut w = Writer::new();
        w.tensor("direction.", &[4], TensorType::F32, vec![0; 16]);
        let e = format!("{}", ControlVector::from_gguf_bytes(&w.to_bytes()).unwrap_err());
        assert!(e.contains("not named `direction.N`"), "{e}");
    }

    #[test]
    fn check_fits_names_both_sides() {
        let cv = sample();
        assert!(cv.check_fits(30, 64).is_ok());
        let e = format!("{}", cv.check_fits(30, 576).unwrap_err());
        assert!(e.contains("width 64") && e.contains("width 576"), "{e}");
        let e = format!("{}", cv.check_fits(10, 64).unwrap_err());
        assert!(e.contains("layer 15") && e.contains("10 layers"), "{e}");
    }
}
