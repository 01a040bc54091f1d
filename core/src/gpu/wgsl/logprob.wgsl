// Log-probabilities of target tokens: out[o0 + r] = log_softmax(L[r])[ids[t0 + r]], one
// workgroup per logits row (max, then Σ exp(x − max), as candle's log_softmax).
struct Params {
    vocab: u32,
    t0: u32,
    o0: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> L: array<f32>;
@group(1) @binding(1) var<storage, read> ids: array<u32>;
@group(1) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let r = wid.x;
    let o = r * p.vocab;
    var m = -3.0e38;
    for (var i = li; i < p.vocab; i += 256u) {
        m = max(m, L[o + i]);
    }
    red[li] = m;
    workgroupBarrier();
    for (var k = 128u; k > 0u; k >>= 1u) {
        if (li < k) {
            red[li] = max(red[li], red[li + k]);
        }
        workgroupBarrier();
    }
    let mx = red[0];
    workgroupBarrier();
    var s = 0.0;
    for (var i = li; i < p.vocab; i += 256u) {
        s += exp(L[o + i] - mx);
    }
    red[li] = s;
    workgroupBarrier();
    for (var k = 128u; k > 0u; k >>= 1u) {
        if (li < k) {
            red[li] += red[li + k];
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        out[p.o0 + r] = L[o + ids[p.t0 + r]] - mx - log(red[0]);
    }
}
