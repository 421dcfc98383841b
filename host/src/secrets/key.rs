//! The host's secrets key: 32 bytes, AES-256-GCM. Given in config
//! (`secrets.key`, `CARILLON_SECRETS_KEY`: 64 hex digits, the same on every
//! host of a cluster) or, on SQLite with nothing configured, kept in a file
//! next to the database (`carillon.db.secrets-key`, mode 0600), made on the
//! first `carillon secret set`. Sealing binds a value to its secret's name,
//! so a sealed value copied to another name does not open.

use std::fmt;
use std::path::{Path, PathBuf};

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use crate::store::SealedSecret;

/// Why a key cannot be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Nothing configured and no file to keep one in.
    #[error(
        "this host has no secrets key: set secrets.key (or CARILLON_SECRETS_KEY) to 64 hex digits, \
         the same on every host sharing the database (make one with `openssl rand -hex 32`)"
    )]
    NotConfigured,
    /// The key text or file is not a key.
    #[error("{0}")]
    Bad(String),
    /// The key file could not be read or written.
    #[error("{0}")]
    File(String),
}

/// The key. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(…)")
    }
}

impl std::str::FromStr for SecretKey {
    type Err = KeyError;

    /// 64 hex digits.
    fn from_str(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let bad = || KeyError::Bad("a secrets key is 64 hex digits (32 bytes)".to_owned());
        if text.len() != 64 || !text.is_ascii() {
            return Err(bad());
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Self(key))
    }
}

impl SecretKey {
    /// A new random key.
    pub fn generate() -> Result<Self, KeyError> {
        let mut key = [0u8; 32];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| KeyError::File("the system's random source failed".to_owned()))?;
        Ok(Self(key))
    }

    fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn aead(&self) -> LessSafeKey {
        // A 32-byte key is always a valid AES-256 key.
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("32 bytes"))
    }

    /// `value` sealed for secret `name`.
    pub fn seal(&self, name: &str, value: &str) -> Result<SealedSecret, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| KeyError::File("the system's random source failed".to_owned()))?;
        let mut sealed = value.as_bytes().to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| KeyError::Bad("the value could not be sealed".to_owned()))?;
        Ok(SealedSecret {
            nonce: nonce.to_vec(),
            sealed,
        })
    }

    /// The value of secret `name`, or `None` if this key did not seal it
    /// (another key, another name, or a changed row).
    pub fn open(&self, name: &str, secret: &SealedSecret) -> Option<String> {
        let nonce = Nonce::try_assume_unique_for_key(&secret.nonce).ok()?;
        let mut bytes = secret.sealed.clone();
        let value = self
            .aead()
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut bytes)
            .ok()?;
        String::from_utf8(value.to_vec()).ok()
    }
}

/// Where the key of a SQLite database at `database_url` is kept, if it is a
/// file.
pub fn key_file(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let path = rest.trim_start_matches("//");
    let path = path.split('?').next().unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(format!("{path}.secrets-key")))
}

/// The key in `path`, if the file exists.
pub fn read_key_file(path: &Path) -> Result<Option<SecretKey>, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.parse().map(Some).map_err(|_| {
            KeyError::Bad(format!(
                "{} does not hold a secrets key (64 hex digits)",
                path.display()
            ))
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(KeyError::File(format!(
            "cannot read the secrets key {}: {error}",
            path.display()
        ))),
    }
}

/// Writes a new key to `path`, readable by its owner only.
pub fn create_key_file(path: &Path) -> Result<SecretKey, KeyError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let key = SecretKey::generate()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|error| {
            KeyError::File(format!(
                "cannot create the secrets key {}: {error}",
                path.display()
            ))
        })?;
    writeln!(file, "{}", key.hex()).map_err(|error| {
        KeyError::File(format!(
            "cannot write the secrets key {}: {error}",
            path.display()
        ))
    })?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_opens_only_with_its_key_and_name() {
        let key = SecretKey::generate().unwrap();
        let sealed = key.seal("api_token", "s3cr3t").unwrap();
        assert!(!sealed.sealed.windows(6).any(|w| w == b"s3cr3t"));
        assert_eq!(key.open("api_token", &sealed).as_deref(), Some("s3cr3t"));
        assert_eq!(key.open("other", &sealed), None);
        assert_eq!(
            SecretKey::generate().unwrap().open("api_token", &sealed),
            None
        );
    }

    #[test]
    fn keys_read_as_hex_and_files_sit_beside_the_database() {
        let key = SecretKey::generate().unwrap();
        assert_eq!(key.hex().parse::<SecretKey>().unwrap(), key);
        assert!("abc".parse::<SecretKey>().is_err());
        assert_eq!(format!("{key:?}"), "SecretKey(…)");
        assert_eq!(
            key_file("sqlite://data/carillon.db?mode=rwc"),
            Some(PathBuf::from("data/carillon.db.secrets-key"))
        );
        assert_eq!(key_file("sqlite::memory:"), None);
        assert_eq!(key_file("postgres://db/x"), None);
    }
}
