//! How untrusted text is shown: paths as the user gave them and registry messages, with control
//! characters escaped, so nothing read from a file name or a server can move the cursor, colour
//! the output or fake a line. Used by the reports and by the diff headers the engine computes.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

/// A path as the user gave it (relative stays relative), with `/` separators, safe to print on
/// a terminal: control characters are escaped ([`escape_text`]) and bytes that are not UTF-8
/// are shown as `\xNN`. Borrowed when nothing needs escaping (almost every path).
pub fn display_path(path: &Path) -> Cow<'_, str> {
    if let Some(text) = path.to_str() {
        return escape_text(text);
    }
    let mut shown = String::new();
    for chunk in path.as_os_str().as_encoded_bytes().utf8_chunks() {
        shown.push_str(&escape_text(chunk.valid()));
        for byte in chunk.invalid() {
            let _ = write!(shown, "\\x{byte:02x}");
        }
    }
    Cow::Owned(shown)
}

/// A path for JSON, where every character is escaped by the encoder; bytes that are not UTF-8
/// cannot be represented and become U+FFFD.
pub fn json_path(path: &Path) -> Cow<'_, str> {
    path.to_string_lossy()
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
    // Printable ASCII, the common case, is looked at a byte at a time.
    if text.bytes().all(|b| matches!(b, b' '..=b'~')) || !text.chars().any(unsafe_char) {
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
