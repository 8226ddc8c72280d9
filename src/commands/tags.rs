//! `digestpin tags`: a repository's tags grouped by the digest each points to.
use std::io::{self, Write};

use super::{failed, network};
use crate::ExitStatus;
use crate::args::{TagsArgs, TagsFormat};
use crate::reference::Reference;
use crate::report;

pub fn tags(args: TagsArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
    let reference = match Reference::parse(&args.image) {
        Ok(r) => r,
        Err(e) => {
            return failed(
                err,
                Some(&args.image),
                format_args!("invalid reference: {e}"),
            );
        }
    };
    let Some((runtime, client)) = network(&args.net, err)? else {
        return Ok(ExitStatus::Error);
    };
    let now = jiff::Timestamp::now();
    let filter = args.filter.as_ref();
    if let Some(tag) = &args.pin {
        let pinned = crate::tag_groups::pin_tag(&client, &reference, tag, filter, now);
        return match runtime.block_on(pinned) {
            Ok(line) => {
                writeln!(out, "{line}")?;
                Ok(ExitStatus::Success)
            }
            Err(e) => failed(err, None, e),
        };
    }
    let jobs = usize::from(args.net.jobs);
    let groups = crate::tag_groups::tag_groups(&client, &reference, filter, jobs, now);
    let groups = match runtime.block_on(groups) {
        Ok(groups) => groups,
        Err(e) => return failed(err, None, e),
    };
    match args.format {
        TagsFormat::Text => report::tags_text(&groups, now, out)?,
        TagsFormat::Json => report::tags_json(&groups, out)?,
        TagsFormat::Markdown => report::tags_markdown(&groups, now, out)?,
    }
    Ok(ExitStatus::Success)
}
