//! The Kubernetes kind: any other `*.y[a]ml` whose documents have a top-level `apiVersion` and
//! `kind`, each document on its own. Images are the `image` of every item of a `containers`,
//! `initContainers` or `ephemeralContainers` list, at any depth (Pods, workload templates,
//! CronJobs, custom resources embedding pod templates); no other `image` key. The claim by name
//! is tentative: a walked `.yaml` that does not parse (a Helm template) or holds no image is not
//! a Kubernetes file and is left out quietly. A template that happens to parse, its `{{ }}`
//! inside a scalar (`image: repo:{{ .Values.tag }}`), is no manifest either: an image holding
//! `{{` makes the file's scan an error at that line, like one that does not parse. An image with
//! `$` (`$IMAGE`, `${REGISTRY}/app:1`, filled in by envsubst before applying) is a variable.

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::Path;

use super::yaml::{Node, NodeId};
use crate::found::{RefState, Scan, ScanError, Site};

/// The Kubernetes kind.
pub struct Kubernetes;

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

impl super::FileKind for Kubernetes {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn claims(&self, path: &Path) -> bool {
        path.extension().is_some_and(|e| e == "yaml" || e == "yml")
    }

    fn tentative(&self, _path: &Path) -> bool {
        true
    }

    fn sniff(&self, head: &[u8]) -> bool {
        super::sniff::kubernetes(head)
    }

    fn scan(&self, reader: &mut dyn Read) -> io::Result<Scan> {
        super::yaml::read_and(reader, scan)
    }
}

/// Every container image of the manifests in `bytes`, in file order; an error when an image is
/// a template's (`{{ }}`): the file is a template to render, not a manifest.
pub fn scan(bytes: &[u8]) -> Scan {
    let scan = images(bytes);
    match scan.refs.iter().find(|r| r.original.contains("{{")) {
        Some(template) => Scan {
            error: Some(ScanError::new(
                template.line,
                format!(
                    "{}: a template's image ({{{{ }}}}), not a Kubernetes manifest",
                    template.original
                ),
            )),
            refs: Vec::new(),
        },
        None => scan,
    }
}

fn images(bytes: &[u8]) -> Scan {
    super::yaml::scan_with(bytes, |yaml| {
        let mut refs = Vec::new();
        let mut seen: HashSet<NodeId> = HashSet::new();
        for &root in &yaml.docs {
            if yaml.get(root, "apiVersion").is_none() || yaml.get(root, "kind").is_none() {
                continue;
            }
            let mut stack: Vec<(NodeId, String)> = vec![(root, String::new())];
            while let Some((node, path)) = stack.pop() {
                if !seen.insert(node) {
                    continue;
                }
                match yaml.node(node) {
                    Node::Scalar(_) => {}
                    Node::Seq(items) => {
                        for (i, &item) in items.iter().enumerate() {
                            stack.push((item, format!("{path}[{i}]")));
                        }
                    }
                    Node::Map(_) => {
                        for (key, value) in yaml.entries(node) {
                            let at = if path.is_empty() {
                                key.to_string()
                            } else {
                                format!("{path}.{key}")
                            };
                            if CONTAINER_LISTS.contains(&key) {
                                if let Node::Seq(items) = yaml.node(value) {
                                    for (i, &item) in items.iter().enumerate() {
                                        let Some(image) = yaml.get(item, "image") else {
                                            continue;
                                        };
                                        let Node::Scalar(scalar) = yaml.node(image) else {
                                            continue;
                                        };
                                        if scalar.value.is_empty() || !seen.insert(image) {
                                            continue;
                                        }
                                        let site = Site::from(format!("{at}[{i}].image"));
                                        // `$IMAGE`, `${REGISTRY}/app:1`: a manifest filled in
                                        // by envsubst or a deploy script before it is applied.
                                        refs.push(if scalar.value.contains('$') {
                                            yaml.found_as(site, scalar, RefState::Variable)
                                        } else {
                                            yaml.found(
                                                site,
                                                scalar,
                                                &scalar.value,
                                                scalar.span.clone(),
                                            )
                                        });
                                    }
                                }
                            }
                            stack.push((value, at));
                        }
                    }
                }
            }
        }
        refs
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_images_at_any_depth_and_nothing_else() {
        let src = "apiVersion: v1\nkind: ConfigMap\ndata:\n  image: not-this:1\n---\napiVersion: batch/v1\nkind: CronJob\nmetadata:\n  annotations:\n    image: nor-this:1\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          initContainers:\n          - name: init\n            image: \"busybox:1.36\"\n          containers:\n          - name: app\n            image: cgr.dev/chainguard/go:latest\n...\n---\nimage: values-file:1\n";
        let scan = scan(src.as_bytes());
        let got: Vec<_> = scan
            .refs
            .iter()
            .map(|r| (r.site.to_string(), r.span.clone().map(|s| &src[s])))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "spec.jobTemplate.spec.template.spec.initContainers[0].image".to_string(),
                    Some("busybox:1.36")
                ),
                (
                    "spec.jobTemplate.spec.template.spec.containers[0].image".into(),
                    Some("cgr.dev/chainguard/go:latest")
                ),
            ]
        );
    }

    #[test]
    fn a_helm_template_is_an_error() {
        let src = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  {{- range .Values.x }}\n  - image: {{ .image }}\n";
        assert!(scan(src.as_bytes()).error.is_some());
    }

    #[test]
    fn a_template_that_parses_is_an_error_at_its_image() {
        let src = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: app:1\n  - image: repo/app:{{ .Values.tag }}\n";
        let scan = scan(src.as_bytes());
        assert_eq!(scan.refs, []);
        let error = scan.error.unwrap();
        assert_eq!(error.line, 6);
        assert_eq!(
            error.message,
            "repo/app:{{ .Values.tag }}: a template's image ({{ }}), not a Kubernetes manifest"
        );
    }

    #[test]
    fn an_image_filled_in_by_envsubst_is_a_variable() {
        let src = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: $IMAGE\n  - image: \"${REGISTRY}/app:1\"\n  - image: app:1\n";
        let scan = scan(src.as_bytes());
        assert_eq!(scan.error, None);
        let states: Vec<_> = scan
            .refs
            .iter()
            .map(|r| (&r.original[..], r.state))
            .collect();
        assert_eq!(
            states,
            [
                ("$IMAGE", RefState::Variable),
                ("${REGISTRY}/app:1", RefState::Variable),
                ("app:1", RefState::Unpinned),
            ]
        );
    }
}
