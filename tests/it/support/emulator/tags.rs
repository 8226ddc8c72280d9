//! `/v2/REPO/tags/list`, paginated with `n` and `last` and a `Link` header.

use super::*;

pub(super) fn tags_list(shared: &Shared, repo: &str, uri: &Uri) -> Response {
    let mut n: Option<usize> = None;
    let mut last: Option<String> = None;
    for (key, value) in query_pairs(uri) {
        match key.as_str() {
            "n" => match value.parse() {
                Ok(v) => n = Some(v),
                Err(_) => {
                    return oci_error(
                        StatusCode::BAD_REQUEST,
                        "PAGINATION_NUMBER_INVALID",
                        &format!("invalid n {value:?}"),
                    );
                }
            },
            "last" => last = Some(value),
            _ => {}
        }
    }
    let inner = shared.lock();
    let Some(tags) = inner.repos.get(repo) else {
        return name_unknown(repo);
    };
    let after: Vec<&String> = tags
        .keys()
        .filter(|t| last.as_ref().is_none_or(|l| *t > l))
        .collect();
    let take = n.unwrap_or(after.len()).min(after.len());
    let page = &after[..take];
    let body = format!(
        r#"{{"name":{},"tags":{}}}"#,
        json_string(repo),
        serde_json::to_string(page).expect("emulator: tags json")
    );
    let mut resp = json_response(StatusCode::OK, body);
    if let (Some(n), Some(last_tag)) = (n, page.last()) {
        if take < after.len() {
            let link = format!("</v2/{repo}/tags/list?n={n}&last={last_tag}>; rel=\"next\"");
            if let Ok(value) = HeaderValue::from_str(&link) {
                resp.headers_mut().insert(header::LINK, value);
            }
        }
    }
    resp
}
