// Rotary embeddings, GGUF llama's interleaved ("non-neox") form: within each head, the pair
// (x[2i], x[2i+1]) turns by the angle pos·θ_i, with cos and sin read from a table the host
// computes once in f32 exactly like the CPU path (table[pos·hd2 + i] = (cos, sin)).
//   rope_q:     rotates the queries in place.
//   store_kv:   writes the rotated keys and the values of the new tokens into the KV cache
//               rows pos0 + t.
struct Params {
    tokens: u32,
    heads: u32,
    head_dim: u32,
    pos0: u32,   // absolute position of token 0
}
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> table: array<vec2<f32>>;
@group(1) @binding(1) var<storage, read_write> Q: array<f32>;

fn rotate(x0: f32, x1: f32, cs: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(x0 * cs.x - x1 * cs.y, x0 * cs.y + x1 * cs.x);
}

@compute @workgroup_size(64)
fn rope_q(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    let hd2 = p.head_dim / 2u;
    let per_token = p.heads * hd2;
    let t = idx / per_token;
    if (t >= p.tokens) {
        return;
    }
    let i = idx % hd2;
    let e = t * p.heads * p.head_dim + (idx % per_token) / hd2 * p.head_dim + 2u * i;
    let r = rotate(Q[e], Q[e + 1u], table[(p.pos0 + t) * hd2 + i]);
    Q[e] = r.x;
    Q[e + 1u] = r.y;
}
