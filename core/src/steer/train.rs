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
//! linear learning-rate decay, gradient clipping at global norm 1 — EasyEdit's trainer.
//! The host drives the loop ([`Trainer::step`]) so it can show progress and save checkpoints.
use crate::error::{Error, Result};
use crate::model::pairs::Prepared;
use crate::model::score::mean_nll_tensor;
use crate::model::{Config, Edit, Intervention, Llama, Site, Steering};
use crate::progress::Progress;
use crate::rng::Rng;
use alloc::{format, string::String, vec::Vec};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};

/// Which update the training fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "form")]
pub enum UpdateForm {
    /// `Δh = v`.
    Vector,
    /// `Δh = B·A·u`, `A` Kaiming-uniform, `B` zero (EasyEdit: rank 4, no α/r scaling).
    Lora { rank: usize },
    /// `Δh = ΔW·u + Δb`, both zero at the start.
    LocalWeight,
}

impl UpdateForm {
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

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "objective")]
pub enum Objective {
    Sft,
    Split { w_pos: f32, w_neg: f32, gamma: f32, tau: f32, w_ref: f32 },
}

impl Objective {
    /// EasyEdit's SPLIT weights for a vector / for LoRA and local weight (PowerSeeking, Qwen).
    pub fn split_for(form: UpdateForm) -> Self {
        match form {
            UpdateForm::Vector => Objective::Split { w_pos: 1.0, w_neg: 0.6, gamma: 5.0, tau: 0.5, w_ref: 0.0 },
            _ => Objective::Split { w_pos: 1.0, w_neg: 0.5, gamma: 5.0, tau: 0.4, w_ref: 0.0 },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Objective::Sft => "sft",
            Objective::Split { .. } => "split",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainSettings {
    pub form: UpdateForm,
    pub objective: Objective,
    pub layer: usize,
    pub site: Site,
    pub learning_rate: f64,
    pub epochs: usize,
    pub batch: usize,
    /// Steering factors drawn uniformly per example.
    pub factors: Vec<f32>,
    /// Also train "subtract" examples (`−f`, completions swapped).
    pub subtract: bool,
    pub seed: u64,
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
            seed: 42,
        }
    }

    fn check(&self, config: &Config) -> Result<()> {
        config.check_layer(self.layer)?;
        self.form.check_site(self.site)?;
        let bad = |what: String| Err(Error::Invalid(what));
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(format!("learning rate must be a positive number, got {}", self.learning_rate));
        }
        if self.factors.is_empty() || self.factors.iter().any(|f| !f.is_finite()) {
            return bad(format!("steering factors must be finite numbers, got {:?}", self.factors));
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
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct StepStats {
    pub step: usize,
    pub loss: f32,
    /// Mean per-token loss of the winners and of the losers in the batch.
    pub winner: f32,
    pub loser: f32,
    pub grad_norm: f32,
}

pub struct Trainer<'a> {
    llama: &'a Llama,
    pub config: TrainSettings,
    data: &'a Prepared,
    params: Vec<Var>,
    /// Parameter values after the last finite step: what a diverged run falls back to.
    last_good: Vec<Tensor>,
    /// Unsteered per-token losses `[positive, negative]` per pair (only for the reference term).
    reference: Vec<[f32; 2]>,
    opt: AdamW,
    rng: Rng,
    order: Vec<usize>,
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
        Ok(Trainer { llama, config, data, params, last_good, reference, opt, rng, order: Vec::new(), step: 0 })
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.data.len().div_ceil(self.config.batch)
    }

    pub fn total_steps(&self) -> usize {
        self.steps_per_epoch() * self.config.epochs
    }

    /// The update as trained so far (detached), at strength 1.
    pub fn edit(&self) -> Edit {
        self.live_edit().detach()
    }

    /// One optimisation step on the next batch. A non-finite loss or gradient stops training
    /// with [`Error::Diverged`]; the parameters are then those of the last good step.
    pub fn step(&mut self) -> Result<StepStats> {
        if self.step >= self.total_steps() {
            return Err(Error::Invalid("training already finished".into()));
        }
        let batch = self.next_batch();
        let (mut total, mut winner, mut loser) = (None::<Tensor>, 0f32, 0f32);
        for &i in &batch {
            let (loss, w, l) = self.example_loss(i)?;
            winner += w / batch.len() as f32;
            loser += l / batch.len() as f32;
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
        let decay = 1.0 - self.step as f64 / self.total_steps() as f64;
        self.opt.set_learning_rate(self.config.learning_rate * decay);
        self.opt.step(&grads)?;
        if !self.params_finite()? {
            return Err(self.diverged("a parameter became non-finite".into()));
        }
        self.last_good = self.params.iter().map(|p| p.as_tensor().copy()).collect::<candle_core::Result<_>>()?;
        self.step += 1;
        Ok(StepStats { step: self.step, loss, winner, loser, grad_norm })
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
        if self.step % per_epoch == 0 {
            self.order = (0..self.data.len()).collect();
            for i in (1..self.order.len()).rev() {
                let j = self.rng.below(i + 1);
                self.order.swap(i, j);
            }
        }
        let start = (self.step % per_epoch) * self.config.batch;
        self.order[start..(start + self.config.batch).min(self.order.len())].to_vec()
    }

    /// The loss of pair `i` at a random factor and polarity, and its winner / loser losses.
    fn example_loss(&mut self, i: usize) -> Result<(Tensor, f32, f32)> {
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
        Ok((loss, wv, lv))
    }

    /// Scales the gradients to global L2 norm ≤ 1; returns the norm before scaling.
    fn clip(&self, grads: &mut candle_core::backprop::GradStore) -> Result<f32> {
        let mut sq = 0f32;
        for p in &self.params {
            if let Some(g) = grads.get(p) {
                sq += g.sqr()?.sum_all()?.to_scalar::<f32>()?;
            }
        }
        let norm = sq.sqrt();
        if norm > 1.0 && norm.is_finite() {
            for p in &self.params {
                if let Some(g) = grads.remove(p) {
                    grads.insert(p, (g / norm as f64)?);
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
