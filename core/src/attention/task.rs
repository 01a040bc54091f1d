//! The two tasks of the lab, seeded and deterministic.
//!
//! * **L-step sequential function composition** (Chen–Peng–Wu, Def. 2.1): z₀ ∈ \[m\], a query
//!   w = (w₁ … w_{L−1}) with w_l ∈ \[n_l\], and functions z_l : \[N_{l−1}\] → \[N_{l−1}\] where
//!   N₀ = m and N_l = N_{l−1}·n_l. For l ≥ 2 the argument of z_l is the pair (w_{l−1}, i_{l−1}).
//!   i₀ = z₀, i₁ = z₁(i₀), i_{l+1} = z_{l+1}(w_l, i_l); the answer is i_L.
//! * **Iterated lookup** over one domain \[k\]: the same layout with every z_l : \[k\] → \[k\] and no w.
//!
//! Token layout (both tasks): `[z_L table] … [z₁ table] [z₀] [w]`; a function is written as its
//! full value table, one token per argument, arguments in order; the answer is read at the last
//! token. Every token is a small record ([`Token`]); [`Encoding`] turns it into a feature vector
//! (a one-hot block id plus ±1 binary codes) that both the hand-set construction and the trained
//! models read, so there is no positional encoding anywhere.

use alloc::vec;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::error::{AttnError, Result};

pub use crate::rng::Rng;

/// Which task, with its domain sizes. Serializable so experiment configs can carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskSpec {
    /// L-step composition: z₀ ∈ \[m\], w_l ∈ \[n_l\] for l = 1..L−1 (`n.len() == steps − 1`).
    Composition {
        /// L, the number of composition steps.
        steps: usize,
        /// m = N₀, the domain of z₀ and z₁.
        m: usize,
        /// n₁ … n_{L−1}, the ranges of the query parts.
        n: Vec<usize>,
    },
    /// Iterated lookup over \[k\]: answer z_L(…z₁(z₀)).
    Lookup {
        /// L, the number of lookups.
        steps: usize,
        /// The domain size k.
        k: usize,
    },
}

/// Shape of one function table z_l: arguments are pairs (hi, lo), hi ∈ \[hi_size\], lo ∈ \[lo_size\];
/// values lie in \[range\].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockShape {
    /// Range of the query part of the argument (1 when there is none).
    pub hi_size: usize,
    /// Range of the previous result i_{l−1}.
    pub lo_size: usize,
    /// Range of the values.
    pub range: usize,
}

impl BlockShape {
    /// Number of table tokens.
    pub fn len(&self) -> usize {
        self.hi_size * self.lo_size
    }
    /// Always false for valid shapes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Largest prompt any task may ask for (a guard against runaway N_l products).
pub const MAX_PROMPT: usize = 1 << 22;

impl TaskSpec {
    /// L-step composition with every domain equal to `k` (m = n_l = k).
    pub fn composition_uniform(steps: usize, k: usize) -> Result<Self> {
        let t = TaskSpec::Composition { steps, m: k, n: vec![k; steps.saturating_sub(1)] };
        t.validate()?;
        Ok(t)
    }
    /// One domain size `k` throughout: iterated lookup over \[k\], or composition with m = n_l = k
    /// (the two tasks the CLI, the experiment and the page offer).
    pub fn uniform(lookup: bool, steps: usize, k: usize) -> Result<Self> {
        if lookup {
            TaskSpec::lookup(steps, k)
        } else {
            TaskSpec::composition_uniform(steps, k)
        }
    }
    /// Iterated lookup.
    pub fn lookup(steps: usize, k: usize) -> Result<Self> {
        let t = TaskSpec::Lookup { steps, k };
        t.validate()?;
        Ok(t)
    }

    /// L.
    pub fn steps(&self) -> usize {
        match self {
            TaskSpec::Composition { steps, .. } | TaskSpec::Lookup { steps, .. } => *steps,
        }
    }

    /// Checks L ≥ 1, domain sizes large enough for the layout, and the prompt length.
    pub fn validate(&self) -> Result<()> {
        let steps = self.steps();
        if steps < 1 {
            return Err(AttnError::InvalidSteps(steps));
        }
        match self {
            TaskSpec::Composition { m, n, .. } => {
                if *m < 2 {
                    return Err(AttnError::DomainTooSmall { what: "m".into(), got: *m, min: 2 });
                }
                if n.len() != steps - 1 {
                    return Err(AttnError::Config(alloc::format!(
                        "composition with L = {steps} needs {} query ranges n_1..n_(L-1), got {}",
                        steps - 1,
                        n.len()
                    )));
                }
                for (i, &nl) in n.iter().enumerate() {
                    if nl < 1 {
                        return Err(AttnError::DomainTooSmall { what: alloc::format!("n_{}", i + 1), got: nl, min: 1 });
                    }
                }
                // Products may overflow: check as we go.
                let mut total: usize = 2;
                let mut nl = *m;
                for l in 0..steps {
                    total = total.saturating_add(nl);
                    if let Some(&nx) = n.get(l) {
                        nl = nl.saturating_mul(nx);
                    }
                    if total > MAX_PROMPT {
                        return Err(AttnError::TooLong { n: total, max: MAX_PROMPT });
                    }
                }
            }
            TaskSpec::Lookup { k, .. } => {
                if *k < 2 {
                    return Err(AttnError::DomainTooSmall { what: "k".into(), got: *k, min: 2 });
                }
                let total = steps.saturating_mul(*k).saturating_add(2);
                if total > MAX_PROMPT {
                    return Err(AttnError::TooLong { n: total, max: MAX_PROMPT });
                }
            }
        }
        Ok(())
    }

    /// The table shapes z₁ … z_L (index l−1).
    pub fn blocks(&self) -> Vec<BlockShape> {
        match self {
            TaskSpec::Composition { steps, m, n } => {
                let mut out = Vec::with_capacity(*steps);
                out.push(BlockShape { hi_size: 1, lo_size: *m, range: *m });
                let mut prev = *m; // N_{l-1}
                for l in 2..=*steps {
                    let hi = n[l - 2];
                    out.push(BlockShape { hi_size: hi, lo_size: prev, range: prev * hi });
                    prev *= hi;
                }
                out
            }
            TaskSpec::Lookup { steps, k } => {
                vec![BlockShape { hi_size: 1, lo_size: *k, range: *k }; *steps]
            }
        }
    }

    /// Ranges of the query parts w₁ … w_{L−1} (empty for lookup).
    pub fn query_ranges(&self) -> Vec<usize> {
        match self {
            TaskSpec::Composition { n, .. } => n.clone(),
            TaskSpec::Lookup { .. } => Vec::new(),
        }
    }

    /// Range of z₀.
    pub fn z0_range(&self) -> usize {
        match self {
            TaskSpec::Composition { m, .. } => *m,
            TaskSpec::Lookup { k, .. } => *k,
        }
    }

    /// Prompt length n = 2 + Σ table sizes.
    pub fn prompt_len(&self) -> usize {
        2 + self.blocks().iter().map(|b| b.len()).sum::<usize>()
    }

    /// Number of possible answers (range of z_L).
    pub fn num_classes(&self) -> usize {
        self.blocks().last().map(|b| b.range).unwrap_or(1)
    }

    /// Draws one instance (tables, z₀ and w uniform).
    pub fn sample(&self, rng: &mut Rng) -> Instance {
        let blocks = self.blocks();
        let tables = blocks.iter().map(|b| (0..b.len()).map(|_| rng.below(b.range) as u32).collect()).collect();
        let z0 = rng.below(self.z0_range()) as u32;
        let w = self.query_ranges().iter().map(|&r| rng.below(r) as u32).collect();
        Instance { blocks, tables, z0, w }
    }

    /// The feature encoding of this task's tokens.
    pub fn encoding(&self) -> Encoding {
        let blocks = self.blocks();
        let max_hi = blocks.iter().map(|b| b.hi_size).max().unwrap_or(1);
        let max_val = blocks.iter().map(|b| b.range.max(b.lo_size)).max().unwrap_or(2);
        Encoding { steps: self.steps(), b_hi: bits(max_hi), b: bits(max_val) }
    }
}

/// Bits needed to write 0..x−1 (at least 1).
pub fn bits(x: usize) -> usize {
    let mut b = 1;
    while (1usize << b) < x {
        b += 1;
    }
    b
}

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    /// A table entry of z_l (l is 1-based).
    Table(u8),
    /// The z₀ token.
    Z0,
    /// The query token w (last).
    Query,
}

/// One prompt token: for a table token, argument (hi, lo) and value; for z₀, `val` = z₀.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Kind.
    pub kind: TokenKind,
    /// Query part of the argument.
    pub hi: u32,
    /// Previous-result part of the argument.
    pub lo: u32,
    /// Stored value.
    pub val: u32,
}

/// One sampled instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Table shapes z₁ … z_L.
    pub blocks: Vec<BlockShape>,
    /// `tables[l−1][hi·lo_size + lo]` = z_l(hi, lo).
    pub tables: Vec<Vec<u32>>,
    /// z₀.
    pub z0: u32,
    /// w₁ … w_{L−1} (empty for lookup).
    pub w: Vec<u32>,
}

impl Instance {
    /// L.
    pub fn steps(&self) -> usize {
        self.blocks.len()
    }

    /// The exact solver: follows the chain i₀ = z₀, i_l = z_l(w_{l−1}, i_{l−1}).
    pub fn solve(&self) -> u32 {
        self.chain()[self.steps()]
    }

    /// The whole chain i₀ … i_L.
    pub fn chain(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.steps() + 1);
        let mut i = self.z0;
        out.push(i);
        for (l, (b, t)) in self.blocks.iter().zip(&self.tables).enumerate() {
            let hi = if l >= 1 && b.hi_size > 1 { self.w[l - 1] } else { 0 };
            i = t[hi as usize * b.lo_size + i as usize];
            out.push(i);
        }
        out
    }

    /// The prompt, in layout order `[z_L] … [z₁] [z₀] [w]`.
    pub fn tokens(&self) -> Vec<Token> {
        let mut out = Vec::new();
        for l in (0..self.steps()).rev() {
            let b = self.blocks[l];
            for hi in 0..b.hi_size {
                for lo in 0..b.lo_size {
                    out.push(Token {
                        kind: TokenKind::Table((l + 1) as u8),
                        hi: hi as u32,
                        lo: lo as u32,
                        val: self.tables[l][hi * b.lo_size + lo],
                    });
                }
            }
        }
        out.push(Token { kind: TokenKind::Z0, hi: 0, lo: 0, val: self.z0 });
        out.push(Token { kind: TokenKind::Query, hi: 0, lo: 0, val: 0 });
        out
    }

    /// Feature matrix (n × `enc.dim()`, row-major) of the prompt.
    pub fn features(&self, enc: &Encoding) -> Vec<f32> {
        let toks = self.tokens();
        let d = enc.dim();
        let mut out = vec![0.0; toks.len() * d];
        for (t, tok) in toks.iter().enumerate() {
            let row = &mut out[t * d..(t + 1) * d];
            enc.write(tok, &self.w, &self.blocks, row);
        }
        out
    }
}

/// Brute-force reference: reads the *prompt tokens* (not the tables) and at every step scans all
/// tokens for the one whose block and argument match. Independent of [`Instance::solve`].
pub fn brute_force(tokens: &[Token], w: &[u32]) -> Option<u32> {
    let z0 = tokens.iter().find(|t| t.kind == TokenKind::Z0)?.val;
    let steps = tokens
        .iter()
        .filter_map(|t| match t.kind {
            TokenKind::Table(l) => Some(l as usize),
            _ => None,
        })
        .max()?;
    let mut i = z0;
    for l in 1..=steps {
        let has_hi = tokens.iter().any(|t| t.kind == TokenKind::Table(l as u8) && t.hi > 0);
        let hi = if l >= 2 && has_hi { *w.get(l - 2)? } else { 0 };
        let hit: Vec<&Token> =
            tokens.iter().filter(|t| t.kind == TokenKind::Table(l as u8) && t.hi == hi && t.lo == i).collect();
        if hit.len() != 1 {
            return None;
        }
        i = hit[0].val;
    }
    Some(i)
}

/// Feature layout of a token: `[BLK (L+2 one-hot) | HI (b_hi) | LO (b) | VAL (b) | W₁ … W_{L−1}
/// (b_hi each)]`. Codes are ±1 per bit, so for codes u, v of b bits u·v = b − 2·Hamming(u, v):
/// an exact match beats every other code by at least 2. A field that does not apply is all 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encoding {
    /// L.
    pub steps: usize,
    /// Bits of the query parts.
    pub b_hi: usize,
    /// Bits of arguments and values.
    pub b: usize,
}

impl Encoding {
    /// Offset of the BLK field.
    pub fn blk(&self) -> usize {
        0
    }
    /// Offset of the HI field.
    pub fn hi(&self) -> usize {
        self.steps + 2
    }
    /// Offset of the LO field.
    pub fn lo(&self) -> usize {
        self.hi() + self.b_hi
    }
    /// Offset of the VAL field.
    pub fn val(&self) -> usize {
        self.lo() + self.b
    }
    /// Offset of W_l (1-based l).
    pub fn w(&self, l: usize) -> usize {
        self.val() + self.b + (l - 1) * self.b_hi
    }
    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.val() + self.b + self.steps.saturating_sub(1) * self.b_hi
    }
    /// BLK index of z_l's table tokens (1-based l).
    pub fn blk_table(&self, l: usize) -> usize {
        l - 1
    }
    /// BLK index of the z₀ token.
    pub fn blk_z0(&self) -> usize {
        self.steps
    }
    /// BLK index of the query token.
    pub fn blk_query(&self) -> usize {
        self.steps + 1
    }

    fn write(&self, tok: &Token, w: &[u32], blocks: &[BlockShape], row: &mut [f32]) {
        match tok.kind {
            TokenKind::Table(l) => {
                let l = l as usize;
                row[self.blk_table(l)] = 1.0;
                if blocks[l - 1].hi_size > 1 {
                    code(tok.hi, &mut row[self.hi()..self.hi() + self.b_hi]);
                }
                code(tok.lo, &mut row[self.lo()..self.lo() + self.b]);
                code(tok.val, &mut row[self.val()..self.val() + self.b]);
            }
            TokenKind::Z0 => {
                row[self.blk_z0()] = 1.0;
                code(tok.val, &mut row[self.val()..self.val() + self.b]);
            }
            TokenKind::Query => {
                row[self.blk_query()] = 1.0;
                for (l, &wl) in w.iter().enumerate() {
                    let o = self.w(l + 1);
                    code(wl, &mut row[o..o + self.b_hi]);
                }
            }
        }
    }
}

/// Writes the ±1 binary code of `x` (bit j → entry j).
pub fn code(x: u32, out: &mut [f32]) {
    for (j, o) in out.iter_mut().enumerate() {
        *o = if (x >> j) & 1 == 1 { 1.0 } else { -1.0 };
    }
}

/// Decodes a ±1 code by signs.
pub fn decode(v: &[f32]) -> u32 {
    v.iter().enumerate().fold(0u32, |acc, (j, &x)| if x > 0.0 { acc | (1 << j) } else { acc })
}
