// Q8_0 blocks exactly as GGUF stores them: 34 bytes per 32 weights, an f16 scale d then 32
// signed bytes q; a weight is q·d. 34 is not a multiple of 4, so blocks alternate between word
// and half-word alignment: every load goes through `bytes_at`.
@group(1) @binding(0) var<storage, read> W: array<u32>;

// The 4 bytes starting at byte offset `o` (any alignment), little-endian.
fn bytes_at(o: u32) -> u32 {
    let w = o >> 2u;
    let s = (o & 3u) * 8u;
    if (s == 0u) {
        return W[w];
    }
    return (W[w] >> s) | (W[w + 1u] << (32u - s));
}

fn dequant(blk: u32) -> array<vec4<f32>, 8> {
    let base = blk * 34u;
    let d = unpack2x16float(bytes_at(base)).x;
    var out: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
        let q = bytes_at(base + 2u + 4u * i);
        let s = vec4<i32>(i32(q << 24u) >> 24u, i32(q << 16u) >> 24u, i32(q << 8u) >> 24u, i32(q) >> 24u);
        out[i] = vec4<f32>(s) * d;
    }
    return out;
}
