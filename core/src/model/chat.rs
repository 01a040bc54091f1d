//! The instruct chat format. SmolLM2 uses ChatML and inserts a default system turn when the
//! conversation has none (one explicit choice: we reproduce that, since it changes the scores).
use crate::gguf::Gguf;
use alloc::{format, string::String};

/// The system turn SmolLM2's template inserts when a conversation has none.
pub const SMOLLM_DEFAULT_SYSTEM: &str = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// How a prompt is wrapped for an instruct model, read from the GGUF's `tokenizer.chat_template`.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatTemplate {
    /// `<|im_start|>role\ncontent<|im_end|>\n`, with this default system prompt (if any).
    ChatMl {
        /// The system turn used when a conversation has none.
        default_system: Option<String>,
    },
    /// No template in the file: prompts are used as plain text.
    Plain,
}

impl ChatTemplate {
    /// The template named by `tokenizer.chat_template`: ChatML if it uses `<|im_start|>`, plain
    /// text if there is none. A template that is not a string is an error (not plain text: the
    /// prompts would silently lose their format).
    pub fn from_gguf(g: &Gguf) -> crate::error::Result<Self> {
        let template = match g.get("tokenizer.chat_template") {
            None => return Ok(ChatTemplate::Plain),
            Some(v) => v.as_str().ok_or_else(|| {
                crate::error::Error::Invalid(format!(
                    "GGUF metadata `tokenizer.chat_template` is not a string: {}",
                    v.summary()
                ))
            })?,
        };
        Ok(match template {
            t if t.contains("<|im_start|>") => ChatTemplate::ChatMl {
                default_system: t.contains(SMOLLM_DEFAULT_SYSTEM).then(|| SMOLLM_DEFAULT_SYSTEM.into()),
            },
            _ => ChatTemplate::Plain,
        })
    }

    /// The text up to where the assistant's reply begins, for one user turn, with `system` as
    /// the system message (`None`: the template's default).
    pub fn prompt(&self, system: Option<&str>, user: &str) -> String {
        let turn = system.map_or(SystemTurn::Default, |t| SystemTurn::Text(t.into()));
        self.render(&PromptFormat::Chat(turn), user)
    }
}

/// Whose system turn a chat-formatted prompt carries.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "text")]
pub enum SystemTurn {
    /// The template's own default (SmolLM2 inserts one when none is given).
    #[default]
    Default,
    /// No system turn at all.
    None,
    /// This text as the system message.
    Text(String),
}

/// How a prompt becomes the model's input text — one explicit choice, recorded in every output,
/// because it changes the scores (utility at m = 0 moved from −3.27 to −2.55 with SmolLM2's
/// default system turn; a leading space on a chat answer costs ≈ 13 nats).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "format", content = "system")]
pub enum PromptFormat {
    /// The model's chat template: the prompt is the user turn and completions are the assistant's
    /// answer (no leading space). On a model without a template, the plain text.
    Chat(SystemTurn),
    /// The prompt text as it is; completions continue it (public raw-format sets usually start
    /// answers with a space: " Yes").
    Raw,
}

impl Default for PromptFormat {
    fn default() -> Self {
        PromptFormat::Chat(SystemTurn::Default)
    }
}

impl PromptFormat {
    /// From a format name (`chat` or `raw`) and a system choice (`None` = the template's default,
    /// `"none"` = no system turn, anything else = that text). A system turn with `raw` is refused.
    ///
    /// ```
    /// use steerscope::model::chat::{PromptFormat, SystemTurn};
    /// assert_eq!(PromptFormat::parse("chat", Some("none")).unwrap(), PromptFormat::Chat(SystemTurn::None));
    /// assert_eq!(PromptFormat::parse("raw", None).unwrap(), PromptFormat::Raw);
    /// assert!(PromptFormat::parse("html", None).unwrap_err().to_string().contains("`html`"));
    /// ```
    pub fn parse(format: &str, system: Option<&str>) -> crate::error::Result<Self> {
        let turn = match system {
            None => SystemTurn::Default,
            Some("none") => SystemTurn::None,
            Some(text) => SystemTurn::Text(text.into()),
        };
        match (format, turn) {
            ("chat", turn) => Ok(PromptFormat::Chat(turn)),
            ("raw", SystemTurn::Default) => Ok(PromptFormat::Raw),
            ("raw", _) => Err(crate::error::Error::Invalid(
                "a system turn needs the chat format: --system only applies with --format chat".into(),
            )),
            (other, _) => {
                Err(crate::error::Error::Invalid(format!("unknown prompt format `{other}` (expected chat or raw)")))
            }
        }
    }

    /// A short name for reports: `chat`, `chat, no system turn`, `chat, system "…"`, `raw`.
    pub fn describe(&self) -> String {
        match self {
            PromptFormat::Raw => "raw".into(),
            PromptFormat::Chat(SystemTurn::Default) => "chat".into(),
            PromptFormat::Chat(SystemTurn::None) => "chat, no system turn".into(),
            PromptFormat::Chat(SystemTurn::Text(t)) => format!("chat, system \"{t}\""),
        }
    }
}

impl ChatTemplate {
    /// Whether the file has a chat template (without one, the chat format is plain text and a
    /// system prompt has nowhere to go).
    pub fn has_template(&self) -> bool {
        !matches!(self, ChatTemplate::Plain)
    }

    /// `user` as model input in `format`.
    pub fn render(&self, format: &PromptFormat, user: &str) -> String {
        match (format, self) {
            (PromptFormat::Raw, _) | (_, ChatTemplate::Plain) => user.into(),
            (PromptFormat::Chat(turn), ChatTemplate::ChatMl { .. }) => {
                let mut s = String::new();
                let system = match turn {
                    SystemTurn::Default => self.default_system(),
                    SystemTurn::None => None,
                    SystemTurn::Text(t) => Some(t.as_str()),
                };
                if let Some(sys) = system {
                    s += &format!("<|im_start|>system\n{sys}<|im_end|>\n");
                }
                s += &format!("<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n");
                s
            }
        }
    }

    fn default_system(&self) -> Option<&str> {
        match self {
            ChatTemplate::ChatMl { default_system } => default_system.as_deref(),
            ChatTemplate::Plain => None,
        }
    }
}
