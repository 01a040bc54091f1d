//! `steerscope compose …`: the attention lab on the command line.
//!
//! * `generate` — sample task instances (tokens, chain, answer) as JSON.
//! * `solve` — sample instances and check the exact solver against the brute-force reference.
//! * `construct` — build the hand-set (L+1)-layer model and measure its accuracy.
//! * `train` — train one small model from a spec string.
//! * `experiment` — the full-vs-hybrid-vs-linear sweep: JSON results, a markdown table, an SVG plot
//!   and (with `--docs`) the generated `docs/attention.md`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use steerscope::attention::construct::{composition_at_least, construct, Precision};
use steerscope::attention::experiment::{
    self, ExperimentConfig, ExperimentResult, PlanOptions, SummaryRow, TaskKind, TrainConfig, TrainResult,
};
use steerscope::attention::spec::parse_spec;
use steerscope::attention::task::{brute_force, Rng, TaskSpec};
use steerscope::attention::train;

/// `steerscope compose …`
#[derive(clap::Args, Debug)]
pub struct ComposeArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ComposeCommand,
}

/// Task selection shared by the subcommands.
#[derive(clap::Args, Debug, Clone)]
pub struct TaskArgs {
    /// Number of composition steps L (≥ 1).
    #[arg(long = "L", short = 'L', default_value_t = 2)]
    pub steps: usize,
    /// Domain size: m = n_l = k for composition, [k] for lookup.
    #[arg(long, short = 'k', default_value_t = 4)]
    pub k: usize,
    /// Use the iterated-lookup variant (one domain, no query w).
    #[arg(long)]
    pub lookup: bool,
}

impl TaskArgs {
    fn task(&self) -> Result<TaskSpec> {
        Ok(TaskSpec::uniform(self.lookup, self.steps, self.k)?)
    }
}

/// Subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum ComposeCommand {
    /// Sample instances of the task.
    Generate {
        #[command(flatten)]
        task: TaskArgs,
        /// How many instances.
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Solve sampled instances and check the solver against the brute-force reference.
    Solve {
        #[command(flatten)]
        task: TaskArgs,
        /// How many instances.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Evaluate the hand-set (L+1)-layer full-attention construction.
    Construct {
        /// Values of L (comma-separated).
        #[arg(long = "L", short = 'L', value_delimiter = ',', default_values_t = vec![1usize, 2, 3, 4, 5])]
        steps: Vec<usize>,
        /// Smallest prompt length: the domain k grows until n ≥ this.
        #[arg(long, default_value_t = 1000)]
        min_n: usize,
        /// Instances per L.
        #[arg(long, default_value_t = 1000)]
        instances: usize,
        /// Fixed inverse temperature (default: ln n + 2).
        #[arg(long)]
        beta: Option<f32>,
        /// Residual-stream precision: f32, f16, bf16.
        #[arg(long, default_value = "f32")]
        precision: String,
        /// Seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Train one model.
    Train {
        #[command(flatten)]
        task: TaskArgs,
        /// Layer spec, e.g. `F,L:deltanet,F`.
        #[arg(long, default_value = "F,F,F")]
        spec: String,
        /// Residual width.
        #[arg(long, default_value_t = 64)]
        d: usize,
        /// Optimiser steps.
        #[arg(long, default_value_t = 500)]
        train_steps: usize,
        /// Batch size.
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Learning rate.
        #[arg(long, default_value_t = 3e-3)]
        lr: f64,
        /// Seed.
        #[arg(long, default_value_t = 17)]
        seed: u64,
        /// Save the trained stack as JSON here.
        #[arg(long)]
        save: Option<PathBuf>,
    },
    /// Run the full/hybrid/linear sweep.
    Experiment {
        /// CI variant: every architecture once at the smallest setting (≤ 2 min).
        #[arg(long)]
        quick: bool,
        /// Seeds per setting (default 3; quick 1).
        #[arg(long)]
        seeds: Option<usize>,
        /// Optimiser steps per run.
        #[arg(long)]
        train_steps: Option<usize>,
        /// Domain sizes per L, e.g. `2:3,4,6;3:2,3` (default: the full sweep's).
        #[arg(long)]
        domains: Option<String>,
        /// Use the Chen–Peng–Wu composition task instead of the default iterated lookup.
        #[arg(long)]
        composition: bool,
        /// Peak learning rate (default 3e-3).
        #[arg(long)]
        lr: Option<f64>,
        /// Runs trained at once (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Re-render table, plot and docs from a saved results.json instead of training.
        #[arg(long, conflicts_with_all = ["quick", "seeds", "train_steps", "domains", "composition", "lr", "jobs"])]
        from: Option<PathBuf>,
        /// Output directory for results.json, table.md and accuracy.svg.
        #[arg(long, default_value = "target/compose-experiment")]
        out: PathBuf,
        /// Also write the generated docs page here (e.g. docs/attention.md).
        #[arg(long)]
        docs: Option<PathBuf>,
    },
}

/// Entry point of `steerscope compose`.
pub fn run(args: ComposeArgs, json: bool) -> Result<()> {
    match args.command {
        ComposeCommand::Generate { task, count, seed } => {
            let t = task.task()?;
            let mut rng = Rng::new(seed);
            let mut out = Vec::new();
            for _ in 0..count {
                let inst = t.sample(&mut rng);
                out.push(serde_json::json!({
                    "task": t, "n": t.prompt_len(), "tokens": inst.tokens(), "z0": inst.z0,
                    "w": inst.w, "chain": inst.chain(), "answer": inst.solve(),
                }));
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for o in &out {
                    println!(
                        "n = {}  z0 = {}  w = {}  chain = {}  answer = {}",
                        o["n"], o["z0"], o["w"], o["chain"], o["answer"]
                    );
                }
            }
        }
        ComposeCommand::Solve { task, count, seed } => {
            let t = task.task()?;
            let mut rng = Rng::new(seed);
            let pb = crate::progress_bar(count as u64, "solve vs brute force");
            let mut agree = 0;
            for _ in 0..count {
                let inst = t.sample(&mut rng);
                agree += (brute_force(&inst.tokens(), &inst.w) == Some(inst.solve())) as usize;
                pb.inc(1);
            }
            pb.finish_and_clear();
            let r = serde_json::json!({"task": t, "n": t.prompt_len(), "instances": count, "agree": agree});
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!("solver agrees with brute force on {agree}/{count} instances (n = {})", t.prompt_len());
            }
            if agree != count {
                bail!("solver and brute force disagree on {} instances", count - agree);
            }
        }
        ComposeCommand::Construct { steps, min_n, instances, beta, precision, seed } => {
            let precision = Precision::parse(&precision)?;
            let mut reports = Vec::new();
            for &l in &steps {
                let task = composition_at_least(l, min_n)?;
                let c = construct(&task, beta)?;
                let pb = crate::progress_bar(instances as u64, &format!("L = {l}, n = {}", task.prompt_len()));
                let r = c.evaluate(instances, seed + l as u64, precision, |i| pb.set_position(i as u64))?;
                pb.finish_and_clear();
                for w in &r.warnings {
                    eprintln!("warning: {w}");
                }
                if !json {
                    println!(
                        "L = {l}: n = {:5}, {} layers, d = {:3}, β = {:.2}: {}/{} correct ({:.1}%)",
                        r.n,
                        r.layers,
                        r.d_model,
                        r.beta,
                        r.correct,
                        r.instances,
                        100.0 * r.accuracy
                    );
                }
                reports.push(r);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            }
        }
        ComposeCommand::Train { task, spec, d, train_steps, batch, lr, seed, save } => {
            let t = task.task()?;
            parse_spec(&spec)?;
            let cfg =
                TrainConfig { batch, lr, ..TrainConfig::new(t, experiment::model_of(&spec, d), train_steps, seed) };
            let pb = crate::progress_bar(train_steps as u64, &spec);
            let (r, stack) = train::train(&cfg, |s, l| {
                pb.set_position(s as u64);
                pb.set_message(format!("{spec} loss {l:.3}"));
                true
            })?;
            pb.finish_and_clear();
            if let Some(p) = save {
                std::fs::write(&p, serde_json::to_string(&stack)?)
                    .with_context(|| format!("writing {}", p.display()))?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "{spec}: n = {}, {} params, accuracy {:.1}%, final loss {:.3}",
                    r.n,
                    r.params,
                    100.0 * r.accuracy,
                    r.final_loss
                );
            }
        }
        ComposeCommand::Experiment { quick, seeds, train_steps, domains, composition, lr, jobs, from, out, docs } => {
            let result = match from {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                    let mut r: ExperimentResult = serde_json::from_str(&text)
                        .with_context(|| format!("{} is not an experiment results.json", path.display()))?;
                    // Re-aggregate: the summary is derived data, so older files gain new columns.
                    r.summary = experiment::summarize(&r.runs);
                    r
                }
                None => {
                    let mut opts = if quick { PlanOptions::quick() } else { PlanOptions::full() };
                    opts.lookup = !composition;
                    opts.lr = lr.unwrap_or(opts.lr);
                    opts.seeds = seeds.unwrap_or(opts.seeds);
                    opts.steps = train_steps.unwrap_or(opts.steps);
                    if let Some(d) = domains {
                        opts.domains = parse_domains(&d)?;
                    }
                    let plan = experiment::plan(&opts)?;
                    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
                    let pb = crate::progress_bar(plan.runs.iter().map(|r| r.steps as u64).sum(), "experiment");
                    let start = Instant::now();
                    let runs = train_all(&plan, jobs, &pb)?;
                    pb.finish_and_clear();
                    let seconds = start.elapsed().as_secs_f64();
                    ExperimentResult { summary: experiment::summarize(&runs), config: plan, runs, seconds, jobs }
                }
            };
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let table = experiment::markdown(&result.summary);
            let results_json = serde_json::to_string_pretty(&result)?;
            let plot = svg_plot(&result.summary);
            std::fs::write(out.join("results.json"), &results_json)?;
            std::fs::write(out.join("table.md"), &table)?;
            std::fs::write(out.join("accuracy.svg"), &plot)?;
            if let Some(p) = docs {
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir).ok();
                }
                std::fs::write(&p, docs_page(&result)?).with_context(|| format!("writing {}", p.display()))?;
                std::fs::write(p.with_file_name("attention-accuracy.svg"), &plot)?;
                std::fs::write(p.with_file_name("attention-results.json"), &results_json)?;
            }
            if json {
                println!("{results_json}");
            } else {
                println!(
                    "{table}\n{} runs in {:.0} s; results in {}",
                    result.runs.len(),
                    result.seconds,
                    out.display()
                );
            }
        }
    }
    Ok(())
}

/// Trains every run of a plan on `jobs` threads, each with a single-threaded candle (these models
/// are far too small for intra-op parallelism to pay, and two threads per run would fight over
/// the cores). Results come back in plan order; the first error stops the remaining runs.
fn train_all(plan: &ExperimentConfig, jobs: usize, pb: &indicatif::ProgressBar) -> Result<Vec<TrainResult>> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
    // candle reads this before every matmul; set before any worker starts.
    std::env::set_var("RAYON_NUM_THREADS", "1");
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<anyhow::Result<TrainResult>>>> =
        Mutex::new((0..plan.runs.len()).map(|_| None).collect());
    let total = plan.runs.len();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total || failed.load(Ordering::SeqCst) {
                    break;
                }
                let cfg = &plan.runs[i];
                let r = train::train(cfg, |_, _| {
                    pb.inc(1);
                    !failed.load(Ordering::SeqCst)
                })
                .map(|(r, _)| r)
                .map_err(anyhow::Error::from);
                match &r {
                    Ok(r) => {
                        // Early-stopped runs skip the rest of their budget on the bar.
                        pb.inc((cfg.steps - r.steps_run) as u64);
                        let line = format!(
                            "[{}/{total}] L={} n={:3} {:28} d={:3} seed={:5} acc={:.3} steps={:5} loss={:.3}",
                            done.fetch_add(1, Ordering::SeqCst) + 1,
                            r.config.task.steps(),
                            r.n,
                            r.config.model.spec,
                            r.config.model.d_model,
                            r.config.seed,
                            r.accuracy,
                            r.steps_run,
                            r.final_loss
                        );
                        if pb.is_hidden() {
                            eprintln!("{line}");
                        } else {
                            pb.println(line);
                        }
                    }
                    Err(_) => failed.store(true, Ordering::SeqCst),
                }
                results.lock().unwrap()[i] = Some(r);
            });
        }
    });
    // A failed run stops the rest, so report the failure rather than the runs it skipped.
    let results = results.into_inner().unwrap();
    if let Some((i, Some(Err(e)))) = results.iter().enumerate().find(|(_, r)| matches!(r, Some(Err(_)))) {
        bail!("run {} ({}): {e:#}", i + 1, plan.runs[i].model.spec);
    }
    results.into_iter().flatten().collect()
}

/// Parses `2:3,4,6;3:2,3` into `[(2, [3, 4, 6]), (3, [2, 3])]`.
pub fn parse_domains(s: &str) -> Result<Vec<(usize, Vec<usize>)>> {
    s.split(';')
        .map(|part| {
            let (l, ks) = part.split_once(':').with_context(|| format!("domain group `{part}` is not `L:k,k,…`"))?;
            let l: usize = l.trim().parse().with_context(|| format!("bad L in `{part}`"))?;
            let ks = ks
                .split(',')
                .map(|k| k.trim().parse::<usize>().with_context(|| format!("bad k `{k}` in `{part}`")))
                .collect::<Result<Vec<_>>>()?;
            Ok((l, ks))
        })
        .collect()
}

/// Accuracy vs prompt length, one panel per L, one line per architecture (hand-written SVG).
pub fn svg_plot(summary: &[SummaryRow]) -> String {
    let panels = experiment::panels(summary);
    let (pw, ph, ml, mt) = (420.0, 300.0, 55.0, 40.0);
    let width = panels.len().max(1) as f64 * (pw + 200.0);
    let height = ph + 2.0 * mt + 40.0;
    let colors = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
        "#393b79", "#637939", "#8c6d31", "#843c39",
    ];
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (pi, ((task, l), rows)) in panels.iter().enumerate() {
        let x0 = pi as f64 * (pw + 200.0) + ml;
        let mut ns: Vec<usize> = rows.iter().map(|r| r.n).collect();
        ns.sort();
        ns.dedup();
        let (nmin, nmax) = (*ns.first().unwrap_or(&1) as f64, *ns.last().unwrap_or(&2) as f64);
        let xs = |n: usize| {
            if nmax > nmin {
                x0 + (n as f64 - nmin) / (nmax - nmin) * (pw - ml - 10.0)
            } else {
                x0 + (pw - ml) / 2.0
            }
        };
        let ys = |a: f64| mt + (1.0 - a) * ph;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="20" font-size="14">{}, L = {l}: accuracy vs prompt length n</text>"#,
            x0,
            task.title()
        );
        let _ =
            writeln!(s, r##"<rect x="{x0}" y="{mt}" width="{}" height="{ph}" fill="none" stroke="#444"/>"##, pw - ml);
        for a in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let _ = writeln!(
                s,
                r##"<line x1="{x0}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{:.0}%</text>"##,
                x0 + pw - ml,
                x0 - 4.0,
                ys(a) + 4.0,
                100.0 * a,
                y = ys(a)
            );
        }
        for &n in &ns {
            let _ = writeln!(s, r#"<text x="{}" y="{}" text-anchor="middle">{n}</text>"#, xs(n), mt + ph + 15.0);
        }
        let _ =
            writeln!(s, r#"<text x="{}" y="{}" text-anchor="middle">n</text>"#, x0 + (pw - ml) / 2.0, mt + ph + 32.0);
        let mut specs: Vec<(experiment::Arm, String)> = rows.iter().map(|r| (r.arm, r.spec.clone())).collect();
        specs.sort();
        specs.dedup();
        for (si, (arm, spec)) in specs.iter().enumerate() {
            let c = colors[si % colors.len()];
            let dash = match arm {
                experiment::Arm::Full => "",
                experiment::Arm::Hybrid => r#" stroke-dasharray="5,3""#,
                experiment::Arm::AllLinear => r#" stroke-dasharray="1,3""#,
            };
            let mut pts: Vec<(f64, f64)> =
                rows.iter().filter(|r| &r.spec == spec).map(|r| (xs(r.n), ys(r.mean))).collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let path: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2"{dash}/>"#,
                path.join(" ")
            );
            for (x, y) in &pts {
                let _ = writeln!(s, r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{c}"/>"#);
            }
            let ly = mt + 14.0 * si as f64;
            let lx = x0 + pw - ml + 10.0;
            let _ = writeln!(
                s,
                r#"<line x1="{lx}" x2="{}" y1="{ly}" y2="{ly}" stroke="{c}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
                lx + 18.0,
                lx + 22.0,
                ly + 4.0,
                spec
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// The generated `docs/attention.md`: task, construction (measured now), experiment table.
pub fn docs_page(result: &ExperimentResult) -> Result<String> {
    let mut s = String::new();
    s.push_str(DOC_HEAD);
    s.push_str("\n## The construction, measured\n\nGenerated by `steerscope compose construct` (1,000 random instances per L, β = ln n + 2):\n\n| L | n | layers | d | β | correct |\n|---|---|---|---|---|---|\n");
    for l in 1..=5 {
        let task = composition_at_least(l, 1000)?;
        let c = construct(&task, None)?;
        let r = c.evaluate(1000, 42 + l as u64, Precision::F32, |_| {})?;
        let _ = writeln!(
            s,
            "| {l} | {} | {} | {} | {:.2} | {}/{} |",
            r.n, r.layers, r.d_model, r.beta, r.correct, r.instances
        );
    }
    s.push_str("\nWhy β must grow with ln n — accuracy of the L = 2 lookup construction with a *fixed* β (100 instances):\n\n| n | β = 2 | β = 3 | β = 4 | β = ln n + 2 |\n|---|---|---|---|---|\n");
    for k in [8usize, 30, 100, 300, 1000] {
        let task = TaskSpec::lookup(2, k)?;
        let mut row = format!("| {} |", task.prompt_len());
        for beta in [Some(2.0f32), Some(3.0), Some(4.0), None] {
            let r = construct(&task, beta)?.evaluate(100, 3, Precision::F32, |_| {})?;
            let _ = write!(row, " {:.0}% |", 100.0 * r.accuracy);
        }
        let _ = writeln!(s, "{row}");
    }
    let first = result.config.runs.first();
    let _ = write!(
        s,
        "\n## Trained models ({} runs, {:.0} s on a shared 2-core machine{})\n\nGenerated by `steerscope compose experiment --docs docs/attention.md` \
         ({}). Batch {}, peak learning rate {}; widths are matched to the parameter count of (a) at d = {}; accuracy on {} held-out \
         instances, read at the answer (last) token. All seven mixers are run (hybrid with one linear layer) at the smallest k of \
         each L; linear attention, Mamba2 and Gated DeltaNet (×1 and ×4) at every k. Runs: `docs/attention-results.json` \
         (re-render with `--from`).\n\n",
        result.runs.len(),
        result.seconds,
        match result.jobs {
            0 => String::new(),
            1 => ", one run at a time".into(),
            j => format!(", {j} runs at a time"),
        },
        // `full` / `quick` from `plan`; a merged results file may name its parts instead.
        match result.config.name.as_str() {
            "full" | "quick" => format!("{} sweep", result.config.name),
            other => other.to_string(),
        },
        first.map_or(0, |r| r.batch),
        first.map_or(0.0, |r| r.lr),
        first.map_or(0, |r| r.model.d_model),
        first.map_or(0, |r| r.eval_instances),
    );
    // Per task: a results file may hold both (merged parts).
    for (task, what) in [
        (TaskKind::Lookup, "iterated lookup (one domain [k], no query w)"),
        (TaskKind::Composition, "L-step composition (with query w)"),
    ] {
        let runs: Vec<&TrainConfig> = result.config.runs.iter().filter(|r| TaskKind::of(&r.task) == task).collect();
        let Some(run) = runs.first() else { continue };
        let rows = result.summary.iter().filter(|r| r.task == task);
        let mut domains: Vec<(usize, usize)> = rows.clone().map(|r| (r.steps, r.k)).collect();
        domains.sort();
        domains.dedup();
        let seeds = rows.map(|r| r.seeds).max().unwrap_or(0);
        let _ = writeln!(
            s,
            "* {what}: {} runs, {seeds} seeds, up to {} optimiser steps per run, (L, k) settings {domains:?}",
            runs.len(),
            run.steps
        );
    }
    s.push_str(&experiment::markdown(&result.summary));
    s.push_str("\n![accuracy vs n](attention-accuracy.svg)\n\n**What it shows** (computed from the table):\n\n");
    s.push_str(&experiment::headline(&result.summary));
    s.push_str(TRAINING_NOTES);
    Ok(s)
}

const TRAINING_NOTES: &str = r#"
### How the models are trained, and how to read the table

* **Data.** Fresh random instances every step (no fixed training set), batch 32; AdamW (β = 0.9,
  0.98, weight decay 0.01 on matrices), 5% warm-up then cosine decay to 10%, gradient clipping at
  1. Every block is mixer + ReLU MLP (2d) with pre-RMSNorm; 2 heads of width d/2.
* **Intermediate targets.** Besides the answer i_L, a head used only in training reads the same
  last-token residual and predicts i₀ … i_{L−1} (cross-entropy, weight 1 each). Without it the
  answer is independent of any single partial result, so gradient descent gets no signal for the
  first hop until the whole chain is right: in a pilot, `F*3` on L = 2 lookup at k = 8 reached 41%
  after 600 steps without it and 100% with it. The targets are identical for every architecture and
  say nothing about *which* layer computes what; the table reports the answer head alone, and the
  extra head is dropped from the exported model.
* **Early stop.** A run ends once ≥ 99.5% of the answers in the last 50 training batches are right
  (fresh samples, so a held-out estimate); `steps_run` in the results. Runs that never get there
  use the whole budget, so every arm gets the same chance.
* **The composition task** (with query w) is harder to learn than lookup — z₂ takes the pair
  (w₁, i₁), so its table is k times longer at the same k — and (a) needs more steps; only its
  smallest setting fit this machine's budget, so its table has one prompt length and no trend
  with n. The lookup tables carry the n-dependence.
* **Hybrid layout.** (b) is the L−1 full layers followed by the linear layers; `compose train
  --spec` takes any other order.
* **Training forms.** Softmax, linear, RetNet and Mamba2 train as masked n×n score matrices, GLA
  with a per-channel decay tensor, DeltaNet and Gated DeltaNet in WY form (U = (I + A)⁻¹·diag(β)V,
  the inverse by block-recursive merging in ⌈log₂ n⌉ matmul levels); each agrees with the plain
  token-by-token recurrences to 1e-5 (tests), and the trained weights export to the same `Stack`
  the browser runs.
* **Why hybrids solve small k and then stop.** The full layers can compose tables in place (each
  z₁ entry fetches z₂ of its value, and so on), which leaves one lookup over k entries at the last
  token. A recurrent layer can do it only by holding all k (argument → value) pairs in its fixed
  state as an associative memory, which works while k is below what its d_k × d_v state can
  separate and fails beyond: the lower bound's H·d·p against n, seen at toy scale. Delta-rule
  layers (DeltaNet, Gated DeltaNet), whose update replaces the value stored under a key instead of
  adding to it, separate more pairs in the same state, so their drop comes later and seeds scatter
  more near the edge. Where (b) drops depends on width; at fixed width it drops as n grows.
* **What this is not.** An illustration at small n, not a proof. What the runs show is the
  predicted *shape* at equal data, width and step budgets; the constructive result above is the
  evidence that L+1 full layers suffice at any n.
"#;

const DOC_HEAD: &str = r#"# Attention lab: full vs linear vs hybrid attention on function composition

*This page is generated by `steerscope compose experiment --docs docs/attention.md`; do not edit
the numbers by hand.*

## The claim

Ye, He, Liao, Wu, Lu, "A Provable Expressiveness Hierarchy in Hybrid Linear-Full Attention"
(arXiv 2602.01763): (L+1) full-attention layers solve L-step sequential function composition
with polylog(n) width and precision, while L−1 full layers interleaved with (many) linear-attention
layers cannot unless H·d·p grows polynomially in n. Linear attention, RetNet, GLA, Mamba2,
DeltaNet and Gated DeltaNet are all RNNs with a fixed-size state, which is what the lower bound uses.

## The task (Chen–Peng–Wu, Def. 2.1)

z₀ ∈ [m]; query w = (w₁ … w_{L−1}), w_l ∈ [n_l]; functions z_l : [N_{l−1}] → [N_{l−1}], N₀ = m,
N_l = N_{l−1}·n_l; for l ≥ 2 the argument of z_l is the pair (w_{l−1}, i_{l−1}).
i₀ = z₀, i₁ = z₁(i₀), i_{l+1} = z_{l+1}(w_l, i_l); the answer is i_L. Prompt:
`[z_L table] … [z₁ table] [z₀] [w]`, one token per table entry, answer read at the last token,
n = 2 + Σ_{l<L} N_l. Each token is encoded as a one-hot block id plus ±1 binary codes of its
argument parts and value (no positional encoding). The lab also offers iterated lookup over one
domain [k] (no w). Code: `core/src/attention/task.rs` (seeded splitmix64; solver checked against a
brute-force scan of the prompt).

## The construction (`core/src/attention/construct.rs`)

One softmax head per layer, attention only, residual stream with fields
`BLK | HI | LO | VAL | W₁…W_{L−1} | R₀ … R_L`.

* Codes are ±1: for b-bit codes u·v = b − 2·Hamming(u, v), so an exact match beats any other key by ≥ 2.
* Layer 1: the query token attends to the z₀ token (query 2·e_{z₀}, key = BLK) and copies VAL → R₀.
* Layer k+1 (k = 1…L): query = β·[2 ; bin(w_{k−1}) ; R_{k−1}], key = [BLK = z_k ; HI ; LO], value
  VAL → R_k. The matching table token wins by ≥ 2β over every other token.
* Readout: signs of R_L at the last token.
* **Inverse temperature.** The winner's weight is ≥ 1/(1 + (n−1)e^{−2β}); with β = ln n + 2 the
  losers' total weight is ≤ e^{−4}/n, which shrinks with n, so errors cannot build up over L hops.
  With β fixed, accuracy collapses once n ≫ e^{2β} (table below).
* Keys and values read only input fields and only R fields are written, so the answer depends on
  the last token's row alone; `Stack::predict_last` checks that and evaluates in O(n·d) per layer
  (the generic forward gives the same answers; see the tests).
* Precision: `--precision f16|bf16` rounds the residual stream; n above 2^p (p = significand bits)
  prints a warning.
"#;
