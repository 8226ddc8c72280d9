//! Variable expansion in FROM, as BuildKit does it with the global ARGs: `$V`, `${V}`,
//! `${V:-d}`, `${V-d}`, `${V:+a}`, `${V+a}`, `${V:?e}`, `${V?e}`, inside and outside double
//! quotes. Other forms (`${V#p}`, `${V%p}`, `${V/p/r}`) are recognised as variables but not
//! expanded.

use std::collections::HashMap;

/// The global ARGs in scope for FROM: name → default (None when declared without one).
pub(super) type Globals = HashMap<String, Option<String>>;

/// If `word` is exactly one variable, `$V` or `${V}` (optionally in double quotes), its name.
pub(super) fn sole_variable(word: &[u8]) -> Option<&str> {
    let word = match word {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    };
    let rest = word.strip_prefix(b"$")?;
    let name = match rest {
        [b'{', inner @ .., b'}'] => inner,
        other => other,
    };
    let name = std::str::from_utf8(name).ok()?;
    is_name(name).then_some(name)
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Names of every variable referenced in `word` (including inside modifiers' words).
pub(super) fn referenced(word: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut i = 0;
    while i < word.len() {
        if word[i] == b'$' {
            let start = i + 1;
            let braced = word.get(start) == Some(&b'{');
            let name_start = if braced { start + 1 } else { start };
            let name_end = (name_start..word.len())
                .find(|j| {
                    !(word[*j].is_ascii_alphanumeric() || word[*j] == b'_' || word[*j] >= 0x80)
                })
                .unwrap_or(word.len());
            if name_end > name_start {
                names.push(String::from_utf8_lossy(&word[name_start..name_end]).into_owned());
            }
            i = name_end.max(i + 1);
        } else {
            i += 1;
        }
    }
    names
}

/// Expands `word` with `globals`; `None` when it uses a form we do not evaluate or is
/// malformed. Unset variables expand to nothing, as in BuildKit.
pub(super) fn expand(word: &[u8], escape: u8, globals: &Globals) -> Option<String> {
    let mut out = Vec::new();
    let mut p = Expander {
        word,
        pos: 0,
        escape,
        globals,
    };
    p.run(&mut out, None)?;
    String::from_utf8(out).ok()
}

struct Expander<'a> {
    word: &'a [u8],
    pos: usize,
    escape: u8,
    globals: &'a Globals,
}

impl Expander<'_> {
    /// Processes until `stop` (unquoted) or the end; leaves `pos` on the stop byte.
    fn run(&mut self, out: &mut Vec<u8>, stop: Option<u8>) -> Option<()> {
        while let Some(&b) = self.word.get(self.pos) {
            if Some(b) == stop {
                return Some(());
            }
            match b {
                b'\'' => {
                    let close = self.word[self.pos + 1..].iter().position(|c| *c == b'\'')?;
                    out.extend_from_slice(&self.word[self.pos + 1..self.pos + 1 + close]);
                    self.pos += close + 2;
                }
                b'"' => {
                    self.pos += 1;
                    loop {
                        let c = *self.word.get(self.pos)?;
                        match c {
                            b'"' => {
                                self.pos += 1;
                                break;
                            }
                            b'$' => self.dollar(out)?,
                            _ if c == self.escape => {
                                let next = *self.word.get(self.pos + 1)?;
                                if next == b'"' || next == b'$' || next == self.escape {
                                    self.pos += 1;
                                }
                                out.push(self.word[self.pos]);
                                self.pos += 1;
                            }
                            _ => {
                                out.push(c);
                                self.pos += 1;
                            }
                        }
                    }
                }
                b'$' => self.dollar(out)?,
                _ if b == self.escape => {
                    if let Some(&next) = self.word.get(self.pos + 1) {
                        out.push(next);
                    }
                    self.pos += 2;
                }
                _ => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
        match stop {
            Some(_) => None,
            None => Some(()),
        }
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.globals.get(name).and_then(|v| v.as_deref())
    }

    fn dollar(&mut self, out: &mut Vec<u8>) -> Option<()> {
        self.pos += 1;
        match self.word.get(self.pos) {
            Some(b'{') => {
                self.pos += 1;
                let start = self.pos;
                while self
                    .word
                    .get(self.pos)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
                {
                    self.pos += 1;
                }
                let name = std::str::from_utf8(&self.word[start..self.pos])
                    .ok()?
                    .to_owned();
                if name.is_empty() {
                    return None;
                }
                match *self.word.get(self.pos)? {
                    b'}' => {
                        self.pos += 1;
                        out.extend_from_slice(self.value(&name).unwrap_or("").as_bytes());
                    }
                    modifier => {
                        let colon = modifier == b':';
                        if colon {
                            self.pos += 1;
                        }
                        let op = *self.word.get(self.pos)?;
                        if !matches!(op, b'-' | b'+' | b'?') {
                            return None;
                        }
                        self.pos += 1;
                        let mut alt = Vec::new();
                        self.run(&mut alt, Some(b'}'))?;
                        self.pos += 1;
                        let set = self.globals.get(&name).is_some_and(|v| v.is_some());
                        let non_empty = self.value(&name).is_some_and(|v| !v.is_empty());
                        let present = if colon { non_empty } else { set };
                        match op {
                            b'-' if present => out.extend_from_slice(self.value(&name)?.as_bytes()),
                            b'-' => out.extend_from_slice(&alt),
                            b'+' if present => out.extend_from_slice(&alt),
                            b'+' => {}
                            _ if present => out.extend_from_slice(self.value(&name)?.as_bytes()),
                            _ => return None,
                        }
                    }
                }
            }
            Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {
                let start = self.pos;
                while self
                    .word
                    .get(self.pos)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
                {
                    self.pos += 1;
                }
                let name = std::str::from_utf8(&self.word[start..self.pos]).ok()?;
                out.extend_from_slice(self.value(name).unwrap_or("").as_bytes());
            }
            Some(b) if super::lex::starts_variable(Some(*b)) => return None,
            _ => out.push(b'$'),
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn globals() -> Globals {
        [
            ("REGISTRY", Some("cgr.dev")),
            ("ORG", Some("chainguard")),
            ("TAG", Some("latest")),
            ("EMPTY", Some("")),
            ("UNSET", None),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.map(str::to_owned)))
        .collect()
    }

    #[test]
    fn expands_the_documented_forms() {
        let g = globals();
        let cases = [
            (
                "${REGISTRY}/${ORG}/python:${TAG}",
                "cgr.dev/chainguard/python:latest",
            ),
            (
                "$REGISTRY/$ORG/static:$TAG",
                "cgr.dev/chainguard/static:latest",
            ),
            ("node:${UNSET:-latest}", "node:latest"),
            ("node:${EMPTY:-x}", "node:x"),
            ("node:${EMPTY-x}", "node:"),
            ("node:${UNSET-x}", "node:x"),
            ("node:latest${TAG:+-dev}", "node:latest-dev"),
            ("node:latest${EMPTY:+-dev}", "node:latest"),
            ("node:latest${EMPTY+-dev}", "node:latest-dev"),
            ("node:latest${UNSET+-dev}", "node:latest"),
            ("\"$ORG/x\"", "chainguard/x"),
            ("'$ORG/x'", "$ORG/x"),
            ("${UNSET:-${ORG}}/x", "chainguard/x"),
        ];
        for (word, want) in cases {
            assert_eq!(
                expand(word.as_bytes(), b'\\', &g).as_deref(),
                Some(want),
                "{word}"
            );
        }
        assert_eq!(expand(b"${TAG#l}", b'\\', &g), None);
        assert_eq!(expand(b"${UNSET:?boom}", b'\\', &g), None);
    }

    #[test]
    fn sole_variables() {
        assert_eq!(sole_variable(b"${BASE}"), Some("BASE"));
        assert_eq!(sole_variable(b"$BASE"), Some("BASE"));
        assert_eq!(sole_variable(b"\"${BASE}\""), Some("BASE"));
        assert_eq!(sole_variable(b"${BASE}-dev"), None);
        assert_eq!(sole_variable(b"${BASE:-x}"), None);
        assert_eq!(referenced(b"${A}/$B:${C:-$D}"), ["A", "B", "C", "D"]);
    }
}
