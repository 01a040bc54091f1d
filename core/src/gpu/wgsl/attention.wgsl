// Causal softmax attention over the KV cache with grouped KV heads, one workgroup per
// (query head, token). Query t sits at absolute position pos0 + t and sees keys 0 ..= pos0 + t.
// Keys go 64 at a time: each thread scores one key (q·k · scale), then the chunk's
// probabilities are folded into a running softmax (flash-attention style: running max m, sum l,
// and the weighted sum of values, rescaled when m grows); thread d owns output dims d, d+64, ….
struct Params {
    tokens: u32,
    heads: u32,
    kv_heads: u32,
    head_dim: u32,   // ≤ 256, even
    pos0: u32,
    scale: f32,      // 1/√head_dim
}
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(0) var<storage, read> Q: array<f32>;
@group(1) @binding(1) var<storage, read> K: array<f32>;
@group(1) @binding(2) var<storage, read> V: array<f32>;
@group(1) @binding(3) var<storage, read_write> O: array<f32>;

var<workgroup> q: array<f32, 256>;
var<workgroup> prob: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let h = wid.x;
    let t = wid.y;
    let hd = p.head_dim;
    let kvd = p.kv_heads * hd;
    let kvh = h / (p.heads / p.kv_heads);
    let qo = (t * p.heads + h) * hd;
    for (var d = li; d < hd; d += 64u) {
        q[d] = Q[qo + d];
    }
    workgroupBarrier();
    let n_keys = p.pos0 + t + 1u;
    var m = -3.0e38;
    var l = 0.0;
    var acc = vec4<f32>(0.0);
    for (var base = 0u; base < n_keys; base += 64u) {
        let j = base + li;
        var s = -3.0e38;
        if (j < n_keys) {
            let ko = j * kvd + kvh * hd;
            var qk = 0.0;
            for (var d = 0u; d < hd; d++) {
                qk += q[d] * K[ko + d];
            }
            s = qk * p.scale;
        }
        prob[li] = s;
        workgroupBarrier();
        var cm = prob[0];
        for (var i = 1u; i < 64u; i++) {
            cm = max(cm, prob[i]);
        }
        let m_new = max(m, cm);
        let alpha = exp(m - m_new);
        workgroupBarrier();
        var e = 0.0;
        if (j < n_keys) {
            e = exp(s - m_new);
        }
        prob[li] = e;
        workgroupBarrier();
        var sum = 0.0;
        acc *= alpha;
        let n = min(64u, n_keys - base);
        for (var i = 0u; i < n; i++) {
            let w = prob[i];
            sum += w;
            let vo = (base + i) * kvd + kvh * hd;
            for (var c = 0u; c < 4u; c++) {
                let d = li + 64u * c;
                if (d < hd) {
                    acc[c] += w * V[vo + d];
                }
            }
        }
        l = l * alpha + sum;
        m = m_new;
        workgroupBarrier();
    }
    for (var c = 0u; c < 4u; c++) {
        let d = li + 64u * c;
        if (d < hd) {
            O[qo + d] = acc[c] / l;
        }
    }
}
