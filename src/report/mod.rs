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

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

/// A path as the user gave it (relative stays relative), with `/` separators, safe to print on
/// a terminal: control characters are escaped ([`escape_text`]) and bytes that are not UTF-8
/// are shown as `\xNN`.
pub fn display_path(path: &Path) -> String {
    let mut shown = String::new();
    for chunk in path.as_os_str().as_encoded_bytes().utf8_chunks() {
        shown.push_str(&escape_text(chunk.valid()));
        for byte in chunk.invalid() {
            let _ = write!(shown, "\\x{byte:02x}");
        }
    }
    shown
}

/// A path for JSON, where every character is escaped by the encoder; bytes that are not UTF-8
/// cannot be represented and become U+FFFD.
pub fn json_path(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// `text` safe to print on a terminal or in a CI log: C0 and C1 control characters (newlines,
/// ESC of ANSI sequences, …), DEL and the bidirectional overrides are shown as `\n`, `\r`,
/// `\t` or `\u{…}`, so a file name or a registry's message cannot move the cursor, colour the
/// output, fake a line or a workflow command.
pub fn escape_text(text: &str) -> Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => shown.push_str("\\n"),
            '\r' => shown.push_str("\\r"),
            '\t' => shown.push_str("\\t"),
            c if unsafe_char(c) => {
                let _ = write!(shown, "\\u{{{:x}}}", u32::from(c));
            }
            c => shown.push(c),
        }
    }
    Cow::Owned(shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_invalid_bytes_are_escaped() {
        assert_eq!(escape_text("plain/Dockerfile"), "plain/Dockerfile");
        assert!(matches!(escape_text("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape_text("a\nb\r\tc\u{1b}[31md\u{7f}\u{9b}e\u{202e}f"),
            "a\\nb\\r\\tc\\u{1b}[31md\\u{7f}\\u{9b}e\\u{202e}f"
        );
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(std::ffi::OsStr::from_bytes(
            b"d\xff/x\n::error::.Dockerfile",
        ));
        assert_eq!(display_path(path), "d\\xff/x\\n::error::.Dockerfile");
        assert_eq!(json_path(path), "d\u{fffd}/x\n::error::.Dockerfile");
    }
}
