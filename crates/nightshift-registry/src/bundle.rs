//! A model bundle: one immutable directory per version, `manifest.json` plus the files it
//! lists, every file checked against its size and SHA-256 before use.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::manifest::{MANIFEST_FILE, Manifest};

/// An opened, verified bundle.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Bundle {
    /// The bundle directory, e.g. `models/root_cause/3`.
    pub dir: PathBuf,
    /// Its parsed `manifest.json`.
    pub manifest: Manifest,
    /// SHA-256 of the `manifest.json` bytes (hex): identifies the whole bundle, since the
    /// manifest holds every other file's checksum.
    pub manifest_sha256: String,
}

impl Bundle {
    /// Reads the manifest and every file it lists, verifying sizes and checksums.
    ///
    /// A missing, truncated or altered file is an error naming the file with the expected
    /// and actual size or checksum; [`Error::hint`] says to restore or re-train.
    pub fn open(dir: &Path) -> Result<Bundle> {
        let bundle = Bundle::from_manifest(dir)?;
        for name in bundle.manifest.files.keys() {
            bundle.verify_file(name)?;
        }
        Ok(bundle)
    }

    /// [`Bundle::open`], and the result of `decode` on the bytes of the listed file `name`
    /// (e.g. `weights.bin`), reading that file once: its SHA-256 is computed on another
    /// thread while `decode` runs, and `decode`'s result is returned only if the file is
    /// intact. A damaged file is reported as [`Bundle::open`] reports it (size, then
    /// checksum), whatever `decode` made of its bytes.
    pub fn open_decoding<T>(
        dir: &Path,
        name: &str,
        decode: impl FnOnce(&[u8]) -> T,
    ) -> Result<(Bundle, T)> {
        let bundle = Bundle::from_manifest(dir)?;
        let entry = bundle.entry(name)?;
        for other in bundle.manifest.files.keys().filter(|n| *n != name) {
            bundle.verify_file(other)?;
        }
        let path = dir.join(name);
        let bytes =
            std::fs::read(&path).map_err(|e| bundle.read_error(name, entry.bytes, path, e))?;
        bundle.check(name, bytes.len() as u64, String::new)?;
        let (sha, decoded) = std::thread::scope(|s| {
            let hashing = s.spawn(|| sha256_hex(&bytes));
            let decoded = decode(&bytes);
            (hashing.join(), decoded)
        });
        let sha = sha.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        bundle.check(name, bytes.len() as u64, || sha)?;
        Ok((bundle, decoded))
    }

    /// The bundle as its manifest describes it, no listed file checked yet.
    fn from_manifest(dir: &Path) -> Result<Bundle> {
        let (bytes, manifest) = read_manifest_file(dir)?;
        Ok(Bundle {
            dir: dir.to_path_buf(),
            manifest,
            manifest_sha256: sha256_hex(&bytes),
        })
    }

    /// Only the manifest of the bundle in `dir`, parsed and validated, without reading or
    /// verifying the other files (for listings; [`Bundle::open`] before using the weights).
    pub fn read_manifest(dir: &Path) -> Result<Manifest> {
        Ok(read_manifest_file(dir)?.1)
    }

    /// The verified bytes of one file, e.g. `weights.bin`; read and checked again now.
    pub fn read_file(&self, name: &str) -> Result<Vec<u8>> {
        let entry = self.entry(name)?;
        let path = self.dir.join(name);
        let bytes =
            std::fs::read(&path).map_err(|e| self.read_error(name, entry.bytes, path, e))?;
        self.check(name, bytes.len() as u64, || sha256_hex(&bytes))?;
        Ok(bytes)
    }

    /// Path of one listed file (not verified; use [`Bundle::read_file`] for the bytes).
    pub fn file_path(&self, name: &str) -> Result<PathBuf> {
        self.entry(name)?;
        Ok(self.dir.join(name))
    }

    /// Checks one listed file's size and checksum without keeping its bytes.
    pub fn verify_file(&self, name: &str) -> Result<()> {
        let entry = self.entry(name)?;
        let path = self.dir.join(name);
        let file =
            File::open(&path).map_err(|e| self.read_error(name, entry.bytes, path.clone(), e))?;
        let len = file
            .metadata()
            .map_err(|source| Error::Io {
                action: "inspect",
                path: path.clone(),
                source,
            })?
            .len();
        // Size first: a truncated file is reported as such without hashing it.
        self.check(name, len, String::new)?;
        let (hashed_len, sha) = hash_reader(file).map_err(|source| Error::Io {
            action: "read",
            path,
            source,
        })?;
        self.check(name, hashed_len, || sha)
    }

    fn entry(&self, name: &str) -> Result<&crate::manifest::FileEntry> {
        self.manifest
            .files
            .get(name)
            .ok_or_else(|| Error::FileNotInBundle {
                dir: self.dir.clone(),
                file: name.to_string(),
                available: self.manifest.files.keys().cloned().collect(),
            })
    }

    fn read_error(
        &self,
        name: &str,
        expected_bytes: u64,
        path: PathBuf,
        e: std::io::Error,
    ) -> Error {
        if e.kind() == ErrorKind::NotFound {
            Error::FileMissing {
                dir: self.dir.clone(),
                file: name.to_string(),
                expected_bytes,
            }
        } else {
            Error::Io {
                action: "read",
                path,
                source: e,
            }
        }
    }

    /// Compares a size, then (if `sha` returns a non-empty string) a checksum, with the manifest.
    fn check(&self, name: &str, len: u64, sha: impl FnOnce() -> String) -> Result<()> {
        let entry = self.entry(name)?;
        if len != entry.bytes {
            return Err(Error::FileSizeMismatch {
                dir: self.dir.clone(),
                file: name.to_string(),
                expected: entry.bytes,
                actual: len,
            });
        }
        let actual = sha();
        if !actual.is_empty() && !actual.eq_ignore_ascii_case(&entry.sha256) {
            return Err(Error::ChecksumMismatch {
                dir: self.dir.clone(),
                file: name.to_string(),
                expected: entry.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }
}

/// Parses and validates `manifest.json` bytes.
/// The bytes and parsed contents of `dir`'s manifest; a missing manifest or bundle
/// directory is [`Error::ManifestMissing`] / [`Error::BundleMissing`].
fn read_manifest_file(dir: &Path) -> Result<(Vec<u8>, Manifest)> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(if dir.is_dir() {
                Error::ManifestMissing {
                    dir: dir.to_path_buf(),
                }
            } else {
                Error::BundleMissing {
                    dir: dir.to_path_buf(),
                }
            });
        }
        Err(source) => {
            return Err(Error::Io {
                action: "read",
                path,
                source,
            });
        }
    };
    let manifest = parse_manifest(&bytes, &path)?;
    Ok((bytes, manifest))
}

pub(crate) fn parse_manifest(bytes: &[u8], path: &Path) -> Result<Manifest> {
    // Read the format version first, so a newer manifest is reported as such rather
    // than as a field this build does not know.
    #[derive(serde::Deserialize)]
    struct Version {
        format_version: Option<u32>,
    }
    let invalid = |e: serde_json::Error| Error::ManifestInvalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let version: Version = serde_json::from_slice(bytes).map_err(invalid)?;
    if let Some(found) = version.format_version
        && found != crate::manifest::FORMAT_VERSION
    {
        return Err(Error::UnsupportedManifest {
            path: path.to_path_buf(),
            found,
            supported: crate::manifest::FORMAT_VERSION,
        });
    }
    let manifest: Manifest = serde_json::from_slice(bytes).map_err(invalid)?;
    manifest.validate(path)?;
    Ok(manifest)
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Streams a reader through SHA-256; returns the byte count and the hex digest.
fn hash_reader(mut reader: impl Read) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (n, sha) = hash_reader(&b"abc"[..]).expect("hash");
        assert_eq!((n, sha.as_str()), (3, sha256_hex(b"abc").as_str()));
    }
}
