//! Rendering outcomes for people and programs. Every emitter writes to the `Write` it is given;
//! the library never prints on its own.

pub mod findings;
pub mod github;
pub mod gitlab;
mod json;
pub mod sarif;
pub mod tags;
mod text;

pub use github::{pin_github, step_summary};
pub use gitlab::pin_gitlab;
pub use json::{JsonFiles, history_json, list_json, pin_json};
pub use sarif::pin_sarif;
pub use tags::{tags_json, tags_markdown, tags_text};
pub use text::{
    PinText, empty_dirs, history_text, invalid_refs, list_text_file, pin_errors, pin_text,
    pin_text_file, pin_text_summary, skipped_files,
};

pub use crate::display::{display_path, escape_text, json_path};
