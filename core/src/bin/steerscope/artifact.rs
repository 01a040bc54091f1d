//! Update files: every method's result — a DiffMean/PCA vector, a trained vector, LoRA factors,
//! a local weight update — saved the same way, as the update it induces at one site
//! (`Δh = m·(ΔW·u + Δb)`, see [`steerscope::model::sites`]), in safetensors with metadata that says
//! what it is: method, objective, site, layer, and the sha256 of the model and the pairs.
//!
//! Tensors: `vector` (a Δb alone — or, with metadata `operation` = `project-out` / `clamp`, a
//! direction to ablate or clamp), `lora_a` + `lora_b` (`ΔW = B·A`), or `delta_w` + `delta_b`.
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;
use steerscope::model::sites::Positions;
use steerscope::model::{Config, Edit, Intervention, Site};

pub struct Artifact {
    pub layer: usize,
    pub site: Site,
    pub edit: Edit,
    /// The positions it steers (metadata `steered_positions`); where it read its signal from
    /// is in `read_positions`.
    pub positions: Positions,
    /// `method`, `objective`, `model_sha256`, `pairs_sha256`, … (`site` and `layer` are added on save).
    pub meta: HashMap<String, String>,
}

impl Artifact {
    pub fn intervention(&self, config: &Config, strength: f32) -> steerscope::Result<Intervention> {
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

    pub fn save(&self, path: &Path) -> Result<()> {
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
                Ok((
                    *n,
                    t.flatten_all()?.to_vec1::<f32>()?.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    t.dims().to_vec(),
                ))
            })
            .collect::<Result<_>>()?;
        let views = data
            .iter()
            .map(|(n, bytes, shape)| Ok((*n, TensorView::new(Dtype::F32, shape.clone(), bytes)?)))
            .collect::<Result<Vec<_>>>()?;
        let mut meta = self.meta.clone();
        meta.insert("format".into(), "steerscope-update".into());
        meta.insert("site".into(), self.site.name().into());
        meta.insert("layer".into(), self.layer.to_string());
        meta.insert("operation".into(), self.edit.operation().into());
        meta.insert("steered_positions".into(), self.positions.name());
        safetensors::serialize_to_file(views, Some(meta), path)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .with_context(|| format!("{} is not a safetensors file", path.display()))?;
        let st = SafeTensors::deserialize(&bytes)
            .with_context(|| format!("{} is not a safetensors file", path.display()))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let field = |k: &str| meta.get(k).with_context(|| format!("{}: metadata has no `{k}`", path.display()));
        let site: Site = field("site")?.parse()?;
        let layer: usize = field("layer")?.parse().with_context(|| format!("{}: bad `layer`", path.display()))?;
        let tensor = |name: &str| -> Result<Option<Tensor>> {
            let Ok(t) = st.tensor(name) else { return Ok(None) };
            if t.dtype() != Dtype::F32 {
                bail!("{}: tensor `{name}` must be f32, is {:?}", path.display(), t.dtype());
            }
            let v: Vec<f32> = t.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
            Ok(Some(Tensor::from_vec(v, t.shape(), &Device::Cpu)?))
        };
        let edit = match (tensor("vector")?, tensor("lora_a")?, tensor("lora_b")?, tensor("delta_w")?) {
            (Some(v), None, None, None) => Edit::with_operation(v, meta.get("operation").map_or("add", |s| s.as_str()))
                .with_context(|| format!("{}", path.display()))?,
            (None, Some(a), Some(b), None) => Edit::LowRank { a, b },
            (None, None, None, Some(w)) => Edit::Dense { w, bias: tensor("delta_b")? },
            _ => bail!(
                "{}: expected tensors `vector`, or `lora_a` + `lora_b`, or `delta_w` (+ `delta_b`)",
                path.display()
            ),
        };
        let positions = Positions::parse(meta.get("steered_positions").map_or("all", |s| s.as_str()))
            .with_context(|| format!("{}", path.display()))?;
        Ok(Artifact { layer, site, edit, positions, meta })
    }
}
