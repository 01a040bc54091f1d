// Writes the new tokens' keys (rotated, as in rope.wgsl) and values into the KV cache rows
// pos0 .. pos0 + tokens. Cache rows are `heads · head_dim` floats, one per position.
struct Params {
    tokens: u32,
    heads: u32,
    head_dim: u32,
    pos0: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> table: array<vec2<f32>>;
@group(1) @binding(1) var<storage, read> k: array<f32>;
@group(1) @binding(2) var<storage, read> v: array<f32>;
@group(1) @binding(3) var<storage, read_write> K: array<f32>;
@group(1) @binding(4) var<storage, read_write> V: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 64u;
    let hd2 = p.head_dim / 2u;
    let per_token = p.heads * hd2;
    let t = idx / per_token;
    if (t >= p.tokens) {
        return;
    }
    let i = idx % hd2;
    let within = (idx % per_token) / hd2 * p.head_dim + 2u * i;
    let e = t * p.heads * p.head_dim + within;
    let c = (p.pos0 + t) * p.heads * p.head_dim + within;
    let cs = table[(p.pos0 + t) * hd2 + i];
    let x0 = k[e];
    let x1 = k[e + 1u];
    K[c] = x0 * cs.x - x1 * cs.y;
    K[c + 1u] = x0 * cs.y + x1 * cs.x;
    V[c] = v[e];
    V[c + 1u] = v[e + 1u];
}
