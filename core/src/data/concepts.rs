//! The concept index (`core/data/concepts/index.json`): which concepts ship, where their pair
//! files are, and the instruction the prompting baseline asks for. The CLI and the page read it
//! through here, so a malformed index is refused the same way by both.
use crate::error::{Error, Result};
use alloc::{format, string::String, vec::Vec};

/// One shipped concept.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Concept {
    /// Short name, e.g. `sentiment`.
    pub name: String,
    /// What the positive and negative completions differ in.
    #[serde(default)]
    pub description: String,
    /// File name of the training pairs, beside the index.
    pub train: String,
    /// File name of the held-out pairs, beside the index.
    pub test: String,
    /// System prompt of the prompting baseline.
    #[serde(default)]
    pub instruction: Option<String>,
    /// `single-token` when every completion is one token (Yes/No, A/B sets).
    #[serde(default)]
    pub completion: Option<String>,
}

/// Parses the index: a JSON array of concepts with unique, non-empty names and file names that
/// stay beside the index (no path separators, no `..`). Unknown fields are ignored.
pub fn parse_index(text: &str) -> Result<Vec<Concept>> {
    let bad = |problem: String| Error::Invalid(format!("concept index: {problem}"));
    let entries: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|e| bad(format!("{e}")))?;
    if entries.is_empty() {
        return Err(bad("it lists no concept".into()));
    }
    // serde would also read a concept from a list, by position; the index names its fields.
    let concepts = entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| match entry {
            serde_json::Value::Object(_) => {
                serde_json::from_value::<Concept>(entry).map_err(|e| bad(format!("entry {}: {e}", i + 1)))
            }
            other => Err(bad(format!("entry {} is {}, not an object", i + 1, json_kind(&other)))),
        })
        .collect::<Result<Vec<_>>>()?;
    for (i, c) in concepts.iter().enumerate() {
        if c.name.trim().is_empty() {
            return Err(bad(format!("entry {} has an empty name", i + 1)));
        }
        if concepts[..i].iter().any(|d| d.name == c.name) {
            return Err(bad(format!("concept `{}` is listed twice", c.name)));
        }
        for (field, file) in [("train", &c.train), ("test", &c.test)] {
            if file.is_empty() || file.contains(['/', '\\']) || file.contains("..") {
                return Err(bad(format!(
                    "concept `{}`: `{field}` must be a file name beside the index, got {file:?}",
                    c.name
                )));
            }
        }
    }
    Ok(concepts)
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn the_shipped_index_parses_and_bad_ones_say_why() {
        let shipped = parse_index(include_str!("../../data/concepts/index.json")).unwrap();
        assert!(shipped.iter().any(|c| c.name == "sentiment"));
        let err = |t: &str| parse_index(t).unwrap_err().to_string();
        assert!(err("[]").contains("no concept"));
        assert!(err("{}").contains("concept index"));
        assert!(err(r#"[{"name":"a","train":"../x","test":"t"}]"#).contains("beside the index"));
        assert!(err(r#"[{"name":"a","train":"x","test":"t"},{"name":"a","train":"y","test":"u"}]"#).contains("twice"));
        assert!(err(r#"[{"name":" ","train":"x","test":"t"}]"#).contains("empty name"));
        // Regressions found by the mutation test: a list was read as a concept by position, and
        // a bad field did not say which entry it was in.
        let e = err(r#"[{"name":"a","train":"x","test":"t"},["b","","y","u"]]"#);
        assert!(e.contains("entry 2 is a list, not an object"), "{e}");
        let e = err(r#"[{"name":"a","train":"x","test":"t"},{"name":"b","train":7,"test":"u"}]"#);
        assert!(e.contains("entry 2: invalid type: integer `7`"), "{e}");
    }
}
