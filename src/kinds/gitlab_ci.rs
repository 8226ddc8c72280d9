//! The GitLab CI kind: `.gitlab-ci.yml` and `*.gitlab-ci.yml` (and, tentatively, the YAML
//! under a `.gitlab/` or `.gitlab-ci/` folder, where pipelines keep what they `include:`), read
//! where the runner takes
//! images from: `image` (a string or `.name`) at the top level, under `default:` and in each
//! job, and `services` lists (strings or `.name`) in the same places. A value with `$VAR` is a
//! variable. Hidden jobs (`.name:`) are templates other jobs extend: their images are pulled
//! through them, so they are read too. A `!reference [.job, key]` names a value written (and
//! read) elsewhere: it is no image of its own.

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::Path;

use super::yaml::{Node, NodeId, Yaml};
use crate::found::{FoundRef, RefState, Scan, Site};

/// The GitLab CI kind.
pub struct GitlabCi;

/// Top-level keys that are not jobs.
const GLOBAL_KEYS: [&str; 9] = [
    "default",
    "include",
    "stages",
    "variables",
    "workflow",
    "spec",
    "cache",
    "before_script",
    "after_script",
];

/// GitLab's tag for a value taken from another job: `!reference [.job, key]`.
const REFERENCE: &str = "!reference";

/// `.gitlab-ci.yml` or `NAME.gitlab-ci.yml`.
pub fn is_gitlab_ci_name(name: &str) -> bool {
    name == ".gitlab-ci.yml"
        || name
            .strip_suffix(".gitlab-ci.yml")
            .is_some_and(|stem| !stem.is_empty())
}

/// A YAML file inside a `.gitlab/` or `.gitlab-ci/` folder, where pipelines keep the files
/// they `include:` (`.gitlab/ci/build.yml`): GitLab CI, tentatively (the folder also holds
/// other YAML, such as agent configuration, which holds no image and is left out).
fn is_included_pipeline(path: &Path) -> bool {
    let yaml = path.extension().is_some_and(|e| e == "yml" || e == "yaml");
    yaml && path.parent().is_some_and(|dir| {
        dir.components()
            .any(|c| c.as_os_str() == ".gitlab" || c.as_os_str() == ".gitlab-ci")
    })
}

impl super::FileKind for GitlabCi {
    fn name(&self) -> &'static str {
        "gitlab-ci"
    }

    fn claims(&self, path: &Path) -> bool {
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(is_gitlab_ci_name)
            || is_included_pipeline(path)
    }

    fn tentative(&self, path: &Path) -> bool {
        !path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(is_gitlab_ci_name)
    }

    fn sniff(&self, head: &[u8]) -> bool {
        super::sniff::gitlab_ci(head)
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
    /// An image given as a string, or as a mapping with `name`.
    fn image(&mut self, id: NodeId, at: String) {
        let (id, site) = match self.yaml.node(id) {
            Node::Scalar(_) => (id, at),
            Node::Map(_) => match self.yaml.get(id, "name") {
                Some(name) => (name, format!("{at}.name")),
                None => return,
            },
            Node::Seq(_) => return,
        };
        let Node::Scalar(scalar) = self.yaml.node(id) else {
            return;
        };
        if scalar.value.is_empty() || !self.seen.insert(id) {
            return;
        }
        let site = Site::from(site);
        let found = if scalar.value.contains('$') {
            self.yaml.found_as(site, scalar, RefState::Variable)
        } else {
            self.yaml
                .found(site, scalar, &scalar.value, scalar.span.clone())
        };
        self.refs.push(found);
    }

    /// `image` and `services` of the mapping `owner` (the top level, `default:`, a job).
    fn owner(&mut self, owner: NodeId, at: &str) {
        if let Some(image) = self.yaml.get(owner, "image") {
            self.image(image, format!("{at}image"));
        }
        if let Some(services) = self.yaml.get(owner, "services") {
            // `services: !reference [.job, services]` names a list written elsewhere (and
            // read there), not images.
            if self.yaml.tag(services) == Some(REFERENCE) {
                return;
            }
            if let Node::Seq(items) = self.yaml.node(services) {
                for (i, &item) in items.iter().enumerate() {
                    self.image(item, format!("{at}services[{i}]"));
                }
            }
        }
    }
}

/// Every image of the GitLab CI file `bytes`, in file order.
pub fn scan(bytes: &[u8]) -> Scan {
    super::yaml::scan_with(bytes, |yaml| {
        let mut found = Found {
            yaml,
            refs: Vec::new(),
            seen: HashSet::new(),
        };
        for &root in &yaml.docs {
            found.owner(root, "");
            if let Some(default) = yaml.get(root, "default") {
                found.owner(default, "default.");
            }
            for (name, job) in yaml.entries(root) {
                if GLOBAL_KEYS.contains(&name) || !matches!(yaml.node(job), Node::Map(_)) {
                    continue;
                }
                found.owner(job, &format!("{name}."));
            }
        }
        found.refs
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_ci_names() {
        assert!(is_gitlab_ci_name(".gitlab-ci.yml"));
        assert!(is_gitlab_ci_name("deploy.gitlab-ci.yml"));
        assert!(!is_gitlab_ci_name("gitlab-ci.yml"));
        assert!(!is_gitlab_ci_name(".gitlab-ci.yaml.bak"));
    }

    #[test]
    fn a_reference_tag_names_other_nodes_not_images() {
        let src = ".svc:\n  services:\n    - redis:7\n.img:\n  image: alpine:3.20\njob:\n  image: !reference [.img, image]\n  services: !reference [.svc, services]\nother:\n  services:\n    - !reference [.svc, services]\n    - postgres:16\n";
        let got: Vec<_> = scan(src.as_bytes())
            .refs
            .iter()
            .map(|r| (r.site.to_string(), r.state))
            .collect();
        assert_eq!(
            got,
            [
                (".svc.services[0]".to_string(), RefState::Unpinned),
                (".img.image".into(), RefState::Unpinned),
                ("other.services[1]".into(), RefState::Unpinned),
            ]
        );
    }

    #[test]
    fn images_and_services_everywhere() {
        let src = "image: alpine:3.20\ndefault:\n  image:\n    name: \"node:20\"\n    entrypoint: [\"\"]\n  services:\n    - postgres:16\n    - name: redis:7\n      alias: cache\nvariables:\n  image: not-an-image\ntest:\n  image: $CI_REGISTRY_IMAGE:latest\n  script: [make]\n.tpl:\n  services: ['docker:dind']\n";
        let scan = scan(src.as_bytes());
        let got: Vec<_> = scan
            .refs
            .iter()
            .map(|r| (r.site.to_string(), r.state, r.span.clone().map(|s| &src[s])))
            .collect();
        assert_eq!(
            got,
            [
                ("image".to_string(), RefState::Unpinned, Some("alpine:3.20")),
                (
                    "default.image.name".into(),
                    RefState::Unpinned,
                    Some("node:20")
                ),
                (
                    "default.services[0]".into(),
                    RefState::Unpinned,
                    Some("postgres:16")
                ),
                (
                    "default.services[1].name".into(),
                    RefState::Unpinned,
                    Some("redis:7")
                ),
                (
                    "test.image".into(),
                    RefState::Variable,
                    Some("$CI_REGISTRY_IMAGE:latest")
                ),
                (
                    ".tpl.services[0]".into(),
                    RefState::Unpinned,
                    Some("docker:dind")
                ),
            ]
        );
    }
}
