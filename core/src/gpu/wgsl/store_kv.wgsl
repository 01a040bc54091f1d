// Writes the new tokens' keys (rotated) and values into the KV cache rows pos0 .. pos0 + tokens
// (rope.wgsl is prepended). Cache rows are `heads · head_dim` floats, one per position.
@group(1) @binding(1) var<storage, read> k: array<f32>;
@group(1) @binding(2) var<storage, read> v: array<f32>;
@group(1) @binding(3) var<storage, read_write> K: array<f32>;
@group(1) @binding(4) var<storage, read_write> V: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = pair_of(gid, nwg);
    if (q.t >= p.tokens) {
        return;
    }
    let row = p.heads * p.head_dim;
    let e = q.t * row + q.within;
    let c = (p.pos0 + q.t) * row + q.within;
    let r = rotate(k[e], k[e + 1u], q);
    K[c] = r.x;
    K[c + 1u] = r.y;
    V[c] = v[e];
    V[c + 1u] = v[e + 1u];
}
