//! Chunked (parallel) forms shared by the linear-attention family, per head.
//!
//! Two kernels cover six mixers:
//! * [`decay_chunked`]: S_t = Diag(e^{λ_t}) S_{t−1} + k_t v_tᵀ, o_t = S_tᵀ q_t — linear attention
//!   (λ = 0), RetNet (λ = ln γ), GLA (λ_t per channel), Mamba2 (λ_t = Δ_t·A, scalar).
//! * [`delta_chunked`]: S_t = e^{λ_t}(I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ — DeltaNet (λ = 0)
//!   and Gated DeltaNet.
//!
//! Inside a chunk of C tokens starting from state S₀ the cumulative log-decay G_t = Σ λ (from the
//! chunk start) gives o_t = (q_t ⊙ e^{G_t})ᵀ S₀ + Σ_{s≤t} [Σ_c q_tc k_sc e^{G_tc − G_sc}] v_s.
//! Only differences G_t − G_s with s ≤ t are exponentiated, so nothing overflows however long the
//! sequence. For the delta rule, u_t = β_t(v_t − e^{G_t} S₀ᵀk_t − Σ_{s<t} e^{G_t−G_s}(k_t·k_s) u_s)
//! (the triangular "UT" solve, by forward substitution), then the same form with u for v.
//! The recurrent loops in each mixer's file are the references these are tested against.

use alloc::vec;
use alloc::vec::Vec;

/// Per-step log-decay λ_t.
#[derive(Debug, Clone, Copy)]
pub enum LogDecay<'a> {
    /// No decay (λ = 0).
    None,
    /// One λ_t per token (n).
    Scalar(&'a [f32]),
    /// One λ_t per token and key channel (n, dk).
    Channel(&'a [f32]),
}

impl LogDecay<'_> {
    fn at(&self, t: usize, c: usize, dk: usize) -> f32 {
        match self {
            LogDecay::None => 0.0,
            LogDecay::Scalar(l) => l[t],
            LogDecay::Channel(l) => l[t * dk + c],
        }
    }
}

/// Chunked form of the decayed linear recurrence; q, k: (n, dk), v: (n, dv) → o: (n, dv).
#[allow(clippy::too_many_arguments)]
pub fn decay_chunked(
    q: &[f32], k: &[f32], v: &[f32], decay: LogDecay<'_>, n: usize, dk: usize, dv: usize, chunk: usize,
) -> Vec<f32> {
    let mut o = vec![0.0; n * dv];
    let mut s = vec![0.0f32; dk * dv];
    let mut g = vec![0.0f32; chunk * dk];
    let mut c0 = 0;
    while c0 < n {
        let c1 = (c0 + chunk).min(n);
        let len = c1 - c0;
        // Cumulative log-decay inside the chunk.
        for i in 0..len {
            for c in 0..dk {
                let prev = if i == 0 { 0.0 } else { g[(i - 1) * dk + c] };
                g[i * dk + c] = prev + decay.at(c0 + i, c, dk);
            }
        }
        for i in 0..len {
            let t = c0 + i;
            let ot = &mut o[t * dv..(t + 1) * dv];
            // Inter-chunk: (q ⊙ e^G)ᵀ S₀.
            for c in 0..dk {
                let qc = q[t * dk + c] * libm::expf(g[i * dk + c]);
                if qc != 0.0 {
                    for (oj, sj) in ot.iter_mut().zip(&s[c * dv..(c + 1) * dv]) {
                        *oj += qc * sj;
                    }
                }
            }
            // Intra-chunk: decayed causal scores.
            for j in 0..=i {
                let sidx = c0 + j;
                let mut a = 0.0;
                for c in 0..dk {
                    a += q[t * dk + c] * k[sidx * dk + c] * libm::expf(g[i * dk + c] - g[j * dk + c]);
                }
                for (oj, vj) in ot.iter_mut().zip(&v[sidx * dv..(sidx + 1) * dv]) {
                    *oj += a * vj;
                }
            }
        }
        // State to the chunk end.
        let last = len - 1;
        for c in 0..dk {
            let gl = g[last * dk + c];
            let keep = libm::expf(gl);
            for x in &mut s[c * dv..(c + 1) * dv] {
                *x *= keep;
            }
            for j in 0..len {
                let sidx = c0 + j;
                let kc = k[sidx * dk + c] * libm::expf(gl - g[j * dk + c]);
                for (x, vj) in s[c * dv..(c + 1) * dv].iter_mut().zip(&v[sidx * dv..(sidx + 1) * dv]) {
                    *x += kc * vj;
                }
            }
        }
        c0 = c1;
    }
    o
}

/// Chunked form of the (gated) delta rule; `logdecay` is one λ_t per token or `None`.
#[allow(clippy::too_many_arguments)]
pub fn delta_chunked(
    q: &[f32], k: &[f32], v: &[f32], beta: &[f32], logdecay: Option<&[f32]>, n: usize, dk: usize, dv: usize,
    chunk: usize,
) -> Vec<f32> {
    let mut o = vec![0.0; n * dv];
    let mut s = vec![0.0f32; dk * dv];
    let mut g = vec![0.0f32; chunk];
    let mut u = vec![0.0f32; chunk * dv];
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let mut c0 = 0;
    while c0 < n {
        let c1 = (c0 + chunk).min(n);
        let len = c1 - c0;
        for i in 0..len {
            let lam = logdecay.map_or(0.0, |l| l[c0 + i]);
            g[i] = if i == 0 { lam } else { g[i - 1] + lam };
        }
        // UT solve by forward substitution: u_t = β_t (v_t − e^{G_t} S₀ᵀk_t − Σ_{s<t} …).
        for i in 0..len {
            let t = c0 + i;
            let kt = &k[t * dk..(t + 1) * dk];
            let mut ut: Vec<f32> = v[t * dv..(t + 1) * dv].to_vec();
            let e = libm::expf(g[i]);
            for c in 0..dk {
                let kc = kt[c] * e;
                if kc != 0.0 {
                    for (x, sj) in ut.iter_mut().zip(&s[c * dv..(c + 1) * dv]) {
                        *x -= kc * sj;
                    }
                }
            }
            for j in 0..i {
                let ks = &k[(c0 + j) * dk..(c0 + j + 1) * dk];
                let a = dot(kt, ks) * libm::expf(g[i] - g[j]);
                for (x, uj) in ut.iter_mut().zip(&u[j * dv..(j + 1) * dv]) {
                    *x -= a * uj;
                }
            }
            for (dst, x) in u[i * dv..(i + 1) * dv].iter_mut().zip(&ut) {
                *dst = beta[t] * x;
            }
        }
        // Outputs: e^{G_t} S₀ᵀ q_t + Σ_{s≤t} e^{G_t−G_s}(q_t·k_s) u_s.
        for i in 0..len {
            let t = c0 + i;
            let qt = &q[t * dk..(t + 1) * dk];
            let ot = &mut o[t * dv..(t + 1) * dv];
            let e = libm::expf(g[i]);
            for c in 0..dk {
                let qc = qt[c] * e;
                if qc != 0.0 {
                    for (oj, sj) in ot.iter_mut().zip(&s[c * dv..(c + 1) * dv]) {
                        *oj += qc * sj;
                    }
                }
            }
            for j in 0..=i {
                let ks = &k[(c0 + j) * dk..(c0 + j + 1) * dk];
                let a = dot(qt, ks) * libm::expf(g[i] - g[j]);
                for (oj, uj) in ot.iter_mut().zip(&u[j * dv..(j + 1) * dv]) {
                    *oj += a * uj;
                }
            }
        }
        // State: e^{G_last} S₀ + Σ_s e^{G_last − G_s} k_s u_sᵀ.
        let gl = g[len - 1];
        let keep = libm::expf(gl);
        s.iter_mut().for_each(|x| *x *= keep);
        for j in 0..len {
            let ks = &k[(c0 + j) * dk..(c0 + j + 1) * dk];
            let e = libm::expf(gl - g[j]);
            for c in 0..dk {
                let kc = ks[c] * e;
                for (x, uj) in s[c * dv..(c + 1) * dv].iter_mut().zip(&u[j * dv..(j + 1) * dv]) {
                    *x += kc * uj;
                }
            }
        }
        c0 = c1;
    }
    o
}
