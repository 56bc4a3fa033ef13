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
        let mut s = String::with_capacity(2 * self.digest.len());
        push_hex(&mut s, &self.digest);
        s
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
        let mut s = String::with_capacity(self.method.len() + 1 + 2 * self.digest.len());
        s.push_str(&self.method);
        s.push(':');
        push_hex(&mut s, &self.digest);
        f.write_str(&s)
    }
}

/// The lowercase hex digits, by value.
pub(crate) const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Writes `bytes` as lowercase hex into `out`, two digits per byte (`out` holds exactly
/// `2 * bytes.len()`).
pub(crate) fn write_hex(out: &mut [u8], bytes: &[u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX_DIGITS[usize::from(b >> 4)];
        pair[1] = HEX_DIGITS[usize::from(b & 0x0f)];
    }
}

/// Appends `bytes` as lowercase hex (what `hex::encode` gives, without its per-char
/// iteration).
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    let mut buf = [0u8; 128];
    for chunk in bytes.chunks(64) {
        let hex = &mut buf[..2 * chunk.len()];
        write_hex(hex, chunk);
        // Only ASCII hex digits were written.
        out.push_str(std::str::from_utf8(hex).unwrap_or_default());
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
        let bytes: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
        let mut s = String::new();
        push_hex(&mut s, &bytes);
        assert_eq!(s, hex::encode(&bytes));
    }
}
