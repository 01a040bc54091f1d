//! The steering files: llama.cpp control vectors (GGUF) and update files (safetensors). Each is
//! built from chosen parts — right and wrong tensor names, layers, widths, types, shapes,
//! offsets, header lengths and metadata — or is a valid file with its bytes mutated. Every file
//! that is accepted must write back to the same bytes and, when it fits the tiny model, steer
//! it: a prompt through `generate` and a forward pass with finite logits.
use super::gguf::exercise;
use crate::common::fuzz::{self, interesting_f32, interesting_string, interesting_u64, mutate_bytes, Format};
use crate::common::tiny::{tiny_llama, TINY};
use candle_core::{Device, Tensor};
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::sync::OnceLock;
use steerscope::gguf::{TensorType, Value, Writer};
use steerscope::model::sites::Positions;
use steerscope::model::{Edit, Intervention, Model, Site, Steering};
use steerscope::rng::Rng;
use steerscope::steer::control_vector::ControlVector;
use steerscope::steer::update::Update;

fn tiny() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| Model::load(&tiny_llama("llama")).unwrap())
}

/// Runs the tiny model unsteered and with every form of update at every site, on this thread
/// and on every thread of rayon's pool: the first matrix product of a kind on a thread allocates
/// scratch space that thread keeps (the matrix library's, sized from the CPU's caches: over
/// 1 MiB with 2 MiB of L2), which no input should be charged for. Each test runs on its own
/// thread, so each warms up before measuring.
fn warm_up() {
    let every_form = || {
        let m = tiny();
        exercise(m, &Steering::none()).unwrap();
        let mut rng = Rng::new(1);
        for site in Site::ALL {
            for form in 0..4 {
                let edit = edit(&m.llama.config, site, form, &mut rng);
                let u = Update {
                    layer: 1,
                    site,
                    edit,
                    positions: Positions::All,
                    meta: Update::meta_for("diffmean", None),
                };
                exercise(m, &Steering::none().with(u.intervention(&m.llama.config, 1.0).unwrap())).unwrap();
            }
        }
    };
    every_form();
    rayon::broadcast(|_| every_form());
}

/// `make`, warming up first ([`warm_up`]) when asked for its first input: fuzz::run asks under
/// its lock, before the first measurement.
fn after_warm_up(mut make: impl FnMut(&mut Rng) -> Vec<u8>) -> impl FnMut(&mut Rng) -> Vec<u8> {
    let mut warm = false;
    move |rng| {
        if !std::mem::replace(&mut warm, true) {
            warm_up();
        }
        make(rng)
    }
}

/// An edit of each form (`form` 0–3: vector, clamp, low rank, dense) at `site`, random values.
fn edit(c: &steerscope::model::Config, site: Site, form: usize, rng: &mut Rng) -> Edit {
    let t = |shape: &[usize], rng: &mut Rng| {
        Tensor::from_vec(rng.normals(shape.iter().product(), 0.5), shape, &Device::Cpu).unwrap()
    };
    let (w, src) = (site.width(c), site.source_width(c));
    match form {
        0 => Edit::AddVector(t(&[w], rng)),
        1 => Edit::Clamp(t(&[w], rng)),
        2 => Edit::LowRank { a: t(&[2, src], rng), b: t(&[w, 2], rng) },
        _ => Edit::Dense { w: t(&[w, src], rng), bias: Some(t(&[w], rng)) },
    }
}

fn values(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
    if n > 0 && rng.below(6) == 0 {
        let at = rng.below(n);
        v[at] = interesting_f32(rng);
    }
    v
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

// ------------------------------------------------------------------ control vectors

fn direction_name(rng: &mut Rng) -> String {
    let n = match rng.below(16) {
        0 => "0".to_string(),
        1 => format!("{}", TINY.layers),
        2 => "99999999999999999999999".into(),
        3 => format!("{}", u32::MAX),
        4 => "-1".into(),
        5 => "+1".into(),
        6 => "01".into(),
        7 => "".into(),
        8 => "1.5".into(),
        9 => "\u{661}".into(), // ARABIC-INDIC DIGIT ONE
        10 => " 1".into(),
        _ => format!("{}", 1 + rng.below(TINY.layers - 1)),
    };
    match rng.below(12) {
        0 => format!("directions.{n}"),
        1 => format!("Direction.{n}"),
        _ => format!("direction.{n}"),
    }
}

/// A control vector assembled from parts, most of them right.
fn control_vector_file(rng: &mut Rng) -> Vec<u8> {
    let mut w = Writer::new();
    let s = |x: &str| Value::String(x.into());
    let arch = match rng.below(10) {
        0 => s("llama"),
        1 => Value::U32(7),
        _ => s("controlvector"),
    };
    if rng.below(12) != 0 {
        w.meta("general.architecture", arch);
    }
    if rng.below(3) != 0 {
        w.meta("controlvector.model_hint", if rng.below(8) == 0 { Value::F32(1.0) } else { s("llama") });
    }
    if rng.below(3) != 0 {
        let count = [Value::U32(1), s("one"), Value::I32(-1), Value::U64(u64::MAX)][rng.below(4)].clone();
        w.meta("controlvector.layer_count", count);
    }
    for key in ["steerscope.operation", "steerscope.site", "steerscope.method", "steerscope.model_sha256", "custom.key"]
    {
        match rng.below(5) {
            0 => {}
            1 => {
                w.meta(key, Value::I64(-3));
            }
            2 => {
                w.meta(key, Value::String(interesting_string(rng)));
            }
            _ => {
                w.meta(key, s("add"));
            }
        }
    }
    if rng.below(3) == 0 {
        let norm = [Value::F32(interesting_f32(rng)), s("big"), Value::F64(2.5)][rng.below(3)].clone();
        w.meta("steerscope.norm", norm);
    }
    let width = [TINY.hidden, TINY.hidden, TINY.hidden, TINY.hidden - 1, 0, TINY.ffn][rng.below(6)];
    for _ in 0..rng.below(4) {
        let name = direction_name(rng);
        let n = if rng.below(8) == 0 { [0, 1, width + 1][rng.below(3)] } else { width };
        match rng.below(10) {
            0 => {
                let data: Vec<u8> = values(rng, n).iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect();
                w.tensor(&name, &[n as u64], TensorType::F16, data);
            }
            1 => {
                w.tensor(&name, &[n as u64 / 2, 2], TensorType::F32, f32_bytes(&values(rng, n / 2 * 2)));
            }
            _ => {
                w.tensor(&name, &[n as u64], TensorType::F32, f32_bytes(&values(rng, n)));
            }
        }
    }
    w.to_bytes()
}

/// A valid control vector for the tiny model, to mutate byte by byte.
fn valid_control_vector(rng: &mut Rng) -> Vec<u8> {
    let mut cv = ControlVector::residual_add(1, rng.normals(TINY.hidden, 1.0), Default::default());
    cv.meta.method = Some("diffmean".into());
    cv.to_gguf_bytes().unwrap()
}

#[test]
fn mutated_control_vectors_load_and_steer_or_say_why() {
    let format = Format {
        name: "control vector GGUF",
        factor: 64,
        constant: 1 << 20,
        context: &["control vector", "GGUF", "logit"],
    };
    let t = fuzz::run(
        &format,
        13,
        after_warm_up(|rng| {
            if rng.below(2) == 0 {
                control_vector_file(rng)
            } else {
                let mut f = valid_control_vector(rng);
                mutate_bytes(rng, &mut f, 3);
                f
            }
        }),
        |bytes| {
            let cv = ControlVector::from_gguf_bytes(bytes).map_err(|e| e.to_string())?;
            let w = cv.width();
            assert!(!cv.directions.is_empty() && w > 0, "an empty control vector was accepted");
            for (i, (layer, v)) in cv.directions.iter().enumerate() {
                assert!(*layer >= 1, "direction.0 was accepted");
                assert_eq!(v.len(), w, "directions of different widths were accepted");
                assert!(v.iter().all(|x| x.is_finite()), "a non-finite direction was accepted");
                assert!(cv.directions[..i].iter().all(|(l, _)| l != layer), "a layer was accepted twice");
            }
            let again = cv.to_gguf_bytes().expect("an accepted control vector must write back");
            let back = ControlVector::from_gguf_bytes(&again).expect("what we write must read back");
            assert_eq!(back.to_gguf_bytes().unwrap(), again, "a round trip changed the file");
            let c = &tiny().llama.config;
            cv.check_fits(c.n_layers, c.hidden).map_err(|e| e.to_string())?;
            let mut steering = Steering::none();
            for (layer, v) in &cv.directions {
                let t = Tensor::new(v.as_slice(), &Device::Cpu).unwrap();
                let iv = Intervention::new(c, *layer, Site::Residual, Edit::AddVector(t), 1.0)
                    .expect("a vector that fits must make an intervention");
                steering = steering.with(iv);
            }
            exercise(tiny(), &steering)
        },
    );
    assert!(t.accepted > t.inputs / 20 && t.rejected > t.inputs / 5, "{t:?}");
}

// ------------------------------------------------------------------ update files

/// Tensors `(name, dtype, shape, values)` of one update form for the tiny model, some wrong.
fn update_tensors(rng: &mut Rng, site: Site) -> Vec<(String, String, Vec<i64>, usize)> {
    let c = &tiny().llama.config;
    let (w, src) = (site.width(c) as i64, site.source_width(c) as i64);
    let r = 1 + rng.below(4) as i64;
    let mut tensors: Vec<(&str, Vec<i64>)> = match rng.below(3) {
        0 => vec![("vector", vec![w])],
        1 => vec![("lora_a", vec![r, src]), ("lora_b", vec![w, r])],
        _ => {
            let mut t = vec![("delta_w", vec![w, src])];
            if rng.below(2) == 0 {
                t.push(("delta_b", vec![w]));
            }
            t
        }
    };
    if rng.below(4) == 0 {
        match rng.below(5) {
            0 => tensors.push((["vector", "delta_b", "lora_a", "extra"][rng.below(4)], vec![w])),
            1 => {
                let i = rng.below(tensors.len());
                tensors.remove(i);
            }
            2 => {
                let i = rng.below(tensors.len());
                let d = rng.below(tensors[i].1.len());
                tensors[i].1[d] = [0, 1, -1, w + 1, 1 << 40][rng.below(5)];
            }
            3 => {
                let i = rng.below(tensors.len());
                tensors[i].1 = [vec![], vec![w, 1], vec![1, w], vec![2, 2, 2]][rng.below(4)].clone();
            }
            _ => tensors.reverse(),
        }
    }
    tensors
        .into_iter()
        .map(|(name, shape)| {
            let dtype = match rng.below(14) {
                0 => ["F16", "BF16", "F64", "I64", "BOOL", "F8_E4M3", "F33", "f32"][rng.below(8)],
                _ => "F32",
            };
            let n = shape.iter().map(|&d| d.max(0) as usize).product::<usize>().min(1 << 16);
            (name.to_string(), dtype.to_string(), shape, n)
        })
        .collect()
}

/// An update file assembled from parts: the safetensors header written by hand, so lengths,
/// offsets, dtypes, shapes and metadata can each be wrong.
fn update_file(rng: &mut Rng) -> Vec<u8> {
    let site = Site::ALL[rng.below(4)];
    let mut meta: HashMap<String, String> = HashMap::new();
    let pick = |rng: &mut Rng, good: &str, bad: &[&str]| -> Option<String> {
        match rng.below(10) {
            0 => None,
            1 => Some(bad[rng.below(bad.len())].to_string()),
            2 => Some(interesting_string(rng)),
            _ => Some(good.to_string()),
        }
    };
    let layer = format!("{}", rng.below(TINY.layers));
    for (key, value) in [
        ("site", pick(rng, site.name(), &["mlp", "Residual", "residual "])),
        ("layer", pick(rng, &layer, &["-1", "2", "99999999999999999999", "1.0", ""])),
        ("operation", pick(rng, "add", &["project-out", "clamp", "scale"])),
        ("steered_positions", pick(rng, "all", &["prompt,completion", "from:3", "all,prompt", "from:-1", "middle"])),
        ("method", pick(rng, "diffmean", &[""])),
        ("format", pick(rng, "steerscope-update", &["other"])),
    ] {
        if let Some(v) = value {
            meta.insert(key.into(), v);
        }
    }
    let tensors = update_tensors(rng, site);
    let mut header = serde_json::Map::new();
    if rng.below(12) != 0 {
        header.insert("__metadata__".into(), serde_json::to_value(&meta).unwrap());
    }
    let mut data = Vec::new();
    for (name, dtype, shape, n) in &tensors {
        let size = match dtype.as_str() {
            "F16" | "BF16" => 2,
            "F64" | "I64" => 8,
            "BOOL" | "F8_E4M3" => 1,
            _ => 4,
        };
        let start = data.len();
        let bytes: Vec<u8> = values(rng, *n).iter().flat_map(|x| x.to_le_bytes()).cycle().take(n * size).collect();
        data.extend(bytes);
        let mut offsets = [start as i64, data.len() as i64];
        if rng.below(10) == 0 {
            match rng.below(4) {
                0 => offsets.reverse(),
                1 => offsets[1] += 4,
                2 => offsets[0] = interesting_u64(rng) as i64,
                _ => offsets[1] = -1,
            }
        }
        header.insert(name.clone(), serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": offsets}));
    }
    let mut h = serde_json::to_vec(&header).unwrap();
    h.resize(h.len().next_multiple_of(8), b' ');
    let mut len = h.len() as u64;
    if rng.below(12) == 0 {
        len = [0, 1, len - 1, len + 1, interesting_u64(rng)][rng.below(5)];
    }
    let mut out = len.to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    out
}

/// A valid update file of each form, to mutate byte by byte.
fn valid_update(rng: &mut Rng) -> Vec<u8> {
    let c = &tiny().llama.config;
    let site = Site::ALL[rng.below(4)];
    let form = rng.below(4);
    let e = edit(c, site, form, rng);
    let u = Update {
        layer: rng.below(c.n_layers),
        site,
        edit: e,
        positions: [Positions::All, Positions::Completion, Positions::From(2)][rng.below(3)],
        meta: Update::meta_for("diffmean", None),
    };
    u.to_safetensors().unwrap()
}

fn edit_values(e: &Edit) -> Vec<Vec<u32>> {
    let bits = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|x| x.to_bits()).collect();
    match e {
        Edit::AddVector(v) | Edit::ProjectOut(v) | Edit::Clamp(v) => vec![bits(v)],
        Edit::LowRank { a, b } => vec![bits(a), bits(b)],
        Edit::Dense { w, bias } => std::iter::once(bits(w)).chain(bias.iter().map(bits)).collect(),
    }
}

#[test]
fn mutated_update_files_load_and_steer_or_say_why() {
    let format = Format {
        name: "update safetensors",
        factor: 16,
        constant: 1 << 20,
        context: &["update file", "layer", "site", "dimension", "position", "operation", "logit", "direction"],
    };
    let t = fuzz::run(
        &format,
        17,
        after_warm_up(|rng| {
            if rng.below(2) == 0 {
                update_file(rng)
            } else {
                let mut f = valid_update(rng);
                mutate_bytes(rng, &mut f, 3);
                f
            }
        }),
        |bytes| {
            let u = Update::from_safetensors(bytes).map_err(|e| e.to_string())?;
            for t in edit_values(&u.edit) {
                assert!(t.iter().all(|b| f32::from_bits(*b).is_finite()), "non-finite update values were accepted");
            }
            let written = u.to_safetensors().expect("an accepted update must write back");
            // Nothing in the file was ignored: the same tensors, and the same operation if it named one.
            let (read, wrote) = (SafeTensors::deserialize(bytes).unwrap(), SafeTensors::deserialize(&written).unwrap());
            let names = |st: &SafeTensors| {
                let mut n: Vec<String> = st.names().into_iter().map(String::from).collect();
                n.sort();
                n
            };
            assert_eq!(names(&read), names(&wrote), "tensors of the file were ignored");
            let op = |b: &[u8]| SafeTensors::read_metadata(b).unwrap().1.metadata().as_ref()?.get("operation").cloned();
            if let Some(asked) = op(bytes) {
                assert_eq!(Some(asked), op(&written), "the file's `operation` was ignored");
            }
            let again = Update::from_safetensors(&written).expect("what we write must read back");
            assert_eq!((again.layer, again.site, again.positions), (u.layer, u.site, u.positions));
            assert_eq!(again.edit.operation(), u.edit.operation());
            assert_eq!(edit_values(&again.edit), edit_values(&u.edit), "a round trip changed the values");
            let iv = u.intervention(&tiny().llama.config, 1.0).map_err(|e| e.to_string())?;
            exercise(tiny(), &Steering::none().with(iv))
        },
    );
    assert!(t.accepted > t.inputs / 20 && t.rejected > t.inputs / 5, "{t:?}");
}
