//! Hand-set weights: an (L+1)-layer, one-head-per-layer, attention-only softmax stack that solves
//! L-step composition (and iterated lookup) exactly.
//!
//! Residual fields (see [`Encoding`](super::task::Encoding) for the input part): `BLK | HI | LO | VAL | W₁…W_{L−1}` from the
//! features, then result slots `R₀ … R_L` (b dims each, initially 0). No positional encoding.
//!
//! * Codes are ±1 binary: for b-bit codes u·v = b − 2·Hamming(u, v), so an exact match beats every
//!   other code by at least 2.
//! * Layer 1: the query token's query is 2·e_{z₀}; the key is the BLK one-hot; the z₀ token scores
//!   2β, every other token 0. Value VAL → R₀, so R₀ ≈ bin(i₀) at the query token.
//! * Layer k+1 (k = 1…L): query = [2 ; bin(w_{k−1}) ; R_{k−1}], key = [BLK = z_k ; HI ; LO],
//!   value VAL → R_k. The table token of z_k whose argument is (w_{k−1}, i_{k−1}) scores
//!   β(2 + b_hi + b); every other token scores at least 2β less (wrong block: −2; wrong argument:
//!   −2 per differing bit). So R_k ≈ bin(i_k).
//! * Readout: the signs of R_L at the last token.
//!
//! **Why β must grow with ln n.** The winner gets softmax weight p = 1/(1 + (n−1)·e^{−2β}) at worst;
//! the n − 1 losers share 1 − p, and their values (±1 codes) pull R_k toward the wrong bits. With
//! β = ln n + c we get 1 − p ≤ n·e^{−2β} = e^{−2c}/n, which *shrinks* as n grows, so errors cannot
//! accumulate over the L hops. With β fixed, 1 − p → 1 once n ≫ e^{2β}: fixed β = 2 already fails
//! for n in the hundreds. Only the keys and values read input fields and only R fields are written,
//! so the answer depends on the last token's row alone ([`Stack::predict_last`]).

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::error::{AttnError, Result};
use super::mixer::{AnyMixer, Dense, Projections};
use super::softmax::SoftmaxAttention;
use super::stack::{AnswerHead, Block, Stack};
use super::task::{Rng, TaskSpec};

/// Slack c in β = ln n + c.
pub const BETA_SLACK: f32 = 2.0;

/// β = ln n + c: the inverse temperature the construction uses at prompt length n.
pub fn default_beta(n: usize) -> f32 {
    libm::logf(n.max(2) as f32) + BETA_SLACK
}

/// Number format of the residual stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// IEEE single (24-bit significand).
    F32,
    /// IEEE half (11-bit significand).
    F16,
    /// bfloat16 (8-bit significand).
    Bf16,
}

impl Precision {
    /// Significand bits, implicit bit included.
    pub fn significand_bits(&self) -> u32 {
        match self {
            Precision::F32 => 24,
            Precision::F16 => 11,
            Precision::Bf16 => 8,
        }
    }
    /// Largest prompt length the format supports: every softmax here averages over up to n
    /// tokens, and counts up to n are exact in a p-bit significand only for n ≤ 2^p.
    pub fn max_prompt(&self) -> usize {
        1usize << self.significand_bits()
    }
    /// Rounding to the format.
    pub fn rounder(&self) -> Option<fn(f32) -> f32> {
        match self {
            Precision::F32 => None,
            Precision::F16 => Some(|x| half::f16::from_f32(x).to_f32()),
            Precision::Bf16 => Some(|x| half::bf16::from_f32(x).to_f32()),
        }
    }
    /// Parses `f32`, `f16`, `bf16`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "fp32" => Ok(Precision::F32),
            "f16" | "fp16" | "half" => Ok(Precision::F16),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(AttnError::Config(alloc::format!("unknown precision `{s}` (f32, f16, bf16)"))),
        }
    }
}

/// A warning (not an error) when n exceeds what the precision supports.
pub fn precision_warning(n: usize, precision: Precision) -> Option<String> {
    let max = precision.max_prompt();
    (n > max).then(|| {
        alloc::format!(
            "prompt length {n} exceeds {max} = 2^{}, the longest prompt {:?} supports exactly; results may degrade",
            precision.significand_bits(),
            precision
        )
    })
}

/// The hand-set model for a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Construction {
    /// The task it solves.
    pub task: TaskSpec,
    /// Inverse temperature used by every layer.
    pub beta: f32,
    /// The (L+1)-layer stack.
    pub stack: Stack,
}

/// Builds the construction; `beta` defaults to [`default_beta`] of the task's prompt length.
pub fn construct(task: &TaskSpec, beta: Option<f32>) -> Result<Construction> {
    task.validate()?;
    let n = task.prompt_len();
    let beta = beta.unwrap_or_else(|| default_beta(n));
    if !(beta.is_finite() && beta > 0.0) {
        return Err(AttnError::Config(alloc::format!("inverse temperature must be positive, got {beta}")));
    }
    let enc = task.encoding();
    let steps = task.steps();
    let (b, bh) = (enc.b, enc.b_hi);
    let f = enc.dim();
    let d = f + (steps + 1) * b;
    let r = |k: usize| f + k * b;

    let mut blocks = Vec::with_capacity(steps + 1);
    // Layer 1: fetch z₀ into R₀ at the query token.
    {
        let mut wq = Dense::zeros(d, 1);
        wq.set(enc.blk_query(), 0, 2.0);
        let mut wk = Dense::zeros(d, 1);
        wk.set(enc.blk_z0(), 0, 1.0);
        let (wv, wo) = copy_val_to(d, enc.val(), r(0), b);
        blocks.push(block(Projections { heads: 1, dk: 1, dv: b, wq, wk, wv, wo }, beta));
    }
    // Layer k+1: look up z_k at (w_{k−1}, i_{k−1}).
    for k in 1..=steps {
        let dk = 1 + bh + b;
        let mut wq = Dense::zeros(d, dk);
        let mut wk = Dense::zeros(d, dk);
        wq.set(enc.blk_query(), 0, 2.0);
        wk.set(enc.blk_table(k), 0, 1.0);
        for j in 0..bh {
            if k >= 2 {
                wq.set(enc.w(k - 1) + j, 1 + j, 1.0);
            }
            wk.set(enc.hi() + j, 1 + j, 1.0);
        }
        for j in 0..b {
            wq.set(r(k - 1) + j, 1 + bh + j, 1.0);
            wk.set(enc.lo() + j, 1 + bh + j, 1.0);
        }
        let (wv, wo) = copy_val_to(d, enc.val(), r(k), b);
        blocks.push(block(Projections { heads: 1, dk, dv: b, wq, wk, wv, wo }, beta));
    }
    let stack = Stack {
        d_in: f,
        d_model: d,
        embed: None,
        blocks,
        final_norm: None,
        readout: AnswerHead::Code { offset: r(steps), bits: b },
    };
    Ok(Construction { task: task.clone(), beta, stack })
}

fn copy_val_to(d: usize, val: usize, dst: usize, b: usize) -> (Dense, Dense) {
    let mut wv = Dense::zeros(d, b);
    let mut wo = Dense::zeros(b, d);
    for j in 0..b {
        wv.set(val + j, j, 1.0);
        wo.set(j, dst + j, 1.0);
    }
    (wv, wo)
}

fn block(heads: Projections, beta: f32) -> Block {
    Block { mixer: AnyMixer::Softmax(SoftmaxAttention { heads, scale: beta }), norm1: None, mlp: None, norm2: None }
}

/// Accuracy of a construction on random instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConstructReport {
    /// Task.
    pub task: TaskSpec,
    /// L.
    pub steps: usize,
    /// Prompt length.
    pub n: usize,
    /// Layers (L + 1).
    pub layers: usize,
    /// Residual width.
    pub d_model: usize,
    /// Inverse temperature.
    pub beta: f32,
    /// Precision of the residual stream.
    pub precision: Precision,
    /// Instances evaluated.
    pub instances: usize,
    /// Correct answers.
    pub correct: usize,
    /// correct / instances.
    pub accuracy: f64,
    /// Seed of the instances.
    pub seed: u64,
    /// Warnings (e.g. n beyond the precision).
    pub warnings: Vec<String>,
}

impl Construction {
    /// Answer of the construction on one instance.
    pub fn predict(&self, inst: &super::task::Instance, precision: Precision) -> Result<u32> {
        let enc = self.task.encoding();
        let feats = inst.features(&enc);
        let n = feats.len() / enc.dim();
        self.stack.predict_last(&feats, n, precision.rounder())
    }

    /// Evaluates on `instances` random instances (seeded); `progress(done)` is called per instance.
    pub fn evaluate(
        &self, instances: usize, seed: u64, precision: Precision, mut progress: impl FnMut(usize),
    ) -> Result<ConstructReport> {
        let mut rng = Rng::new(seed);
        let mut correct = 0;
        for i in 0..instances {
            let inst = self.task.sample(&mut rng);
            if self.predict(&inst, precision)? == inst.solve() {
                correct += 1;
            }
            progress(i + 1);
        }
        let n = self.task.prompt_len();
        Ok(ConstructReport {
            task: self.task.clone(),
            steps: self.task.steps(),
            n,
            layers: self.stack.blocks.len(),
            d_model: self.stack.d_model,
            beta: self.beta,
            precision,
            instances,
            correct,
            accuracy: if instances == 0 { 0.0 } else { correct as f64 / instances as f64 },
            seed,
            warnings: precision_warning(n, precision).into_iter().collect(),
        })
    }
}

/// A composition task with prompt length at least `min_n` for L steps, all domains equal to the
/// smallest k that reaches it (k ≥ 2).
pub fn composition_at_least(steps: usize, min_n: usize) -> Result<TaskSpec> {
    if steps < 1 {
        return Err(AttnError::InvalidSteps(steps));
    }
    let mut k = 2;
    loop {
        let t = TaskSpec::composition_uniform(steps, k)?;
        if t.prompt_len() >= min_n {
            return Ok(t);
        }
        k += 1;
    }
}

/// Prompt lengths of [`composition_at_least`] for reference.
pub fn lengths(steps: usize, ks: &[usize]) -> Vec<usize> {
    ks.iter().filter_map(|&k| TaskSpec::composition_uniform(steps, k).ok().map(|t| t.prompt_len())).collect::<Vec<_>>()
}
