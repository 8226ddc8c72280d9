//! Telling a YAML file's kind from its first bytes, for a file named explicitly whose name
//! says nothing (`stack.yml`, `ci/build.yml`, `deploy/app.yaml`). Each test looks only at the
//! top-level keys (lines that start in column 0), never parses: the head may end mid-document.

/// The top-level keys in `head`: `key:` at the start of a line, quotes removed.
fn top_keys(head: &[u8]) -> impl Iterator<Item = &str> {
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    text.split(|&b| b == b'\n').filter_map(|line| {
        let line = std::str::from_utf8(line).ok()?;
        if line.starts_with([' ', '\t', '#', '-', '%', '{', '[', '\r']) || line.is_empty() {
            return None;
        }
        let (key, rest) = line.split_once(':')?;
        if !(rest.is_empty() || rest.starts_with([' ', '\t', '\r'])) {
            return None;
        }
        Some(key.trim_end().trim_matches(['"', '\'']))
    })
}

fn has_key(head: &[u8], key: &str) -> bool {
    top_keys(head).any(|k| k == key)
}

/// A `script:` indented under a top-level key that names a job: not under a Compose file's
/// own top-level keys (a service may be called `script`), nor under an `x-` extension.
fn has_job_script(head: &[u8]) -> bool {
    const COMPOSE_KEYS: [&[u8]; 5] = [b"services", b"volumes", b"networks", b"configs", b"secrets"];
    let mut top: &[u8] = b"";
    for line in head.split(|&b| b == b'\n') {
        let trimmed = line.trim_ascii_start();
        if trimmed.len() == line.len() {
            if !line.is_empty() && !line.starts_with(b"#") {
                top = line.split(|&b| b == b':').next().unwrap_or_default();
            }
            continue;
        }
        let is_script = trimmed
            .strip_prefix(b"script:")
            .is_some_and(|rest| rest.is_empty() || rest[0].is_ascii_whitespace());
        if is_script && !COMPOSE_KEYS.contains(&top) && !top.starts_with(b"x-") {
            return true;
        }
    }
    false
}

/// A workflow (`on:` and `jobs:`) or an action's metadata (`name:` and `runs:`).
pub fn github_actions(head: &[u8]) -> bool {
    (has_key(head, "jobs") && (has_key(head, "on") || has_key(head, "true")))
        || (has_key(head, "runs") && has_key(head, "name"))
}

/// A GitLab pipeline: `stages:`, or jobs with a `script:` (and not a workflow, whose jobs
/// have `steps:`).
pub fn gitlab_ci(head: &[u8]) -> bool {
    !github_actions(head) && !kubernetes(head) && (has_key(head, "stages") || has_job_script(head))
}

/// A Compose file: top-level `services:` (and nothing that makes it a pipeline or a manifest).
pub fn compose(head: &[u8]) -> bool {
    has_key(head, "services") && !github_actions(head) && !gitlab_ci(head) && !kubernetes(head)
}

/// A Kubernetes manifest: top-level `apiVersion:` and `kind:`.
pub fn kubernetes(head: &[u8]) -> bool {
    has_key(head, "apiVersion") && has_key(head, "kind")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_told_by_its_top_level_keys() {
        let compose_file = b"\xEF\xBB\xBFname: shop\r\nservices:\r\n  web:\r\n    image: nginx\r\n";
        let workflow_file = b"name: ci\n\"on\": push\njobs:\n  test:\n    container: node:20\n";
        let action_file = b"name: x\ndescription: y\nruns:\n  using: docker\n  image: docker://a\n";
        let pipeline = b"stages: [build]\nservices:\n  - postgres:16\nbuild:\n  script: make\n";
        let job_only = b"lint:\n  image: golang:1.22\n  script:\n    - make lint\n";
        let manifest_file = b"---\napiVersion: v1\nkind: Pod\nspec:\n  containers: []\n";
        let cases: [(&[u8], [bool; 4]); 6] = [
            (compose_file, [true, false, false, false]),
            (workflow_file, [false, true, false, false]),
            (action_file, [false, true, false, false]),
            (pipeline, [false, false, true, false]),
            (job_only, [false, false, true, false]),
            (manifest_file, [false, false, false, true]),
        ];
        for (head, expected) in cases {
            let seen = [
                compose(head),
                github_actions(head),
                gitlab_ci(head),
                kubernetes(head),
            ];
            assert_eq!(seen, expected, "{}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn keys_inside_values_comments_and_block_text_do_not_count() {
        let head = b"# services:\nx-note: |\n  services: none\nkey: \"services: x\"\n";
        assert!(!compose(head));
        assert!(!has_key(b"services:x\n", "services"));
        assert!(has_key(b"services:\n", "services"));
        assert!(has_key(b"'services' :\n", "services"));
        // A service called `script`, or a `script:` in an extension block, is no GitLab job.
        assert!(compose(b"services:\n  script:\n    image: busybox:1\n"));
        assert!(compose(b"x-run:\n  script: make\nservices:\n  web: {}\n"));
        assert!(gitlab_ci(
            b"services:\n  - postgres:16\nunit:\n  script: [make]\n"
        ));
    }
}
