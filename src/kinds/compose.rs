//! The Compose kind: `services.NAME.image` in `compose.yaml`, `docker-compose.yml` and their
//! `compose.*.yaml` overrides, read the way Compose reads them: a service with `build:` names
//! its build result with `image:` (a build output, never pinned); `${VAR:-REF}` and `${VAR-REF}`
//! pin REF in place; any other variable is skipped; `$$` is a literal `$`. An `image:` merged in
//! with `<<:` or reached through an alias is one reference, at its anchor.

use std::collections::HashSet;
use std::io::{self, Read};
use std::ops::Range;
use std::path::Path;

use super::yaml::Node;
use crate::found::{RefState, Scan, Site};

/// The Compose kind.
pub struct Compose;

/// `compose.yaml`, `docker-compose.yml`, `compose.override.yaml`, `docker-compose.prod.yml`, …
pub fn is_compose_name(name: &str) -> bool {
    let Some(stem) = name
        .strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml"))
    else {
        return false;
    };
    ["compose", "docker-compose"].iter().any(|base| {
        stem == *base
            || stem
                .strip_prefix(base)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|rest| !rest.is_empty())
    })
}

impl super::FileKind for Compose {
    fn name(&self) -> &'static str {
        "compose"
    }

    fn claims(&self, path: &Path) -> bool {
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(is_compose_name)
    }

    fn sniff(&self, head: &[u8]) -> bool {
        super::sniff::compose(head)
    }

    fn scan(&self, reader: &mut dyn Read) -> io::Result<Scan> {
        super::yaml::read_and(reader, scan)
    }
}

/// Every service image of the compose file `bytes`, in file order.
pub fn scan(bytes: &[u8]) -> Scan {
    super::yaml::scan_with(bytes, |yaml| {
        let mut refs = Vec::new();
        let mut seen = HashSet::new();
        for &root in &yaml.docs {
            let Some(services) = yaml.get(root, "services") else {
                continue;
            };
            for (name, service) in yaml.entries(services) {
                let Some(image) = yaml.get(service, "image") else {
                    continue;
                };
                let Node::Scalar(scalar) = yaml.node(image) else {
                    continue;
                };
                // Null (`image:` with no value) names nothing.
                if scalar.value.is_empty() || !seen.insert(image) {
                    continue;
                }
                let site = Site::from(format!("services.{name}.image"));
                let found = if yaml.get(service, "build").is_some() {
                    yaml.found_as(site, scalar, RefState::BuildOutput)
                } else {
                    match interpolate(&scalar.value) {
                        Interpolated::Literal(text) if text == scalar.value => {
                            yaml.found(site, scalar, &text, scalar.span.clone())
                        }
                        // `$$` unescaped: the file's bytes are not the text, never rewritten.
                        Interpolated::Literal(text) => yaml.found(site, scalar, &text, None),
                        Interpolated::Default(within) => {
                            let span = scalar
                                .span
                                .as_ref()
                                .map(|s| s.start + within.start..s.start + within.end);
                            yaml.found(site, scalar, &scalar.value[within], span)
                        }
                        Interpolated::Variable => yaml.found_as(site, scalar, RefState::Variable),
                    }
                };
                refs.push(found);
            }
        }
        refs
    })
}

/// What Compose makes of a value.
#[derive(Debug, PartialEq, Eq)]
enum Interpolated {
    /// No variable: the text (with `$$` unescaped).
    Literal(String),
    /// Exactly `${VAR:-REF}` or `${VAR-REF}`: the bytes of REF in the value.
    Default(Range<usize>),
    /// Any other variable.
    Variable,
}

fn interpolate(value: &str) -> Interpolated {
    if !value.contains('$') {
        return Interpolated::Literal(value.to_string());
    }
    if let Some(range) = default_only(value) {
        return Interpolated::Default(range);
    }
    let unescaped = value.replace("$$", "\u{0}");
    if unescaped.contains('$') {
        Interpolated::Variable
    } else {
        Interpolated::Literal(unescaped.replace('\u{0}', "$"))
    }
}

/// `${NAME:-REF}` / `${NAME-REF}` as the whole value, REF without variables: REF's range.
fn default_only(value: &str) -> Option<Range<usize>> {
    let inner = value.strip_prefix("${")?.strip_suffix('}')?;
    let name_len = inner
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    let name = &inner[..name_len];
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let rest = &inner[name_len..];
    let default = rest.strip_prefix(":-").or_else(|| rest.strip_prefix('-'))?;
    if default.is_empty() || default.contains(['$', '{', '}']) {
        return None;
    }
    let start = value.len() - 1 - default.len();
    Some(start..value.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_names() {
        for name in [
            "compose.yaml",
            "compose.yml",
            "docker-compose.yml",
            "docker-compose.yaml",
            "compose.override.yaml",
            "docker-compose.prod.yml",
        ] {
            assert!(is_compose_name(name), "{name}");
        }
        for name in [
            "compose",
            "compose..yml",
            "mycompose.yml",
            "docker-compose.json",
            "compose.yaml.bak",
        ] {
            assert!(!is_compose_name(name), "{name}");
        }
    }

    #[test]
    fn interpolation_as_compose_does_it() {
        use Interpolated::*;
        assert_eq!(interpolate("a:1"), Literal("a:1".into()));
        assert_eq!(interpolate("${IMG:-a:1}"), Default(7..10));
        assert_eq!(interpolate("${IMG-a:1}"), Default(6..9));
        assert_eq!(interpolate("${IMG}"), Variable);
        assert_eq!(interpolate("$IMG"), Variable);
        assert_eq!(interpolate("a:${TAG:-1}"), Variable);
        assert_eq!(interpolate("${IMG:-${X}}"), Variable);
        assert_eq!(interpolate("${IMG:?err}"), Variable);
        assert_eq!(interpolate("a$$b"), Literal("a$b".into()));
    }

    #[test]
    fn services_build_outputs_variables_and_anchors() {
        let src = "x-img: &img\n  image: cgr.dev/chainguard/go:latest\nservices:\n  web:\n    <<: *img\n  api:\n    <<: *img\n  app:\n    build: .\n    image: me/app:dev\n  db:\n    image: \"${DB:-postgres:16}\"\n  cache:\n    image: ${CACHE}\n";
        let scan = scan(src.as_bytes());
        let got: Vec<_> = scan
            .refs
            .iter()
            .map(|r| (r.site.to_string(), r.state, r.span.clone().map(|s| &src[s])))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "services.web.image".to_string(),
                    RefState::Unpinned,
                    Some("cgr.dev/chainguard/go:latest")
                ),
                (
                    "services.app.image".into(),
                    RefState::BuildOutput,
                    Some("me/app:dev")
                ),
                (
                    "services.db.image".into(),
                    RefState::Unpinned,
                    Some("postgres:16")
                ),
                (
                    "services.cache.image".into(),
                    RefState::Variable,
                    Some("${CACHE}")
                ),
            ]
        );
        assert_eq!((scan.refs[0].line, scan.refs[0].column), (2, 10));
    }
}
