//! `digestpin resolve`: `IMAGE:TAG@DIGEST` for one reference, now, as of a time or at an age.
use std::io::{self, Write};

use super::{failed, network};
use crate::ExitStatus;
use crate::args::ResolveArgs;
use crate::reference::Reference;
use crate::resolve::{self, Query};

pub fn resolve(
    args: ResolveArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<ExitStatus> {
    let image = Some(args.image.as_str());
    let reference = match Reference::parse(&args.image) {
        Ok(r) => r,
        Err(e) => return failed(err, image, format_args!("invalid reference: {e}")),
    };
    let Some(tag) = reference.lookup_tag() else {
        return failed(err, image, "already a digest; there is no tag to follow");
    };
    let Some((runtime, client)) = network(&args.net, err)? else {
        return Ok(ExitStatus::Error);
    };
    let now = jiff::Timestamp::now();
    let when = args.when.when(now);
    let query = Query::tag(reference.registry(), reference.repository(), tag, when);
    let none = std::collections::BTreeSet::new();
    let answer = match runtime.block_on(resolve::resolve_one(&client, &query, now, None, &none)) {
        (Ok(answer), _) => answer,
        (Err(e), _) => return failed(err, image, e),
    };
    let Some((digest, _)) = answer.pick(when) else {
        let problem = format!(
            "no digest of tag {tag} is old enough for --min-age (none published at or before {}, or no publish time)",
            when.cutoff().unwrap_or(now)
        );
        return failed(err, image, problem);
    };
    let base = Reference::parse(&format!("{}:{tag}", reference.name())).unwrap_or(reference);
    writeln!(out, "{}", base.pinned_to(digest, !args.digest_only))?;
    Ok(ExitStatus::Success)
}
