//! Combining a session's vectors: a weighted sum of two or more of them, which becomes an
//! update of the session like any other (swept, plotted, exported), and the cosine table that
//! says whether the sum steers several ways at once or mostly rescales one
//! ([`crate::steer::compose`]).
//!
//! The parts are taken in strength units (each adds `Δh` of the same size per unit strength),
//! so the weights set the *mixture*; the sum is then rescaled to strength units like every
//! update, so strength keeps its one meaning (10 = half the layer's mean residual norm).
use crate::analysis::session::{Steered, SweepSession};
use crate::error::{Error, Result};
use crate::model::tokens::ReadPositions;
use crate::model::{Edit, Llama};
use crate::steer::compose::{weighted_sum, CosineTable};
use alloc::{format, string::String, vec::Vec};
use candle_core::{Device, Tensor};

/// One part of a combination: an update of the session by name, and its weight.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Term {
    /// The update's name in the session.
    pub name: String,
    /// Its weight in the sum.
    pub weight: f32,
}

/// The name a combination gets: `0.5·diffmean + 1·vector-split`.
pub fn combined_name(parts: &[Term]) -> String {
    let terms: Vec<String> = parts.iter().map(|p| format!("{}·{}", p.weight, p.name)).collect();
    terms.join(" + ")
}

impl SweepSession {
    /// The vectors called `names`, in strength units, checked to be vectors at one site.
    fn vectors(&self, names: &[&str]) -> Result<(Vec<Vec<f32>>, Vec<&Steered>)> {
        let mut out = (Vec::new(), Vec::new());
        for &name in names {
            let s = self
                .updates()
                .iter()
                .find(|u| u.name == name)
                .ok_or_else(|| Error::Invalid(format!("no update called `{name}` in this session")))?;
            let Edit::AddVector(v) = &s.edit else {
                return Err(Error::Invalid(format!(
                    "`{name}` is a weight update, not a vector: only vectors combine into a vector (and have a cosine)"
                )));
            };
            if let Some(first) = out.1.first().map(|f: &&Steered| f.site).filter(|&site| site != s.site) {
                return Err(Error::Invalid(format!(
                    "`{name}` acts at {}, `{}` at {first}: vectors combine at one site",
                    s.site, names[0]
                )));
            }
            out.0.push(v.to_vec1::<f32>()?);
            out.1.push(s);
        }
        Ok(out)
    }

    /// Pairwise cosines of the vectors called `names`.
    pub fn cosines(&self, names: &[&str]) -> Result<CosineTable> {
        let (vectors, _) = self.vectors(names)?;
        CosineTable::new(names.iter().map(|n| String::from(*n)).collect(), &vectors)
    }

    /// Adds `Σ weight·vector` over `parts` (at least two, vectors at one site and on the same
    /// positions) as an update named by [`combined_name`], rescaled to strength units, and makes
    /// it current.
    pub fn combine(&mut self, llama: &Llama, parts: &[Term]) -> Result<&Steered> {
        if parts.len() < 2 {
            return Err(Error::Invalid(format!("combining needs two or more vectors, got {}", parts.len())));
        }
        let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
        let (vectors, steered) = self.vectors(&names)?;
        let (site, positions) = (steered[0].site, steered[0].positions);
        if let Some(s) = steered.iter().find(|s| s.positions != positions) {
            return Err(Error::Invalid(format!(
                "`{}` steers {} positions, `{}` {}: combine vectors with one position mask",
                s.name,
                s.positions.name(),
                steered[0].name,
                positions.name()
            )));
        }
        let weights: Vec<f32> = parts.iter().map(|p| p.weight).collect();
        let sum = weighted_sum(&vectors, &weights)?;
        let edit = Edit::AddVector(Tensor::from_slice(&sum, sum.len(), &Device::Cpu)?);
        self.steer_with(llama, combined_name(parts), site, positions, ReadPositions::Combined, edit)
    }
}
