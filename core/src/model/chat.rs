//! The instruct chat format. SmolLM2 uses ChatML and inserts a default system turn when the
//! conversation has none (one explicit choice: we reproduce that, since it changes the scores).
use crate::gguf::Gguf;
use alloc::{format, string::String};

pub const SMOLLM_DEFAULT_SYSTEM: &str = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

#[derive(Debug, Clone, PartialEq)]
pub enum ChatTemplate {
    /// `<|im_start|>role\ncontent<|im_end|>\n`, with this default system prompt (if any).
    ChatMl { default_system: Option<String> },
    /// No template in the file: prompts are used as plain text.
    Plain,
}

impl ChatTemplate {
    pub fn from_gguf(g: &Gguf) -> Self {
        match g.get("tokenizer.chat_template").and_then(|v| v.as_str()) {
            Some(t) if t.contains("<|im_start|>") => ChatTemplate::ChatMl {
                default_system: t.contains(SMOLLM_DEFAULT_SYSTEM).then(|| SMOLLM_DEFAULT_SYSTEM.into()),
            },
            _ => ChatTemplate::Plain,
        }
    }

    /// The text up to where the assistant's reply begins, for one user turn.
    pub fn prompt(&self, system: Option<&str>, user: &str) -> String {
        match self {
            ChatTemplate::Plain => user.into(),
            ChatTemplate::ChatMl { default_system } => {
                let mut s = String::new();
                if let Some(sys) = system.or(default_system.as_deref()) {
                    s += &format!("<|im_start|>system\n{sys}<|im_end|>\n");
                }
                s += &format!("<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n");
                s
            }
        }
    }
}
