@group(1) @binding(0) var<storage, read_write> H: array<f32>;
@group(1) @binding(1) var<storage, read> D: array<f32>;

@compute @workgroup_size(256)
fn add_vector(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg, 256u);
    let t = i / p.width;
    if (t < p.tokens && covers(t)) {
        H[i] += p.strength * D[i % p.width];
    }
}

@compute @workgroup_size(256)
fn add_scaled(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg, 256u);
    let t = i / p.width;
    if (t < p.tokens && covers(t)) {
        H[i] += p.strength * D[i];
    }
}
