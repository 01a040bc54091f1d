//! Trained interventions: a vector (a bias), LoRA (`ΔW = B·A`) or a local weight update (dense
//! `ΔW` and `Δb`) at one site, fitted by gradient descent through the frozen model, with plain
//! SFT or with SPLIT (steering.md §4).
//!
//! Each training example is a pair with a steering factor `f` drawn from a set. "Add" examples
//! steer with `+f` toward the positive completion (the *winner*); with `subtract` on, half the
//! examples steer with `−f` and swap the roles, so the sign of `m` carries the polarity.
//! Losses are per-token means of the completion cross-entropy (`L_w`, `L_l`):
//! - SFT: `L_w`;
//! - SPLIT: `w_pos·L_w + w_neg·L_l + γ·ReLU(τ − (L_l − L_w)) + w_ref·(ReLU(L_w − L_w⁰) + ReLU(L_l − L_l⁰))`,
//!   `⁰` = the unsteered model. The `L_l` term keeps the loser likely too (utility); the margin
//!   buys preference; the reference term (0 in every EasyEdit config, so 0 by default) keeps
//!   both from getting worse than without steering.
//!
//! Layers below the site are run once ([`Prepared`]); gradients flow through the layers above
//! it (the frozen weights' backward is in [`crate::model::linear`]). AdamW, weight decay 0,
//! linear learning-rate decay, gradient clipping at global norm 1 — EasyEdit's trainer; every
//! one of these is a field of [`TrainSettings`], written into the update file's metadata. SPLIT
//! has no temperature (the paper's loss and EasyEdit's code have none), so there is none here.
//!
//! Guards: settings are checked before any work ([`TrainSettings::check`]); a non-finite loss,
//! gradient or parameter, or an update whose `|Δh|` at the largest factor grows past
//! [`TrainSettings::max_update`] times the layer's residual norm, stops training with
//! [`Error::Diverged`] and the parameters of the last good step.
//! The host drives the loop ([`Trainer::step`]) so it can show progress and save checkpoints.
use crate::error::{Error, Result};
use crate::math::vector::norm;
use crate::model::pairs::Prepared;
use crate::model::score::mean_nll_tensor;
use crate::model::{Config, Edit, Intervention, Llama, Site, Steering};
use crate::progress::Progress;
use crate::rng::Rng;
use alloc::{format, string::String, vec::Vec};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};

/// Largest learning rate accepted: AdamW moves each parameter by ~this per step.
pub const MAX_LEARNING_RATE: f64 = 10.0;
/// Largest steering factor accepted during training.
pub const MAX_FACTOR: f32 = 1000.0;

/// Which update the training fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "form")]
pub enum UpdateForm {
    /// `Δh = v`.
    Vector,
    /// `Δh = B·A·u`, `A` Kaiming-uniform, `B` zero (EasyEdit: rank 4, no α/r scaling).
    Lora {
        /// The rank of `B·A`.
        rank: usize,
    },
    /// `Δh = ΔW·u + Δb`, both zero at the start.
    LocalWeight,
}

impl UpdateForm {
    /// `vector`, `lora` or `local-weight`.
    pub fn name(self) -> &'static str {
        match self {
            UpdateForm::Vector => "vector",
            UpdateForm::Lora { .. } => "lora",
            UpdateForm::LocalWeight => "local-weight",
        }
    }

    /// A weight update must be a weight of the sublayer writing the site, which must be affine
    /// (`attn_out` ← `W_o`, `mlp_out` ← `W_down`); a vector may go anywhere.
    pub fn check_site(self, site: Site) -> Result<()> {
        match (self, site) {
            (UpdateForm::Vector, _) | (_, Site::AttnOut | Site::MlpOut) => Ok(()),
            _ => Err(Error::Invalid(format!(
                "method `{}` does not support site `{site}`: a weight update needs an affine writer (attn_out or mlp_out)",
                self.name()
            ))),
        }
    }
}

/// What training minimises (see the module docs for the formulas).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "objective")]
pub enum Objective {
    /// The winner's loss alone.
    Sft,
    /// SPLIT: `w_pos·L_w + w_neg·L_l + γ·ReLU(τ − (L_l − L_w)) + w_ref·(ReLU(L_w − L_w⁰) + ReLU(L_l − L_l⁰))`.
    Split {
        /// Weight of the winner's loss.
        w_pos: f32,
        /// Weight of the loser's loss (keeps it likely: utility).
        w_neg: f32,
        /// Weight γ of the margin term.
        gamma: f32,
        /// The margin τ.
        tau: f32,
        /// Weight of the reference term (0 in every EasyEdit config).
        w_ref: f32,
    },
}

impl Objective {
    /// EasyEdit's SPLIT weights for a vector / for LoRA and local weight (PowerSeeking, Qwen).
    pub fn split_for(form: UpdateForm) -> Self {
        match form {
            UpdateForm::Vector => Objective::Split { w_pos: 1.0, w_neg: 0.6, gamma: 5.0, tau: 0.5, w_ref: 0.0 },
            _ => Objective::Split { w_pos: 1.0, w_neg: 0.5, gamma: 5.0, tau: 0.4, w_ref: 0.0 },
        }
    }

    /// `sft` or `split`.
    pub fn name(self) -> &'static str {
        match self {
            Objective::Sft => "sft",
            Objective::Split { .. } => "split",
        }
    }
}

/// Everything a training run depends on; written into the update file's metadata.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainSettings {
    /// What is trained.
    pub form: UpdateForm,
    /// What is minimised.
    pub objective: Objective,
    /// Where the update acts.
    pub layer: usize,
    /// Where the update acts.
    pub site: Site,
    /// AdamW's learning rate at the first step.
    pub learning_rate: f64,
    /// Passes over the pairs.
    pub epochs: usize,
    /// Examples per step.
    pub batch: usize,
    /// Steering factors drawn uniformly per example.
    pub factors: Vec<f32>,
    /// Also train "subtract" examples: each example is swapped (`−f`, completions' roles
    /// exchanged) with probability ½, drawn from the seeded RNG right after its factor.
    pub subtract: bool,
    /// Learning-rate schedule over the steps.
    pub schedule: Schedule,
    /// Global L2 norm the gradients are clipped to.
    pub clip: f32,
    /// Training stops when the update's mean `|Δh|` at the largest factor exceeds this multiple
    /// of the layer's mean residual norm (at 1× the text has long collapsed; 10× means a
    /// learning rate or factor far out of range).
    pub max_update: f32,
    /// Seeds the initialisation, the batch order, the factors and the swaps.
    pub seed: u64,
}

/// How the learning rate changes over training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// From the learning rate down to 0 at the last step, no warm-up (EasyEdit's).
    #[default]
    Linear,
    /// The same rate at every step.
    Constant,
}

impl core::str::FromStr for Schedule {
    type Err = Error;
    /// ```
    /// use steerscope::steer::train::Schedule;
    /// assert_eq!("constant".parse::<Schedule>().unwrap(), Schedule::Constant);
    /// assert!("cosine".parse::<Schedule>().unwrap_err().to_string().contains("`cosine`"));
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "linear" => Ok(Schedule::Linear),
            "constant" => Ok(Schedule::Constant),
            other => {
                Err(Error::Invalid(format!("unknown learning-rate schedule `{other}` (expected linear or constant)")))
            }
        }
    }
}

impl TrainSettings {
    /// EasyEdit-like defaults for SmolLM2 (tried on sentiment at layer 15, 32 pairs × 2 epochs:
    /// held-out preference then moves by ~±1 log-odds at the largest factor): a vector at
    /// factors 1…4 with learning rate 0.1, weight updates at 0.25…1 with 0.01.
    pub fn new(form: UpdateForm, objective: Objective, layer: usize, site: Site) -> Self {
        let (learning_rate, factors) = match form {
            UpdateForm::Vector => (0.1, alloc::vec![1.0, 2.0, 3.0, 4.0]),
            _ => (0.01, alloc::vec![0.25, 0.5, 0.75, 1.0]),
        };
        TrainSettings {
            form,
            objective,
            layer,
            site,
            learning_rate,
            epochs: 2,
            batch: 4,
            factors,
            subtract: true,
            schedule: Schedule::Linear,
            clip: 1.0,
            max_update: 10.0,
            seed: 42,
        }
    }

    /// Refuses settings that cannot train, against the model: checked before any forward pass.
    pub fn check(&self, config: &Config) -> Result<()> {
        config.check_layer(self.layer)?;
        self.check_values()
    }

    /// The checks that need no model (hosts run them before loading one): learning rate,
    /// factors, clip, guard, SPLIT's weights, epochs, batch, rank, and the form's site.
    pub fn check_values(&self) -> Result<()> {
        self.form.check_site(self.site)?;
        let bad = |what: String| Err(Error::Invalid(what));
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate <= MAX_LEARNING_RATE) {
            return bad(format!(
                "learning rate must be a number in (0, {MAX_LEARNING_RATE}], got {} (AdamW moves every parameter by about the learning rate per step; the defaults are 0.01–0.1)",
                self.learning_rate
            ));
        }
        if self.factors.is_empty()
            || self.factors.iter().any(|f| !(f.is_finite() && *f != 0.0 && f.abs() <= MAX_FACTOR))
        {
            return bad(format!(
                "steering factors must be nonzero numbers with |f| ≤ {MAX_FACTOR}, got {:?}",
                self.factors
            ));
        }
        if !(self.clip.is_finite() && self.clip > 0.0) {
            return bad(format!("gradient clip must be a positive number, got {}", self.clip));
        }
        if !(self.max_update.is_finite() && self.max_update > 0.0) {
            return bad(format!("the update-size guard must be a positive multiple, got {}", self.max_update));
        }
        if let Objective::Split { w_pos, w_neg, gamma, tau, w_ref } = self.objective {
            let terms =
                [("w_pos", w_pos), ("w_neg", w_neg), ("margin weight", gamma), ("margin", tau), ("w_ref", w_ref)];
            if let Some((name, v)) = terms.iter().find(|(_, v)| !v.is_finite()) {
                return bad(format!("SPLIT's {name} must be a finite number, got {v}"));
            }
        }
        if self.epochs == 0 || self.batch == 0 {
            return bad("epochs and batch size must be at least 1".into());
        }
        if let UpdateForm::Lora { rank: 0 } = self.form {
            return bad("LoRA rank must be at least 1".into());
        }
        Ok(())
    }
}

/// One optimisation step's numbers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepStats {
    /// Steps done, this one included.
    pub step: usize,
    /// The batch's objective (mean over its examples), before this step's update.
    pub loss: f32,
    /// Mean per-token loss of the winners in the batch.
    pub winner: f32,
    /// Mean per-token loss of the losers in the batch.
    pub loser: f32,
    /// Gradient norm before clipping.
    pub grad_norm: f32,
    /// The learning rate this step used (after the schedule).
    pub learning_rate: f64,
    /// Each example of the batch: enough to recompute the loss by hand.
    pub examples: Vec<ExampleLoss>,
}

/// One training example of a step.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ExampleLoss {
    /// Index of the pair.
    pub pair: usize,
    /// The strength it was steered with: `+f`, or `−f` when swapped.
    pub strength: f32,
    /// Whether the completions' roles were exchanged (the negative one is the winner).
    pub swapped: bool,
    /// Per-token mean loss of the winner and of the loser.
    pub winner: f32,
    /// Per-token mean loss of the loser.
    pub loser: f32,
}

/// A training run over prepared pairs, one [`Trainer::step`] at a time.
pub struct Trainer<'a> {
    llama: &'a Llama,
    /// The settings it runs with.
    pub config: TrainSettings,
    data: &'a Prepared,
    params: Vec<Var>,
    /// Parameter values after the last finite step: what a diverged run falls back to.
    last_good: Vec<Tensor>,
    /// Unsteered per-token losses `[positive, negative]` per pair (only for the reference term).
    reference: Vec<[f32; 2]>,
    /// The layer's mean residual norm over the pairs: the yardstick of the update-size guard.
    residual_norm: f32,
    opt: AdamW,
    rng: Rng,
    order: Vec<usize>,
    /// Steps done.
    pub step: usize,
}

impl<'a> Trainer<'a> {
    /// `data` must be prepared at `config.layer`.
    pub fn new(llama: &'a Llama, data: &'a Prepared, config: TrainSettings) -> Result<Self> {
        config.check(&llama.config)?;
        if data.is_empty() {
            return Err(Error::EmptyDataset);
        }
        if data.layer() != config.layer {
            return Err(Error::Invalid(format!(
                "pairs prepared at layer {}, training at {}",
                data.layer(),
                config.layer
            )));
        }
        let mut rng = Rng::new(config.seed);
        let params = init_params(&llama.config, &config, &mut rng)?;
        let reference = match config.objective {
            Objective::Split { w_ref, .. } if w_ref != 0.0 => {
                let scored = data.unsteered(llama, config.site, |_, _| {})?;
                scored.scores.iter().map(|s| [s.lp.mean(), s.ln.mean()]).collect()
            }
            _ => Vec::new(),
        };
        let opt = AdamW::new(
            params.clone(),
            ParamsAdamW { lr: config.learning_rate, weight_decay: 0.0, ..Default::default() },
        )?;
        let last_good = params.iter().map(|p| p.as_tensor().copy()).collect::<candle_core::Result<_>>()?;
        let residual_norm = crate::steer::strength::residual_norm(llama, data, |_, _| {})?;
        Ok(Trainer {
            llama,
            config,
            data,
            params,
            last_good,
            reference,
            residual_norm,
            opt,
            rng,
            order: Vec::new(),
            step: 0,
        })
    }

    /// Steps in one pass over the pairs.
    pub fn steps_per_epoch(&self) -> usize {
        self.data.len().div_ceil(self.config.batch)
    }

    /// Steps in the whole run.
    pub fn total_steps(&self) -> usize {
        self.steps_per_epoch() * self.config.epochs
    }

    /// The update as trained so far, at strength 1: a copy, cut from the graph — the
    /// optimiser updates its parameters in place, and a detached tensor would share their
    /// storage and change with the next step.
    pub fn edit(&self) -> Edit {
        self.snapshot().unwrap_or_else(|_| self.live_edit().detach())
    }

    fn snapshot(&self) -> Result<Edit> {
        let t = |i: usize| self.params[i].as_tensor().copy();
        Ok(match self.config.form {
            UpdateForm::Vector => Edit::AddVector(t(0)?),
            UpdateForm::Lora { .. } => Edit::LowRank { a: t(0)?, b: t(1)? },
            UpdateForm::LocalWeight => Edit::Dense { w: t(0)?, bias: Some(t(1)?) },
        })
    }

    /// One optimisation step on the next batch. A non-finite loss or gradient stops training
    /// with [`Error::Diverged`]; the parameters are then those of the last good step.
    pub fn step(&mut self) -> Result<StepStats> {
        if self.step >= self.total_steps() {
            return Err(Error::Invalid("training already finished".into()));
        }
        let batch = self.next_batch();
        let (mut total, mut winner, mut loser) = (None::<Tensor>, 0f32, 0f32);
        let mut examples = Vec::with_capacity(batch.len());
        for &i in &batch {
            let (loss, example) = self.example_loss(i)?;
            winner += example.winner / batch.len() as f32;
            loser += example.loser / batch.len() as f32;
            examples.push(example);
            total = Some(match total {
                Some(t) => (t + loss)?,
                None => loss,
            });
        }
        let total = (total.expect("batches are never empty") / batch.len() as f64)?;
        let loss = total.to_scalar::<f32>()?;
        if !loss.is_finite() {
            return Err(self.diverged(format!("loss is {loss}")));
        }
        let mut grads = total.backward()?;
        let grad_norm = self.clip(&mut grads)?;
        if !grad_norm.is_finite() {
            return Err(self.diverged(format!("gradient norm is {grad_norm}")));
        }
        let learning_rate = match self.config.schedule {
            Schedule::Linear => self.config.learning_rate * (1.0 - self.step as f64 / self.total_steps() as f64),
            Schedule::Constant => self.config.learning_rate,
        };
        self.opt.set_learning_rate(learning_rate);
        self.opt.step(&grads)?;
        if !self.params_finite()? {
            return Err(self.diverged("a parameter became non-finite".into()));
        }
        let size = self.update_size()?;
        // NaN fails `<=`, so a NaN size is refused too.
        if size.is_nan() || size > self.config.max_update * self.residual_norm {
            let problem = format!(
                "the update's |Δh| at the largest factor reached {size:.3e}, past {}× the layer's mean residual norm ({:.1})",
                self.config.max_update, self.residual_norm
            );
            return Err(self.diverged(problem));
        }
        self.last_good = self.params.iter().map(|p| p.as_tensor().copy()).collect::<candle_core::Result<_>>()?;
        self.step += 1;
        Ok(StepStats { step: self.step, loss, winner, loser, grad_norm, learning_rate, examples })
    }

    /// Runs the remaining steps, calling `after_step` after each (progress, checkpoints). On
    /// divergence the error comes back and the trainer holds the last good parameters.
    pub fn run(&mut self, mut after_step: impl FnMut(&Self, &StepStats)) -> Result<Vec<StepStats>> {
        self.run_with(|t, s| {
            after_step(t, s);
            Ok(())
        })
    }

    /// [`Trainer::run`] whose callback may stop training (an `Err`, e.g. [`crate::Error::Cancelled`]
    /// from a [`Progress`]): the trainer then keeps the parameters of the last finished step.
    pub fn run_with(&mut self, mut after_step: impl FnMut(&Self, &StepStats) -> Result<()>) -> Result<Vec<StepStats>> {
        let mut log = Vec::with_capacity(self.total_steps());
        while self.step < self.total_steps() {
            let s = self.step()?;
            after_step(self, &s)?;
            log.push(s);
        }
        Ok(log)
    }

    /// Runs the remaining steps reporting `(step, total steps)` to `progress`, which may stop it.
    pub fn run_reporting(&mut self, mut progress: impl Progress) -> Result<Vec<StepStats>> {
        let total = self.total_steps();
        self.run_with(|_, s| progress.report(s.step, total))
    }

    /// Pair indices of the next batch; the order is reshuffled every epoch.
    fn next_batch(&mut self) -> Vec<usize> {
        let per_epoch = self.steps_per_epoch();
        if self.step.is_multiple_of(per_epoch) {
            self.order = (0..self.data.len()).collect();
            for i in (1..self.order.len()).rev() {
                let j = self.rng.below(i + 1);
                self.order.swap(i, j);
            }
        }
        let start = (self.step % per_epoch) * self.config.batch;
        self.order[start..(start + self.config.batch).min(self.order.len())].to_vec()
    }

    /// Mean `|Δh|` of the current update at the largest factor: for a vector its norm, else
    /// measured at the site on the first pair (one layer's forward pass with and without it).
    fn update_size(&self) -> Result<f32> {
        let top = self.config.factors.iter().fold(0f32, |a, f| a.max(f.abs()));
        if let Edit::AddVector(v) = self.edit() {
            return Ok(top * norm(&v.to_vec1::<f32>()?));
        }
        let (layer, site) = (self.config.layer, self.config.site);
        let iv = Intervention::new(&self.llama.config, layer, site, self.edit(), top)?;
        let base = self.data.read(self.llama, 0, &Steering::none(), &[(layer, site)])?;
        let moved = self.data.read(self.llama, 0, &Steering::none().with(iv), &[(layer, site)])?;
        let mut norms = Vec::new();
        for (b, m) in base[0].iter().zip(&moved[0]) {
            norms.extend((m - b)?.sqr()?.sum(1)?.sqrt()?.to_vec1::<f32>()?);
        }
        Ok(norms.iter().sum::<f32>() / norms.len().max(1) as f32)
    }

    /// The loss of pair `i` at a random factor and polarity, and the example's record.
    fn example_loss(&mut self, i: usize) -> Result<(Tensor, ExampleLoss)> {
        let f = self.config.factors[self.rng.below(self.config.factors.len())];
        let swap = self.config.subtract && self.rng.below(2) == 1;
        let m = if swap { -f } else { f };
        let iv = Intervention::new(&self.llama.config, self.config.layer, self.config.site, self.live_edit(), m)?;
        let [rp, rn] = self.data.run(self.llama, i, &Steering::none().with(iv), &[])?.rows;
        let [tp, tn] = self.data.targets(i);
        let (lp, ln) = (mean_nll_tensor(self.llama, &rp, tp)?, mean_nll_tensor(self.llama, &rn, tn)?);
        let (w, l, refs) = if swap {
            (ln, lp, self.reference.get(i).map(|r| [r[1], r[0]]))
        } else {
            (lp, ln, self.reference.get(i).copied())
        };
        let (wv, lv) = (w.to_scalar::<f32>()?, l.to_scalar::<f32>()?);
        let loss = match self.config.objective {
            Objective::Sft => w,
            Objective::Split { w_pos, w_neg, gamma, tau, w_ref } => {
                let margin = ((&l - &w)?.neg()? + tau as f64)?.relu()?;
                let mut loss = ((&w * w_pos as f64)? + (&l * w_neg as f64)?)?;
                loss = (loss + (margin * gamma as f64)?)?;
                if let Some([w0, l0]) = refs.filter(|_| w_ref != 0.0) {
                    let keep = ((&w - w0 as f64)?.relu()? + (&l - l0 as f64)?.relu()?)?;
                    loss = (loss + (keep * w_ref as f64)?)?;
                }
                loss
            }
        };
        Ok((loss, ExampleLoss { pair: i, strength: m, swapped: swap, winner: wv, loser: lv }))
    }

    /// Scales the gradients to global L2 norm ≤ `clip`; returns the norm before scaling.
    fn clip(&self, grads: &mut candle_core::backprop::GradStore) -> Result<f32> {
        let clip = self.config.clip;
        let mut sq = 0f32;
        for p in &self.params {
            if let Some(g) = grads.get(p) {
                sq += g.sqr()?.sum_all()?.to_scalar::<f32>()?;
            }
        }
        let norm = sq.sqrt();
        if norm > clip && norm.is_finite() {
            for p in &self.params {
                if let Some(g) = grads.remove(p) {
                    grads.insert(p, (g * (clip / norm) as f64)?);
                }
            }
        }
        Ok(norm)
    }

    fn params_finite(&self) -> Result<bool> {
        for p in &self.params {
            let s = p.as_tensor().abs()?.sum_all()?.to_scalar::<f32>()?;
            if !s.is_finite() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Restores the last good parameters and names what went wrong.
    fn diverged(&mut self, what: String) -> Error {
        for (p, good) in self.params.iter().zip(&self.last_good) {
            if let Err(e) = p.set(good) {
                return e.into();
            }
        }
        Error::Diverged { step: self.step + 1, problem: what }
    }

    /// The update built on the trainable variables (gradients flow into them).
    fn live_edit(&self) -> Edit {
        let t = |i: usize| self.params[i].as_tensor().clone();
        match self.config.form {
            UpdateForm::Vector => Edit::AddVector(t(0)),
            UpdateForm::Lora { .. } => Edit::LowRank { a: t(0), b: t(1) },
            UpdateForm::LocalWeight => Edit::Dense { w: t(0), bias: Some(t(1)) },
        }
    }
}

fn init_params(c: &Config, config: &TrainSettings, rng: &mut Rng) -> Result<Vec<Var>> {
    let (width, src) = (config.site.width(c), config.site.source_width(c));
    let zeros = |shape: &[usize]| Var::zeros(shape, DType::F32, &Device::Cpu);
    Ok(match config.form {
        UpdateForm::Vector => alloc::vec![zeros(&[width])?],
        UpdateForm::Lora { rank } => {
            // Kaiming-uniform with a = √5 (PyTorch's nn.Linear default): U(±1/√fan_in).
            let bound = 1.0 / (src as f32).sqrt();
            let a: Vec<f32> = (0..rank * src).map(|_| (2.0 * rng.uniform() - 1.0) * bound).collect();
            alloc::vec![Var::from_tensor(&Tensor::from_vec(a, (rank, src), &Device::Cpu)?)?, zeros(&[width, rank])?]
        }
        UpdateForm::LocalWeight => alloc::vec![zeros(&[width, src])?, zeros(&[width])?],
    })
}
