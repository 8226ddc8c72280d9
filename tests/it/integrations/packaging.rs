//! The crate as published (`cargo install digestpin`, `cargo binstall digestpin`): `cargo
//! package --list` ships only what `cargo install` needs, and `.github/workflows/release.yml`
//! builds and packages exactly the archives the action downloads.

use super::github_action::{Action, FileServer, Registry, snapshot, workspace};
use super::*;

// ------------------------------------------------------------------------------------------
// The crate as published (`cargo install digestpin`, `cargo binstall digestpin`)

#[test]
fn cargo_package_ships_the_sources_readme_and_license_and_nothing_else() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "package",
            "--list",
            "--locked",
            "--offline",
            "--allow-dirty",
        ])
        .current_dir(root())
        .output()
        .expect("cargo package --list");
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let files: Vec<&str> = stdout.lines().collect();
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "README.md",
        "src/lib.rs",
        "src/main.rs",
    ] {
        assert!(files.contains(&needed), "{needed} not packaged\n{stdout}");
    }
    if root().join("LICENSE").is_file() {
        assert!(files.contains(&"LICENSE"), "LICENSE not packaged\n{stdout}");
    }
    for file in &files {
        let generated = [".cargo_vcs_info.json", "Cargo.toml.orig"].contains(file);
        let shipped = ["Cargo.toml", "Cargo.lock", "README.md", "LICENSE"].contains(file)
            || (file.starts_with("src/") && file.ends_with(".rs"));
        assert!(generated || shipped, "{file} is packaged\n{stdout}");
    }
    // Every module the library and the binary compile is in the package.
    let sources = snapshot(&root().join("src"));
    for name in sources.keys().filter(|n| n.ends_with(".rs")) {
        assert!(
            files.contains(&format!("src/{name}").as_str()),
            "src/{name}"
        );
    }
    // The metadata crates.io shows and `cargo binstall` reads.
    let manifest = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    for key in [
        "\nrepository = ",
        "\nhomepage = ",
        "\ndocumentation = ",
        "\nlicense = ",
        "\nreadme = ",
        "\n[package.metadata.binstall]",
    ] {
        assert!(manifest.contains(key), "Cargo.toml has no {}", key.trim());
    }
}

/// The release workflow builds exactly the targets the action downloads, under the names the
/// action and `cargo binstall` ask for.
#[test]
fn release_workflow_builds_every_target_the_action_downloads() {
    let release = fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    let action = fs::read_to_string(root().join("action.yml")).unwrap();
    let built: Vec<&str> = release
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- { target: "))
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let downloaded: Vec<&str> = action
        .lines()
        .filter_map(|l| l.split_once(") target=").map(|(_, t)| t))
        .map(|t| t.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(built.len(), 5, "{built:?}");
    assert_eq!(
        built.iter().collect::<std::collections::BTreeSet<_>>(),
        downloaded.iter().collect(),
        "release.yml builds {built:?}, action.yml downloads {downloaded:?}"
    );
    // Archive names: digestpin-TARGET.tar.gz, .zip on Windows, a folder digestpin-TARGET inside.
    assert!(release.contains(r#"name="digestpin-$TARGET""#));
    assert!(release.contains(r#"tar -czf "$name.tar.gz" "$name""#));
    assert!(release.contains(r#"7z a -tzip -bd "$name.zip" "$name""#));
    assert!(action.contains(r#"asset="digestpin-$target.zip""#));
    assert!(action.contains(r#"asset="digestpin-$target.tar.gz""#));
    assert!(action.contains(r#"bin="$download/digestpin-$target/digestpin$exe""#));
    let manifest = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(manifest.contains(
        r#"pkg-url = "{ repo }/releases/download/v{ version }/{ name }-{ target }{ archive-suffix }""#
    ));
    assert!(manifest.contains(r#"bin-dir = "{ name }-{ target }/{ bin }{ binary-ext }""#));
    assert!(release.contains("sha256sum -- * > SHA256SUMS"));
    assert!(release.contains("actions/attest-build-provenance@"));
}

/// The `run:` script of the step named `step` of job `job` in release.yml.
fn release_step(job: &str, step: &str) -> String {
    let script = r#"
import json, sys, yaml
wf = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
steps = [s for s in wf["jobs"][sys.argv[2]]["steps"] if s.get("name") == sys.argv[3]]
print(json.dumps(steps[0]["run"] if len(steps) == 1 else None))
"#;
    let out = Command::new(python())
        .args(["-c", script])
        .arg(root().join(".github/workflows/release.yml"))
        .args([job, step])
        .output()
        .expect("python");
    assert!(out.status.success(), "{}", text(&out));
    let run: Option<String> = serde_json::from_slice(&out.stdout).unwrap();
    run.unwrap_or_else(|| panic!("release.yml: no step {step:?} in job {job}"))
}

fn executable(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    let mut perm = fs::metadata(path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    fs::set_permissions(path, perm).unwrap();
}

/// release.yml's own packaging and checksum steps, run on this machine for every target (each
/// "binary" a copy of this build), produce a release the action downloads, verifies and runs:
/// for every runner it has a binary for (tar.gz; Windows: zip, unpacked with unzip).
/// Stand-ins: `7z` (on GitHub's Windows runners; here `zip`) and `readelf` (this build is not
/// a static musl binary, which the step checks for).
#[test]
fn release_workflow_packages_what_the_action_downloads_and_verifies() {
    if !have_runner()
        || !available(
            "curl, tar, zip, unzip",
            ["curl", "tar", "unzip"].iter().all(|c| cmd_exists(c)) && cmd_exists("zip"),
        )
    {
        return;
    }
    let package = release_step("build", "Package");
    let sums = release_step("publish", "Write SHA256SUMS");
    let work = tempfile::tempdir().unwrap();
    let shims = work.path().join("shims");
    fs::create_dir_all(&shims).unwrap();
    executable(
        &shims.join("7z"),
        "#!/bin/sh\n# 7z a -tzip -bd NAME.zip DIR\n[ \"$1\" = a ] || exit 2\nexec zip -qr \"$4\" \"$5\"\n",
    );
    executable(
        &shims.join("readelf"),
        "#!/bin/sh\necho 'Program Headers: LOAD only (stand-in)'\n",
    );
    let path = format!(
        "{}:{}",
        shims.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let checkout = work.path().join("checkout");
    fs::create_dir_all(&checkout).unwrap();
    fs::copy(root().join("README.md"), checkout.join("README.md")).unwrap();
    let targets = [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
        "x86_64-pc-windows-msvc",
    ];
    // This build without its debug info (a tenth of the size): faster to pack and unpack.
    let bin = work.path().join("digestpin");
    fs::copy(digestpin(), &bin).unwrap();
    let _ = Command::new("strip")
        .arg("--strip-debug")
        .arg(&bin)
        .stderr(Stdio::null())
        .status();
    let dist = work.path().join("dist");
    fs::create_dir_all(&dist).unwrap();
    for target in targets {
        let exe = if target.contains("windows") {
            ".exe"
        } else {
            ""
        };
        let release = checkout.join(format!("target/{target}/release"));
        fs::create_dir_all(&release).unwrap();
        fs::copy(&bin, release.join(format!("digestpin{exe}"))).unwrap();
        let out = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &package])
            .current_dir(&checkout)
            .env("TARGET", target)
            .env("PATH", &path)
            .output()
            .expect("bash");
        assert!(out.status.success(), "Package {target}\n{}", text(&out));
        // upload-artifact, then download-artifact with merge-multiple: one dist/ folder.
        for entry in fs::read_dir(checkout.join("dist")).unwrap() {
            let entry = entry.unwrap();
            fs::rename(entry.path(), dist.join(entry.file_name())).unwrap();
        }
    }
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &sums])
        .current_dir(&dist)
        .output()
        .expect("bash");
    assert!(out.status.success(), "Write SHA256SUMS\n{}", text(&out));
    let sums = fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 5, "{sums}");

    // The GitHub release: its assets under /download/vX.Y.Z/.
    let releases = work.path().join("releases");
    fs::create_dir_all(releases.join("download")).unwrap();
    fs::rename(&dist, releases.join("download/v0.1.0")).unwrap();
    let server = FileServer::start(&releases);
    let reg = Registry::start();
    let ws = workspace(&reg);
    for (os, arch, asset) in [
        ("Linux", "X64", "digestpin-x86_64-unknown-linux-musl.tar.gz"),
        (
            "Linux",
            "ARM64",
            "digestpin-aarch64-unknown-linux-musl.tar.gz",
        ),
        ("macOS", "X64", "digestpin-x86_64-apple-darwin.tar.gz"),
        ("macOS", "ARM64", "digestpin-aarch64-apple-darwin.tar.gz"),
        ("Windows", "X64", "digestpin-x86_64-pc-windows-msvc.zip"),
    ] {
        let before = server.requests().len();
        let run = Action::new(&reg, ws.path())
            .input("version", "v0.1.0")
            .input("release-url", &format!("{}/download", server.url))
            .flag("--runner-os")
            .flag(os)
            .flag("--runner-arch")
            .flag(arch)
            .run();
        let why = run.dump();
        assert_eq!(
            run.step("install")["outcome"],
            "success",
            "{os} {arch}\n{why}"
        );
        assert!(run.log().contains("matches SHA256SUMS"), "{why}");
        assert_eq!(run.output("findings"), "3", "{os} {arch}\n{why}");
        assert_eq!(
            server.requests()[before..],
            [
                format!("/download/v0.1.0/{asset}"),
                "/download/v0.1.0/SHA256SUMS".to_string()
            ],
            "{os} {arch}"
        );
    }
}
