//! `steerscope train`: fit a vector, LoRA or local weight update on polarity pairs with SFT or
//! SPLIT ([`steerscope::steer::train`]) → an update file ([`steerscope::steer::update`]) that
//! `generate --steer` and `sweep --update` apply.
//!
//! The file is rewritten after every epoch, so a run that diverges (NaN loss) or is stopped
//! leaves its last good checkpoint behind.
use crate::FormatArgs;
use anyhow::{bail, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use steerscope::model::pairs::Prepared;
use steerscope::model::{Llama, Site};
use steerscope::steer::train::{Objective, StepStats, TrainSettings, Trainer, UpdateForm};
use steerscope::steer::update::Update;

#[derive(clap::Args, Debug, Clone)]
pub struct TrainArgs {
    /// Polarity pairs to train on (JSONL: prompt, positive, negative).
    #[arg(long)]
    pub pairs: PathBuf,
    #[arg(long)]
    pub layer: usize,
    /// vector, lora or local-weight.
    #[arg(long, default_value = "vector")]
    pub method: String,
    /// sft or split.
    #[arg(long, default_value = "split")]
    pub objective: String,
    /// Default: residual for a vector, mlp_out (the down projection) for LoRA and local weight.
    #[arg(long)]
    pub site: Option<Site>,
    #[arg(long, default_value_t = 4)]
    pub rank: usize,
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Default: 0.1 for a vector, 0.01 for weight updates.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Steering factors drawn per example, comma-separated (default: 1,2,3,4 for a vector,
    /// 0.25,0.5,0.75,1 for weight updates).
    #[arg(long, value_delimiter = ',')]
    pub factors: Option<Vec<f32>>,
    #[arg(long)]
    pub batch: Option<usize>,
    /// Train "add" examples only (no negated factor with swapped completions; by default each
    /// example is swapped with probability ½, drawn from the seeded RNG).
    #[arg(long)]
    pub add_only: bool,
    /// SPLIT: weight of the winner's loss L_w [default: 1].
    #[arg(long)]
    pub w_pos: Option<f32>,
    /// SPLIT: weight of the loser's loss L_l, which keeps it likely (utility) [default: 0.6 for a
    /// vector, 0.5 for weight updates, EasyEdit's].
    #[arg(long)]
    pub w_neg: Option<f32>,
    /// SPLIT: weight γ of the margin term γ·ReLU(τ − (L_l − L_w)) [default: 5].
    #[arg(long)]
    pub margin_weight: Option<f32>,
    /// SPLIT: the margin τ [default: 0.5 for a vector, 0.4 for weight updates].
    #[arg(long, allow_hyphen_values = true)]
    pub margin: Option<f32>,
    /// SPLIT: weight of the reference term w_ref·(ReLU(L_w − L_w⁰) + ReLU(L_l − L_l⁰)) [default: 0].
    #[arg(long)]
    pub w_ref: Option<f32>,
    /// Learning-rate schedule: linear (to 0, no warm-up; EasyEdit's) or constant.
    #[arg(long, default_value = "linear")]
    pub schedule: steerscope::steer::train::Schedule,
    /// Global gradient-norm clip.
    #[arg(long, default_value_t = 1.0)]
    pub clip: f32,
    /// Stop (keeping the last good step) when the update's |Δh| at the largest factor passes this
    /// multiple of the layer's mean residual norm.
    #[arg(long, default_value_t = 10.0)]
    pub max_update: f32,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Use at most this many pairs.
    #[arg(long)]
    pub max_pairs: Option<usize>,
    #[command(flatten)]
    pub format: FormatArgs,
    #[arg(long)]
    pub out: PathBuf,
}

impl TrainArgs {
    pub fn config(&self) -> Result<TrainSettings> {
        let form = match self.method.as_str() {
            "vector" => UpdateForm::Vector,
            "lora" => UpdateForm::Lora { rank: self.rank },
            "local-weight" => UpdateForm::LocalWeight,
            other => bail!("unknown method `{other}` (expected vector, lora or local-weight)"),
        };
        let objective = match self.objective.as_str() {
            "sft" => {
                let split_only = [self.w_pos, self.w_neg, self.margin_weight, self.margin, self.w_ref];
                anyhow::ensure!(
                    split_only.iter().all(Option::is_none),
                    "--w-pos, --w-neg, --margin-weight, --margin and --w-ref are SPLIT's terms; the objective is sft"
                );
                Objective::Sft
            }
            "split" => match Objective::split_for(form) {
                Objective::Split { w_pos, w_neg, gamma, tau, w_ref } => Objective::Split {
                    w_pos: self.w_pos.unwrap_or(w_pos),
                    w_neg: self.w_neg.unwrap_or(w_neg),
                    gamma: self.margin_weight.unwrap_or(gamma),
                    tau: self.margin.unwrap_or(tau),
                    w_ref: self.w_ref.unwrap_or(w_ref),
                },
                sft => sft,
            },
            other => bail!("unknown objective `{other}` (expected sft or split)"),
        };
        let site = self.site.unwrap_or(if form == UpdateForm::Vector { Site::Residual } else { Site::MlpOut });
        let mut c = TrainSettings::new(form, objective, self.layer, site);
        c.learning_rate = self.lr.unwrap_or(c.learning_rate);
        c.factors = self.factors.clone().unwrap_or(c.factors);
        c.epochs = self.epochs.unwrap_or(c.epochs);
        c.batch = self.batch.unwrap_or(c.batch);
        c.subtract = !self.add_only;
        c.schedule = self.schedule;
        c.clip = self.clip;
        c.max_update = self.max_update;
        c.seed = self.seed;
        Ok(c)
    }
}

pub fn run(args: TrainArgs, model_path: &Path, json: bool) -> Result<()> {
    let config = args.config()?;
    config.check_values()?; // before the model is loaded or any pair is run
    let format = args.format.prompt_format()?;
    let model = crate::load_model(model_path)?;
    let pairs = crate::sweep::tokens(&model, &crate::sweep::read_pairs(&args.pairs, args.max_pairs)?, &format)?;
    let pb = crate::progress_bar(pairs.len() as u64, &format!("prepare < {}", args.layer));
    model.llama.config.check_layer(args.layer)?;
    let prepared = Prepared::new(&model.llama, &pairs, args.layer, |i, _| pb.set_position(i as u64))?;
    pb.finish_and_clear();
    let meta = HashMap::from([
        ("model_sha256".to_string(), crate::fetch::sha256_file(model_path)?),
        ("pairs_sha256".into(), crate::fetch::sha256_file(&args.pairs)?),
        ("prompt_format".into(), format.describe()),
    ]);
    let (artifact, log) = train(&model.llama, &prepared, config, meta, Some(&args.out))?;
    let last = log.last().cloned();
    if json {
        println!("{}", serde_json::json!({"out": args.out, "steps": log, "meta": artifact.meta}));
    } else if let Some(s) = last {
        println!(
            "wrote {} after {} steps: loss {:.3} (winner {:.3}, loser {:.3})",
            args.out.display(),
            s.step,
            s.loss,
            s.winner,
            s.loser
        );
    }
    Ok(())
}

/// Trains with a progress bar, saving to `out` after every epoch (and the last good state on
/// divergence). Returns the trained update and the per-step log.
pub fn train(
    llama: &Llama, prepared: &Prepared, config: TrainSettings, mut meta: HashMap<String, String>, out: Option<&Path>,
) -> Result<(Update, Vec<StepStats>)> {
    meta.insert("method".into(), config.form.name().into());
    meta.insert("objective".into(), config.objective.name().into());
    meta.insert("training".into(), serde_json::to_string(&config)?);
    // Training steers every position and its loss reads the completion tokens.
    meta.insert("read_positions".into(), "completion-loss".into());
    let what = format!("{} {}", config.form.name(), config.objective.name());
    let mut trainer = Trainer::new(llama, prepared, config)?;
    let (total, per_epoch) = (trainer.total_steps(), trainer.steps_per_epoch());
    let pb = crate::progress_bar(total as u64, &what);
    let snapshot = |t: &Trainer| Update {
        layer: t.config.layer,
        site: t.config.site,
        edit: t.edit(),
        positions: Default::default(),
        meta: meta.clone(),
    };
    let save = |u: &Update| out.map_or(Ok(()), |p| crate::save_update(u, p));
    let mut save_error = None;
    let result = trainer.run(|t, s| {
        pb.set_position(s.step as u64);
        pb.set_message(format!("{what} {:.3}", s.loss));
        if t.step % per_epoch == 0 {
            save_error = save(&snapshot(t)).err().or(save_error.take());
        }
    });
    if let Some(e) = save_error {
        return Err(e);
    }
    let log = match result {
        Ok(log) => log,
        Err(e) => {
            pb.abandon();
            save(&snapshot(&trainer))?;
            let saved = out.map_or(String::new(), |p| {
                format!("; last good checkpoint (step {}) in {}", trainer.step, p.display())
            });
            bail!("{e}{saved}");
        }
    };
    pb.finish_and_clear();
    Ok((snapshot(&trainer), log))
}
