@group(1) @binding(0) var<storage, read> W: array<f32>;
@group(1) @binding(1) var<storage, read> X: array<f32>;
@group(1) @binding(2) var<storage, read> bias: array<f32>;
@group(1) @binding(3) var<storage, read_write> Y: array<f32>;

// One thread per (output row r, token t); `width` = output rows, `cols` = K.
@compute @workgroup_size(64)
fn dense(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    let t = gid.y;
    if (r >= p.width || t >= p.tokens) {
        return;
    }
    var s = 0.0;
    for (var k = 0u; k < p.cols; k++) {
        s += W[r * p.cols + k] * X[t * p.cols + k];
    }
    if (p.mode == 1u) {
        s += bias[r];
    }
    Y[t * p.width + r] = s;
}
