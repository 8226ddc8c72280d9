//! The YAML locator shared by the YAML kinds: parses a file with `saphyr-parser` (events with
//! positions) into a small tree of documents whose scalars know their style and the exact bytes
//! of their text in the file, so a kind can pick the image values by key path and the rewriter
//! can replace them inside their own quotes. A scalar whose text is not written verbatim on one
//! line (a block scalar, a folded or escaped one) has no span: it is never rewritten.
//!
//! Positions: the parser counts characters (a BOM included); they are mapped to byte offsets
//! here, and every span is checked against the file's bytes before it is trusted.
//! Aliases share the anchored node (no copy), so a value reached through an alias or a `<<:`
//! merge is the same node as at its anchor and a kind can report it once.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use crate::found::{FoundRef, RefState, Scan, ScanError, Site};
use crate::reference::Reference;

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|` or `>`.
    Block,
}

/// One scalar as parsed, with where it is in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    pub value: String,
    pub style: Style,
    /// The bytes of `value` in the file, quotes excluded, when it is written there verbatim.
    pub span: Option<Range<usize>>,
    /// Byte offset where the scalar's text starts (after an opening quote) or, without a span,
    /// where the node starts.
    pub start: usize,
    /// Byte offset just past the scalar (its closing quote included).
    pub end: usize,
}

/// A node of a parsed document; an index into [`Yaml::nodes`].
pub type NodeId = usize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Scalar(Scalar),
    Seq(Vec<NodeId>),
    /// Key and value pairs in file order (a `<<` merge key included as written).
    Map(Vec<(NodeId, NodeId)>),
}

/// A parsed YAML file: every document's root, and the nodes they are made of.
#[derive(Debug, Default)]
pub struct Yaml {
    pub nodes: Vec<Node>,
    pub docs: Vec<NodeId>,
    /// The tag written on a node, when it is not one of YAML's own (`!reference`, `!Ref`).
    tags: HashMap<NodeId, String>,
    /// The file's text, for positions and comments.
    text: Arc<str>,
    /// Byte offset of each line's start.
    line_starts: Vec<usize>,
}

/// Maps the parser's character indexes to byte offsets.
struct CharMap {
    /// Byte offset of every character, plus the text's length; empty when the text is ASCII.
    offsets: Vec<usize>,
    len: usize,
}

impl CharMap {
    fn new(text: &str) -> Self {
        let offsets = if text.is_ascii() {
            Vec::new()
        } else {
            text.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(text.len()))
                .collect()
        };
        CharMap {
            offsets,
            len: text.len(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.offsets.is_empty() {
            char_index.min(self.len)
        } else {
            self.offsets.get(char_index).copied().unwrap_or(self.len)
        }
    }
}

/// A collection being read: its items so far, its anchor and its tag.
enum Frame {
    Seq(Vec<NodeId>, usize, Option<String>),
    Map(Vec<NodeId>, usize, Option<String>),
}

/// A tag as written (`!reference`), unless it is one of YAML's own (`!!str`, `!!map`, …).
fn local_tag(tag: Option<&Tag>) -> Option<String> {
    tag.filter(|t| !t.is_yaml_core_schema())
        .map(|t| format!("{}{}", t.handle, t.suffix))
}

/// Reads a whole YAML file from `reader` and scans it with `scan`: YAML is parsed whole, so
/// every YAML kind reads its file this way.
pub fn read_and(reader: &mut dyn std::io::Read, scan: fn(&[u8]) -> Scan) -> std::io::Result<Scan> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes)?;
    Ok(scan(&bytes))
}

/// A YAML kind's scan: parses `bytes` and hands the documents to `find`; its references come
/// back in file order. A file that is not YAML is the scan's error.
pub fn scan_with(bytes: &[u8], find: impl FnOnce(&Yaml) -> Vec<FoundRef>) -> Scan {
    match Yaml::parse(bytes) {
        Err(error) => Scan {
            refs: Vec::new(),
            error: Some(error),
        },
        Ok(yaml) => {
            let mut refs = find(&yaml);
            refs.sort_by_key(|r| (r.line, r.column));
            Scan { refs, error: None }
        }
    }
}

impl Yaml {
    /// Parses `bytes` (UTF-8, an optional BOM). A file that is not YAML is an error at its line.
    pub fn parse(bytes: &[u8]) -> Result<Yaml, ScanError> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            ScanError::new(line, "not UTF-8 text")
        })?;
        let chars = CharMap::new(text);
        let mut yaml = Yaml {
            nodes: Vec::new(),
            docs: Vec::new(),
            tags: HashMap::new(),
            text: text.into(),
            line_starts: std::iter::once(0)
                .chain(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1))
                .collect(),
        };
        let mut anchors: HashMap<usize, NodeId> = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        for event in Parser::new_from_str(text) {
            let (event, span) = event.map_err(|e| {
                ScanError::new(e.marker().line(), format!("not valid YAML: {}", e.info()))
            })?;
            let done = match event {
                Event::DocumentStart(_) => {
                    anchors.clear();
                    None
                }
                Event::Scalar(value, style, anchor, tag) => {
                    let id = yaml.push(Node::Scalar(yaml.scalar(
                        &chars,
                        value.into_owned(),
                        style,
                        span,
                    )));
                    if let Some(tag) = local_tag(tag.as_deref()) {
                        yaml.tags.insert(id, tag);
                    }
                    if anchor > 0 {
                        anchors.insert(anchor, id);
                    }
                    Some(id)
                }
                Event::Alias(anchor) => Some(match anchors.get(&anchor) {
                    Some(&id) => id,
                    // Not a valid YAML file; the parser reports it, keep going meanwhile.
                    None => yaml.push(Node::Seq(Vec::new())),
                }),
                Event::SequenceStart(anchor, tag) => {
                    stack.push(Frame::Seq(Vec::new(), anchor, local_tag(tag.as_deref())));
                    None
                }
                Event::MappingStart(anchor, tag) => {
                    stack.push(Frame::Map(Vec::new(), anchor, local_tag(tag.as_deref())));
                    None
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let (node, anchor, tag) = match stack.pop() {
                        Some(Frame::Seq(items, anchor, tag)) => (Node::Seq(items), anchor, tag),
                        Some(Frame::Map(flat, anchor, tag)) => (
                            Node::Map(flat.chunks_exact(2).map(|kv| (kv[0], kv[1])).collect()),
                            anchor,
                            tag,
                        ),
                        None => continue,
                    };
                    let id = yaml.push(node);
                    if let Some(tag) = tag {
                        yaml.tags.insert(id, tag);
                    }
                    if anchor > 0 {
                        anchors.insert(anchor, id);
                    }
                    Some(id)
                }
                _ => None,
            };
            if let Some(id) = done {
                match stack.last_mut() {
                    Some(Frame::Seq(items, ..)) | Some(Frame::Map(items, ..)) => items.push(id),
                    None => yaml.docs.push(id),
                }
            }
        }
        Ok(yaml)
    }

    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Where the scalar `value` parsed at `span` is written, checked against the bytes.
    fn scalar(&self, chars: &CharMap, value: String, style: ScalarStyle, span: Span) -> Scalar {
        let text = self.text.as_bytes();
        let node_start = chars.byte(span.start.index());
        let end = chars.byte(span.end.index()).max(node_start);
        let (style, quote) = match style {
            ScalarStyle::Plain => (Style::Plain, None),
            ScalarStyle::SingleQuoted => (Style::SingleQuoted, Some(b'\'')),
            ScalarStyle::DoubleQuoted => (Style::DoubleQuoted, Some(b'"')),
            _ => (Style::Block, None),
        };
        // A plain scalar's span ends where its text ends; a quoted one's end may run on over
        // trailing blanks and a comment, so it is found from the opening quote (after any
        // anchor or tag).
        let verbatim = match (style, quote) {
            (Style::Block, _) => None,
            (_, None) => end.checked_sub(value.len()).map(|start| start..end),
            (_, Some(q)) => text
                .get(node_start..end)
                .and_then(|node| memchr::memchr(q, node))
                .map(|open| node_start + open + 1)
                .map(|start| start..start + value.len())
                .filter(|s| text.get(s.end) == Some(&q)),
        }
        .filter(|s| {
            s.start >= node_start
                && text.get(s.clone()) == Some(value.as_bytes())
                && !value.contains(['\n', '\r'])
        });
        let end = match (&verbatim, quote) {
            (Some(s), Some(_)) => s.end + 1,
            _ => end,
        };
        Scalar {
            start: verbatim.as_ref().map_or(node_start, |s| s.start),
            span: verbatim,
            value,
            style,
            end,
        }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// The tag written on node `id`, unless it is one of YAML's own: `!reference` for GitLab's
    /// `!reference [.job, key]`, which names other nodes rather than holding a value.
    pub fn tag(&self, id: NodeId) -> Option<&str> {
        self.tags.get(&id).map(String::as_str)
    }

    pub fn scalar_of(&self, id: NodeId) -> Option<&Scalar> {
        match &self.nodes[id] {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` in mapping `map`: its own entry, else one merged in with `<<`.
    pub fn get(&self, map: NodeId, key: &str) -> Option<NodeId> {
        self.entries(map)
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }

    /// The entries of mapping `map` with scalar keys, its own first, then those merged in with
    /// `<<` (a mapping or a list of them) that it does not override. Empty for a non-mapping.
    pub fn entries(&self, map: NodeId) -> Vec<(&str, NodeId)> {
        let mut out = Vec::new();
        self.collect_entries(map, &mut out, 0);
        out
    }

    fn collect_entries<'a>(&'a self, map: NodeId, out: &mut Vec<(&'a str, NodeId)>, depth: usize) {
        let Node::Map(pairs) = &self.nodes[map] else {
            return;
        };
        let mut merges = Vec::new();
        for &(k, v) in pairs {
            let Some(key) = self.scalar_of(k) else {
                continue;
            };
            if key.value == "<<" && key.style == Style::Plain {
                merges.push(v);
            } else if !out.iter().any(|(seen, _)| *seen == key.value) {
                out.push((&key.value, v));
            }
        }
        if depth > 16 {
            return;
        }
        for merge in merges {
            match &self.nodes[merge] {
                Node::Seq(items) => {
                    for &item in items {
                        self.collect_entries(item, out, depth + 1);
                    }
                }
                _ => self.collect_entries(merge, out, depth + 1),
            }
        }
    }

    /// 1-based line and column (in characters, a BOM not counted) of byte `offset`.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let before = self.text.get(start..offset).unwrap_or("");
        let bom = usize::from(line == 1 && before.starts_with('\u{feff}'));
        (line, before.chars().count() - bom + 1)
    }

    /// Whether a `# digestpin: ignore` comment sits at the end of the scalar's line or alone
    /// on the line before it.
    pub fn ignored(&self, scalar: &Scalar) -> bool {
        const MARK: &str = "digestpin: ignore";
        let (line, _) = self.position(scalar.start);
        let line_text = |n: usize| {
            let start = self.line_starts[n - 1];
            let end = self.line_starts.get(n).copied().unwrap_or(self.text.len());
            self.text.get(start..end).unwrap_or("")
        };
        let rest_start = scalar.end.min(self.text.len());
        let (end_line, _) = self.position(rest_start);
        let rest_end = self
            .line_starts
            .get(end_line)
            .copied()
            .unwrap_or(self.text.len());
        let rest = self.text.get(rest_start..rest_end).unwrap_or("");
        let trailing = rest
            .find('#')
            .is_some_and(|i| rest[i + 1..].trim_start().starts_with(MARK));
        let before = line > 1 && {
            let prev = line_text(line - 1).trim();
            prev.strip_prefix('#')
                .is_some_and(|c| c.trim_start().starts_with(MARK))
        };
        trailing || before
    }

    /// A found reference for the image `text` written at `span` (or, without one, inside
    /// `scalar`), with the state its text gives it: pinned, unpinned, invalid, or split when it
    /// cannot be rewritten; ignored when a comment says so.
    pub fn found(
        &self,
        site: Site,
        scalar: &Scalar,
        text: &str,
        span: Option<Range<usize>>,
    ) -> FoundRef {
        let at = span.as_ref().map_or(scalar.start, |s| s.start);
        let (line, column) = self.position(at);
        let (end_line, _) = self.position(span.as_ref().map_or(scalar.end, |s| s.end).max(at));
        let mut found = FoundRef {
            site,
            original: text.into(),
            span: span.clone(),
            line,
            column,
            end_line,
            state: RefState::Unpinned,
            reference: None,
            problem: None,
        };
        let ignored = self.ignored(scalar);
        match Reference::parse(text) {
            Ok(reference) => {
                found.state = if reference.digest().is_some() {
                    RefState::Pinned
                } else {
                    RefState::Unpinned
                };
                found.reference = Some(Arc::new(reference));
            }
            Err(e) if !ignored => {
                found.state = RefState::Invalid;
                found.problem = Some(e.to_string());
            }
            Err(_) => {}
        }
        if ignored {
            found.state = RefState::Ignored;
        } else if span.is_none() && matches!(found.state, RefState::Pinned | RefState::Unpinned) {
            found.state = RefState::Split;
        }
        found
    }

    /// A found reference that is not rewritten, in `state` (a variable, a build output).
    pub fn found_as(&self, site: Site, scalar: &Scalar, state: RefState) -> FoundRef {
        let mut found = self.found(site, scalar, &scalar.value, scalar.span.clone());
        if found.state != RefState::Ignored {
            found.state = state;
            found.reference = None;
            found.problem = None;
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalars(src: &str) -> Vec<(String, Style, Option<String>)> {
        let yaml = Yaml::parse(src.as_bytes()).unwrap();
        yaml.nodes
            .iter()
            .filter_map(|n| match n {
                Node::Scalar(s) => Some((
                    s.value.clone(),
                    s.style,
                    s.span.clone().map(|r| src[r].to_string()),
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn spans_are_bytes_of_the_value_inside_its_quotes() {
        let src = "\u{feff}é: \"ümlaut:1\"\r\nb: 'x:y'  # c\r\nc: &a plain\n";
        let got = scalars(src);
        assert_eq!(
            got[1],
            (
                "ümlaut:1".into(),
                Style::DoubleQuoted,
                Some("ümlaut:1".into())
            )
        );
        assert_eq!(
            got[3],
            ("x:y".into(), Style::SingleQuoted, Some("x:y".into()))
        );
        assert_eq!(got[5], ("plain".into(), Style::Plain, Some("plain".into())));
        let yaml = Yaml::parse(src.as_bytes()).unwrap();
        let Node::Scalar(s) = &yaml.nodes[1] else {
            panic!()
        };
        // Column counts characters, the BOM not included.
        assert_eq!(yaml.position(s.start), (1, 5));
    }

    #[test]
    fn escaped_folded_and_block_scalars_have_no_span() {
        for src in [
            "a: \"x\\ty\"\n",
            "a: 'it''s'\n",
            "a: \"x\n  y\"\n",
            "a: x\n  y\n",
            "a: |\n  x\n",
            "a: >-\n  x\n",
        ] {
            assert_eq!(scalars(src)[1].2, None, "{src:?}");
        }
    }

    #[test]
    fn aliases_and_merges_share_the_anchored_node() {
        let src = "x: &i img:1\nbase: &b {image: img:2}\ns:\n  a: {<<: *b}\n  c: *i\n  d:\n    <<: [*b]\n    image: own\n---\nn: 1\n...\n";
        let yaml = Yaml::parse(src.as_bytes()).unwrap();
        assert_eq!(yaml.docs.len(), 2);
        let root = yaml.docs[0];
        let s = yaml.get(root, "s").unwrap();
        let base_image = yaml.get(yaml.get(root, "base").unwrap(), "image").unwrap();
        assert_eq!(
            yaml.get(yaml.get(s, "a").unwrap(), "image"),
            Some(base_image)
        );
        assert_eq!(yaml.get(s, "c"), yaml.get(root, "x"));
        let own = yaml.get(yaml.get(s, "d").unwrap(), "image").unwrap();
        assert_eq!(yaml.scalar_of(own).unwrap().value, "own");
    }

    #[test]
    fn ignore_comments_before_or_at_the_end_of_the_line() {
        let src = "a: x:1 # digestpin: ignore\n# digestpin: ignore\nb: 'y:1'\nc: z:1\n";
        let yaml = Yaml::parse(src.as_bytes()).unwrap();
        let root = yaml.docs[0];
        let ignored = |k| yaml.ignored(yaml.scalar_of(yaml.get(root, k).unwrap()).unwrap());
        assert!(ignored("a"));
        assert!(ignored("b"));
        assert!(!ignored("c"));
    }

    #[test]
    fn local_tags_are_kept_and_yamls_own_are_not() {
        let src = "a: !reference [.x, image]\nb: !!str img:1\nc: !Ref {k: v}\n";
        let yaml = Yaml::parse(src.as_bytes()).unwrap();
        let root = yaml.docs[0];
        let tag = |k| yaml.tag(yaml.get(root, k).unwrap());
        assert_eq!(tag("a"), Some("!reference"));
        assert_eq!(tag("b"), None);
        assert_eq!(tag("c"), Some("!Ref"));
    }

    #[test]
    fn not_yaml_is_an_error_at_its_line() {
        let err = Yaml::parse(b"a: 1\nb: [\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
    }
}
