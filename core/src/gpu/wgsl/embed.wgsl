// Token embeddings: X[t] = row ids[t] of the embedding matrix, dequantized (`dequant` from the
// weight format's snippet). One thread per (token, 32-weight block); a part of a split matrix
// writes only the tokens whose rows it holds.
struct Params {
    tokens: u32,
    cols: u32,
    row0: u32,   // first matrix row in this part
    rows: u32,   // rows in this part
    ids0: u32,   // index of the first token id in `ids`
}
@group(0) @binding(0) var<uniform> p: Params;
@group(1) @binding(1) var<storage, read> ids: array<u32>;
@group(1) @binding(2) var<storage, read_write> X: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = thread_index(gid, nwg, 64u);
    let nb = p.cols / 32u;
    let t = idx / nb;
    let b = idx % nb;
    if (t >= p.tokens) {
        return;
    }
    let id = ids[p.ids0 + t];
    if (id < p.row0 || id >= p.row0 + p.rows) {
        return;
    }
    let w = dequant((id - p.row0) * nb + b);
    let o = t * (p.cols / 4u) + b * 8u;
    for (var i = 0u; i < 8u; i++) {
        X[o + i] = w[i];
    }
}
