//! Polarity pairs as JSONL: one `{"prompt", "positive", "negative"}` object per line, where
//! `positive` is the completion that shows the target concept. Blank lines are skipped; any
//! other problem is an error naming its (1-based) line.
use crate::error::{Error, Result};
use alloc::{format, string::String, vec::Vec};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    pub prompt: String,
    pub positive: String,
    pub negative: String,
}

impl Pair {
    /// A system prompt for the prompting baseline when a concept has no written instruction:
    /// this pair's positive completion as the model answer to imitate.
    pub fn example_instruction(&self) -> String {
        format!("Answer in the same style as this example answer: \"{}\"", self.positive)
    }
}

pub fn parse_jsonl(text: &str) -> Result<Vec<Pair>> {
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |problem: String| Error::Data { line: line_no, problem };
        // serde would also read a pair from a list, by position; a line names its fields.
        if !line.trim_start().starts_with('{') {
            return Err(bad("expected a JSON object {\"prompt\", \"positive\", \"negative\"}".into()));
        }
        let pair: Pair = serde_json::from_str(line).map_err(|e| bad(format!("{e}")))?;
        for (field, value) in [("prompt", &pair.prompt), ("positive", &pair.positive), ("negative", &pair.negative)] {
            if value.trim().is_empty() {
                return Err(bad(format!("field `{field}` is empty")));
            }
        }
        if pair.positive == pair.negative {
            return Err(bad("`positive` and `negative` are identical".into()));
        }
        pairs.push(pair);
    }
    if pairs.is_empty() {
        return Err(Error::EmptyDataset);
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_line() {
        let ok = r#"{"prompt":"p","positive":"a","negative":"b"}"#;
        assert_eq!(parse_jsonl(ok).unwrap().len(), 1);
        let e = parse_jsonl(&format!("{ok}\n\n{{\"prompt\":\"p\",\"positive\":\"a\"}}")).unwrap_err();
        assert!(matches!(&e, Error::Data { line: 3, problem } if problem.contains("negative")), "{e}");
        let e = parse_jsonl(&format!("{ok}\nnot json")).unwrap_err();
        assert!(matches!(e, Error::Data { line: 2, .. }));
        let e = parse_jsonl(r#"{"prompt":"p","positive":"a","negative":"a"}"#).unwrap_err();
        assert!(format!("{e}").contains("identical"));
        assert_eq!(parse_jsonl("\n \n").unwrap_err(), Error::EmptyDataset);
        // Regression found by the mutation test: a list was read as a pair by position.
        let e = parse_jsonl(&format!("{ok}\n[\"p\",\"a\",\"b\"]")).unwrap_err();
        assert!(matches!(&e, Error::Data { line: 2, problem } if problem.contains("expected a JSON object")), "{e}");
    }
}
