// Q4_1 blocks exactly as GGUF stores them: 20 bytes = 5 words per 32 weights.
// Word 0 holds the f16 scale d (low half) and minimum m (high half); words 1..4 hold 16 bytes of
// nibbles: weight j < 16 is the low nibble of byte j, weight j + 16 its high nibble. A weight is
// q·d + m (ggml's dequantize_row_q4_1).
@group(1) @binding(0) var<storage, read> W: array<u32>;

fn dequant(blk: u32) -> array<vec4<f32>, 8> {
    let base = blk * 5u;
    let dm = unpack2x16float(W[base]);
    var out: array<vec4<f32>, 8>;
    for (var i = 0u; i < 4u; i++) {
        let q = W[base + 1u + i];
        let lo = vec4<f32>(f32(q & 15u), f32((q >> 8u) & 15u), f32((q >> 16u) & 15u), f32((q >> 24u) & 15u));
        let hi = vec4<f32>(f32((q >> 4u) & 15u), f32((q >> 12u) & 15u), f32((q >> 20u) & 15u), f32(q >> 28u));
        out[i] = lo * dm.x + dm.y;
        out[4u + i] = hi * dm.x + dm.y;
    }
    return out;
}
