//! The advisory file lock that keeps one server per file.
//!
//! # One server per file
//!
//! Two servers writing one file would each hand out ids the other does not
//! know of. At open the store takes an OS advisory lock on `PATH.lock` and
//! holds it until the writer has finished; a second open fails at start-up
//! with a clear reason. SQLite's own `locking_mode=EXCLUSIVE` would not do:
//! under WAL it also shuts out this process's read connections.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use super::open_failed;
use crate::store::OpenError;

/// Takes the advisory lock on `PATH.lock` that keeps a second server away.
/// The lock file stays behind after a stop; only a held lock means "in use".
/// The lock is named after the file's canonical path, so a second server that
/// reaches the file through a symbolic link or another spelling of its path
/// takes the same lock.
pub(super) fn lock_exclusively(path: &Path) -> Result<File, OpenError> {
    let mut lock_path = canonical(path).as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|error| {
            open_failed(
                format!(
                    "cannot create the lock file {}: does the directory exist, and may \
                     chat-server write to it?",
                    lock_path.display()
                ),
                Some(error.into()),
            )
        })?;
    // Called through the trait: newer Rust has an inherent `File::try_lock`
    // with a different error type, which method syntax would pick instead.
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(file),
        Err(fs4::TryLockError::WouldBlock) => Err(open_failed(
            format!(
                "{} is in use by another chat-server (it holds the lock on {})",
                path.display(),
                lock_path.display()
            ),
            None,
        )),
        Err(fs4::TryLockError::Error(error)) => Err(open_failed(
            format!("cannot lock {}", lock_path.display()),
            Some(error.into()),
        )),
    }
}

/// `path` with symbolic links, `.` and `..` resolved; for a file that does
/// not exist yet, its directory resolved. Unresolvable paths stay as they
/// are: opening them fails with a better message later.
fn canonical(path: &Path) -> PathBuf {
    if let Ok(resolved) = path.canonicalize() {
        return resolved;
    }
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match (directory.canonicalize(), path.file_name()) {
        (Ok(directory), Some(name)) => directory.join(name),
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::open_error_reason;
    use super::super::SqliteStore;
    use crate::store::{ChatStore, StoreOptions};
    use tempfile::TempDir;

    #[tokio::test]
    async fn a_second_store_on_the_same_file_is_refused_while_the_first_is_open() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("chat.db");
        let first = SqliteStore::open(&path, StoreOptions::default())
            .await
            .unwrap();
        let reason = open_error_reason(&path).await;
        assert!(
            reason.contains("is in use by another chat-server"),
            "{reason}"
        );
        first.check_health().await.unwrap();
        drop(first);
        SqliteStore::open(&path, StoreOptions::default())
            .await
            .unwrap();
    }
}
