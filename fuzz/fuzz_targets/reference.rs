//! `Reference::parse` round-trips: a parsed reference prints as its input and re-parses equal.
#![no_main]

use digestpin::reference::Reference;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(parsed) = Reference::parse(text) {
        let printed = parsed.to_string();
        assert_eq!(printed, text, "to_string() differs from the parsed input");
        let again = Reference::parse(&printed)
            .unwrap_or_else(|e| panic!("{printed:?} parsed, but its to_string() does not: {e}"));
        assert!(
            again == parsed,
            "re-parse of {printed:?} is not equal: {again:?} vs {parsed:?}"
        );
    }
});
