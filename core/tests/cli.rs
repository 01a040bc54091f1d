//! The `steerscope` binary end to end on the real model: help, inspect, generate (plain and
//! steered with a DiffMean vector it computed, and with a LoRA update it trained), sweep over a
//! trained update, and its error messages.
mod common;
use std::process::Command;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_steerscope")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// 12 greedy tokens for a fixed prompt, optionally with `--steer SPEC`.
fn gen(steer: Option<String>) -> String {
    let mut args = vec!["generate", "--json", "--max-tokens", "12", "--prompt", "Describe your morning."];
    let s;
    if let Some(x) = steer {
        s = x;
        args.extend(["--steer", s.as_str()]);
    }
    let (ok, out, err) = run(&args);
    assert!(ok, "{err}");
    serde_json::from_str::<serde_json::Value>(&out).unwrap()["text"].as_str().unwrap().to_string()
}

#[test]
fn help_on_every_subcommand() {
    for sub in
        ["fetch-model", "inspect", "generate", "vector", "train", "sweep", "calibrate", "combine", "results", "compose"]
    {
        let (ok, out, _) = run(&[sub, "--help"]);
        assert!(ok && out.contains("Usage"), "{sub}: {out}");
    }
}

#[test]
fn inspect_json_describes_the_model() {
    let (ok, out, err) = run(&["inspect", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["config"]["n_layers"], 30);
    assert_eq!(v["tensors"].as_array().unwrap().len(), 272);
}

#[test]
fn vector_then_steered_generation_differs_from_base() {
    let dir = std::env::temp_dir().join(format!("steerscope-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let vec_file = dir.join("v.safetensors");
    let pairs = concat!(env!("CARGO_MANIFEST_DIR"), "/data/concepts/sentiment.test.jsonl");
    let (ok, _, err) =
        run(&["vector", "--pairs", pairs, "--max-pairs", "16", "--layer", "15", "--out", vec_file.to_str().unwrap()]);
    assert!(ok, "{err}");
    let base = gen(None);
    let steered = gen(Some(format!("residual:15:{}:6", vec_file.display())));
    assert!(!base.is_empty());
    assert_ne!(base, steered);
    // Bad input through the CLI: a clear message, a non-zero exit, no panic.
    for (spec, expect) in [
        (format!("residual:99:{}:1", vec_file.display()), "layer 99 is out of range"),
        (format!("residual:15:{}:NaN", vec_file.display()), "finite"),
        (format!("mlp_mid:15:{}:1", vec_file.display()), "dimension 576"),
        (format!("bogus:15:{}:1", vec_file.display()), "unknown intervention site"),
        ("residual:15:/nonexistent.safetensors:1".to_string(), "nonexistent"),
    ] {
        let (ok, _, err) = run(&["generate", "--prompt", "hi", "--steer", &spec]);
        assert!(!ok && err.contains(expect) && !err.contains("panicked"), "{spec}: {err}");
    }
    // The same vector as a llama.cpp control vector: same text as --steer at strength 1.
    let cvec = dir.join("v.gguf");
    let (ok, _, err) =
        run(&["vector", "--pairs", pairs, "--max-pairs", "16", "--layer", "15", "--out", cvec.to_str().unwrap()]);
    assert!(ok, "{err}");
    let one = gen(Some(format!("residual:15:{}:6", vec_file.display())));
    let (ok, out, err) = run(&[
        "generate",
        "--json",
        "--max-tokens",
        "12",
        "--prompt",
        "Describe your morning.",
        "--control-vector",
        &format!("{}:6", cvec.display()),
    ]);
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["text"].as_str().unwrap(), one);
    let (ok, _, err) = run(&["generate", "--prompt", "hi", "--control-vector", vec_file.to_str().unwrap()]);
    assert!(!ok && err.contains("control vector") && !err.contains("panicked"), "{err}");
    let (ok, _, err) = run(&["--model", "/nonexistent.gguf", "generate", "--prompt", "hi"]);
    assert!(!ok && err.contains("/nonexistent.gguf") && err.contains("not found"), "{err}");
    let (ok, _, err) = run(&["generate", "--prompt", "  "]);
    assert!(!ok && err.contains("empty"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn trained_update_steers_generation_and_sweeps() {
    let dir = std::env::temp_dir().join(format!("steerscope-cli-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pairs = concat!(env!("CARGO_MANIFEST_DIR"), "/data/concepts/pirate.train.jsonl");
    let lora = dir.join("lora.safetensors");
    let lora_s = lora.to_str().unwrap();
    let train = |extra: &[&str]| {
        let mut a =
            vec!["train", "--pairs", pairs, "--layer", "25", "--max-pairs", "4", "--epochs", "1", "--out", lora_s];
        a.extend(extra);
        run(&a)
    };
    let (ok, _, err) = train(&["--method", "lora", "--objective", "split"]);
    assert!(ok, "{err}");
    // The file says where it acts (mlp_out, layer 25); a big multiple makes one step's LoRA visible.
    assert_ne!(gen(None), gen(Some(format!("{lora_s}:400"))));
    let test = concat!(env!("CARGO_MANIFEST_DIR"), "/data/concepts/pirate.test.jsonl");
    let out_dir = dir.join("sweep");
    let (ok, out, err) = run(&[
        "--json",
        "sweep",
        "--train",
        pairs,
        "--test",
        test,
        "--method",
        "",
        "--update",
        lora_s,
        "--max-pairs",
        "2",
        "--strengths=-5,0,5",
        "--per-pair",
        dir.join("pairs.jsonl").to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // --per-pair: one line per (run, split, strength, pair): 2 runs × 2 splits × 3 × 2 pairs, and
    // each held-out point's mean preference is the mean of its pairs' lines.
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("pairs.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 24);
    for p in v["results"][0]["heldout"]["points"].as_array().unwrap() {
        let mine: Vec<f64> = rows
            .iter()
            .filter(|r| r["method"] == "lora-split" && r["split"] == "heldout" && r["strength"] == p["strength"])
            .map(|r| r["pref_odds"].as_f64().unwrap())
            .collect();
        assert_eq!(mine.len(), 2);
        let mean = mine.iter().sum::<f64>() / 2.0;
        assert!((mean - p["pref_odds"].as_f64().unwrap()).abs() < 1e-5, "{mean} vs {}", p["pref_odds"]);
    }
    assert_eq!(v["results"][0]["method"], "lora-split");
    assert_eq!(v["results"][0]["site"], "mlp_out");
    assert_eq!(v["results"][0]["heldout"]["points"].as_array().unwrap().len(), 3);
    // Every sweep carries its baselines (a random direction rescaled like the update, at its site;
    // prompting) and the fluency of text at each strength.
    assert_eq!(v["results"][1]["method"], "random");
    assert_eq!(v["results"][1]["site"], "mlp_out");
    assert!(v["baselines"]["prompting"]["point"]["pref_odds"].is_number());
    assert!(v["baselines"]["prompting"]["instruction"].as_str().unwrap().contains("pirate"));
    assert_eq!(v["format"], "chat");
    assert!(v["results"][0]["texts"][0]["compression_ratio"].is_number());
    // Bad input: unsupported site, unknown method, divergence (keeps the last good checkpoint).
    let (ok, _, err) = train(&["--method", "lora", "--site", "residual"]);
    assert!(!ok && err.contains("does not support site `residual`") && !err.contains("panicked"), "{err}");
    let (ok, _, err) = train(&["--method", "dora"]);
    assert!(!ok && err.contains("unknown method `dora`"), "{err}");
    std::fs::remove_file(&lora).unwrap();
    // A factor out of range is refused before any work; an update that outgrows the residual
    // stream stops training at once and keeps the last good checkpoint.
    let (ok, _, err) = train(&["--method", "vector", "--factors", "1e38"]);
    assert!(!ok && err.contains("|f| ≤ 1000") && !lora.exists(), "{err}");
    let (ok, _, err) = train(&["--method", "vector", "--objective", "sft", "--lr", "10", "--factors", "100"]);
    assert!(
        !ok && err.contains("diverged at step 1")
            && err.contains("residual norm")
            && err.contains("last good checkpoint"),
        "{err}"
    );
    assert!(lora.exists(), "the last good checkpoint must be saved");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn operations_combine_and_calibrate() {
    let dir = std::env::temp_dir().join(format!("steerscope-cli-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/concepts");
    let file = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let vector = |concept: &str, method: &str, op: &str, out: &str| {
        run(&[
            "vector",
            "--pairs",
            &format!("{data}/{concept}.test.jsonl"),
            "--max-pairs",
            "16",
            "--layer",
            "15",
            "--method",
            method,
            "--operation",
            op,
            "--out",
            &file(out),
        ])
    };
    for (concept, method, op, out) in [
        ("sentiment", "diffmean", "add", "dm.safetensors"),
        ("sentiment", "pca", "add", "pca.safetensors"),
        ("sentiment", "diffmean", "project-out", "ablate.safetensors"),
    ] {
        let (ok, _, err) = vector(concept, method, op, out);
        assert!(ok, "{err}");
    }
    // Read and steered positions travel in the file's metadata.
    let (ok, _, err) = run(&[
        "vector",
        "--pairs",
        &format!("{data}/sentiment.test.jsonl"),
        "--max-pairs",
        "16",
        "--layer",
        "15",
        "--read",
        "last-token",
        "--steer-positions",
        "completion",
        "--out",
        &file("late.safetensors"),
    ]);
    assert!(ok, "{err}");
    let bytes = std::fs::read(file("late.safetensors")).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    assert_eq!((meta["read_positions"].as_str(), meta["steered_positions"].as_str()), ("last-token", "completion"));
    let (ok, _, err) = run(&[
        "generate",
        "--max-tokens",
        "4",
        "--prompt",
        "hi",
        "--steer",
        &format!("{}:3", file("late.safetensors")),
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&[
        "vector",
        "--pairs",
        &format!("{data}/sentiment.test.jsonl"),
        "--max-pairs",
        "16",
        "--layer",
        "15",
        "--steer-positions",
        "all,prompt",
        "--out",
        &file("x.safetensors"),
    ]);
    assert!(!ok && err.contains("overlapping position masks"), "{err}");
    let (ok, _, err) = vector("sentiment", "diffmean", "scale", "bad.safetensors");
    assert!(!ok && err.contains("unknown operation `scale`"), "{err}");
    // Ablating the sentiment direction runs as a hook; it cannot become a llama.cpp control vector.
    let (ok, _, err) = run(&[
        "generate",
        "--max-tokens",
        "4",
        "--prompt",
        "hi",
        "--steer",
        &format!("{}:1", file("ablate.safetensors")),
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = vector("sentiment", "diffmean", "project-out", "ablate.gguf");
    assert!(!ok && err.contains("can only add"), "{err}");

    // DiffMean and PCA of one concept point the same way: the overlap warning fires.
    let (ok, out, err) = run(&[
        "combine",
        "--vector",
        &format!("{}:0.5", file("dm.safetensors")),
        "--vector",
        &file("pca.safetensors"),
        "--out",
        &file("sum.safetensors"),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("| ") && err.contains("overlap"), "{out}\n{err}");
    let (ok, _, err) = run(&[
        "combine",
        "--vector",
        &file("dm.safetensors"),
        "--vector",
        &file("ablate.safetensors"),
        "--out",
        &file("x.safetensors"),
    ]);
    assert!(!ok && err.contains("only added vectors"), "{err}");

    // Calibration writes its heatmaps and names the measured range when the budget is outside it.
    let cal = dir.join("cal");
    let calibrate = |budget: &str| {
        run(&[
            "calibrate",
            "--train",
            &format!("{data}/formality.train.jsonl"),
            "--test",
            &format!("{data}/formality.test.jsonl"),
            "--layers",
            "12,20",
            "--strengths=-6,0,6",
            "--max-pairs",
            "3",
            "--budget",
            budget,
            "--out",
            cal.to_str().unwrap(),
        ])
    };
    let (ok, _, err) = calibrate("1000");
    assert!(!ok && err.contains("outside the measured range"), "{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cal.join("calibrate.json")).unwrap()).unwrap();
    assert_eq!(report["cells"].as_array().unwrap().len(), 6);
    assert!(report["cells"][0]["raw_multiple"].is_number() && report["cells"][0]["norm_fraction"].is_number());
    assert_eq!(
        (report["method"].as_str(), report["positions"]["read"].as_str()),
        (Some("diffmean"), Some("completion-mean"))
    );
    assert!(
        report["recommendation"]["Err"].as_str().is_some_and(|e| e.contains("outside the measured range")),
        "{report}"
    );
    assert!(std::fs::read_to_string(cal.join("calibrate.svg")).unwrap().contains("<svg"));
    let (ok, _, err) = calibrate("-1");
    assert!(!ok && err.contains("positive"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

/// `results` end to end on a single-token (Yes/No) concept at a small size: the markdown is
/// written from the concept's saved numbers; `--resume` reuses them only under the same settings.
#[test]
fn results_resume_reuses_a_concept_only_under_the_same_settings() {
    let dir = std::env::temp_dir().join(format!("steerscope-cli-results-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/concepts");
    let results = |test_pairs: &str, resume: bool| {
        let mut args = vec![
            "results",
            "--data",
            data,
            "--concepts",
            "cautious",
            "--methods",
            "diffmean",
            "--train-pairs",
            "8",
            "--sweep-train-pairs",
            "2",
            "--test-pairs",
            test_pairs,
            "--strengths=-4,0,4",
            "--calibrate-layers",
            "6",
            "--out",
            out,
        ];
        if resume {
            args.push("--resume");
        }
        let (ok, _, err) = run(&args);
        assert!(ok, "{err}");
        (std::fs::read_to_string(dir.join("results.md")).unwrap(), err)
    };
    let (first, err) = results("3", false);
    assert!(!err.contains("kept from"), "{err}");
    assert!(first.contains("## cautious") && first.contains("| diffmean |") && first.contains("| random |"), "{first}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results/cautious.json")).unwrap()).unwrap();
    assert_eq!(saved["settings"]["test_pairs"], 3);
    assert_eq!(saved["runs"][0]["heldout"]["points"].as_array().unwrap().len(), 3);
    // The same settings: kept, and the same markdown from the same numbers.
    let (again, err) = results("3", true);
    assert!(err.contains("cautious: kept from"), "{err}");
    assert_eq!(again, first);
    // Other settings: measured again.
    let (other, err) = results("4", true);
    assert!(!err.contains("kept from"), "{err}");
    assert!(other.contains("--test-pairs 4"), "{other}");
    std::fs::remove_dir_all(&dir).ok();
}
