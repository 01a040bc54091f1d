// Y[t, row0 + r] = Σ_k W[r, k] · X[t, k] for the weight rows r of one part of a matrix (`dequant`
// comes from the weight format's snippet, prepended to this file) and TT tokens per workgroup.
//
// Layout: a workgroup of 64 threads owns 8 weight rows × 8 lanes. The lanes of a row take its
// 32-weight blocks in turn (lane l: blocks l, l+8, …), so the 8 lanes read adjacent blocks and a
// block is dequantized once for all TT tokens of the tile; the 8 partial sums of a row meet in
// workgroup memory. Decode (one token) reads each weight once: it is bound by memory bandwidth.
// Activations stay f32 (no 8-bit rounding as on the CPU path).
struct Params {
    rows: u32,       // weight rows in this part
    cols: u32,       // K, a multiple of 32
    tokens: u32,     // activation rows
    row0: u32,       // first output column of this part
    out_stride: u32, // floats per output row
    x_row0: u32,     // first activation row read
    out_row0: u32,   // first output row written
}
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(1) @binding(2) var<storage, read_write> Y: array<f32>;

const LANES: u32 = 8u;
const ROWS: u32 = 8u;
const TT: u32 = 8u;
var<workgroup> partial: array<array<f32, TT>, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
    let lane = li % LANES;
    let r = (wid.x + wid.z * nwg.x) * ROWS + li / LANES;
    let t0 = wid.y * TT;
    let nt = min(TT, p.tokens - t0);
    let nb = p.cols / 32u;
    let xstride = p.cols / 4u;
    var acc: array<f32, TT>;
    if (r < p.rows) {
        for (var b = lane; b < nb; b += LANES) {
            let w = dequant(r * nb + b);
            for (var t = 0u; t < TT; t++) {
                if (t < nt) {
                    let xb = (p.x_row0 + t0 + t) * xstride + b * 8u;
                    var s = vec4<f32>(0.0);
                    for (var i = 0u; i < 8u; i++) {
                        s += w[i] * X[xb + i];
                    }
                    acc[t] += (s.x + s.y) + (s.z + s.w);
                }
            }
        }
    }
    for (var t = 0u; t < TT; t++) {
        partial[li][t] = acc[t];
    }
    workgroupBarrier();
    if (lane == 0u && r < p.rows) {
        for (var t = 0u; t < TT; t++) {
            if (t < nt) {
                var s = 0.0;
                for (var l = 0u; l < LANES; l++) {
                    s += partial[li + l][t];
                }
                Y[(p.out_row0 + t0 + t) * p.out_stride + p.row0 + r] = s;
            }
        }
    }
}
