//! Crash-safe writing of bundles: files go into a private directory under
//! `<models_dir>/.staging/`, are fsynced, and the directory is renamed into place in one step.
//!
//! Registrations hold a shared lock on `.staging/.lock` while their directory exists;
//! [`crate::Registry::open`] removes leftovers only when it gets the lock exclusively, i.e. when no
//! registration (in any process) is under way. The lock is released by the OS if a
//! process dies, so a crashed registration's leftovers are cleaned by the next open.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The staging area's directory name inside the models directory.
pub const STAGING_DIR: &str = ".staging";

/// The lock file inside the staging area.
const LOCK_FILE: &str = ".lock";

/// Keeps the staging area out of version control when `models/` is committed.
const GITIGNORE: (&str, &str) = (
    ".gitignore",
    "# Registrations in progress; never commit.\n*\n",
);

/// A directory a registration is writing its bundle into; removed on drop unless published.
pub(crate) struct Staging {
    dir: PathBuf,
    /// Holds the shared staging lock while the directory exists.
    _lock: File,
}

impl Staging {
    /// Creates a fresh, uniquely named staging directory for a version of `name`.
    pub(crate) fn create(models_dir: &Path, name: &str) -> Result<Staging> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let area = models_dir.join(STAGING_DIR);
        create_dir_all(&area)?;
        let ignore = area.join(GITIGNORE.0);
        if !ignore.exists() {
            // Best effort: only a convenience for projects that commit `models/`.
            let _ = std::fs::write(&ignore, GITIGNORE.1);
        }
        let lock = open_lock(&area)?;
        lock.lock_shared().map_err(|source| Error::Io {
            action: "lock",
            path: area.join(LOCK_FILE),
            source,
        })?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let pid = std::process::id();
        loop {
            let seq = SEQ.fetch_add(1, Ordering::Relaxed);
            let dir = area.join(format!("{name}-{pid}-{nanos}-{seq}"));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(Staging { dir, _lock: lock }),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(source) => {
                    return Err(Error::Io {
                        action: "create directory",
                        path: dir,
                        source,
                    });
                }
            }
        }
    }

    /// Writes one new file and flushes it to disk.
    pub(crate) fn write_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join(name);
        let io = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io {
                action,
                path,
                source,
            }
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io("create", &path))?;
        file.write_all(bytes).map_err(io("write", &path))?;
        file.sync_all().map_err(io("sync", &path))?;
        Ok(())
    }

    /// Moves the directory to `target` (which must not exist) and makes the move durable.
    pub(crate) fn publish(self, target: &Path) -> Result<()> {
        sync_dir(&self.dir)?;
        if let Some(parent) = target.parent() {
            create_dir_all(parent)?;
        }
        std::fs::rename(&self.dir, target).map_err(|source| Error::Io {
            action: "move bundle into place at",
            path: target.to_path_buf(),
            source,
        })?;
        if let Some(parent) = target.parent() {
            sync_dir(parent)?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // After `publish` the directory is gone and this does nothing.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes everything in the staging area if no registration is under way; returns how
/// many leftovers were removed (0 when the area is busy).
pub(crate) fn clean_stale(models_dir: &Path) -> Result<usize> {
    let area = models_dir.join(STAGING_DIR);
    if !area.is_dir() {
        return Ok(0);
    }
    let lock = open_lock(&area)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(0),
        Err(TryLockError::Error(source)) => {
            return Err(Error::Io {
                action: "lock",
                path: area.join(LOCK_FILE),
                source,
            });
        }
    }
    let entries = std::fs::read_dir(&area).map_err(|source| Error::Io {
        action: "list",
        path: area.clone(),
        source,
    })?;
    let mut removed = 0;
    for entry in entries.flatten() {
        // Staging directories are named after models, which never start with `.`;
        // the lock file and `.gitignore` stay.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match result {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    action: "remove leftover",
                    path,
                    source,
                });
            }
        }
    }
    Ok(removed)
}

fn open_lock(area: &Path) -> Result<File> {
    let path = area.join(LOCK_FILE);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| Error::Io {
            action: "open",
            path,
            source,
        })
}

pub(crate) fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        action: "create directory",
        path: dir.to_path_buf(),
        source,
    })
}

/// Flushes a directory's entries to disk (a no-op where directories cannot be opened).
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| Error::Io {
                action: "sync",
                path: dir.to_path_buf(),
                source,
            })?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
