//! The Tag History API endpoint (`/v2/REPO/_chainguard/history/TAG`): the 1000-record,
//! oldest-first pages with `start`/`end`, and the truncated body a fault serves.

use super::*;

/// The index of the newest entry (the last of equal timestamps, in given order).
pub(super) fn newest(history: &[Stored]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, s) in history.iter().enumerate() {
        if best.is_none_or(|b| s.at >= history[b].at) {
            best = Some(i);
        }
    }
    best
}

/// The history body for `repo:tag` with the request's `start`/`end`, or the error to send.
pub(super) fn history_body(
    shared: &Shared,
    repo: &str,
    tag: &str,
    uri: &Uri,
) -> Result<String, Box<Response>> {
    let mut start = None;
    let mut end = None;
    for (key, value) in query_pairs(uri) {
        let slot = match key.as_str() {
            "start" => &mut start,
            "end" => &mut end,
            _ => continue,
        };
        match value.parse::<jiff::Timestamp>() {
            Ok(at) => *slot = Some(at),
            Err(e) => {
                return Err(Box::new(oci_error(
                    StatusCode::BAD_REQUEST,
                    "UNSUPPORTED",
                    &format!("invalid {key} {value:?}: {e}"),
                )));
            }
        }
    }

    let inner = shared.lock();
    let Some(tags) = inner.repos.get(repo) else {
        return Err(Box::new(name_unknown(repo)));
    };
    let Some(history) = tags.get(tag) else {
        return Err(Box::new(manifest_unknown(repo, tag)));
    };
    let newest = newest(history);
    let mut selected: Vec<(usize, &Stored)> = history
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            inner.quirks.ignore_range
                || start.is_none_or(|t| s.at >= t) && end.is_none_or(|t| s.at <= t)
        })
        .collect();
    selected.sort_by_key(|(_, s)| s.at);
    selected.truncate(HISTORY_LIMIT);
    if inner.quirks.reverse_order {
        selected.reverse();
    }
    let (ts_key, digest_key) = if inner.quirks.capitalized_keys {
        ("UpdateTimestamp", "Digest")
    } else {
        ("updateTimestamp", "digest")
    };
    if let (true, Some(start), Some(newest)) = (inner.quirks.half_second_after_start, start, newest)
    {
        let at = start + jiff::SignedDuration::from_millis(500);
        let digest = &history[newest].entry.digest;
        return Ok(format!(
            r#"{{"history":[{{"{ts_key}":{},"{digest_key}":{}}}]}}"#,
            json_string(&at.to_string()),
            json_string(digest)
        ));
    }
    let mut body = String::with_capacity(32 + selected.len() * 130);
    body.push_str(r#"{"history":["#);
    for (n, (i, s)) in selected.iter().enumerate() {
        let digest = match (&inner.quirks.bad_digest, newest) {
            (Some(bad), Some(newest)) if newest == *i => bad.as_str(),
            _ => s.entry.digest.as_str(),
        };
        if n > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"{ts_key}":{},"{digest_key}":{}}}"#,
            json_string(&s.entry.timestamp),
            json_string(digest)
        ));
    }
    body.push_str("]}");
    Ok(body)
}

pub(super) fn history(shared: &Shared, repo: &str, tag: &str, uri: &Uri) -> Response {
    match history_body(shared, repo, tag, uri) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(resp) => *resp,
    }
}

pub(super) fn truncated_history(shared: &Shared, route: &Route<'_>, uri: &Uri) -> Response {
    let full = match *route {
        Route::History { repo, tag } => history_body(shared, repo, tag, uri).ok(),
        _ => None,
    };
    let full = full.filter(|b| b.len() > 20).unwrap_or_else(|| {
        concat!(
            r#"{"history":[{"updateTimestamp":"2024-01-01T00:00:00Z","digest":"sha256:"#,
            "0000000000000000000000000000000000000000000000000000000000000000",
            r#""},{"updateTimestamp":"2024-01-02T00:00:00Z","digest":"sha256:"#,
            "1111111111111111111111111111111111111111111111111111111111111111",
            r#""}]}"#
        )
        .to_string()
    });
    let mut cut = full.len() / 2;
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    json_response(StatusCode::OK, full[..cut].to_string())
}
