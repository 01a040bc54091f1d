// How closely two engines running the same quantized model agree: the CLI (x86 kernels) and the
// wasm Session (SIMD128). The page uses MEAN_BOUND to say whether a live point confirms a
// precomputed one; the tests (tests/node/engine_bounds.mjs) use all of them.
//
// The Q4_1 kernels are bit-exact to the scalar reference on both targets, but the f32 ops around
// them (exp in softmax and SiLU, the attention matmuls: FMA on x86, none in SIMD128) round
// differently in the last bit, and the next layer quantizes its input to 8 bits (Q8_1 blocks): a
// last-bit difference that crosses a rounding boundary becomes a 1/127-of-the-block change, and
// 30 layers spread it. Measured: the unsteered point (no steering code at all) differs by up to
// 0.016 nats in a mean per-token loss and 0.6 in a sum over a pair's tokens. So every mean
// per-token statistic (losses, log-odds, their intervals) must agree to 0.05 nats, every sum over
// tokens to 0.05 × the mean tokens per pair, norms and vectors to 1e-2 relative,
// accuracy to one pair in 8 (a near-tie may flip), counts and ranks exactly. A
// difference of method (a wrong position, strength unit or pair) moves the means by ≥ 0.1.

/** The relative bound on a norm or a vector's entries (measured: 0.4% on early layers' vectors). */
export const NORM_BOUND = 1e-2;

/** Accuracy counts pairs with L_p < L_n: a pair within engine noise of a tie may flip (seen: one
 * of 8 under a random direction), so one pair of the page's 8 held-out pairs is allowed. */
export const ACCURACY_BOUND = 0.13;

/** The bound on a mean per-token statistic, in nats. */
export const MEAN_BOUND = 0.05;
