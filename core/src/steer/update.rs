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
use crate::model::{Config, Edit, Intervention, Site};
use alloc::{format, string::String, vec, vec::Vec};
use candle_core::{Device, Tensor};
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use std::collections::HashMap;

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
        safetensors::serialize(views, Some(meta)).map_err(bad)
    }

    /// Reads an update from safetensors bytes. Every problem — not safetensors, missing or bad
    /// metadata, missing, non-f32 or mis-shaped tensors — is an error that names it.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("not a safetensors file ({e})")))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("not a safetensors file ({e})")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let field = |k: &str| meta.get(k).ok_or_else(|| bad(format!("metadata has no `{k}`")));
        let site: Site = field("site")?.parse()?;
        let layer: usize = field("layer")?.parse().map_err(|_| bad(format!("bad `layer` {:?}", meta["layer"])))?;
        let tensor = |name: &str| -> Result<Option<Tensor>> {
            let Ok(t) = st.tensor(name) else { return Ok(None) };
            if t.dtype() != Dtype::F32 {
                return Err(bad(format!("tensor `{name}` must be f32, is {:?}", t.dtype())));
            }
            let v: Vec<f32> = t.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            Ok(Some(Tensor::from_vec(v, t.shape(), &Device::Cpu)?))
        };
        let edit = match (tensor("vector")?, tensor("lora_a")?, tensor("lora_b")?, tensor("delta_w")?) {
            (Some(v), None, None, None) => {
                let op: Operation = meta.get("operation").map_or(Ok(Operation::Add), |s| s.parse())?;
                Edit::with_operation(v, op)
            }
            (None, Some(a), Some(b), None) => Edit::LowRank { a, b },
            (None, None, None, Some(w)) => Edit::Dense { w, bias: tensor("delta_b")? },
            _ => return Err(bad("expected tensors `vector`, or `lora_a` + `lora_b`, or `delta_w` (+ `delta_b`)")),
        };
        let positions = Positions::parse(meta.get("steered_positions").map_or("all", |s| s.as_str()))?;
        Ok(Update { layer, site, edit, positions, meta })
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
