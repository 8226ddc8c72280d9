//! `parse_challenges` on any `WWW-Authenticate` value: never panics, lowercases schemes and
//! parameter names, finds only token-character schemes, and reads what it prints back the
//! same.
#![no_main]

use digestpin::registry::auth::{Challenge, parse_challenges};
use libfuzzer_sys::fuzz_target;

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// `scheme name="value", …` with every value quoted and escaped.
fn print(challenges: &[Challenge]) -> String {
    let mut out = Vec::new();
    for c in challenges {
        let mut params: Vec<_> = c.params.iter().collect();
        params.sort();
        let params: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        if params.is_empty() {
            out.push(c.scheme.clone());
        } else {
            out.push(format!("{} {}", c.scheme, params.join(", ")));
        }
    }
    out.join(", ")
}

fuzz_target!(|header: &str| {
    let challenges = parse_challenges(header);
    for c in &challenges {
        assert!(!c.scheme.is_empty(), "empty scheme from {header:?}");
        assert!(c.scheme.chars().all(is_tchar), "scheme {:?}", c.scheme);
        assert_eq!(c.scheme, c.scheme.to_ascii_lowercase());
        for name in c.params.keys() {
            assert!(
                !name.is_empty() && name.chars().all(is_tchar),
                "param {name:?}"
            );
            assert_eq!(*name, name.to_ascii_lowercase());
        }
    }
    // Printed canonically, the challenges parse back to themselves.
    let printed = print(&challenges);
    assert_eq!(
        parse_challenges(&printed),
        challenges,
        "{header:?} printed as {printed:?}"
    );
});
