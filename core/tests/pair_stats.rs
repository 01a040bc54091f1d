//! Per-pair statistics of a sweep point against plain references: means, accuracy and utility
//! computed by hand; bootstrap intervals against the true mean of the distribution the pairs were
//! drawn from; and JSONL pair files with fields steerscope does not read. Runs without the
//! `model` feature (no_std-compatible code under test).
use steerscope::analysis::point::{pair_rows, summarize};
use steerscope::data::parse_jsonl;
use steerscope::math::bootstrap::{mean_interval, Interval};
use steerscope::math::logodds::{Nll, PairScore};
use steerscope::rng::Rng;
use steerscope::Error;

fn pair(lp_sum: f32, lp_tokens: usize, ln_sum: f32, ln_tokens: usize) -> PairScore {
    PairScore::new(Nll { sum: lp_sum, tokens: lp_tokens }, Nll { sum: ln_sum, tokens: ln_tokens })
}

fn close(a: f32, b: f64) -> bool {
    (a as f64 - b).abs() < 1e-5 * (1.0 + b.abs())
}

/// Reference: the formulas evaluated by hand on three pairs of different lengths.
#[test]
fn point_statistics_match_a_hand_computation() {
    let scores = [
        pair(2.0, 2, 6.0, 3), // per token 1 vs 2: pref 1; summed 4; prefers positive
        pair(9.0, 3, 4.0, 1), // per token 3 vs 4: pref 1; summed −5; prefers negative
        pair(0.2, 1, 0.4, 2), // per token 0.2 vs 0.2: pref 0; summed 0.2; prefers positive
    ];
    let p = summarize(1.5, &scores);
    assert_eq!((p.strength, p.n_pairs), (1.5, 3));
    assert!(close(p.lp, (1.0 + 3.0 + 0.2) / 3.0) && close(p.ln, (2.0 + 4.0 + 0.2) / 3.0), "{p:?}");
    assert!(close(p.pref_odds, 2.0 / 3.0), "{}", p.pref_odds);
    assert!(close(p.pref_odds_summed, (4.0 - 5.0 + 0.2) / 3.0), "{}", p.pref_odds_summed);
    assert!(close(p.accuracy, 2.0 / 3.0));
    // Utility u = log(m / (1 − m)), m = e^−Lp + e^−Ln; undefined when m ≥ 1.
    let u = |lp: f64, ln: f64| {
        let m = (-lp).exp() + (-ln).exp();
        (m < 1.0).then(|| (m / (1.0 - m)).ln())
    };
    // Per token: pairs 1 and 2 defined, pair 3 (m = 2e^−0.2 > 1) not.
    assert_eq!(u(0.2, 0.2), None);
    assert_eq!(p.util_undefined, 1);
    assert!(close(p.util_odds.unwrap(), (u(1.0, 2.0).unwrap() + u(3.0, 4.0).unwrap()) / 2.0));
    // Summed: pair 3 has m = e^−0.2 + e^−0.4 > 1 too.
    assert_eq!(p.util_summed_undefined, 1);
    assert!(close(p.util_odds_summed.unwrap(), (u(2.0, 6.0).unwrap() + u(9.0, 4.0).unwrap()) / 2.0));
    for (name, ci, est) in [
        ("pref", p.pref_odds_ci, p.pref_odds),
        ("pref summed", p.pref_odds_summed_ci, p.pref_odds_summed),
        ("accuracy", p.accuracy_ci, p.accuracy),
        ("util", p.util_odds_ci, p.util_odds.unwrap()),
        ("util summed", p.util_odds_summed_ci, p.util_odds_summed.unwrap()),
    ] {
        let ci = ci.unwrap_or_else(|| panic!("{name}: no interval"));
        assert!(ci.contains(est), "{name}: {est} not in {ci:?}");
    }
    // The accuracy interval stays inside [0, 1] (the percentile bootstrap cannot leave the data's range).
    let a = p.accuracy_ci.unwrap();
    assert!(a.lo >= 0.0 && a.hi <= 1.0);

    let rows = pair_rows(1.5, &scores);
    assert_eq!(rows.len(), 3);
    assert_eq!(
        (rows[1].index, rows[1].lp_sum, rows[1].lp_tokens, rows[1].ln_sum, rows[1].ln_tokens),
        (1, 9.0, 3, 4.0, 1)
    );
    assert_eq!((rows[1].pref_odds, rows[1].pref_odds_summed, rows[1].prefers_positive), (1.0, -5.0, false));
    assert_eq!((rows[2].util_odds, rows[2].strength), (None, 1.5));
    // The point's means are the means of the rows.
    let mean_summed = rows.iter().map(|r| r.pref_odds_summed as f64).sum::<f64>() / 3.0;
    assert!(close(p.pref_odds_summed, mean_summed));
}

#[test]
fn one_pair_has_no_interval() {
    let p = summarize(0.0, &[pair(1.0, 1, 2.0, 1)]);
    assert_eq!((p.pref_odds_ci, p.pref_odds_summed_ci, p.accuracy_ci, p.util_odds_ci), (None, None, None, None));
    assert_eq!((p.pref_odds, p.accuracy), (1.0, 1.0));
    let json = serde_json::to_value(&p).unwrap();
    assert!(json["pref_odds_ci"].is_null() && json["accuracy"] == 1.0, "{json}");
    // Two pairs, one with undefined utility: utility has one defined value, so no interval,
    // while preference has one.
    let p = summarize(0.0, &[pair(1.0, 1, 2.0, 1), pair(0.1, 1, 0.2, 1)]);
    assert!(p.pref_odds_ci.is_some() && p.util_odds.is_some() && p.util_odds_ci.is_none());
    assert_eq!(p.util_undefined, 1);
    // The JSON form of an interval.
    let json = serde_json::to_value(&p).unwrap();
    assert!(json["pref_odds_ci"]["lo"].is_number() && json["pref_odds_ci"]["hi"].is_number(), "{json}");
}

/// Pairs whose summed preference is N(1, 2²): L_p ~ 5 + N(0, 2), L_n = L_p + preference.
fn drawn_pairs(n: usize, seed: u64) -> Vec<PairScore> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let lp = 5.0 + 2.0 * rng.normal();
            pair(lp, 4, lp + 1.0 + 2.0 * rng.normal(), 4)
        })
        .collect()
}

/// Reference: the standard error of a mean, σ/√n. The interval must contain the sample mean,
/// and from 10 to 1000 pairs its width must shrink by about √100 = 10 (allowed: 6 to 16, since
/// the 10-pair width is itself noisy).
#[test]
fn the_interval_contains_the_mean_and_shrinks_with_more_pairs() {
    let widths: Vec<f32> = [10, 1000]
        .iter()
        .map(|&n| {
            let p = summarize(1.0, &drawn_pairs(n, 3));
            let ci = p.pref_odds_summed_ci.unwrap();
            assert!(ci.contains(p.pref_odds_summed), "n = {n}: {} not in {ci:?}", p.pref_odds_summed);
            assert!(p.accuracy_ci.unwrap().contains(p.accuracy));
            ci.width()
        })
        .collect();
    let ratio = widths[0] / widths[1];
    eprintln!("widths {widths:?}, ratio {ratio}");
    assert!((6.0..16.0).contains(&ratio), "{ratio}");
    // Theory for n = 1000: 2·1.96·σ/√n with σ = 2 → 0.248.
    assert!((widths[1] - 0.248).abs() < 0.03, "{}", widths[1]);
}

/// Reference: the true mean of the distribution. Over 400 seeded samples the 95% interval must
/// cover it at about the nominal rate. Band [0.88, 0.98]: the percentile bootstrap runs a little
/// narrow at n = 30 (≈ 93%), and 400 repetitions give a binomial sd of ≈ 1.2%; a method
/// that is really 85% or 99.5% fails.
#[test]
fn the_interval_covers_the_true_mean_at_about_the_nominal_rate() {
    let mut rng = Rng::new(2024);
    let (n, reps) = (30, 400);
    let (mut normal_hits, mut coin_hits) = (0, 0);
    for rep in 0..reps {
        let normal: Vec<f64> = (0..n).map(|_| 1.0 + 2.0 * rng.normal() as f64).collect();
        let coin: Vec<f64> = (0..n).map(|_| if rng.uniform() < 0.7 { 1.0 } else { 0.0 }).collect();
        normal_hits += usize::from(mean_interval(&normal, rep).unwrap().contains(1.0));
        coin_hits += usize::from(mean_interval(&coin, rep).unwrap().contains(0.7));
    }
    let (a, b) = (normal_hits as f64 / reps as f64, coin_hits as f64 / reps as f64);
    eprintln!("coverage at n = {n}: normal {a:.3}, Bernoulli(0.7) {b:.3}");
    assert!((0.88..=0.98).contains(&a), "normal: {a}");
    assert!((0.88..=0.98).contains(&b), "Bernoulli: {b}");
}

#[test]
fn intervals_are_deterministic_and_separate_when_they_should() {
    let a = summarize(0.0, &drawn_pairs(200, 1));
    let b = summarize(0.0, &drawn_pairs(200, 1));
    assert_eq!(a.pref_odds_summed_ci, b.pref_odds_summed_ci);
    let far = Interval { lo: 5.0, hi: 6.0 };
    assert!(a.pref_odds_summed_ci.unwrap().separated_from(&far));
    assert!(!a.pref_odds_summed_ci.unwrap().separated_from(&a.pref_odds_summed_ci.unwrap()));
}

#[test]
fn jsonl_with_extra_fields_parses_and_lists_them() {
    let text = concat!(
        r#"{"prompt":"Is the sky blue?","positive":" Yes","negative":" No","label":1,"category":"facts"}"#,
        "\n",
        r#"{"id":"q2","prompt":"p","positive":"(A)","negative":"(B)","label":0}"#,
        "\n",
        r#"{"prompt":"p3","positive":"a","negative":"b"}"#,
    );
    let parsed = parse_jsonl(text).unwrap();
    assert_eq!(parsed.pairs.len(), 3);
    assert_eq!(parsed.pairs[0].positive, " Yes", "the leading space is kept");
    assert_eq!(parsed.ignored_fields, ["category", "id", "label"]);
    assert_eq!(parsed.note().unwrap(), "ignored fields not used by steerscope: category, id, label");
    assert_eq!(parse_jsonl(r#"{"prompt":"p","positive":"a","negative":"b"}"#).unwrap().note(), None);
    // Errors still name the line and the problem.
    let msg = |t: &str| parse_jsonl(t).unwrap_err().to_string();
    assert_eq!(
        msg(&format!("{text}\n{{\"prompt\":\"p\",\"positive\":\"\",\"negative\":\"b\"}}")),
        "line 4: field `positive` is empty"
    );
    assert_eq!(msg(r#"{"prompt":"p","postive":"a","negative":"b"}"#), "line 1: missing field `positive`");
    assert!(
        msg(r#"{"prompt":"p","positive":1,"negative":"b"}"#).starts_with("line 1: field `positive` must be a string")
    );
    assert!(msg("[1, 2]").starts_with("line 1: "));
    assert!(msg(r#"{"prompt":" ","positive":"a","negative":"b"}"#).contains("`prompt` is empty"));
    assert_eq!(parse_jsonl("").unwrap_err(), Error::EmptyDataset);
}
