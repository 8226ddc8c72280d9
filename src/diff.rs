//! Unified diffs of a file before and after pinning, rendered with `similar`: `--- a/PATH`,
//! `+++ b/PATH`, three lines of context, coloured only when asked to.

use similar::TextDiff;

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Resolves `Auto` for a stream: colour only on a terminal, when `NO_COLOR` is unset or
    /// empty, and when `TERM` is not `dumb`.
    pub fn enabled(self, is_terminal: bool) -> bool {
        self.decide(
            is_terminal,
            std::env::var_os("NO_COLOR").as_deref(),
            std::env::var_os("TERM").as_deref(),
        )
    }

    fn decide(
        self,
        is_terminal: bool,
        no_color: Option<&std::ffi::OsStr>,
        term: Option<&std::ffi::OsStr>,
    ) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_terminal
                    && no_color.is_none_or(|v| v.is_empty())
                    && term.is_none_or(|t| t != "dumb")
            }
        }
    }
}

/// The unified diff turning `old` into `new`, or an empty string when they are equal.
pub fn unified(path: &str, old: &str, new: &str, color: bool) -> String {
    if old == new {
        return String::new();
    }
    let diff = TextDiff::from_lines(old, new);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string();
    if color { colorize(&text) } else { text }
}

/// Colours a unified diff for a terminal: headers bold, removals red, additions green.
pub fn colorize(diff: &str) -> String {
    let mut out = String::with_capacity(diff.len() + 64);
    for line in diff.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let code = if body.starts_with("+++") || body.starts_with("---") {
            "1"
        } else if body.starts_with('+') {
            "32"
        } else if body.starts_with('-') {
            "31"
        } else if body.starts_with("@@") {
            "36"
        } else {
            ""
        };
        if code.is_empty() {
            out.push_str(line);
        } else {
            out.push_str(&format!("\x1b[{code}m{body}\x1b[0m{newline}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colour_needs_a_terminal_no_no_color_and_a_term_that_is_not_dumb() {
        use std::ffi::OsStr;
        let (some, empty) = (Some(OsStr::new("1")), Some(OsStr::new("")));
        let (xterm, dumb) = (Some(OsStr::new("xterm-256color")), Some(OsStr::new("dumb")));
        let auto = ColorChoice::Auto;
        assert!(auto.decide(true, None, xterm));
        assert!(auto.decide(true, empty, None));
        assert!(!auto.decide(false, None, xterm));
        assert!(!auto.decide(true, some, xterm));
        assert!(!auto.decide(true, None, dumb));
        assert!(ColorChoice::Always.decide(false, some, dumb));
        assert!(!ColorChoice::Never.decide(true, None, xterm));
    }

    #[test]
    fn unified_diff_with_headers() {
        let old = "FROM a:1\nRUN x\n";
        let new = "FROM a:1@sha256:d\nRUN x\n";
        let diff = unified("sub/Dockerfile", old, new, false);
        assert_eq!(
            diff,
            "--- a/sub/Dockerfile\n+++ b/sub/Dockerfile\n@@ -1,2 +1,2 @@\n-FROM a:1\n+FROM a:1@sha256:d\n RUN x\n"
        );
        assert!(unified("D", old, old, false).is_empty());
        let colored = unified("D", old, new, true);
        assert!(colored.contains("\x1b[31m-FROM a:1\x1b[0m\n"));
        assert!(colored.contains("\x1b[32m+FROM a:1@sha256:d\x1b[0m\n"));
    }

    #[test]
    fn missing_final_newline_is_shown() {
        let diff = unified("D", "FROM a", "FROM a@x", false);
        assert!(diff.contains("\\ No newline at end of file"), "{diff}");
    }
}
