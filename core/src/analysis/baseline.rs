//! The baselines every sweep shows beside its methods: a random direction of the same size (the
//! noise floor a method has to clear) and prompting (no steering; the concept asked for in the
//! system prompt instead, AxBench's prompting baseline).
use crate::analysis::point::{summarize, Point};
use crate::data::Pair;
use crate::error::{Error, Result};
use crate::model::chat::{PromptFormat, SystemTurn};
use crate::model::pairs::Prepared;
use crate::model::score::PairTokens;
use crate::model::{Config, Edit, Model, Site, Steering};
use crate::progress::Progress;
use alloc::{string::String, vec::Vec};
use candle_core::{Device, Tensor};

/// A fixed (seeded) random direction at `site`: rescaled like a method's update, it is the
/// noise floor every sweep shows.
pub fn random_direction(config: &Config, site: Site) -> Result<Edit> {
    let width = site.width(config);
    Ok(Edit::AddVector(Tensor::from_vec(crate::rng::Rng::new(0).normals(width, 1.0), width, &Device::Cpu)?))
}

/// The prompting baseline's result.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Prompting {
    /// The system prompt used.
    pub instruction: String,
    /// Preference and utility on the pairs, unsteered, with that system prompt.
    pub point: Point,
}

/// Scores `pairs` unsteered with `instruction` as the system prompt. Needs the chat format and
/// a chat template: without one a system prompt has nowhere to go and the "baseline" would be
/// the unsteered model under another name, so that is an error saying the baseline is
/// unavailable.
pub fn prompting(
    model: &Model, pairs: &[Pair], format: &PromptFormat, instruction: &str, progress: impl Progress,
) -> Result<Prompting> {
    if !model.chat.has_template() {
        return Err(Error::Invalid(
            "prompting baseline unavailable: the model file has no chat template, so there is no system prompt to ask in"
                .into(),
        ));
    }
    if *format == PromptFormat::Raw {
        return Err(Error::Invalid(
            "prompting baseline unavailable in the raw format: it asks for the concept in the chat's system turn"
                .into(),
        ));
    }
    if instruction.trim().is_empty() {
        return Err(Error::Invalid("the prompting baseline needs a non-empty instruction".into()));
    }
    let asked = PromptFormat::Chat(SystemTurn::Text(instruction.into()));
    let tokens = pairs.iter().map(|p| PairTokens::new(model, p, &asked)).collect::<Result<Vec<_>>>()?;
    let prepared = Prepared::new(&model.llama, &tokens, 0, |_, _| {})?;
    let scored = prepared.score(&model.llama, &Steering::none(), Site::Residual, progress)?;
    Ok(Prompting { instruction: instruction.into(), point: summarize(0.0, &scored.scores) })
}
