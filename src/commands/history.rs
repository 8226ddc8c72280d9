//! `digestpin history`: a cgr.dev tag's digest history, every page joined, oldest first.
use std::io::{self, Write};

use super::{failed, network};
use crate::ExitStatus;
use crate::args::{Format, HistoryArgs};
use crate::reference::Reference;
use crate::registry::history::{TagHistory, all_entries};
use crate::report;
use crate::resolve::TAG_HISTORY_REGISTRY;

pub fn history(
    args: HistoryArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<ExitStatus> {
    let image = Some(args.image.as_str());
    let reference = match Reference::parse(&args.image) {
        Ok(r) => r,
        Err(e) => return failed(err, image, format_args!("invalid reference: {e}")),
    };
    if reference.registry() != TAG_HISTORY_REGISTRY {
        let registry = reference.registry();
        let problem =
            format!("registry {registry} has no tag history API (only {TAG_HISTORY_REGISTRY} has)");
        return failed(err, image, problem);
    }
    let Some(tag) = reference.lookup_tag() else {
        return failed(err, image, "a digest has no history; give a tag");
    };
    let Some((runtime, client)) = network(&args.net, err)? else {
        return Ok(ExitStatus::Error);
    };
    let source = TagHistory {
        client: &client,
        registry: reference.registry(),
        repository: reference.repository(),
        tag,
    };
    let entries = match runtime.block_on(all_entries(&source, args.start, args.end)) {
        Ok(entries) => entries,
        Err(e) => return failed(err, image, e),
    };
    match args.format {
        Format::Text => report::history_text(&entries, out)?,
        Format::Json => report::history_json(&reference, tag, &entries, out)?,
    }
    Ok(ExitStatus::Success)
}
