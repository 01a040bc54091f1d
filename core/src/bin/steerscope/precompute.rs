//! `steerscope precompute`: the page's first paint. For each shipped concept it writes
//! `OUT/<concept>.json` — the default sweep (DiffMean at the residual site, the core's default
//! strengths, the random direction beside it) at every layer, the prompting baseline, the model
//! sha256, the pairs' sha256 and the command that made it; the page loads it at first paint —
//! and `OUT/<concept>.vectors.bin` with its index `OUT/<concept>.vectors.json`: the DiffMean
//! vector at every layer and site (little-endian f32, in strength units at strength 1), which
//! the page does not need to draw the first curve.
//!
//! The page draws these at once, marked as precomputed, and replaces them point by point as its
//! own computation (the same core code, in wasm) confirms them; `tests/node/precomputed.test.mjs`
//! recomputes a part of every file in wasm and fails if they drifted from the code.
//!
//! The pairs are the page's defaults: the first `--train-pairs` / `--test-pairs` non-blank lines
//! of each file, each followed by a newline — the exact text the page hashes and sends to its
//! session, so a file made from other pairs is recognised and ignored.
use crate::sweep::{bar, tokens};
use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use steerscope::analysis::baseline::prompting;
use steerscope::analysis::point::Point;
use steerscope::analysis::session::{Direction, Split, Summary, SweepSession, UpdateInfo, DEFAULT_STRENGTHS};
use steerscope::data::concepts::parse_index;
use steerscope::data::parse_jsonl;
use steerscope::model::chat::PromptFormat;
use steerscope::model::pairs::{Prepared, Read};
use steerscope::model::sites::Positions;
use steerscope::model::{Edit, Site};
use steerscope::steer::methods::Method;

/// Version of the file layout; the page ignores files of another version, with a note.
pub const FORMAT_VERSION: u32 = 1;

#[derive(clap::Args, Debug)]
pub struct PrecomputeArgs {
    /// Training pairs (the page's default `n_train`).
    #[arg(long, default_value_t = 16)]
    pub train_pairs: usize,
    /// Held-out pairs (the page's default `n_test`).
    #[arg(long, default_value_t = 8)]
    pub test_pairs: usize,
    /// Layers to sweep (default: every layer).
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<usize>,
    /// Concepts (names in the index; default: all).
    #[arg(long, value_delimiter = ',')]
    pub concepts: Vec<String>,
    /// Directory of the concept datasets and their index.json.
    #[arg(long, default_value = "core/data/concepts")]
    pub data: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "web/precomputed")]
    pub out: PathBuf,
}

/// The first-paint file (serialized as a struct, not through `serde_json::Value`, so every f32
/// keeps its shortest form: half the size).
#[derive(Serialize)]
struct FirstPaint<'a> {
    format_version: u32,
    concept: &'a str,
    model_sha256: &'a str,
    command: String,
    pairs: PairsMeta,
    method: String,
    positions: String,
    strengths: &'a [f32],
    prompting: PromptingOut,
    sweeps: Vec<LayerSweep>,
    /// The vectors' index file (beside this one).
    vectors: String,
}

/// Which pairs the numbers were measured with (the page compares the sha256 with its own).
#[derive(Serialize)]
struct PairsMeta {
    n_train: usize,
    n_test: usize,
    format: &'static str,
    system: Option<String>,
    train_sha256: String,
    test_sha256: String,
}

/// The prompting baseline, or why it is unavailable.
#[derive(Serialize)]
struct PromptingOut {
    instruction: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    point: Option<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unavailable: Option<String>,
}

/// One layer's default sweep.
#[derive(Serialize)]
struct LayerSweep {
    layer: usize,
    site: Site,
    fit: UpdateInfo,
    summary: Summary,
}

/// The `.vectors.json` index of the `.vectors.bin` file.
#[derive(Serialize)]
struct VectorIndex<'a> {
    file: String,
    dtype: &'static str,
    model_sha256: &'a str,
    note: &'static str,
    entries: Vec<VectorEntry>,
}

/// Where one vector sits in the `.vectors.bin` file.
#[derive(Serialize)]
struct VectorEntry {
    layer: usize,
    site: Site,
    /// In f32 values from the start of the file.
    offset: usize,
    length: usize,
    fit: UpdateInfo,
}

/// The text of the first `n` non-blank lines of a JSONL file, each followed by a newline.
fn first_lines(path: &Path, n: usize) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.lines().filter(|l| !l.trim().is_empty()).take(n).map(|l| format!("{l}\n")).collect())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The command line that reproduces a run with `args` (recorded in every file).
fn command(args: &PrecomputeArgs) -> String {
    let mut c = format!(
        "steerscope precompute --train-pairs {} --test-pairs {} --data {} --out {}",
        args.train_pairs,
        args.test_pairs,
        args.data.display(),
        args.out.display()
    );
    if !args.layers.is_empty() {
        let layers: Vec<String> = args.layers.iter().map(|l| l.to_string()).collect();
        c += &format!(" --layers {}", layers.join(","));
    }
    if !args.concepts.is_empty() {
        c += &format!(" --concepts {}", args.concepts.join(","));
    }
    c
}

pub fn run(args: PrecomputeArgs, model_path: &Path, json: bool) -> Result<()> {
    let index_path = args.data.join("index.json");
    let index = parse_index(&std::fs::read_to_string(&index_path).with_context(|| index_path.display().to_string())?)?;
    for c in &args.concepts {
        if !index.iter().any(|i| &i.name == c) {
            anyhow::bail!("no concept `{c}` in {}", index_path.display());
        }
    }
    let model_sha256 = crate::fetch::sha256_file(model_path)?;
    let model = crate::load_model(model_path)?;
    let llama = &model.llama;
    let layers: Vec<usize> =
        if args.layers.is_empty() { (0..llama.config.n_layers).collect() } else { args.layers.clone() };
    for &l in &layers {
        llama.config.check_layer(l)?;
    }
    std::fs::create_dir_all(&args.out)?;
    let format = PromptFormat::default();
    let mut written = Vec::new();
    for concept in index.iter().filter(|c| args.concepts.is_empty() || args.concepts.contains(&c.name)) {
        let train_text = first_lines(&args.data.join(&concept.train), args.train_pairs)?;
        let test_text = first_lines(&args.data.join(&concept.test), args.test_pairs)?;
        let (train_pairs, test_pairs) = (parse_jsonl(&train_text)?.pairs, parse_jsonl(&test_text)?.pairs);
        let (train, test) = (tokens(&model, &train_pairs, &format)?, tokens(&model, &test_pairs, &format)?);
        let instruction = concept.instruction.clone().unwrap_or_else(|| test_pairs[0].example_instruction());
        let pb = crate::progress_bar(0, &format!("{} prompting", concept.name));
        let prompting = prompting(&model, &test_pairs, &format, &instruction, bar(&pb)).map_err(|e| e.to_string());
        // One pass over the training pairs reads every layer and site, as the page does.
        pb.set_message(format!("{} activations", concept.name));
        let sites: Vec<(usize, Site)> =
            (0..llama.config.n_layers).flat_map(|l| Site::ALL.into_iter().map(move |s| (l, s))).collect();
        let acts = Prepared::new(llama, &train, 0, |_, _| {})?.read_activations(
            llama,
            &sites,
            Read::CompletionMean,
            bar(&pb),
        )?;
        let mut vectors: Vec<u8> = Vec::new();
        let mut entries = Vec::new();
        let mut sweeps = Vec::new();
        for layer in 0..llama.config.n_layers {
            let mut session = SweepSession::new(llama, train.clone(), test.clone(), layer)?;
            // The residual site last: it is the one swept, so it stays the current update.
            for site in [Site::AttnOut, Site::MlpMid, Site::MlpOut, Site::Residual] {
                let s = session.fit(llama, Method::DiffMean, site, Positions::All, Some(&acts), 1, |_, _| {})?;
                let Edit::AddVector(v) = &s.edit else { unreachable!("DiffMean fits a vector") };
                let v: Vec<f32> = v.to_vec1()?;
                entries.push(VectorEntry {
                    layer,
                    site,
                    offset: vectors.len() / 4,
                    length: v.len(),
                    fit: s.info(layer),
                });
                vectors.extend(v.iter().flat_map(|x| x.to_le_bytes()));
            }
            if !layers.contains(&layer) {
                continue;
            }
            pb.set_message(format!("{} layer {layer}", concept.name));
            let fit = session.steered().expect("fitted above").info(layer);
            session.sweep(llama, Split::Test, Direction::Update, &DEFAULT_STRENGTHS, bar(&pb))?;
            session.sweep(llama, Split::Test, Direction::Random, &DEFAULT_STRENGTHS, bar(&pb))?;
            sweeps.push(LayerSweep { layer, site: Site::Residual, fit, summary: session.summary(Split::Test) });
        }
        pb.finish_and_clear();
        let index_name = format!("{}.vectors.json", concept.name);
        let bin_name = format!("{}.vectors.bin", concept.name);
        let report = FirstPaint {
            format_version: FORMAT_VERSION,
            concept: &concept.name,
            model_sha256: &model_sha256,
            command: command(&args),
            pairs: PairsMeta {
                n_train: train.len(),
                n_test: test.len(),
                format: "chat",
                system: None,
                train_sha256: sha256_hex(train_text.as_bytes()),
                test_sha256: sha256_hex(test_text.as_bytes()),
            },
            method: Method::DiffMean.name(),
            positions: Positions::All.name(),
            strengths: &DEFAULT_STRENGTHS,
            prompting: match prompting {
                Ok(p) => PromptingOut { instruction: p.instruction, point: Some(p.point), unavailable: None },
                Err(e) => PromptingOut { instruction, point: None, unavailable: Some(e) },
            },
            sweeps,
            vectors: index_name.clone(),
        };
        let json_path = args.out.join(format!("{}.json", concept.name));
        std::fs::write(&json_path, serde_json::to_string(&report)? + "\n")?;
        let index = VectorIndex {
            file: bin_name.clone(),
            dtype: "f32le",
            model_sha256: &model_sha256,
            note: "DiffMean at every layer and site, in strength units at strength 1",
            entries,
        };
        std::fs::write(args.out.join(&index_name), serde_json::to_string(&index)? + "\n")?;
        std::fs::write(args.out.join(&bin_name), &vectors)?;
        written.push((json_path, vectors.len()));
    }
    write_manifest(&args.out)?;
    for (path, bin) in &written {
        let size = std::fs::metadata(path)?.len();
        if json {
            println!("{}", serde_json::json!({"file": path, "bytes": size, "vector_bytes": bin}));
        } else {
            println!("wrote {} ({size} bytes; vectors {bin} bytes)", path.display());
        }
    }
    Ok(())
}

/// Writes `OUT/index.json`: the concepts that have a first-paint file in `OUT` (from this run or
/// an earlier one), so the page asks only for files that exist (a missing one would be a 404 in
/// the host's console).
fn write_manifest(out: &Path) -> Result<()> {
    let mut concepts = Vec::new();
    for entry in std::fs::read_dir(out)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".json") else { continue };
        if stem == "index" || stem.ends_with(".vectors") {
            continue;
        }
        let text = std::fs::read_to_string(out.join(&name))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}", out.join(&name).display()))?;
        if value.get("format_version").and_then(|v| v.as_u64()) == Some(u64::from(FORMAT_VERSION)) {
            concepts.push(stem.to_string());
        }
    }
    concepts.sort();
    let manifest = serde_json::json!({"format_version": FORMAT_VERSION, "concepts": concepts});
    std::fs::write(out.join("index.json"), manifest.to_string() + "\n")?;
    Ok(())
}
