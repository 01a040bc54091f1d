// Rotary embeddings, GGUF llama's interleaved ("non-neox") form: within each head, the pair
// (x[2i], x[2i+1]) turns by the angle pos·θ_i, with cos and sin read from a table the host
// computes once in f32 exactly like the CPU path (table[pos·hd2 + i] = (cos, sin)).
// This part is shared by the two kernels that rotate (rope.rs prepends it):
//   rope_q.wgsl:   rotates the queries in place;
//   store_kv.wgsl: writes the rotated keys and the values of the new tokens into the KV cache
//                  rows pos0 + t.
// One thread per pair.
struct Params {
    tokens: u32,
    heads: u32,
    head_dim: u32,
    pos0: u32,   // absolute position of token 0
}
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> table: array<vec2<f32>>;

// A thread's pair: token `t`, pair `i` within its head, and the offset of the pair's first
// element within the token's row of heads · head_dim floats.
struct Pair {
    t: u32,
    i: u32,
    within: u32,
}

fn pair_of(gid: vec3<u32>, nwg: vec3<u32>) -> Pair {
    let idx = thread_index(gid, nwg, 64u);
    let hd2 = p.head_dim / 2u;
    let per_token = p.heads * hd2;
    let i = idx % hd2;
    return Pair(idx / per_token, i, (idx % per_token) / hd2 * p.head_dim + 2u * i);
}

// (x0, x1) turned by the angle of pair `q`'s position and index.
fn rotate(x0: f32, x1: f32, q: Pair) -> vec2<f32> {
    let cs = table[(p.pos0 + q.t) * (p.head_dim / 2u) + q.i];
    return vec2<f32>(x0 * cs.x - x1 * cs.y, x0 * cs.y + x1 * cs.x);
}
