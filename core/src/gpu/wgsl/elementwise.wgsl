// Elementwise ops over `n` floats, one thread each.
//   add:    Y = A + B (the residual connections)
//   swiglu: Y = silu(A) · B = A / (1 + e^−A) · B (the MLP gate, candle's silu)
struct Params {
    n: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> A: array<f32>;
@group(1) @binding(1) var<storage, read> B: array<f32>;
@group(1) @binding(2) var<storage, read_write> Y: array<f32>;

@compute @workgroup_size(256)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg, 256u);
    if (i < p.n) {
        Y[i] = A[i] + B[i];
    }
}

@compute @workgroup_size(256)
fn swiglu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = thread_index(gid, nwg, 256u);
    if (i < p.n) {
        let g = A[i];
        Y[i] = g / (1.0 + exp(-g)) * B[i];
    }
}
