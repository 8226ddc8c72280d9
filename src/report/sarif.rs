//! `--format sarif`: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers. One rule per
//! finding kind (ids `unpinned`, `stale`, `missing`, `young`, always listed in that order), one
//! result per finding with its physical location (line and column in Unicode code points, and
//! the exact bytes), a fix carrying the replacement bytes when the run knows them, and a
//! fingerprint stable across runs. Errors are tool execution notifications, not results.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::findings::{Finding, Kind, errors, findings};
use crate::engine::{PinMode, PinReport};

const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// `pin --format sarif`.
pub fn pin_sarif(report: &PinReport, mode: PinMode, out: &mut dyn Write) -> io::Result<()> {
    let results: Vec<Value> = findings(report, mode).iter().map(result).collect();
    let notifications: Vec<Value> = errors(report)
        .into_iter()
        .map(|(path, line, column, message)| {
            let mut region = serde_json::Map::new();
            if let Some(line) = line {
                region.insert("startLine".into(), json!(line));
            }
            if let Some(column) = column {
                region.insert("startColumn".into(), json!(column));
            }
            let mut physical = json!({"artifactLocation": artifact(&path)});
            if !region.is_empty() {
                physical["region"] = Value::Object(region);
            }
            json!({
                "level": "error",
                "message": {"text": message},
                "locations": [{"physicalLocation": physical}],
            })
        })
        .collect();
    let doc = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "digestpin",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": Kind::ALL.iter().map(|k| rule(*k)).collect::<Vec<_>>(),
            }},
            "invocations": [{
                "executionSuccessful": notifications.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

fn level(kind: Kind) -> &'static str {
    match kind {
        Kind::Unpinned | Kind::Missing => "error",
        Kind::Stale | Kind::Young => "warning",
    }
}

fn rule(kind: Kind) -> Value {
    let name = match kind {
        Kind::Unpinned => "UnpinnedImageReference",
        Kind::Stale => "StaleImageDigest",
        Kind::Missing => "MissingImageDigest",
        Kind::Young => "YoungImageDigest",
    };
    json!({
        "id": kind.id(),
        "name": name,
        "shortDescription": {"text": kind.summary()},
        "fullDescription": {"text": kind.help()},
        "help": {"text": kind.help()},
        "defaultConfiguration": {"level": level(kind)},
        "properties": {"tags": ["security", "supply-chain", "containers"], "precision": "very-high"},
    })
}

fn result(finding: &Finding<'_>) -> Value {
    let r = &finding.plan.found;
    let mut region = json!({
        "startLine": r.line,
        "startColumn": r.column,
        "endLine": r.line,
        "endColumn": r.column + r.original.chars().count(),
    });
    if let Some(span) = &r.span {
        region["byteOffset"] = json!(span.start);
        region["byteLength"] = json!(span.len());
    }
    let mut result = json!({
        "ruleId": finding.kind.id(),
        "ruleIndex": finding.kind.index(),
        "level": level(finding.kind),
        "message": {"text": finding.message},
        "locations": [{"physicalLocation": {
            "artifactLocation": artifact(&finding.path),
            "region": region,
        }}],
        "partialFingerprints": {"digestpin/v1": finding.fingerprint},
    });
    if let (Some(replacement), Some(span)) = (finding.replacement, &r.span) {
        let description = match &finding.plan.digest_after {
            Some(digest) => format!("Pin {} to {digest}", r.original),
            None => format!("Pin {}", r.original),
        };
        result["fixes"] = json!([{
            "description": {"text": description},
            "artifactChanges": [{
                "artifactLocation": artifact(&finding.path),
                "replacements": [{
                    "deletedRegion": {"byteOffset": span.start, "byteLength": span.len()},
                    "insertedContent": {"text": replacement},
                }],
            }],
        }]);
    }
    result
}

/// An `artifactLocation`: a relative path against the source root, an absolute one as a
/// `file://` URI.
fn artifact(path: &str) -> Value {
    let path = path.strip_prefix("./").unwrap_or(path);
    if path.starts_with('/') {
        json!({"uri": format!("file://{}", uri_path(path))})
    } else {
        json!({"uri": uri_path(path), "uriBaseId": "%SRCROOT%"})
    }
}

/// Percent-encodes what a URI path may not hold as is (RFC 3986 unreserved and `/` stay).
fn uri_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(
            artifact("./a b/Dockerfile"),
            json!({"uri": "a%20b/Dockerfile", "uriBaseId": "%SRCROOT%"})
        );
        assert_eq!(
            artifact("/srv/x#1/Dockerfile"),
            json!({"uri": "file:///srv/x%231/Dockerfile"})
        );
        assert_eq!(uri_path("dé/Dockerfile"), "d%C3%A9/Dockerfile");
    }
}
