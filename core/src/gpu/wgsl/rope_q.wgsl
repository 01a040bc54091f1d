// Rotates the queries (tokens, heads · head_dim) in place (rope.wgsl is prepended).
@group(1) @binding(1) var<storage, read_write> Q: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = pair_of(gid, nwg);
    if (q.t >= p.tokens) {
        return;
    }
    let e = q.t * p.heads * p.head_dim + q.within;
    let r = rotate(Q[e], Q[e + 1u], q);
    Q[e] = r.x;
    Q[e + 1u] = r.y;
}
