//! `tail --cursor-file`: the id of the last message printed, kept in a file so
//! that a later run resumes exactly after it.
//!
//! The file is replaced atomically (a temporary file in the same directory,
//! synced, then renamed over it), so a run killed at any moment leaves either
//! the old id or the new one, never a torn file.
//!
//! The file is read and written with blocking calls: the CLI's runtime runs a
//! single task, so there is nothing else they could hold up.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use uuid::Uuid;

/// A file holding one message id.
#[derive(Debug, Clone)]
pub struct CursorFile {
    path: PathBuf,
}

/// Why the cursor file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CursorFileError {
    /// The file exists but could not be read.
    #[error("cannot read the cursor file {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        source: io::Error,
    },
    /// The file does not hold a message id.
    #[error("the cursor file {} does not hold a message id: {content:?}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What it holds instead (trimmed).
        content: String,
    },
    /// The new id could not be stored.
    #[error("cannot write the cursor file {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why writing failed.
        source: io::Error,
    },
}

impl CursorFile {
    /// The cursor file at `path`; nothing is read or created yet.
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// The stored id, or `None` when the file does not exist yet.
    pub fn load(&self) -> Result<Option<Uuid>, CursorFileError> {
        let content = match std::fs::read_to_string(&self.path) {
            Ok(content) => content,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CursorFileError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let content = content.trim();
        Uuid::try_parse(content)
            .map(Some)
            .map_err(|_| CursorFileError::Invalid {
                path: self.path.clone(),
                content: content.chars().take(80).collect(),
            })
    }

    /// Replaces the stored id with `id`.
    pub fn save(&self, id: Uuid) -> Result<(), CursorFileError> {
        self.replace_with(id)
            .map_err(|source| CursorFileError::Write {
                path: self.path.clone(),
                source,
            })
    }

    fn replace_with(&self, id: Uuid) -> io::Result<()> {
        // The temporary file must be in the same directory: a rename is only
        // atomic within one file system.
        let mut temporary = tempfile::Builder::new()
            .prefix(".chat-cursor")
            .suffix(".tmp")
            .tempfile_in(self.directory())?;
        writeln!(temporary, "{id}")?;
        // Without this, a crash of the machine could leave the renamed file
        // empty: the rename can reach the disk before the data.
        temporary.as_file().sync_data()?;
        temporary.persist(&self.path).map_err(|error| error.error)?;
        Ok(())
    }

    /// The directory the file is in; `.` for a bare file name.
    fn directory(&self) -> &Path {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_holds_no_cursor() {
        let directory = tempfile::tempdir().unwrap();
        let file = CursorFile::new(directory.path().join("cursor"));
        assert!(file.load().unwrap().is_none());
    }

    #[test]
    fn a_saved_id_is_loaded_back_and_no_temporary_file_is_left() {
        let directory = tempfile::tempdir().unwrap();
        let file = CursorFile::new(directory.path().join("cursor"));
        let first = Uuid::from_u128(1);
        let second = Uuid::from_u128(2);
        file.save(first).unwrap();
        file.save(second).unwrap();
        assert_eq!(file.load().unwrap(), Some(second));
        let entries = std::fs::read_dir(directory.path()).unwrap().count();
        assert_eq!(entries, 1);
    }

    #[test]
    fn a_file_without_an_id_is_an_error_that_names_it() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("cursor");
        std::fs::write(&path, "yesterday\n").unwrap();
        let error = CursorFile::new(path).load().unwrap_err();
        assert!(matches!(error, CursorFileError::Invalid { .. }));
        assert!(error.to_string().contains("\"yesterday\""), "{error}");
    }

    #[test]
    fn a_relative_file_name_is_written_in_the_current_directory() {
        let bare = CursorFile::new(PathBuf::from("cursor"));
        assert_eq!(bare.directory(), Path::new("."));
        let nested = CursorFile::new(PathBuf::from("state/cursor"));
        assert_eq!(nested.directory(), Path::new("state"));
    }
}
