//! Every steering method by name — `diffmean`, `pca`, and `{vector,lora,local-weight}-{sft,split}`
//! — parsed once at the edge (CLI arguments, the page's controls) into a [`Method`].
use crate::error::{Error, Result};
use crate::model::Site;
use crate::steer::train::{Objective, UpdateForm};
use alloc::{format, string::String};
use core::{fmt, str::FromStr};

/// A way to get a steering update from polarity pairs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// Mean activation of the positive completions minus that of the negative ones (CAA).
    DiffMean,
    /// First principal component of the per-pair activation differences, signed toward the
    /// positive completions and scaled to the DiffMean norm.
    Pca,
    /// Trained through the frozen model (LoRA at rank 4, as EasyEdit).
    Trained(UpdateForm, Objective),
}

impl Method {
    /// The methods the page and `steerscope results` offer, in display order.
    pub fn all() -> [Method; 8] {
        let trained =
            |form, split: bool| Method::Trained(form, if split { Objective::split_for(form) } else { Objective::Sft });
        [
            Method::DiffMean,
            Method::Pca,
            trained(UpdateForm::Vector, false),
            trained(UpdateForm::Vector, true),
            trained(UpdateForm::Lora { rank: 4 }, false),
            trained(UpdateForm::Lora { rank: 4 }, true),
            trained(UpdateForm::LocalWeight, false),
            trained(UpdateForm::LocalWeight, true),
        ]
    }

    /// Vectors act on the residual stream, weight updates on the down projection (`mlp_out`),
    /// as in EasyEdit.
    pub fn default_site(self) -> Site {
        match self {
            Method::Trained(UpdateForm::Lora { .. } | UpdateForm::LocalWeight, _) => Site::MlpOut,
            _ => Site::Residual,
        }
    }

    /// Whether the method needs gradient steps (slow in the page) rather than one pass.
    pub fn is_trained(self) -> bool {
        matches!(self, Method::Trained(..))
    }

    /// `diffmean`, `pca`, `vector-sft`, `lora-split`, …
    pub fn name(self) -> String {
        match self {
            Method::DiffMean => "diffmean".into(),
            Method::Pca => "pca".into(),
            Method::Trained(f, o) => format!("{}-{}", f.name(), o.name()),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for Method {
    type Err = Error;
    /// ```
    /// use steerscope::steer::methods::Method;
    /// assert_eq!("lora-split".parse::<Method>().unwrap().name(), "lora-split");
    /// let e = "lora-dpo".parse::<Method>().unwrap_err().to_string();
    /// assert!(e.starts_with("unknown method `lora-dpo` (expected one of: diffmean, pca, vector-sft"), "{e}");
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        crate::error::parse_name(&Method::all(), Method::name, s, "method")
    }
}
