//! The way in, end to end on the real model: load a GGUF, fit DiffMean on polarity pairs, generate
//! steered text, and measure one sweep point — the crate docs' example, run by the test command.
//!
//! `cargo run --release -p steerscope --example steer [MODEL.gguf]` (default: the fetched SmolLM2).
use steerscope::analysis::session::{Direction, Split, SweepSession};
use steerscope::data::parse_jsonl;
use steerscope::model::generate::{generate, Sampling};
use steerscope::model::score::PairTokens;
use steerscope::model::sites::Positions;
use steerscope::model::{Model, Site};
use steerscope::steer::methods::Method;

#[path = "../tests/common/model_path.rs"]
mod model_path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).map_or_else(model_path::default_model_path, Into::into);
    let model = Model::load(&std::fs::read(&path)?)?;
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/data/concepts/sentiment.train.jsonl");
    let pairs = parse_jsonl(&std::fs::read_to_string(data)?)?.pairs;
    let format = Default::default(); // the chat template with its default system turn
    let tokens = pairs.iter().map(|p| PairTokens::new(&model, p, &format)).collect::<Result<Vec<_>, _>>()?;
    let (train, test) = (tokens[..8].to_vec(), tokens[8..12].to_vec());

    // A session at layer 15: DiffMean, rescaled so that strength 10 adds half the layer's
    // mean residual-stream norm.
    let llama = &model.llama;
    let mut session = SweepSession::new(llama, train, test, 15)?;
    let fitted = session.fit(llama, Method::DiffMean, Site::Residual, Positions::All, None, 1, |_, _| {})?;
    println!(
        "DiffMean at layer 15: |v| = {:.2}, residual norm {:.1}",
        fitted.scale.effect_norm, fitted.scale.residual_norm
    );

    let prompt = model.tokenizer.encode(&model.chat.prompt(None, "Tell me about your weekend."))?;
    for m in [0.0, 6.0] {
        let steering = session.steering(llama, Direction::Update, m)?;
        let text = generate(&model, &prompt, 24, Sampling::GREEDY, &steering, |_| {})?.text;
        println!("strength {m:+}: {text:?}");
    }
    for m in [0.0, 6.0] {
        let p = session.point(llama, Split::Test, Direction::Update, m, |_, _| {})?;
        println!(
            "held-out point at {m:+}: preference {:.3}, utility {:?}, off-manifold {:?}",
            p.point.pref_odds, p.point.util_odds, p.off_manifold
        );
    }
    Ok(())
}
