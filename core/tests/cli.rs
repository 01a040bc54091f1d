//! The `steerscope` binary end to end on the real model: help, inspect, generate (plain and
//! steered with a DiffMean vector it computed), and its error messages.
mod common;
use std::process::Command;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_steerscope")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn help_on_every_subcommand() {
    for sub in ["fetch-model", "inspect", "generate", "vector", "compose"] {
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
    let (ok, _, err) = run(&["vector", "--pairs", pairs, "--layer", "15", "--out", vec_file.to_str().unwrap()]);
    assert!(ok, "{err}");
    let gen = |steer: Option<String>| {
        let mut args = vec!["generate", "--json", "--max-tokens", "12", "--prompt", "Describe your morning."];
        let s;
        if let Some(x) = steer {
            s = x;
            args.extend(["--steer", s.as_str()]);
        }
        let (ok, out, err) = run(&args);
        assert!(ok, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["text"].as_str().unwrap().to_string()
    };
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
    let (ok, _, err) = run(&["vector", "--pairs", pairs, "--layer", "15", "--out", cvec.to_str().unwrap()]);
    assert!(ok, "{err}");
    let one = gen(Some(format!("residual:15:{}:6", vec_file.display())));
    let (ok, out, err) =
        run(&["generate", "--json", "--max-tokens", "12", "--prompt", "Describe your morning.", "--control-vector", &format!("{}:6", cvec.display())]);
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
