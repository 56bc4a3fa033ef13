//! [`ContentHash`]: a hashing method name and a digest, printed as `method:hex`.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A hash together with the name of the method that produced it.
///
/// The string form is `"{method}:{lowercase hex}"`, e.g.
/// `semantic_v0.1:295ca933…`. Parsing splits at the first `:` so method names may not
/// contain one. Equality compares method and digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash {
    method: String,
    digest: Vec<u8>,
}

impl ContentHash {
    /// Builds a hash from its parts.
    pub fn new(method: impl Into<String>, digest: Vec<u8>) -> Self {
        ContentHash {
            method: method.into(),
            digest,
        }
    }

    /// The method name, e.g. `semantic_v0.1` or `arrow_v0.1`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The raw digest bytes.
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    /// The digest as lowercase hex.
    pub fn hex(&self) -> String {
        hex::encode(&self.digest)
    }

    /// The first `n` hex characters of the digest (all of them if `n` is larger).
    pub fn hex_prefix(&self, n: usize) -> String {
        let mut h = self.hex();
        h.truncate(n);
        h
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.method, self.hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

impl FromStr for ContentHash {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (method, hex_digest) = s
            .split_once(':')
            .ok_or_else(|| Error::Hash(format!("`{s}` is not of the form method:hex")))?;
        let digest = hex::decode(hex_digest)
            .map_err(|e| Error::Hash(format!("`{s}` has an invalid hex digest: {e}")))?;
        Ok(ContentHash::new(method, digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_round_trip_and_prefix() {
        let h = ContentHash::new("semantic_v0.1", vec![0x29, 0x5c, 0xa9, 0x33]);
        assert_eq!(h.to_string(), "semantic_v0.1:295ca933");
        assert_eq!(h.hex_prefix(4), "295c");
        assert_eq!(h.to_string().parse::<ContentHash>().unwrap(), h);
        assert!("nocolon".parse::<ContentHash>().is_err());
        assert!("m:zz".parse::<ContentHash>().is_err());
    }
}
