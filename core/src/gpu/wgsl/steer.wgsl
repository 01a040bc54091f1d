// Steering edits at an intervention site: h (rows of `width` floats) gets Δh on the token
// positions its mask covers. Positions follow `crate::model::sites::Positions`: kind 0 = all,
// 1 = prompt, 2 = completion, 3 = from `from_pos`; `prompt_end` = 0xffffffff while the prompt
// itself runs (the CPU path's `None`).
//   add_vector:  Δh = m·v
//   add_scaled:  Δh = m·D[t] (D from `dense`: a low-rank B·A·u or a dense ΔW·u + Δb)
//   project:     Δh = c·v̂ with c = −m·(s·v̂) (project-out) or m‖v‖ − s·v̂ (clamp), where s is
//                the activation the edit sees: h, plus the skip connection at the residual site
//   dense:       Y[t, r] = Σ_k W[r, k]·X[t, k] (+ bias[r]), any K
struct Params {
    tokens: u32,
    width: u32,
    pos0: u32,
    kind: u32,
    from_pos: u32,
    prompt_end: u32,
    strength: f32,
    mode: u32,       // project: 0 = project-out, 1 = clamp; dense: 1 = with bias
    clamp_to: f32,     // clamp: m‖v‖ (computed on the host in f64, as the CPU path does)
    cols: u32,       // dense: K
    has_offset: u32, // project: add `offset` to h to get the activation the edit sees
}
@group(0) @binding(0) var<uniform> p: Params;

fn covers(t: u32) -> bool {
    let pos = p.pos0 + t;
    switch p.kind {
        case 1u: { return pos < p.prompt_end; }
        case 2u: { return p.prompt_end != 0xffffffffu && pos >= p.prompt_end; }
        case 3u: { return pos >= p.from_pos; }
        default: { return true; }
    }
}
