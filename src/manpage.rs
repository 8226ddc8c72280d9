//! The `digestpin(1)` manual page, rendered from the command-line definition (so it lists every
//! option of every command, with its environment variable, default and values) plus the
//! sections a man page has that `--help` does not: environment, exit status, files and file
//! kinds, the config file.

use std::io::{self, Write};

use clap::Command;
use clap_mangen::Man;
use roff::{Roff, bold, italic, roman};

/// Writes the page for `cmd` (the `digestpin` command, with its subcommands) to `out`.
pub fn render(cmd: Command, out: &mut dyn Write) -> io::Result<()> {
    let mut page = Vec::new();
    render_parts(cmd, &mut page)?;
    // Each part starts with the same two-line preamble (`.ie`/`.el`): keep the first.
    let text = String::from_utf8_lossy(&page);
    let mut preamble_seen = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq") {
            preamble_seen += 1;
            if preamble_seen > 2 {
                continue;
            }
        }
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

fn render_parts(cmd: Command, out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let man = Man::new(cmd.clone()).source(format!("digestpin {}", env!("CARGO_PKG_VERSION")));
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        command_section(cmd.get_name(), sub, out)?;
    }
    let mut page = Roff::new();
    environment(&mut page);
    exit_status(&mut page);
    files(&mut page);
    page.control("SH", ["SEE ALSO"]);
    page.text([
        roman("README.md in the source distribution; "),
        bold("digestpin"),
        roman(" "),
        italic("COMMAND"),
        roman(" --help."),
    ]);
    page.to_writer(out)?;
    man.render_version_section(out)
}

/// `digestpin NAME`: usage, what it does, its examples, then its options.
fn command_section(bin: &str, sub: &Command, out: &mut dyn Write) -> io::Result<()> {
    let title = format!("{bin} {}", sub.get_name()).to_uppercase();
    let mut page = Roff::new();
    page.control("SH", [title.as_str()]);
    let usage = sub
        .clone()
        .bin_name(format!("{bin} {}", sub.get_name()))
        .render_usage();
    let usage = usage.to_string();
    page.text([bold(usage.trim_start_matches("Usage: ").trim())]);
    let about = sub.get_long_about().or(sub.get_about());
    if let Some(about) = about {
        for paragraph in about.to_string().split("\n\n") {
            page.control("PP", []);
            page.text([roman(paragraph.replace('\n', " "))]);
        }
    }
    if let Some(after) = sub.get_after_long_help().or(sub.get_after_help()) {
        page.control("PP", []);
        page.control("nf", []);
        for line in after.to_string().lines() {
            page.text([roman(line)]);
        }
        page.control("fi", []);
    }
    page.to_writer(out)?;
    let heading = format!("{title} OPTIONS");
    let with_heading = sub
        .clone()
        .mut_args(|arg| {
            // clap_mangen leaves visible aliases (`--dry-run`) out: say them in the help.
            let aliases: Vec<String> = (arg.get_visible_aliases().unwrap_or_default().iter())
                .map(|a| format!("--{a}"))
                .collect();
            let arg = arg.help_heading(heading.clone());
            if aliases.is_empty() {
                return arg;
            }
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            arg.help(format!("{help} (alias: {})", aliases.join(", ")))
        })
        .bin_name(format!("{bin} {}", sub.get_name()));
    Man::new(with_heading).render_options_section(out)
}

fn item(page: &mut Roff, term: &str, text: &str) {
    page.control("TP", []);
    page.text([bold(term)]);
    page.text([roman(text)]);
}

fn environment(page: &mut Roff) {
    page.control("SH", ["ENVIRONMENT"]);
    for (name, text) in [
        (
            "DIGESTPIN_ENDPOINTS",
            "Comma-separated REGISTRY=URL overrides, as --endpoint (the flag adds to them and \
             wins for the same registry; both win over [endpoints] in the config file).",
        ),
        (
            "DIGESTPIN_CACHE_DIR",
            "Directory of the on-disk cache (tag histories, registry auth schemes, anonymous \
             tokens). Default: $XDG_CACHE_HOME/digestpin, usually ~/.cache/digestpin.",
        ),
        ("XDG_CACHE_HOME", "Base of the default cache directory."),
        (
            "DOCKER_CONFIG",
            "Directory holding the Docker config.json read for registry credentials (auths, \
             credHelpers, credsStore). Default: ~/.docker.",
        ),
        (
            "CHAINGUARD_IDENTITY_ID, CHAINGUARD_TOKEN",
            "A Chainguard pull token, used as Basic credentials for cgr.dev.",
        ),
        (
            "HOME",
            "Locates ~/.docker/config.json and the default cache directory.",
        ),
        (
            "CI",
            "When set (and not empty or \"false\"), pin --check does not use the cache, so a \
             gate always asks the registries.",
        ),
        (
            "NO_COLOR",
            "When set and not empty, no colour (as --color never, unless --color always).",
        ),
        ("TERM", "\"dumb\": no colour with --color auto."),
        (
            "GITHUB_STEP_SUMMARY",
            "With pin --format github: a Markdown table of every reference (and the diff) is \
             appended to this file.",
        ),
    ] {
        item(page, name, text);
    }
}

fn exit_status(page: &mut Roff) {
    page.control("SH", ["EXIT STATUS"]);
    item(
        page,
        "0",
        "Success: nothing to report, or everything written.",
    );
    item(
        page,
        "1",
        "Findings: pin --check found a reference that is unpinned or stale; pin --diff has a \
         non-empty diff.",
    );
    item(
        page,
        "2",
        "Error: bad arguments or config file, an unreadable file, an invalid reference, a \
         failed resolution. Errors outrank findings; a run keeps going after an error and \
         reports them all.",
    );
}

fn files(page: &mut Roff) {
    page.control("SH", ["FILES"]);
    item(
        page,
        "Dockerfiles",
        "Directories are walked (respecting .gitignore, .ignore and the config file's exclude; \
         entering hidden folders but not version-control ones) for the files of every kind \
         below, by name. A file named on the command line is always read: its kind comes from \
         its name, else from its content (top-level services: Compose; on: and jobs:, or runs: \
         a GitHub workflow or action; stages: or jobs with script: GitLab CI; apiVersion: and \
         kind: Kubernetes), else it is read as a Dockerfile. Dockerfiles: Dockerfile, \
         Containerfile, Dockerfile.*, Dockerfile-*, Containerfile.*, *.Dockerfile, \
         *.dockerfile, *.Containerfile, *.containerfile. Image references: FROM, COPY/ADD \
         --from, RUN --mount from=, the same after ONBUILD, global ARG defaults that feed a \
         FROM, and the # syntax= parser directive.",
    );
    item(
        page,
        "Compose files",
        "compose.y[a]ml, docker-compose.y[a]ml, compose.*.y[a]ml, docker-compose.*.y[a]ml: \
         services.NAME.image. A service with build: names its build output (never pinned); \
         ${VAR:-REF} and ${VAR-REF} pin REF in place; other variables are skipped; an image \
         under a YAML anchor is pinned once, at the anchor.",
    );
    item(
        page,
        "GitHub workflows and actions",
        ".github/workflows/*.y[a]ml and action.y[a]ml: jobs.ID.container (or .image), \
         jobs.ID.services.ID.image, uses: docker://REF, runs.image: docker://REF. A value with \
         ${{ }} is skipped.",
    );
    item(
        page,
        "GitLab CI files",
        ".gitlab-ci.yml, *.gitlab-ci.yml, and YAML under a .gitlab/ or .gitlab-ci/ folder \
         (what a pipeline includes; a manifest there is read as one, other YAML holding no \
         image is left out): image (or image.name) at the top level, under default: and in \
         each job; services (strings or .name). A value with $VAR is skipped.",
    );
    item(
        page,
        "Kubernetes manifests",
        "Any other *.y[a]ml whose documents have apiVersion and kind: the image of every item \
         of containers, initContainers and ephemeralContainers, at any depth. A .yaml that is \
         not YAML (a Helm template) is left out when walked and an error when named.",
    );
    item(
        page,
        ".digestpin.toml, digestpin.toml",
        "The config file, looked for in the working directory and each parent up to the \
         repository root (a directory holding .git); --config PATH names one, --no-config \
         reads none. Keys: exclude (gitignore-style patterns, relative to the file, pruning \
         what a walk finds), kinds (dockerfile, compose, github-actions, gitlab-ci, \
         kubernetes: a run reads only these), min-age, enforce-min-age, keep-pinned, digest-only, \
         [endpoints] (\"REGISTRY\" = \"URL\"), and [[ignore]] tables (image = glob, optional \
         path = pattern, reason) for references left alone on purpose. Flags and environment \
         variables win. An unknown key or a bad value is an error naming the file, line and key.",
    );
    item(
        page,
        "~/.cache/digestpin",
        "The cache (see DIGESTPIN_CACHE_DIR); safe to delete at any time.",
    );
    item(
        page,
        "# digestpin: ignore",
        "A comment on the line before an instruction (in YAML: before the line, or at its \
         end): its references are reported as ignored and left alone.",
    );
}
