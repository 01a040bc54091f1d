//! Intervention sites: the named seams of the forward pass where steering acts.
//!
//! Every layer has four sites. Each holds an activation `h` and has a *source* `u`, the input of
//! the sublayer that writes `h`:
//!
//! | site       | `h`                                   | `u` (input of the writer)  |
//! |------------|---------------------------------------|----------------------------|
//! | `residual` | block output (the residual stream)    | block input                |
//! | `attn_out` | attention output `W_o·ctx`            | attention context `ctx`    |
//! | `mlp_mid`  | `silu(W_gate x)·(W_up x)`             | normed block-MLP input `x` |
//! | `mlp_out`  | MLP output `W_down·mid`               | MLP intermediate `mid`     |
//!
//! An [`Edit`] with strength `m` adds `Δh = m·(ΔW·u + Δb)` at the site: a vector is `ΔW = 0`,
//! LoRA is `ΔW = B·A`, a local weight update is a dense `ΔW` (the paper's unified view: a control
//! signal `m` induces a weight update of the sublayer that writes the site). A weight delta at
//! `mlp_out` reads the MLP intermediate — EasyEdit's LoRA / local-weight placement for SPLIT.
use crate::error::{Error, Result};
use crate::model::Config;
use alloc::vec::Vec;
use candle_core::Tensor;
use core::{fmt, str::FromStr};

/// The four intervention sites of every layer (see the module docs' table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Site {
    /// The block output (the residual stream).
    Residual,
    /// The attention sublayer's output `W_o·ctx`.
    AttnOut,
    /// The MLP intermediate `silu(W_gate x)·(W_up x)`.
    MlpMid,
    /// The MLP output `W_down·mid`.
    MlpOut,
}

impl Site {
    /// Every site, in the order the CLI and the page list them.
    pub const ALL: [Site; 4] = [Site::Residual, Site::AttnOut, Site::MlpMid, Site::MlpOut];

    /// `residual`, `attn_out`, `mlp_mid` or `mlp_out`.
    pub fn name(self) -> &'static str {
        match self {
            Site::Residual => "residual",
            Site::AttnOut => "attn_out",
            Site::MlpMid => "mlp_mid",
            Site::MlpOut => "mlp_out",
        }
    }
    /// Width of the activation at the site.
    pub fn width(self, c: &Config) -> usize {
        match self {
            Site::MlpMid => c.ffn,
            _ => c.hidden,
        }
    }
    /// Width of the site's source `u`.
    pub fn source_width(self, c: &Config) -> usize {
        match self {
            Site::MlpOut => c.ffn,
            _ => c.hidden,
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Site {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Site::ALL.into_iter().find(|site| site.name() == s).ok_or_else(|| Error::UnknownSite(s.into()))
    }
}

/// What an intervention adds at its site (before scaling by the strength).
#[derive(Debug, Clone)]
pub enum Edit {
    /// `Δh = v` (shape `(width,)`).
    AddVector(Tensor),
    /// `h ← h − m·(h·v̂)v̂`: at `m = 1` the component along `v` is ablated.
    ProjectOut(Tensor),
    /// `h ← h + (m·‖v‖ − h·v̂)v̂`: the component along `v` is set to `m·‖v‖`.
    Clamp(Tensor),
    /// `Δh = B·A·u`.
    LowRank {
        /// `A`, `(rank, source_width)`.
        a: Tensor,
        /// `B`, `(width, rank)`.
        b: Tensor,
    },
    /// `Δh = ΔW·u + Δb`.
    Dense {
        /// `ΔW`, `(width, source_width)`.
        w: Tensor,
        /// `Δb`, `(width,)`.
        bias: Option<Tensor>,
    },
}

/// What an edit built from one direction `v` does at its site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// `h ← h + m·v`.
    #[default]
    Add,
    /// `h ← h − m·(h·v̂)v̂`.
    ProjectOut,
    /// `h ← h + (m·‖v‖ − h·v̂)v̂`.
    Clamp,
}

impl Operation {
    /// Every operation, in the order the CLI lists them.
    pub const ALL: [Operation; 3] = [Operation::Add, Operation::ProjectOut, Operation::Clamp];

    /// `add`, `project-out` or `clamp` (the name in files and on the command line).
    pub fn name(self) -> &'static str {
        match self {
            Operation::Add => "add",
            Operation::ProjectOut => "project-out",
            Operation::Clamp => "clamp",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Operation {
    type Err = Error;
    /// ```
    /// use steerscope::model::sites::Operation;
    /// assert_eq!("project-out".parse::<Operation>().unwrap(), Operation::ProjectOut);
    /// let e = "scale".parse::<Operation>().unwrap_err();
    /// assert_eq!(e.to_string(), "unknown operation `scale` (expected add, project-out or clamp)");
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        Operation::ALL.into_iter().find(|o| o.name() == s).ok_or_else(|| {
            Error::Invalid(alloc::format!("unknown operation `{s}` (expected add, project-out or clamp)"))
        })
    }
}

impl Edit {
    /// A direction `v` used by `operation`.
    pub fn with_operation(v: Tensor, operation: Operation) -> Edit {
        match operation {
            Operation::Add => Edit::AddVector(v),
            Operation::ProjectOut => Edit::ProjectOut(v),
            Operation::Clamp => Edit::Clamp(v),
        }
    }

    /// Whether `Δh` depends on the activation itself (not only on the writer's input).
    pub fn reads_activation(&self) -> bool {
        matches!(self, Edit::ProjectOut(_) | Edit::Clamp(_))
    }

    /// What the edit does with its direction (weight updates add).
    pub fn operation(&self) -> Operation {
        match self {
            Edit::ProjectOut(_) => Operation::ProjectOut,
            Edit::Clamp(_) => Operation::Clamp,
            _ => Operation::Add,
        }
    }

    /// The update as weights, `(ΔW, Δb)` with `ΔW` dense `(width, source_width)`.
    pub fn as_weights(&self) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok(match self {
            Edit::AddVector(v) => (None, Some(v.clone())),
            Edit::ProjectOut(_) | Edit::Clamp(_) => {
                return Err(Error::Invalid(alloc::format!(
                    "`{}` depends on the activation itself, so it is no weight update",
                    self.operation()
                )))
            }
            Edit::LowRank { a, b } => (Some(b.matmul(a)?), None),
            Edit::Dense { w, bias } => (Some(w.clone()), bias.clone()),
        })
    }

    /// The same edit times `s` (`Δh` scales by `s`).
    pub fn scaled(&self, s: f64) -> Result<Edit> {
        Ok(match self {
            Edit::AddVector(v) => Edit::AddVector((v * s)?),
            Edit::Clamp(v) => Edit::Clamp((v * s)?),
            Edit::ProjectOut(v) => Edit::ProjectOut(v.clone()), // only v̂ matters
            Edit::LowRank { a, b } => Edit::LowRank { a: a.clone(), b: (b * s)? },
            Edit::Dense { w, bias } => Edit::Dense { w: (w * s)?, bias: bias.as_ref().map(|b| b * s).transpose()? },
        })
    }

    /// The same edit with its tensors cut from any autograd graph.
    pub fn detach(&self) -> Edit {
        match self {
            Edit::AddVector(v) => Edit::AddVector(v.detach()),
            Edit::ProjectOut(v) => Edit::ProjectOut(v.detach()),
            Edit::Clamp(v) => Edit::Clamp(v.detach()),
            Edit::LowRank { a, b } => Edit::LowRank { a: a.detach(), b: b.detach() },
            Edit::Dense { w, bias } => Edit::Dense { w: w.detach(), bias: bias.as_ref().map(Tensor::detach) },
        }
    }
}

/// Which token positions an intervention steers. A sequence is a prompt (the first forward
/// call on an empty [`crate::model::Cache`]) followed by a completion (every later call), so
/// the masks resolve per sequence even when prompts differ in length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Positions {
    /// Every position (EasyEdit's choice is `AfterPrefix`; llama.cpp control vectors steer all).
    #[default]
    All,
    /// The prompt's positions only.
    Prompt,
    /// The completion's positions only (everything after the prompt).
    Completion,
    /// Positions at or after this absolute index: "after the chat prefix" with the index of the
    /// first token after the system turn.
    From(usize),
}

impl Positions {
    /// `all`, `prompt`, `completion` or `from:N`.
    pub fn name(self) -> alloc::string::String {
        match self {
            Positions::All => "all".into(),
            Positions::Prompt => "prompt".into(),
            Positions::Completion => "completion".into(),
            Positions::From(n) => alloc::format!("from:{n}"),
        }
    }

    /// `all`, `prompt`, `completion`, `from:N`, or a comma-separated union of non-overlapping
    /// ones (`prompt,completion` = `all`); overlapping parts are refused.
    pub fn parse(s: &str) -> Result<Self> {
        let one = |p: &str| -> Result<Positions> {
            match p.trim() {
                "all" => Ok(Positions::All),
                "prompt" => Ok(Positions::Prompt),
                "completion" => Ok(Positions::Completion),
                other => {
                    other.strip_prefix("from:").and_then(|n| n.parse().ok()).map(Positions::From).ok_or_else(|| {
                        Error::Invalid(alloc::format!(
                            "unknown position mask `{other}` (expected all, prompt, completion or from:N)"
                        ))
                    })
                }
            }
        };
        let parts = s.split(',').map(one).collect::<Result<Vec<_>>>()?;
        for (i, a) in parts.iter().enumerate() {
            for b in &parts[i + 1..] {
                if !matches!(
                    (a, b),
                    (Positions::Prompt, Positions::Completion) | (Positions::Completion, Positions::Prompt)
                ) {
                    return Err(Error::Invalid(alloc::format!(
                        "overlapping position masks: `{}` and `{}` both cover some positions",
                        a.name(),
                        b.name()
                    )));
                }
            }
        }
        Ok(if parts.len() == 2 { Positions::All } else { parts[0] })
    }

    /// Whether absolute position `p` is steered, given where the prompt ended (`None` while the
    /// prompt itself is being run).
    pub fn covers(self, p: usize, prompt_end: Option<usize>) -> bool {
        match self {
            Positions::All => true,
            Positions::Prompt => prompt_end.is_none_or(|e| p < e),
            Positions::Completion => prompt_end.is_some_and(|e| p >= e),
            Positions::From(n) => p >= n,
        }
    }
}

/// One edit at one site of one layer, at a strength, on some positions.
#[derive(Debug, Clone)]
pub struct Intervention {
    /// The layer it acts at.
    pub layer: usize,
    /// The site it acts at.
    pub site: Site,
    /// What it adds (at strength 1).
    pub edit: Edit,
    /// The control signal `m`.
    pub strength: f32,
    /// Which token positions it steers.
    pub positions: Positions,
}

impl Intervention {
    /// Checks the layer, the strength and every tensor's shape against the model.
    pub fn new(config: &Config, layer: usize, site: Site, edit: Edit, strength: f32) -> Result<Self> {
        config.check_layer(layer)?;
        if !strength.is_finite() {
            return Err(Error::BadStrength(strength));
        }
        let (width, src) = (site.width(config), site.source_width(config));
        let check = |t: &Tensor, rows: Option<usize>, cols: usize| -> Result<()> {
            let dims = t.dims();
            let ok = match rows {
                None => dims == [cols],
                Some(r) => dims.len() == 2 && (r == usize::MAX || dims[0] == r) && dims[1] == cols,
            };
            if ok {
                Ok(())
            } else {
                Err(Error::VectorDim { expected: cols, found: *dims.last().unwrap_or(&0) })
            }
        };
        match &edit {
            Edit::AddVector(v) => check(v, None, width)?,
            Edit::ProjectOut(v) | Edit::Clamp(v) => {
                check(v, None, width)?;
                if v.sqr()?.sum_all()?.to_scalar::<f32>()? == 0.0 {
                    return Err(Error::Invalid(alloc::format!(
                        "`{}` needs a direction, got a zero-norm vector",
                        edit.operation()
                    )));
                }
            }
            Edit::LowRank { a, b } => {
                check(a, Some(usize::MAX), src)?;
                check(b, Some(width), a.dims()[0])?;
            }
            Edit::Dense { w, bias } => {
                check(w, Some(width), src)?;
                if let Some(b) = bias {
                    check(b, None, width)?;
                }
            }
        }
        Ok(Intervention { layer, site, edit, strength, positions: Positions::All })
    }

    /// The same intervention on `positions` only.
    pub fn at(mut self, positions: Positions) -> Self {
        self.positions = positions;
        self
    }

    /// `Δh` for the site's activation `h` and source activations `u` `(…, source_width)`.
    pub(crate) fn delta(&self, h: &Tensor, u: &Tensor) -> Result<Tensor> {
        let m = self.strength as f64;
        let d = match &self.edit {
            Edit::AddVector(v) => (v * m)?,
            Edit::ProjectOut(v) | Edit::Clamp(v) => {
                let norm = v.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()? as f64;
                let unit = (v / norm)?;
                let along = h.broadcast_matmul(&unit.unsqueeze(1)?)?; // (…, 1): h·v̂
                let target = match self.edit {
                    Edit::Clamp(_) => (along.neg()? + m * norm)?,
                    _ => (along * -m)?,
                };
                target.broadcast_mul(&unit)?
            }
            Edit::LowRank { a, b } => (u.broadcast_matmul(&a.t()?)?.broadcast_matmul(&b.t()?)? * m)?,
            Edit::Dense { w, bias } => {
                let y = u.broadcast_matmul(&w.t()?)?;
                let y = match bias {
                    Some(b) => y.broadcast_add(b)?,
                    None => y,
                };
                (y * m)?
            }
        };
        Ok(d)
    }
}

/// The interventions and recordings for one forward pass. Empty = the plain model.
#[derive(Debug, Clone, Default)]
pub struct Steering {
    /// Applied in order where several act at one site.
    pub interventions: Vec<Intervention>,
    /// Sites whose activations the forward pass returns.
    pub record: Vec<(usize, Site)>,
}

impl Steering {
    /// No intervention, no recording: the plain model.
    pub fn none() -> Self {
        Self::default()
    }
    /// The same steering plus `i`.
    pub fn with(mut self, i: Intervention) -> Self {
        self.interventions.push(i);
        self
    }
    /// The same steering, also returning the activations at `(layer, site)`.
    pub fn recording(mut self, layer: usize, site: Site) -> Self {
        self.record.push((layer, site));
        self
    }
    pub(crate) fn at(&self, layer: usize, site: Site) -> impl Iterator<Item = &Intervention> {
        self.interventions.iter().filter(move |i| i.layer == layer && i.site == site)
    }
}
