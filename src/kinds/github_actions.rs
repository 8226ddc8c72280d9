//! The GitHub Actions kind: workflows (`.github/workflows/*.y[a]ml`) and action metadata
//! (`action.y[a]ml`), read where the runner takes images from: `jobs.ID.container` (a string
//! or `.image`), `jobs.ID.services.ID.image`, `uses: docker://REF` in workflow and composite
//! steps, and `runs.image: docker://REF` in a Docker action. The `docker://` prefix stays; only
//! REF is pinned. A value with `${{ … }}` is a variable.

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::Path;

use super::yaml::{Node, NodeId, Yaml};
use crate::found::{FoundRef, RefState, Scan, Site};

/// The GitHub Actions kind.
pub struct GithubActions;

const DOCKER: &str = "docker://";

/// `.github/workflows/NAME.y[a]ml`, or an `action.y[a]ml` anywhere.
pub fn is_actions_path(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let yaml = name.ends_with(".yml") || name.ends_with(".yaml");
    if name == "action.yml" || name == "action.yaml" {
        return true;
    }
    let mut parents = path.components().rev().skip(1);
    yaml && parents.next().is_some_and(|c| c.as_os_str() == "workflows")
        && parents.next().is_some_and(|c| c.as_os_str() == ".github")
}

impl super::FileKind for GithubActions {
    fn name(&self) -> &'static str {
        "github-actions"
    }

    fn claims(&self, path: &Path) -> bool {
        is_actions_path(path)
    }

    fn sniff(&self, head: &[u8]) -> bool {
        super::sniff::github_actions(head)
    }

    fn scan(&self, reader: &mut dyn Read) -> io::Result<Scan> {
        super::yaml::read_and(reader, scan)
    }
}

struct Found<'a> {
    yaml: &'a Yaml,
    refs: Vec<FoundRef>,
    seen: HashSet<NodeId>,
}

impl Found<'_> {
    /// The image in scalar `id`, after `prefix` (which the value must start with).
    fn image(&mut self, id: NodeId, site: String, prefix: &str) {
        let Node::Scalar(scalar) = self.yaml.node(id) else {
            return;
        };
        let Some(text) = scalar.value.strip_prefix(prefix) else {
            return;
        };
        if scalar.value.is_empty() || !self.seen.insert(id) {
            return;
        }
        let site = Site::from(site);
        let found = if scalar.value.contains("${{") {
            self.yaml.found_as(site, scalar, RefState::Variable)
        } else {
            let span = scalar.span.as_ref().map(|s| s.start + prefix.len()..s.end);
            self.yaml.found(site, scalar, text, span)
        };
        self.refs.push(found);
    }

    /// `uses: docker://REF` in each step of the list `steps`.
    fn steps(&mut self, steps: Option<NodeId>, at: &str) {
        let Some(Node::Seq(items)) = steps.map(|s| self.yaml.node(s)) else {
            return;
        };
        for (i, &step) in items.iter().enumerate() {
            if let Some(uses) = self.yaml.get(step, "uses") {
                self.image(uses, format!("{at}[{i}].uses"), DOCKER);
            }
        }
    }
}

/// Every image of the workflow or action `bytes`, in file order.
pub fn scan(bytes: &[u8]) -> Scan {
    super::yaml::scan_with(bytes, |yaml| {
        let mut found = Found {
            yaml,
            refs: Vec::new(),
            seen: HashSet::new(),
        };
        for &root in &yaml.docs {
            if let Some(jobs) = yaml.get(root, "jobs") {
                for (id, job) in yaml.entries(jobs) {
                    if let Some(container) = yaml.get(job, "container") {
                        match yaml.node(container) {
                            Node::Scalar(_) => {
                                found.image(container, format!("jobs.{id}.container"), "")
                            }
                            _ => {
                                if let Some(image) = yaml.get(container, "image") {
                                    found.image(image, format!("jobs.{id}.container.image"), "");
                                }
                            }
                        }
                    }
                    if let Some(services) = yaml.get(job, "services") {
                        for (name, service) in yaml.entries(services) {
                            if let Some(image) = yaml.get(service, "image") {
                                found.image(image, format!("jobs.{id}.services.{name}.image"), "");
                            }
                        }
                    }
                    found.steps(yaml.get(job, "steps"), &format!("jobs.{id}.steps"));
                }
            }
            if let Some(runs) = yaml.get(root, "runs") {
                if let Some(image) = yaml.get(runs, "image") {
                    found.image(image, "runs.image".into(), DOCKER);
                }
                found.steps(yaml.get(runs, "steps"), "runs.steps");
            }
        }
        found.refs
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_paths() {
        for path in [
            ".github/workflows/ci.yml",
            "repo/.github/workflows/release.yaml",
            "action.yml",
            ".github/actions/setup/action.yaml",
        ] {
            assert!(is_actions_path(Path::new(path)), "{path}");
        }
        for path in [
            ".github/workflows/sub/ci.yml",
            ".github/ci.yml",
            "workflows/ci.yml",
            ".github/workflows/README.md",
            "action.json",
        ] {
            assert!(!is_actions_path(Path::new(path)), "{path}");
        }
    }

    #[test]
    fn containers_services_and_docker_steps() {
        let src = "on: push\njobs:\n  a:\n    container: node:20\n    services:\n      db:\n        image: 'postgres:16'\n    steps:\n      - uses: actions/checkout@v4\n      - uses: docker://alpine:3.20\n  b:\n    container:\n      image: \"${{ matrix.image }}\"\n";
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
                    "jobs.a.container".to_string(),
                    RefState::Unpinned,
                    Some("node:20")
                ),
                (
                    "jobs.a.services.db.image".into(),
                    RefState::Unpinned,
                    Some("postgres:16")
                ),
                (
                    "jobs.a.steps[1].uses".into(),
                    RefState::Unpinned,
                    Some("alpine:3.20")
                ),
                (
                    "jobs.b.container.image".into(),
                    RefState::Variable,
                    Some("${{ matrix.image }}")
                ),
            ]
        );
    }

    #[test]
    fn docker_action_image() {
        let src =
            "name: x\nruns:\n  using: docker\n  image: docker://cgr.dev/chainguard/go:latest\n";
        let scan = scan(src.as_bytes());
        assert_eq!(scan.refs.len(), 1);
        assert_eq!(scan.refs[0].site.as_str(), "runs.image");
        assert_eq!(
            &src[scan.refs[0].span.clone().unwrap()],
            "cgr.dev/chainguard/go:latest"
        );
        let dockerfile = "runs:\n  using: docker\n  image: Dockerfile\n";
        assert!(super::scan(dockerfile.as_bytes()).refs.is_empty());
    }
}
