//! Where the set-up (`steerscope fetch-model`) puts the default model: `$STEERSCOPE_HOME/models/`
//! (default `~/.cache/steerscope/models/`). Shared by the tests and the benches.
use std::path::PathBuf;

pub fn default_model_path() -> PathBuf {
    let home = match std::env::var_os("STEERSCOPE_HOME") {
        Some(h) => PathBuf::from(h),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into())).join(".cache/steerscope"),
    };
    home.join("models").join(steerscope::model::DEFAULT_MODEL_FILE)
}
