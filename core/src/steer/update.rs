//! Update files: every method's result — a DiffMean/PCA vector, a trained vector, LoRA factors,
//! a local weight update — saved the same way, as the update it induces at one site
//! (`Δh = m·(ΔW·u + Δb)`, see [`crate::model::sites`]), in safetensors with metadata that says
//! what it is: method, objective, site, layer, positions, and the sha256 of the model and the
//! pairs. The CLI writes them (`vector`, `train`) and every consumer reads them through here:
//! `generate --steer`, `sweep --update` and the page.
//!
//! Tensors: `vector` (a Δb alone — or, with metadata `operation` = `project-out` / `clamp`, a
//! direction to ablate or clamp), `lora_a` + `lora_b` (`ΔW = B·A`), or `delta_w` + `delta_b`.
use crate::error::{Error, Result};
use crate::model::sites::{Operation, Positions};
use crate::model::tokens::ReadPositions;
use crate::model::{Config, Edit, Intervention, Site};
use alloc::{format, string::String, vec, vec::Vec};
use candle_core::{Device, Tensor};
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use std::collections::HashMap;

/// `bytes` (a safetensors file) with its header's metadata keys sorted. The safetensors crate
/// takes the metadata as a `HashMap`, whose order differs from run to run, so the same update
/// was written as different bytes each time (and a byte mutation hit different fields).
fn in_fixed_order(mut bytes: Vec<u8>) -> Result<Vec<u8>> {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Header {
        #[serde(rename = "__metadata__")]
        meta: alloc::collections::BTreeMap<String, String>,
        #[serde(flatten)]
        tensors: alloc::collections::BTreeMap<String, serde_json::Value>,
    }
    let n = bytes.get(..8).map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()) as usize);
    let end = 8usize.saturating_add(n).min(bytes.len());
    let header: Header = serde_json::from_slice(bytes[8..end].trim_ascii_end()).map_err(|e| bad(format!("{e}")))?;
    let sorted = serde_json::to_vec(&header).map_err(|e| bad(format!("{e}")))?;
    // The same keys and values without whitespace: never longer; pad as safetensors does.
    if sorted.len() > end - 8 {
        return Err(bad(format!("sorted header is {} bytes, the written one {}", sorted.len(), end - 8)));
    }
    bytes[8..8 + sorted.len()].copy_from_slice(&sorted);
    bytes[8 + sorted.len()..end].fill(b' ');
    Ok(bytes)
}

/// A steering update at one site of one layer, with what produced it.
#[derive(Debug, Clone)]
pub struct Update {
    /// The layer it acts at.
    pub layer: usize,
    /// The site it acts at.
    pub site: Site,
    /// What it adds there (at strength 1).
    pub edit: Edit,
    /// The positions it steers (metadata `steered_positions`); where it read its signal from is
    /// in `read_positions`.
    pub positions: Positions,
    /// `method`, `objective`, `model_sha256`, `pairs_sha256`, … (`site`, `layer`, `operation`
    /// and `steered_positions` are written from the fields on save).
    pub meta: HashMap<String, String>,
}

fn bad(problem: impl core::fmt::Display) -> Error {
    Error::Invalid(format!("update file: {problem}"))
}

/// A parse error of a metadata value, with the key it came from.
fn in_key(key: &'static str) -> impl Fn(Error) -> Error {
    move |e| bad(format!("metadata `{key}`: {e}"))
}

impl Update {
    /// The update at `strength` as an intervention, checked against the model.
    pub fn intervention(&self, config: &Config, strength: f32) -> Result<Intervention> {
        Ok(Intervention::new(config, self.layer, self.site, self.edit.clone(), strength)?.at(self.positions))
    }

    /// `method` or `method-objective` from the metadata.
    pub fn name(&self) -> Option<String> {
        let method = self.meta.get("method")?;
        Some(match self.meta.get("objective").filter(|o| *o != "none") {
            Some(o) => format!("{method}-{o}"),
            None => method.clone(),
        })
    }

    /// The update as safetensors bytes (f32 tensors, metadata as strings).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let tensors: Vec<(&str, &Tensor)> = match &self.edit {
            Edit::AddVector(v) | Edit::ProjectOut(v) | Edit::Clamp(v) => vec![("vector", v)],
            Edit::LowRank { a, b } => vec![("lora_a", a), ("lora_b", b)],
            Edit::Dense { w, bias } => {
                let mut t = vec![("delta_w", w)];
                t.extend(bias.as_ref().map(|b| ("delta_b", b)));
                t
            }
        };
        let data: Vec<(&str, Vec<u8>, Vec<usize>)> = tensors
            .iter()
            .map(|(n, t)| {
                let values = t.flatten_all()?.to_vec1::<f32>()?;
                Ok((*n, values.iter().flat_map(|x| x.to_le_bytes()).collect(), t.dims().to_vec()))
            })
            .collect::<Result<_>>()?;
        let views = data
            .iter()
            .map(|(n, bytes, shape)| Ok((*n, TensorView::new(Dtype::F32, shape.clone(), bytes).map_err(bad)?)))
            .collect::<Result<Vec<_>>>()?;
        let mut meta = self.meta.clone();
        meta.insert("format".into(), "steerscope-update".into());
        meta.insert("site".into(), self.site.name().into());
        meta.insert("layer".into(), self.layer.to_string());
        meta.insert("operation".into(), self.edit.operation().name().into());
        meta.insert("steered_positions".into(), self.positions.name());
        in_fixed_order(safetensors::serialize(views, Some(meta)).map_err(bad)?)
    }

    /// Reads an update from safetensors bytes. Every problem — not safetensors, missing or bad
    /// metadata, missing, non-f32 or mis-shaped tensors — is an error that names it.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("not a safetensors file ({e})")))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("not a safetensors file ({e})")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let field = |k: &str| meta.get(k).ok_or_else(|| bad(format!("metadata has no `{k}`")));
        let site: Site = field("site")?.parse().map_err(in_key("site"))?;
        let layer: usize = field("layer")?
            .parse()
            .map_err(|_| bad(format!("metadata `layer` is {:?}, not a layer number", meta["layer"])))?;
        let mut names = st.names();
        names.sort_unstable();
        let form = match names.as_slice() {
            ["vector"] => "vector",
            ["lora_a", "lora_b"] => "lora",
            ["delta_w"] | ["delta_b", "delta_w"] => "dense",
            _ => {
                return Err(bad(format!(
                    "has tensors {names:?}; expected `vector`, or `lora_a` + `lora_b`, or `delta_w` (+ `delta_b`)"
                )))
            }
        };
        let tensor = |name: &str| -> Result<Option<Tensor>> {
            let Ok(t) = st.tensor(name) else { return Ok(None) };
            if t.dtype() != Dtype::F32 {
                return Err(bad(format!("tensor `{name}` must be f32, is {:?}", t.dtype())));
            }
            let v: Vec<f32> = t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(bad(format!("tensor `{name}`: element {i} is {}, not a finite number", v[i])));
            }
            Ok(Some(Tensor::from_vec(v, t.shape(), &Device::Cpu)?))
        };
        let required = |name: &str| tensor(name)?.ok_or_else(|| bad(format!("tensor `{name}` is missing")));
        let operation =
            meta.get("operation").map(|s| s.parse::<Operation>().map_err(in_key("operation"))).transpose()?;
        let edit = match form {
            "vector" => Edit::with_operation(required("vector")?, operation.unwrap_or(Operation::Add)),
            "lora" => Edit::LowRank { a: required("lora_a")?, b: required("lora_b")? },
            _ => Edit::Dense { w: required("delta_w")?, bias: tensor("delta_b")? },
        };
        // Only a direction can be projected out or clamped; a weight update only adds.
        if let Some(op) = operation.filter(|&op| op != edit.operation()) {
            return Err(bad(format!("metadata `operation` is `{op}`, but a {form} update can only `add`")));
        }
        let positions = Positions::parse(meta.get("steered_positions").map_or("all", |s| s.as_str()))
            .map_err(in_key("steered_positions"))?;
        Ok(Update { layer, site, edit, positions, meta })
    }

    /// Where the method read its signal from (metadata `read_positions`; unknown if absent).
    pub fn reads(&self) -> Result<ReadPositions> {
        self.meta
            .get("read_positions")
            .map_or(Ok(ReadPositions::Unknown), |r| r.parse().map_err(in_key("read_positions")))
    }

    /// Checks the update against a model: layer in range and every tensor's shape right for its
    /// site (the checks [`Intervention::new`] makes, at strength 1).
    pub fn check(&self, config: &Config) -> Result<()> {
        self.intervention(config, 1.0).map(|_| ())
    }

    /// An empty metadata map with `method` (and `objective`) set: the start of every file.
    pub fn meta_for(method: &str, objective: Option<&str>) -> HashMap<String, String> {
        let mut meta = HashMap::new();
        meta.insert("method".into(), String::from(method));
        if let Some(o) = objective {
            meta.insert("objective".into(), o.into());
        }
        meta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(values: &[f32]) -> Tensor {
        Tensor::new(values, &Device::Cpu).unwrap()
    }

    /// A safetensors file of f32 tensors with this metadata.
    fn file(tensors: &[(&str, &[f32], &[usize])], meta: &[(&str, &str)]) -> Vec<u8> {
        let bytes: Vec<Vec<u8>> =
            tensors.iter().map(|(_, v, _)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
        let views: Vec<(&str, TensorView)> = tensors
            .iter()
            .zip(&bytes)
            .map(|((n, _, shape), b)| (*n, TensorView::new(Dtype::F32, shape.to_vec(), b).unwrap()))
            .collect();
        let meta: HashMap<String, String> = meta.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        safetensors::serialize(views, Some(meta)).unwrap()
    }

    fn err(bytes: &[u8]) -> String {
        Update::from_safetensors(bytes).unwrap_err().to_string()
    }

    #[test]
    fn round_trip() {
        let u = Update {
            layer: 3,
            site: Site::MlpOut,
            edit: Edit::Clamp(vector(&[1.0, -2.0])),
            positions: Positions::From(4),
            meta: Update::meta_for("pca", None),
        };
        let back = Update::from_safetensors(&u.to_safetensors().unwrap()).unwrap();
        assert_eq!(
            (back.layer, back.site, back.positions, back.name()),
            (3, Site::MlpOut, Positions::From(4), Some("pca".into()))
        );
        let Edit::Clamp(v) = back.edit else { panic!("{:?}", back.edit) };
        assert_eq!(v.to_vec1::<f32>().unwrap(), [1.0, -2.0]);
    }

    /// The same update gives the same bytes, although each metadata map iterates in its own
    /// random order (a fresh `HashMap` per update, ten keys: equal orders by chance are rare).
    #[test]
    fn the_same_update_is_the_same_bytes() {
        let update = || {
            let mut meta = Update::meta_for("lora-split", Some("split"));
            for k in 0..8 {
                meta.insert(format!("key{k}"), format!("value {k}"));
            }
            let a = Tensor::new(&[[1.0f32, 2.0], [3.0, 4.0]], &Device::Cpu).unwrap();
            let edit = Edit::LowRank { a: a.clone(), b: a.t().unwrap().contiguous().unwrap() };
            Update { layer: 2, site: Site::AttnOut, edit, positions: Positions::All, meta }
        };
        let first = update().to_safetensors().unwrap();
        for _ in 0..4 {
            assert_eq!(update().to_safetensors().unwrap(), first);
        }
        let back = Update::from_safetensors(&first).unwrap();
        assert_eq!(back.meta.get("key7").map(String::as_str), Some("value 7"));
        let (_, header) = SafeTensors::read_metadata(&first).unwrap();
        let keys: Vec<&String> = header.metadata().as_ref().unwrap().keys().collect();
        assert_eq!(keys.len(), 15, "{keys:?}");
    }

    /// Regressions found by the mutation test: extra tensors and an `operation` a weight update
    /// cannot have were ignored without a word, non-finite values loaded, and a bad site or
    /// position mask did not say it came from the update file's metadata.
    #[test]
    fn bad_update_files_are_named() {
        let at = [("site", "residual"), ("layer", "2")];
        let one: &[f32] = &[1.0, 2.0];
        assert!(Update::from_safetensors(&file(&[("vector", one, &[2])], &at)).is_ok());
        let e = err(&file(&[("vector", one, &[2]), ("delta_b", one, &[2])], &at));
        assert!(e.contains(r#"has tensors ["delta_b", "vector"]"#), "{e}");
        let e = err(&file(
            &[("lora_a", one, &[1, 2]), ("lora_b", one, &[2, 1])],
            &[("site", "mlp_out"), ("layer", "2"), ("operation", "clamp")],
        ));
        assert!(e.contains("metadata `operation` is `clamp`, but a lora update can only `add`"), "{e}");
        let e = err(&file(&[("vector", &[1.0, f32::NAN], &[2])], &at));
        assert!(e.contains("tensor `vector`: element 1 is NaN"), "{e}");
        let e = err(&file(&[("vector", one, &[2])], &[("site", "mlp"), ("layer", "2")]));
        assert!(e.contains("update file: metadata `site`: unknown intervention site `mlp`"), "{e}");
        let e = err(&file(
            &[("vector", one, &[2])],
            &[("site", "residual"), ("layer", "2"), ("steered_positions", "middle")],
        ));
        assert!(e.contains("metadata `steered_positions`: unknown position mask `middle`"), "{e}");
        let e = err(&file(&[("vector", one, &[2])], &[("site", "residual"), ("layer", "-1")]));
        assert!(e.contains(r#"metadata `layer` is "-1", not a layer number"#), "{e}");
        assert!(err(b"\x08\0\0\0\0\0\0\0{}      ").contains("update file: "));
    }
}
