// RMSNorm, one workgroup per row: Y = X / sqrt(mean(X²) + eps) · w (candle's rms_norm order).
struct Params {
    width: u32,
    eps: f32,
    x_row0: u32,
    y_row0: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> X: array<f32>;
@group(1) @binding(1) var<storage, read> w: array<f32>;
@group(1) @binding(2) var<storage, read_write> Y: array<f32>;

var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let xs = (p.x_row0 + wid.x) * p.width;
    let ys = (p.y_row0 + wid.x) * p.width;
    var s = 0.0;
    for (var i = li; i < p.width; i += 64u) {
        let v = X[xs + i];
        s += v * v;
    }
    red[li] = s;
    workgroupBarrier();
    for (var h = 32u; h > 0u; h >>= 1u) {
        if (li < h) {
            red[li] += red[li + h];
        }
        workgroupBarrier();
    }
    let m = sqrt(red[0] / f32(p.width) + p.eps);
    for (var i = li; i < p.width; i += 64u) {
        Y[ys + i] = X[xs + i] / m * w[i];
    }
}
