//! The JSON formats: polarity-pair JSONL and the concept index. Mutations know JSON: fields
//! dropped, duplicated, renamed, added or given the wrong type, strings replaced by empty, blank,
//! huge, control-character, path-traversal and non-ASCII ones, deep nesting — then the text
//! itself is cut, spliced, given invalid UTF-8 (read as the page reads it, with U+FFFD), raw
//! control characters, CRLF or a BOM.
use crate::common::concept_text;
use crate::common::fuzz::{self, interesting_string, interesting_u64, mutate_bytes, Format};
use serde_json::{json, Value};
use steerscope::data::concepts::parse_index;
use steerscope::data::parse_jsonl;
use steerscope::rng::Rng;
use steerscope::Error;

fn wrong_type(rng: &mut Rng) -> Value {
    match rng.below(9) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(interesting_u64(rng)),
        3 => json!(-1.5e300),
        4 => json!([]),
        5 => json!({}),
        6 => json!(["a", "b"]),
        7 => json!({"text": "a"}),
        _ => Value::String(interesting_string(rng)),
    }
}

/// One structure-aware change somewhere in `v`.
fn mutate_value(rng: &mut Rng, v: &mut Value) {
    match v {
        Value::Object(m) if !m.is_empty() && rng.below(3) != 0 => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let key = keys[rng.below(keys.len())].clone();
            match rng.below(6) {
                0 => {
                    m.remove(&key);
                }
                1 => {
                    let val = m.remove(&key).unwrap();
                    m.insert(interesting_string(rng), val);
                }
                2 => {
                    m.insert(["extra", "Prompt", "positive ", "instrucion"][rng.below(4)].into(), wrong_type(rng));
                }
                3 => *m.get_mut(&key).unwrap() = wrong_type(rng),
                4 => {
                    let other = keys[rng.below(keys.len())].clone();
                    let copy = m[&other].clone();
                    *m.get_mut(&key).unwrap() = copy;
                }
                _ => mutate_value(rng, m.get_mut(&key).unwrap()),
            }
        }
        Value::Array(a) if !a.is_empty() && rng.below(3) != 0 => {
            let i = rng.below(a.len());
            match rng.below(4) {
                0 => {
                    a.remove(i);
                }
                1 => {
                    let dup = a[i].clone();
                    a.insert(rng.below(a.len() + 1), dup);
                }
                2 => a[i] = wrong_type(rng),
                _ => mutate_value(rng, &mut a[i]),
            }
        }
        Value::String(s) => match rng.below(3) {
            0 => *s = interesting_string(rng),
            1 => s.push_str(&interesting_string(rng)),
            _ => *s = s.chars().rev().collect(),
        },
        other => *other = wrong_type(rng),
    }
}

/// Textual changes JSON values cannot express.
fn mutate_text(rng: &mut Rng, text: &mut Vec<u8>) {
    match rng.below(9) {
        0 => {
            // A key written twice in one object.
            if let Some(at) = text.iter().position(|&b| b == b'{') {
                let dup =
                    [&b"\"prompt\": \"again\", "[..], b"\"name\": \"again\", ", b"\"positive\": 1, "][rng.below(3)];
                text.splice(at + 1..at + 1, dup.iter().copied());
            }
        }
        1 => {
            let depth = [100, 129, 10_000][rng.below(3)];
            let at = rng.below(text.len() + 1);
            let deep: Vec<u8> = std::iter::repeat_n(b'[', depth).chain(std::iter::repeat_n(b']', depth)).collect();
            text.splice(at..at, deep);
        }
        2 => {
            let at = rng.below(text.len() + 1);
            let bad: &[u8] =
                [&b"\xff"[..], b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00", b"\x1b", b"\r"][rng.below(7)];
            text.splice(at..at, bad.iter().copied());
        }
        3 => text.splice(0..0, "\u{feff}".bytes()).for_each(drop),
        4 => *text = String::from_utf8_lossy(text).replace('\n', "\r\n").into_bytes(),
        5 => {
            let at = rng.below(text.len() + 1);
            text.splice(at..at, br#"\ud800"#.iter().copied());
        }
        6 => {
            // Every line twice, or the lines in another order.
            let s = String::from_utf8_lossy(text).into_owned();
            let mut lines: Vec<&str> = s.lines().collect();
            if rng.below(2) == 0 {
                lines = lines.iter().flat_map(|l| [*l, *l]).collect();
            } else {
                lines.reverse();
            }
            *text = lines.join("\n").into_bytes();
        }
        _ => mutate_bytes(rng, text, 3),
    }
}

fn lines_of(file: &str, n: usize) -> Vec<Value> {
    concept_text(file).lines().take(n).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Polarity pairs: every file parses to pairs that keep the format's promises, or is refused
/// with its line number.
#[test]
fn mutated_pair_files_parse_or_name_the_line() {
    let corpus: Vec<Value> =
        ["sentiment.train.jsonl", "formality.train.jsonl", "pirate.test.jsonl", "ocean.test.jsonl"]
            .iter()
            .flat_map(|f| lines_of(f, 6))
            .collect();
    let format = Format { name: "pairs JSONL", factor: 16, constant: 64 << 10, context: &["line ", "no pairs"] };
    let t = fuzz::run(
        &format,
        3,
        |rng| {
            let mut lines: Vec<Value> =
                (0..1 + rng.below(5)).map(|_| corpus[rng.below(corpus.len())].clone()).collect();
            for _ in 0..rng.below(3) {
                let i = rng.below(lines.len());
                mutate_value(rng, &mut lines[i]);
            }
            let mut text: Vec<u8> =
                lines.iter().map(|l| serde_json::to_string(l).unwrap()).collect::<Vec<_>>().join("\n").into_bytes();
            if rng.below(2) == 0 {
                mutate_text(rng, &mut text);
            }
            text
        },
        |bytes| {
            // The page decodes with TextDecoder (invalid UTF-8 → U+FFFD); the CLI refuses invalid
            // UTF-8 before parsing. The lossy text is the harder case.
            let text = String::from_utf8_lossy(bytes);
            let lines = text.lines().count();
            match parse_jsonl(&text) {
                Ok(parsed) => {
                    let pairs = parsed.pairs;
                    assert!(!pairs.is_empty() && pairs.len() <= lines);
                    let objects =
                        text.lines().filter(|l| !l.trim().is_empty()).all(|l| l.trim_start().starts_with('{'));
                    assert!(objects, "a line that is not an object was accepted");
                    for p in &pairs {
                        for s in [&p.prompt, &p.positive, &p.negative] {
                            assert!(!s.trim().is_empty(), "a blank field was accepted: {p:?}");
                        }
                        assert_ne!(p.positive, p.negative, "identical completions were accepted");
                    }
                    Ok(())
                }
                Err(e) => {
                    if let Error::Data { line, .. } = &e {
                        assert!((1..=lines).contains(line), "line {line} of {lines}");
                    }
                    Err(e.to_string())
                }
            }
        },
    );
    assert!(t.accepted > t.inputs / 10 && t.rejected > t.inputs / 10, "{t:?}");
}

/// The concept index: every file parses to concepts with unique names and file names beside
/// the index, or is refused naming the entry and field.
#[test]
fn mutated_concept_indexes_parse_or_say_why() {
    let shipped: Value = serde_json::from_str(&concept_text("index.json")).unwrap();
    let format = Format { name: "concept index", factor: 16, constant: 64 << 10, context: &["concept index"] };
    let t = fuzz::run(
        &format,
        5,
        |rng| {
            let mut v = shipped.clone();
            for _ in 0..1 + rng.below(3) {
                mutate_value(rng, &mut v);
            }
            let mut text =
                if rng.below(2) == 0 { serde_json::to_vec(&v) } else { serde_json::to_vec_pretty(&v) }.unwrap();
            if rng.below(3) == 0 {
                mutate_text(rng, &mut text);
            }
            text
        },
        |bytes| {
            let text = String::from_utf8_lossy(bytes);
            let concepts = parse_index(&text).map_err(|e| e.to_string())?;
            assert!(!concepts.is_empty());
            // Each concept is an object with named fields, not a list read by position.
            let raw: Value = serde_json::from_str(&text).unwrap();
            assert!(
                raw.as_array().unwrap().iter().all(Value::is_object),
                "an entry that is not an object was accepted"
            );
            for (i, c) in concepts.iter().enumerate() {
                assert!(!c.name.trim().is_empty(), "empty name accepted");
                assert!(concepts[..i].iter().all(|d| d.name != c.name), "duplicate name accepted");
                for f in [&c.train, &c.test] {
                    assert!(
                        !f.is_empty() && !f.contains(['/', '\\']) && !f.contains(".."),
                        "file name {f:?} leaves the index's folder"
                    );
                }
            }
            Ok(())
        },
    );
    assert!(t.accepted > t.inputs / 20 && t.rejected > t.inputs / 10, "{t:?}");
}
