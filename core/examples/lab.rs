//! The attention lab's way in: build the hand-set (L+1)-layer full-attention network for L-step
//! function composition and check it on seeded instances — no language model involved.
//!
//! `cargo run --release -p steerscope --example lab`
use steerscope::attention::construct::{construct, Precision};
use steerscope::attention::task::TaskSpec;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for steps in 1..=3 {
        // Composition of `steps` functions over one domain of size 4.
        let task = TaskSpec::uniform(false, steps, 4)?;
        let built = construct(&task, None)?; // β = ln n + 2
        let report = built.evaluate(200, 42, Precision::F32, |_| {})?;
        println!(
            "L = {steps}: n = {}, {} layers, width {}: {}/{} correct",
            report.n, report.layers, report.d_model, report.correct, report.instances
        );
        if report.correct != report.instances {
            return Err(format!(
                "the construction missed {} of {}",
                report.instances - report.correct,
                report.instances
            )
            .into());
        }
    }
    Ok(())
}
