@group(1) @binding(0) var<storage, read_write> H: array<f32>;
@group(1) @binding(1) var<storage, read> unit: array<f32>;
@group(1) @binding(2) var<storage, read> offset: array<f32>;

var<workgroup> red: array<f32, 64>;

// One workgroup per token row.
@compute @workgroup_size(64)
fn project(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let t = wid.x;
    let o = t * p.width;
    var s = 0.0;
    for (var i = li; i < p.width; i += 64u) {
        var h = H[o + i];
        if (p.has_offset == 1u) {
            h += offset[o + i];
        }
        s += h * unit[i];
    }
    red[li] = s;
    workgroupBarrier();
    for (var k = 32u; k > 0u; k >>= 1u) {
        if (li < k) {
            red[li] += red[li + k];
        }
        workgroupBarrier();
    }
    let along = red[0];
    var c = along * -p.strength;
    if (p.mode == 1u) {
        c = -along + p.clamp_to;
    }
    if (covers(t)) {
        for (var i = li; i < p.width; i += 64u) {
            H[o + i] += c * unit[i];
        }
    }
}
