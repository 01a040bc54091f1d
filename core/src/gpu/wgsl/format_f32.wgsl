// Plain f32 weights, row-major: 32 words per block of 32.
@group(1) @binding(0) var<storage, read> W: array<u32>;

fn dequant(blk: u32) -> array<vec4<f32>, 8> {
    let base = blk * 32u;
    var out: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
        let b = base + 4u * i;
        out[i] = bitcast<vec4<f32>>(vec4<u32>(W[b], W[b + 1u], W[b + 2u], W[b + 3u]));
    }
    return out;
}
