//! Directory trees in tests: every file under a folder, and a copy of one folder into another.

use std::path::Path;

/// Every file under `root`, as paths relative to it, sorted.
pub fn relative_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

/// Copies every file under `from` to the same place under `to`, creating folders as needed.
pub fn copy_tree(from: &Path, to: &Path) {
    for rel in relative_files(from) {
        let path = to.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, std::fs::read(from.join(&rel)).unwrap()).unwrap();
    }
}
