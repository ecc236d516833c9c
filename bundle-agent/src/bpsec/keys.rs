//! Keys: how an operation is keyed, AES key wrap (RFC 3394, used by RFC 9173 §3.3.2 and
//! §4.3.3), and a key store of named keys read from a file.
//!
//! The key file is text, one key a line: a name, white space, the key in hex. Blank lines
//! and lines starting with `#` are ignored. Names are free-form; naming a key after the
//! security source EID (`ipn:2.1`) lets verification find it without being told.

use std::collections::BTreeMap;

use aes_kw::{KekAes128, KekAes192, KekAes256};
use zeroize::Zeroizing;

use super::error::BpsecError;

/// The key an operation uses.
#[derive(Debug, Clone, Copy)]
pub enum KeyMaterial<'k> {
    /// Use this key directly.
    Direct(&'k [u8]),
    /// Use `content_key`, and carry it wrapped under `kek` in the security block.
    Wrapped {
        /// Key-encryption key, known to the receiver.
        kek: &'k [u8],
        /// Fresh content key for this operation.
        content_key: &'k [u8],
    },
}

/// Wraps `key` under `kek` (AES-KW, RFC 3394).
pub fn wrap_key(kek: &[u8], key: &[u8]) -> Result<Vec<u8>, BpsecError> {
    let wrong = || BpsecError::KeyLength {
        algorithm: "AES key wrap",
        expected: 16,
        found: kek.len(),
    };
    let out = match kek.len() {
        16 => KekAes128::try_from(kek).map_err(|_| wrong())?.wrap_vec(key),
        24 => KekAes192::try_from(kek).map_err(|_| wrong())?.wrap_vec(key),
        32 => KekAes256::try_from(kek).map_err(|_| wrong())?.wrap_vec(key),
        _ => return Err(wrong()),
    };
    out.map_err(|_| BpsecError::KeyLength {
        algorithm: "AES key wrap (key to wrap)",
        expected: 16,
        found: key.len(),
    })
}

/// Unwraps a key carried by security block `block` (AES-KW, RFC 3394).
pub fn unwrap_key(
    block: u64,
    kek: &[u8],
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>, BpsecError> {
    let wrong = || BpsecError::KeyLength {
        algorithm: "AES key wrap",
        expected: 16,
        found: kek.len(),
    };
    let out = match kek.len() {
        16 => KekAes128::try_from(kek)
            .map_err(|_| wrong())?
            .unwrap_vec(wrapped),
        24 => KekAes192::try_from(kek)
            .map_err(|_| wrong())?
            .unwrap_vec(wrapped),
        32 => KekAes256::try_from(kek)
            .map_err(|_| wrong())?
            .unwrap_vec(wrapped),
        _ => return Err(wrong()),
    };
    out.map(Zeroizing::new)
        .map_err(|_| BpsecError::KeyUnwrap(block))
}

/// Looks keys up by name.
pub trait KeyStore {
    /// The key named `name`.
    fn key(&self, name: &str) -> Option<&[u8]>;
}

/// Named keys, as read from a key file. Key bytes are zeroed when dropped.
#[derive(Default)]
pub struct KeyFile {
    keys: BTreeMap<String, Zeroizing<Vec<u8>>>,
}

impl core::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyFile")
            .field("names", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A key file line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key file line {line}: {reason}")]
pub struct KeyFileError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

impl KeyFile {
    /// Parses key file text.
    pub fn parse(text: &str) -> Result<Self, KeyFileError> {
        let mut keys = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: String| KeyFileError {
                line: i + 1,
                reason,
            };
            let mut parts = line.split_whitespace();
            let (Some(name), Some(hex_key), None) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(err("expected: NAME HEX-KEY".into()));
            };
            let key =
                hex::decode(hex_key).map_err(|e| err(format!("key {name:?} is not hex: {e}")))?;
            if key.is_empty() {
                return Err(err(format!("key {name:?} is empty")));
            }
            if keys.insert(name.to_string(), Zeroizing::new(key)).is_some() {
                return Err(err(format!("key {name:?} defined twice")));
            }
        }
        Ok(Self { keys })
    }

    /// Adds or replaces a key.
    pub fn insert(&mut self, name: &str, key: Vec<u8>) {
        self.keys.insert(name.to_string(), Zeroizing::new(key));
    }

    /// Key names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

impl KeyStore for KeyFile {
    fn key(&self, name: &str) -> Option<&[u8]> {
        self.keys.get(name).map(|k| k.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3394_4_1_wrap_128_bit_key_with_128_bit_kek() {
        let kek = hex::decode("000102030405060708090A0B0C0D0E0F").unwrap();
        let key = hex::decode("00112233445566778899AABBCCDDEEFF").unwrap();
        let wrapped = wrap_key(&kek, &key).unwrap();
        assert_eq!(
            hex::encode_upper(&wrapped),
            "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"
        );
        assert_eq!(&unwrap_key(2, &kek, &wrapped).unwrap()[..], &key[..]);
        assert_eq!(unwrap_key(2, &key, &wrapped), Err(BpsecError::KeyUnwrap(2)));
    }

    #[test]
    fn key_file_parsing() {
        let kf = KeyFile::parse("# test keys\nipn:2.1 1a2b1a2b\n\nother  00ff\n").unwrap();
        assert_eq!(kf.key("ipn:2.1"), Some(&[0x1a, 0x2b, 0x1a, 0x2b][..]));
        assert_eq!(kf.names().count(), 2);
        assert_eq!(KeyFile::parse("a zz").unwrap_err().line, 1);
        assert!(KeyFile::parse("a 00\na 01")
            .unwrap_err()
            .reason
            .contains("twice"));
        assert!(KeyFile::parse("only-name").is_err());
    }
}
