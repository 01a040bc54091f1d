//! Every steering method by name — `diffmean`, `pca`, and `{vector,lora,local-weight}-{sft,split}`
//! — and the one way to get its update from polarity pairs, shared by the CLI and the page.
use crate::error::{Error, Result};
use crate::model::pairs::Prepared;
use crate::model::score::PairTokens;
use crate::model::{Edit, Llama, Site};
use crate::steer::diffmean::{fit_method, Method};
use crate::steer::train::{Form, Objective, TrainConfig, Trainer};
use alloc::{format, string::String};
use candle_core::{Device, Tensor};
use core::str::FromStr;

/// The methods the page and `steerscope results` offer, in display order.
pub const ALL: [&str; 8] = [
    "diffmean",
    "pca",
    "vector-sft",
    "vector-split",
    "lora-sft",
    "lora-split",
    "local-weight-sft",
    "local-weight-split",
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spec {
    /// From activations, no gradients.
    Fitted(Method),
    /// Trained through the frozen model (LoRA at rank 4, as EasyEdit).
    Trained(Form, Objective),
}

impl FromStr for Spec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let unknown = || Error::Invalid(format!("unknown method `{s}` (expected one of: {})", ALL.join(", ")));
        match s {
            "diffmean" => return Ok(Spec::Fitted(Method::DiffMean)),
            "pca" => return Ok(Spec::Fitted(Method::Pca)),
            _ => {}
        }
        let (form, objective) = s.rsplit_once('-').ok_or_else(unknown)?;
        let form = match form {
            "vector" => Form::Vector,
            "lora" => Form::Lora { rank: 4 },
            "local-weight" => Form::LocalWeight,
            _ => return Err(unknown()),
        };
        let objective = match objective {
            "sft" => Objective::Sft,
            "split" => Objective::split_for(form),
            _ => return Err(unknown()),
        };
        Ok(Spec::Trained(form, objective))
    }
}

impl Spec {
    /// Vectors act on the residual stream, weight updates on the down projection (`mlp_out`),
    /// as in EasyEdit.
    pub fn default_site(self) -> Site {
        match self {
            Spec::Trained(Form::Lora { .. } | Form::LocalWeight, _) => Site::MlpOut,
            _ => Site::Residual,
        }
    }

    /// Which positions the method reads its signal from (for artifacts and reports).
    pub fn reads(self) -> &'static str {
        match self {
            Spec::Fitted(_) => crate::steer::diffmean::Read::CompletionMean.name(),
            Spec::Trained(..) => "completion-loss",
        }
    }

    pub fn name(self) -> String {
        match self {
            Spec::Fitted(Method::DiffMean) => "diffmean".into(),
            Spec::Fitted(Method::Pca) => "pca".into(),
            Spec::Trained(f, o) => format!("{}-{}", f.name(), o.name()),
        }
    }

    /// The method's update at `(layer, site)` from the train pairs (`prepared` = the same pairs
    /// prepared at `layer`, used by the trained methods). `progress(done, total)`.
    pub fn update(
        self, llama: &Llama, train: &[PairTokens], prepared: &Prepared, site: Site, epochs: usize,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Edit> {
        let layer = prepared.layer;
        match self {
            Spec::Fitted(m) => {
                let fitted =
                    fit_method(llama, train, m, layer, site, crate::steer::diffmean::Read::CompletionMean, progress)?;
                Ok(Edit::AddVector(Tensor::from_slice(&fitted.vector, fitted.vector.len(), &Device::Cpu)?))
            }
            Spec::Trained(form, objective) => {
                let mut config = TrainConfig::new(form, objective, layer, site);
                config.epochs = epochs;
                let mut trainer = Trainer::new(llama, prepared, config)?;
                let total = trainer.total_steps();
                trainer.run(|_, s| progress(s.step, total))?;
                Ok(trainer.edit())
            }
        }
    }
}
