//! Hand-written CPU kernels: the product's hot loops, each with a plain scalar reference that
//! the fast paths (AVX2 natively, SIMD128 in wasm) are tested against.
pub mod q4_1;
