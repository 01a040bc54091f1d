//! Polarity pairs as JSONL: one `{"prompt", "positive", "negative"}` object per line, where
//! `positive` is the completion that shows the target concept. Blank lines are skipped; any
//! other problem is an error naming its (1-based) line.
//!
//! Other fields (`"label"`, `"category"`, `"id"`, … — public sets carry them) are ignored, and
//! their names are returned so that the caller can say once which ones were dropped: a field the
//! user meant to be read (a misspelt `"postive"`) then shows up in the note as well as in the
//! error about the missing field.
use crate::error::{Error, Result};
use alloc::{collections::BTreeSet, format, string::String, vec::Vec};

/// A polarity pair.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Pair {
    /// The prompt both completions answer.
    pub prompt: String,
    /// The completion that shows the concept.
    pub positive: String,
    /// The completion that does not.
    pub negative: String,
}

impl Pair {
    /// A system prompt for the prompting baseline when a concept has no written instruction:
    /// this pair's positive completion as the model answer to imitate.
    pub fn example_instruction(&self) -> String {
        format!("Answer in the same style as this example answer: \"{}\"", self.positive)
    }
}

/// A parsed JSONL file: its pairs and the fields it had besides the three that are read.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedPairs {
    /// The pairs, in file order.
    pub pairs: Vec<Pair>,
    /// Names of the ignored fields over all lines, sorted, each once.
    pub ignored_fields: Vec<String>,
}

impl ParsedPairs {
    /// A one-line note for the user about ignored fields, `None` if there were none.
    pub fn note(&self) -> Option<String> {
        (!self.ignored_fields.is_empty())
            .then(|| format!("ignored fields not used by steerscope: {}", self.ignored_fields.join(", ")))
    }
}

/// The fields a line must have, in the order errors name them.
const FIELDS: [&str; 3] = ["prompt", "positive", "negative"];

/// Parses polarity pairs from JSONL text.
///
/// Errors name the 1-based line: not a JSON object, a missing field, a field that is not a
/// string, an empty (or all-whitespace) field, or identical completions. A text with no pairs
/// is [`Error::EmptyDataset`].
pub fn parse_jsonl(text: &str) -> Result<ParsedPairs> {
    let mut pairs = Vec::new();
    let mut ignored = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |problem: String| Error::Data { line: i + 1, problem };
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).map_err(|e| bad(format!("{e} (expected one JSON object per line)")))?;
        let mut values = [String::new(), String::new(), String::new()];
        for (slot, field) in values.iter_mut().zip(FIELDS) {
            *slot = match object.get(field) {
                None => return Err(bad(format!("missing field `{field}`"))),
                Some(serde_json::Value::String(s)) if s.trim().is_empty() => {
                    return Err(bad(format!("field `{field}` is empty")))
                }
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => return Err(bad(format!("field `{field}` must be a string, got {other}"))),
            };
        }
        ignored.extend(object.keys().filter(|k| !FIELDS.contains(&k.as_str())).cloned());
        let [prompt, positive, negative] = values;
        if positive == negative {
            return Err(bad("`positive` and `negative` are identical".into()));
        }
        pairs.push(Pair { prompt, positive, negative });
    }
    if pairs.is_empty() {
        return Err(Error::EmptyDataset);
    }
    Ok(ParsedPairs { pairs, ignored_fields: ignored.into_iter().collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_line() {
        let ok = r#"{"prompt":"p","positive":"a","negative":"b"}"#;
        assert_eq!(parse_jsonl(ok).unwrap().pairs.len(), 1);
        let e = parse_jsonl(&format!("{ok}\n\n{{\"prompt\":\"p\",\"positive\":\"a\"}}")).unwrap_err();
        assert!(matches!(&e, Error::Data { line: 3, problem } if problem.contains("negative")), "{e}");
        let e = parse_jsonl(&format!("{ok}\nnot json")).unwrap_err();
        assert!(matches!(e, Error::Data { line: 2, .. }));
        let e = parse_jsonl(r#"{"prompt":"p","positive":"a","negative":"a"}"#).unwrap_err();
        assert!(format!("{e}").contains("identical"));
        assert_eq!(parse_jsonl("\n \n").unwrap_err(), Error::EmptyDataset);
    }
}
