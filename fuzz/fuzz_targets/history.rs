//! The Tag History page parser on any bytes: never panics; every entry it accepts has a valid
//! digest and a timestamp that is the text it was read from; a refusal names no more than a
//! bounded excerpt of the body.
#![no_main]

use digestpin::digest::Digest;
use digestpin::registry::fuzz_history_page;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    match fuzz_history_page(body) {
        Ok(entries) => {
            for e in &entries {
                let again =
                    Digest::parse(&e.digest.to_string()).expect("accepted digest re-parses");
                assert_eq!(again, e.digest);
                let parsed: jiff::Timestamp =
                    e.timestamp_text.parse().expect("timestamp text parses");
                assert_eq!(parsed, e.updated_at);
            }
        }
        Err(message) => {
            assert!(
                message.len() <= 1024,
                "a refusal quotes {} bytes of the body",
                message.len()
            );
        }
    }
});
