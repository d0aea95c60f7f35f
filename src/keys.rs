//! Key files: the libp2p identity key and the batch-signing key, each an ed25519 secret stored
//! as 64 hex digits and a newline, in a file only its owner may read (mode 0600). A relay refuses
//! to start with a key file that group or others can read or write.
//!
//! Signing goes through [`ed25519_dalek::SigningKey`] today; the node only ever asks for a
//! signature over batch bytes, so a remote signer can replace the file later without touching
//! the protocol.

use ed25519_dalek::{SigningKey, VerifyingKey};
use std::io::Write as _;
use std::path::Path;

/// Why a key file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// IO.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Error.
        source: std::io::Error,
    },
    /// Group or others may access it.
    #[error(
        "{path}: permissions {mode:o} let others read or write the key; run `chmod 600 {path}`"
    )]
    Permissions {
        /// File.
        path: String,
        /// Mode bits.
        mode: u32,
    },
    /// Not 64 hex digits.
    #[error("{path}: not a key file (expected 64 hex digits)")]
    Format {
        /// File.
        path: String,
    },
    /// Exists already.
    #[error("{path}: exists; refusing to overwrite a key")]
    Exists {
        /// File.
        path: String,
    },
}

fn read_secret(path: &Path) -> Result<[u8; 32], KeyError> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| KeyError::Io {
        path: name.clone(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions { path: name, mode });
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: name.clone(),
        source,
    })?;
    let bytes = hex::decode(text.trim()).map_err(|_| KeyError::Format { path: name.clone() })?;
    bytes
        .try_into()
        .map_err(|_| KeyError::Format { path: name })
}

/// Writes a fresh key from `secret` with mode 0600; never overwrites.
pub fn write_secret(path: &Path, secret: &[u8; 32]) -> Result<(), KeyError> {
    let name = path.display().to_string();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| KeyError::Io {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists { path: name.clone() }
        } else {
            KeyError::Io {
                path: name.clone(),
                source,
            }
        }
    })?;
    writeln!(f, "{}", hex::encode(secret)).map_err(|source| KeyError::Io { path: name, source })
}

/// A fresh random secret.
pub fn random_secret() -> [u8; 32] {
    let mut s = [0u8; 32];
    rand::fill(&mut s);
    s
}

/// The libp2p identity in `path`.
pub fn read_identity(path: &Path) -> Result<libp2p::identity::Keypair, KeyError> {
    let mut secret = read_secret(path)?;
    libp2p::identity::Keypair::ed25519_from_bytes(&mut secret).map_err(|_| KeyError::Format {
        path: path.display().to_string(),
    })
}

/// The libp2p identity of a secret.
pub fn identity_of(secret: &[u8; 32]) -> libp2p::identity::Keypair {
    let mut s = *secret;
    // 32 bytes is always a valid ed25519 secret.
    libp2p::identity::Keypair::ed25519_from_bytes(&mut s)
        .unwrap_or_else(|_| libp2p::identity::Keypair::generate_ed25519())
}

/// The batch-signing key in `path`.
pub fn read_batch_key(path: &Path) -> Result<SigningKey, KeyError> {
    Ok(SigningKey::from_bytes(&read_secret(path)?))
}

/// A batch public key from 64 hex digits.
pub fn parse_public_key(s: &str) -> Result<VerifyingKey, String> {
    let b: [u8; 32] = hex::decode(s.trim_start_matches("0x"))
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("{s:?} is not 64 hex digits"))?;
    VerifyingKey::from_bytes(&b).map_err(|_| format!("{s:?} is not an ed25519 public key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_keys_are_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k/batch.key");
        let s = random_secret();
        write_secret(&p, &s).unwrap();
        assert!(matches!(write_secret(&p, &s), Err(KeyError::Exists { .. })));
        assert_eq!(read_batch_key(&p).unwrap().to_bytes(), s);
        let id = read_identity(&p).unwrap();
        assert_eq!(
            id.public().to_peer_id(),
            identity_of(&s).public().to_peer_id()
        );
    }

    #[cfg(unix)]
    #[test]
    fn world_readable_key_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("id.key");
        write_secret(&p, &random_secret()).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_identity(&p).unwrap_err();
        assert!(
            matches!(e, KeyError::Permissions { mode: 0o644, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("chmod 600"));
    }

    #[test]
    fn garbage_is_not_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.key");
        std::fs::write(&p, "zz\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(matches!(read_batch_key(&p), Err(KeyError::Format { .. })));
        assert!(parse_public_key("abc").is_err());
    }
}
