// f16 weights, row-major: 16 words per block of 32 (two halves per word, low half first).
@group(1) @binding(0) var<storage, read> W: array<u32>;

fn dequant(blk: u32) -> array<vec4<f32>, 8> {
    let base = blk * 16u;
    var out: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
        let b = base + 2u * i;
        out[i] = vec4<f32>(unpack2x16float(W[b]), unpack2x16float(W[b + 1u]));
    }
    return out;
}
