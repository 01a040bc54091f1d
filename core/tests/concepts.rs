//! The shipped concept datasets (`core/data/concepts/`): every concept listed in `index.json`
//! parses with the core's own JSONL parser, has at least 64 train and 100 held-out pairs, shares
//! no prompt between train and test and repeats no pair; for the single-token concepts every
//! completion is exactly one token of the real SmolLM2 tokenizer and the concept's side is "Yes"
//! (resp. "A") in 40–60% of each file's pairs, so a vector cannot score by always saying "Yes".
//! Each check returns the problems it finds; `checks_catch_broken_data` feeds them broken pairs
//! to show that they can fail.
mod common;

use common::model;
use std::collections::HashSet;
use steerscope::data::{parse_jsonl, Pair};
use steerscope::model::pairs::Prepared;
use steerscope::model::score::PairTokens;
use steerscope::model::{Site, Steering};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/concepts");
const MIN_TRAIN: usize = 64;
const MIN_TEST: usize = 100;
/// Allowed share of pairs whose concept side is the first answer ("Yes" or "A"); the shipped
/// files are split exactly 50/50, so this only guards against a lopsided edit.
const BALANCE: (f64, f64) = (0.4, 0.6);

struct Concept {
    name: String,
    single_token: bool,
    train: Vec<Pair>,
    test: Vec<Pair>,
}

fn read_pairs(file: &str) -> Vec<Pair> {
    let path = format!("{DIR}/{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse_jsonl(&text).unwrap_or_else(|e| panic!("{path}: {e}")).pairs
}

fn concepts() -> Vec<Concept> {
    let path = format!("{DIR}/index.json");
    let index: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(!index.is_empty(), "{path} lists no concept");
    index
        .iter()
        .map(|c| {
            let field = |k: &str| c[k].as_str().unwrap_or_else(|| panic!("{path}: an entry has no string `{k}`: {c}"));
            for k in ["description", "instruction"] {
                assert!(!field(k).trim().is_empty(), "{path}: `{k}` of {} is empty", field("name"));
            }
            Concept {
                name: field("name").to_string(),
                single_token: c.get("completion").and_then(|v| v.as_str()) == Some("single-token"),
                train: read_pairs(field("train")),
                test: read_pairs(field("test")),
            }
        })
        .collect()
}

/// Too few pairs in either split.
fn count_problems(train: &[Pair], test: &[Pair]) -> Vec<String> {
    let mut out = Vec::new();
    if train.len() < MIN_TRAIN {
        out.push(format!("train has {} pairs, want ≥ {MIN_TRAIN}", train.len()));
    }
    if test.len() < MIN_TEST {
        out.push(format!("test has {} pairs, want ≥ {MIN_TEST}", test.len()));
    }
    out
}

/// A prompt used in both splits (case-insensitive, surrounding space ignored: the held-out
/// score must not come from prompts the method trained on), or a pair repeated in one split.
fn overlap_problems(train: &[Pair], test: &[Pair]) -> Vec<String> {
    let key = |p: &Pair| p.prompt.trim().to_lowercase();
    let train_prompts: HashSet<String> = train.iter().map(key).collect();
    let mut out: Vec<String> = test
        .iter()
        .filter(|p| train_prompts.contains(&key(p)))
        .map(|p| format!("in train and test: {:?}", p.prompt))
        .collect();
    for (split, pairs) in [("train", train), ("test", test)] {
        let mut seen = HashSet::new();
        for p in pairs {
            if !seen.insert((key(p), p.positive.trim(), p.negative.trim())) {
                out.push(format!("{split} repeats the pair for {:?}", p.prompt));
            }
        }
    }
    out
}

/// The concept side of a single-token pair must be "Yes" (resp. "A") in 40–60% of the pairs.
fn balance_problems(split: &str, pairs: &[Pair]) -> Vec<String> {
    let first = pairs.iter().filter(|p| p.positive == "Yes" || p.positive == "A").count();
    let share = first as f64 / pairs.len().max(1) as f64;
    if (BALANCE.0..=BALANCE.1).contains(&share) {
        Vec::new()
    } else {
        vec![format!("{split}: positive is Yes/A in {first} of {} pairs ({:.0}%)", pairs.len(), 100.0 * share)]
    }
}

/// Single-token completions: exactly "Yes"/"No" or "A"/"B", each one token with no leading space.
fn single_token_problems(split: &str, pairs: &[Pair], tokens_of: impl Fn(&str) -> usize) -> Vec<String> {
    let mut out = Vec::new();
    for (i, p) in pairs.iter().enumerate() {
        let answers = [p.positive.as_str(), p.negative.as_str()];
        let mut sorted = answers;
        sorted.sort_unstable();
        if sorted != ["No", "Yes"] && sorted != ["A", "B"] {
            out.push(format!("{split}:{}: completions {answers:?} are not Yes/No or A/B", i + 1));
        }
        for a in answers {
            let n = tokens_of(a);
            if n != 1 {
                out.push(format!("{split}:{}: completion {a:?} is {n} tokens, want 1", i + 1));
            }
        }
    }
    out
}

#[test]
fn every_concept_has_enough_separate_pairs() {
    let tokenizer = &model().tokenizer;
    let tokens_of = |s: &str| tokenizer.encode_continuation(s).unwrap().len();
    let concepts = concepts();
    let mut problems = Vec::new();
    for c in &concepts {
        let mut p = count_problems(&c.train, &c.test);
        p.extend(overlap_problems(&c.train, &c.test));
        if c.single_token {
            for (split, pairs) in [("train", &c.train), ("test", &c.test)] {
                p.extend(single_token_problems(split, pairs, tokens_of));
                p.extend(balance_problems(split, pairs));
            }
        }
        println!(
            "{}: train {}, test {}{}",
            c.name,
            c.train.len(),
            c.test.len(),
            if c.single_token { ", single-token" } else { "" }
        );
        problems.extend(p.into_iter().map(|m| format!("{}: {m}", c.name)));
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
    // The issue asks for one Yes/No and one A/B concept; losing either from the index is a failure.
    for pair in [["No", "Yes"], ["A", "B"]] {
        let present =
            concepts.iter().any(|c| c.single_token && c.test.iter().all(|p| pair.contains(&p.positive.as_str())));
        assert!(present, "no single-token concept answered {pair:?}");
    }
}

/// The README's convention, measured: in the chat format the answer follows `assistant\n`, so
/// "Yes" is one token and " Yes" another (also one token), which the model does not expect at the
/// start of a reply. Over the first 8 held-out Yes/No pairs the spaced answer must cost at least
/// 3 nats more on average (measured: 1.31 nats plain, 10.84 spaced; the bound is far below that
/// gap but far above noise, and a gap near zero would mean the README's convention was wrong).
#[test]
fn leading_space_changes_the_scored_token() {
    let m = model();
    let tok = &m.tokenizer;
    let cautious = concepts().into_iter().find(|c| c.name == "cautious").expect("the cautious concept");
    let (mut plain, mut spaced) = (0.0f32, 0.0f32);
    let n = 8;
    for pair in &cautious.test[..n] {
        let prompt = tok.encode(&m.chat.prompt(None, &pair.prompt)).unwrap();
        assert_eq!(
            tok.decode(&prompt[prompt.len() - 1..]).unwrap(),
            "\n",
            "the answer is predicted after `assistant\\n`"
        );
        let answer = tok.encode_continuation(&pair.positive).unwrap();
        let answer_spaced = tok.encode_continuation(&format!(" {}", pair.positive)).unwrap();
        assert_eq!((answer.len(), answer_spaced.len()), (1, 1));
        assert_ne!(answer, answer_spaced, "a leading space gives another token");
        // Both answers scored after the same prompt: as the two completions of one "pair".
        let both = PairTokens { prompt, positive: answer, negative: answer_spaced };
        let prepared = Prepared::new(&m.llama, &[both], 0, |_, _| {}).unwrap();
        let score = &prepared.score(&m.llama, &Steering::none(), Site::Residual, |_, _| {}).unwrap().scores[0];
        plain += score.lp.sum / n as f32;
        spaced += score.ln.sum / n as f32;
    }
    println!("mean loss of the concept answer over {n} pairs: {plain:.2} nats as \"Yes\"/\"No\", {spaced:.2} with a leading space");
    assert!(spaced > plain + 3.0, "leading space: {spaced:.2} vs {plain:.2} nats");
}

#[test]
fn checks_catch_broken_data() {
    let pair = |prompt: &str, positive: &str, negative: &str| Pair {
        prompt: prompt.into(),
        positive: positive.into(),
        negative: negative.into(),
    };
    let yes = |i: usize| pair(&format!("Question {i}?"), "Yes", "No");
    let train: Vec<Pair> = (0..MIN_TRAIN).map(yes).collect();
    let test: Vec<Pair> = (MIN_TRAIN..MIN_TRAIN + MIN_TEST).map(yes).collect();
    assert!(count_problems(&train, &test).is_empty());
    assert_eq!(count_problems(&train[1..], &test[1..]).len(), 2);
    assert!(overlap_problems(&train, &test).is_empty());
    // A train prompt reused in test (other case, extra space) and a pair repeated within test.
    let mut leaky = test.clone();
    leaky[0] = pair(" question 3? ", "Yes", "No");
    leaky.push(leaky[1].clone());
    assert_eq!(overlap_problems(&train, &leaky).len(), 2, "{:?}", overlap_problems(&train, &leaky));
    // All "Yes": unbalanced; half and half: balanced.
    assert_eq!(balance_problems("test", &test).len(), 1);
    let mixed: Vec<Pair> = test
        .iter()
        .enumerate()
        .map(|(i, p)| if i % 2 == 0 { p.clone() } else { pair(&p.prompt, "No", "Yes") })
        .collect();
    assert!(balance_problems("test", &mixed).is_empty());
    // Wrong answer set and multi-token answers, counted by a stand-in tokenizer (one token per char).
    let bad = [pair("q", "Yes", "B"), pair("r", "Yes!", "No")];
    let chars = |s: &str| s.chars().count();
    // First pair: answer set, "Yes" = 3 "tokens"; second: answer set, "Yes!" and "No".
    assert_eq!(single_token_problems("test", &bad, chars).len(), 2 + 3);
}
