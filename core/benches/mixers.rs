//! Forward throughput of every mixer, recurrent vs chunked, at n = 256 … 4096, and training
//! steps/s. A plain `fn main()` bench (harness = false):
//! `cargo bench -p steerscope --bench mixers` (set `MIXERS_MAX_N=1024` for a shorter run).
//!
//! The `growth` column is t(n)/t(256) divided by n/256: ≈ 1 for linear-time forms, ≈ n/256 for
//! quadratic ones (softmax attention in every form; everything else chunked or recurrent is linear).

#[path = "common/machine.rs"]
mod machine;
use std::hint::black_box;
use std::time::Instant;

use steerscope::attention::mixer::{AnyMixer, Mixer};
use steerscope::attention::spec::MixerKind;
use steerscope::attention::task::Rng;

fn time<F: FnMut()>(mut f: F) -> f64 {
    let start = Instant::now();
    let mut iters = 0;
    while iters == 0 || (start.elapsed().as_secs_f64() < 0.3 && iters < 50) {
        f();
        iters += 1;
    }
    start.elapsed().as_secs_f64() / iters as f64
}

fn main() {
    println!("CPU {}; load average {}", machine::cpu_flags(), machine::loadavg());
    let max_n: usize = std::env::var("MIXERS_MAX_N").ok().and_then(|s| s.parse().ok()).unwrap_or(4096);
    let (d, heads, hd, chunk) = (64, 2, 32, 64);
    let ns: Vec<usize> = [256, 512, 1024, 2048, 4096].into_iter().filter(|&n| n <= max_n).collect();
    println!("mixer forward, d = {d}, {heads} heads × {hd}, chunk = {chunk}, one thread");
    println!("{:<16} {:<10} {:>6} {:>10} {:>12} {:>8}", "mixer", "form", "n", "ms", "tokens/s", "growth");
    for kind in MixerKind::ALL {
        let mut rng = Rng::new(1);
        let m = AnyMixer::random(kind, d, heads, hd, &mut rng);
        for form in ["recurrent", "chunked"] {
            let mut base = None;
            for &n in &ns {
                let x = rng.normals(n * d, 1.0);
                let t = time(|| {
                    let y = if form == "recurrent" {
                        m.forward_recurrent(black_box(&x), n)
                    } else {
                        m.forward_chunked(black_box(&x), n, chunk)
                    };
                    black_box(y.unwrap());
                });
                let b = *base.get_or_insert((t, n));
                let growth = (t / b.0) / (n as f64 / b.1 as f64);
                println!(
                    "{:<16} {:<10} {:>6} {:>10.2} {:>12.0} {:>8.2}",
                    kind.name(),
                    form,
                    n,
                    t * 1e3,
                    n as f64 / t,
                    growth
                );
            }
        }
    }
    #[cfg(feature = "model")]
    train_steps();
}

#[cfg(feature = "model")]
fn train_steps() {
    use steerscope::attention::experiment::{model_of, TrainConfig};
    use steerscope::attention::task::TaskSpec;
    // The experiment's shortest and longest prompts; ratios against full attention (`F*3`, the
    // reference arm) timed in the same process. One candle thread, as the experiment runs them.
    std::env::set_var("RAYON_NUM_THREADS", "1");
    for task in [TaskSpec::lookup(2, 4).unwrap(), TaskSpec::lookup(3, 12).unwrap()] {
        let layers = task.steps() + 1;
        println!("\ntraining steps/s (L = {}, n = {}, d = 48, batch 32, 1 thread)", task.steps(), task.prompt_len());
        println!("{:<28} {:>10} {:>10}", "spec", "steps/s", "vs full");
        let full = format!("F*{layers}");
        let hybrid = |lin: &str| format!("F*{},L:{lin}", layers - 2);
        let mut specs = vec![full.clone()];
        specs.extend(["linear", "retnet", "gla", "mamba2", "deltanet", "gdn", "gdn*4"].map(hybrid));
        specs.push(format!("L:gdn*{layers}"));
        let mut baseline = 0.0;
        for spec in specs {
            let cfg = TrainConfig { eval_instances: 1, ..TrainConfig::new(task.clone(), model_of(&spec, 48), 20, 1) };
            let start = Instant::now();
            steerscope::attention::train::train(&cfg, |_, _| true).unwrap();
            let rate = 20.0 / start.elapsed().as_secs_f64();
            if spec == full {
                baseline = rate;
            }
            println!("{:<28} {:>10.1} {:>9.2}×", spec, rate, rate / baseline);
        }
    }
}
