//! `tail --cursor-file`: where the last run stopped, kept in a file so that a
//! later run resumes right after it.
//!
//! The file holds one JSON object and a newline:
//! `{"server":"http://127.0.0.1:8080/","room":"general","after":"<id>"}`.
//! Ids only mean something in the room of the server that assigned them, so
//! a file written for another server or room is refused rather than used as
//! a cursor that could skip or repeat messages. A file holding only an id
//! (what earlier versions wrote) names neither, and is taken as matching;
//! the next save rewrites it in the current form.
//!
//! The file is replaced atomically (a temporary file in the same directory,
//! synced, renamed over it, then the directory synced so the rename itself
//! is on disk), so a run killed at any moment, or a power cut, leaves either
//! the old cursor or the new one, never a torn file.
//!
//! The file is read and written with blocking calls: the CLI's runtime runs a
//! single task, so there is nothing else they could hold up.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chat_core::RoomName;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::client::base_url;

/// The cursor file of one room of one server.
#[derive(Debug, Clone)]
pub struct CursorFile {
    path: PathBuf,
    origin: Origin,
}

/// Which room of which server a cursor belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The server's normalised base URL.
    pub server: String,
    /// The room, `general` for the default room.
    pub room: String,
}

/// What the file holds.
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    origin: Origin,
    /// The id to resume after.
    after: Uuid,
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
    /// The file holds neither a cursor nor a message id.
    #[error("the cursor file {} does not hold a cursor: {content:?}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What it holds instead (trimmed, shortened).
        content: String,
    },
    /// The file was written for another room or server.
    #[error(
        "the cursor file {} is for room {} on {}, not room {} on {}: use another --cursor-file, \
         or delete this one to start afresh",
        .path.display(), .stored.room, .stored.server, .wanted.room, .wanted.server
    )]
    OtherRoom {
        /// The file.
        path: PathBuf,
        /// Where its cursor comes from.
        stored: Origin,
        /// Where this run reads.
        wanted: Origin,
    },
    /// The new cursor could not be stored.
    #[error("cannot write the cursor file {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why writing failed.
        source: io::Error,
    },
}

impl CursorFile {
    /// The cursor file at `path` for `room` on `server` (a normalised base
    /// URL); nothing is read or created yet.
    pub fn new(path: PathBuf, server: &Url, room: &RoomName) -> Self {
        let origin = Origin {
            server: server.to_string(),
            room: room.to_string(),
        };
        Self { path, origin }
    }

    /// The stored id, or `None` when the file does not exist yet; an error
    /// when it was written for another room or server.
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
        // The form earlier versions wrote: nothing to check it against.
        if let Ok(id) = Uuid::try_parse(content) {
            return Ok(Some(id));
        }
        let mut stored: Stored =
            serde_json::from_str(content).map_err(|_| CursorFileError::Invalid {
                path: self.path.clone(),
                content: content.chars().take(80).collect(),
            })?;
        // An edited file may spell the server another way (no trailing
        // slash, capitals): compared as the client spells its own.
        if let Ok(server) = Url::parse(&stored.origin.server) {
            stored.origin.server = base_url(&server).to_string();
        }
        if stored.origin != self.origin {
            return Err(CursorFileError::OtherRoom {
                path: self.path.clone(),
                stored: stored.origin,
                wanted: self.origin.clone(),
            });
        }
        Ok(Some(stored.after))
    }

    /// Replaces the stored cursor with `after`.
    pub fn save(&self, after: Uuid) -> Result<(), CursorFileError> {
        self.replace_with(after)
            .map_err(|source| CursorFileError::Write {
                path: self.path.clone(),
                source,
            })
    }

    fn replace_with(&self, after: Uuid) -> io::Result<()> {
        let stored = Stored {
            origin: self.origin.clone(),
            after,
        };
        // The temporary file must be in the same directory: a rename is only
        // atomic within one file system.
        let directory = self.directory();
        let mut temporary = tempfile::Builder::new()
            .prefix(".chat-cursor")
            .suffix(".tmp")
            .tempfile_in(directory)?;
        serde_json::to_writer(&mut temporary, &stored)?;
        writeln!(temporary)?;
        // Without this, a crash of the machine could leave the renamed file
        // empty: the rename can reach the disk before the data.
        temporary.as_file().sync_data()?;
        temporary.persist(&self.path).map_err(|error| error.error)?;
        // Until the directory is synced, a crash of the machine can undo the
        // rename, bringing back an older cursor.
        sync_directory(directory)
    }

    /// The directory the file is in; `.` for a bare file name.
    fn directory(&self) -> &Path {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        }
    }
}

/// Makes the entries of `directory` durable.
#[cfg(unix)]
fn sync_directory(directory: &Path) -> io::Result<()> {
    std::fs::File::open(directory)?.sync_all()
}

/// Makes the entries of `directory` durable: on this platform a directory
/// cannot be opened as a file, and the rename is durable by itself.
#[cfg(not(unix))]
fn sync_directory(_directory: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor_file(path: PathBuf, server: &str, room: &str) -> CursorFile {
        let server = Url::parse(server).unwrap();
        CursorFile::new(path, &server, &RoomName::parse(room).unwrap())
    }

    fn in_directory(directory: &tempfile::TempDir) -> CursorFile {
        cursor_file(directory.path().join("cursor"), "http://h:1/", "ops")
    }

    #[test]
    fn a_missing_file_holds_no_cursor() {
        let directory = tempfile::tempdir().unwrap();
        assert!(in_directory(&directory).load().unwrap().is_none());
    }

    #[test]
    fn a_saved_id_is_loaded_back_and_no_temporary_file_is_left() {
        let directory = tempfile::tempdir().unwrap();
        let file = in_directory(&directory);
        let first = Uuid::from_u128(1);
        let second = Uuid::from_u128(2);
        file.save(first).unwrap();
        file.save(second).unwrap();
        assert_eq!(file.load().unwrap(), Some(second));
        let entries = std::fs::read_dir(directory.path()).unwrap().count();
        assert_eq!(entries, 1);
    }

    #[test]
    fn the_file_names_the_server_the_room_and_the_id() {
        let directory = tempfile::tempdir().unwrap();
        let file = in_directory(&directory);
        file.save(Uuid::from_u128(1)).unwrap();
        let content = std::fs::read_to_string(directory.path().join("cursor")).unwrap();
        assert_eq!(
            content,
            "{\"server\":\"http://h:1/\",\"room\":\"ops\",\
             \"after\":\"00000000-0000-0000-0000-000000000001\"}\n"
        );
    }

    #[test]
    fn a_file_for_another_room_or_server_is_refused_and_left_alone() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("cursor");
        in_directory(&directory).save(Uuid::from_u128(1)).unwrap();
        let before = std::fs::read(&path).unwrap();
        for (server, room) in [("http://h:1/", "general"), ("http://h:2/", "ops")] {
            let error = cursor_file(path.clone(), server, room).load().unwrap_err();
            assert!(
                matches!(error, CursorFileError::OtherRoom { .. }),
                "{error}"
            );
            let text = error.to_string();
            assert!(
                text.contains("is for room ops on http://h:1/, not room"),
                "{text}"
            );
        }
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn a_file_that_spells_the_same_server_another_way_is_its_own() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("cursor");
        let id = "00000000-0000-0000-0000-000000000001";
        for server in ["http://h:1", "HTTP://H:1/", "http://h:1/?x=1"] {
            let content =
                format!("{{\"server\":\"{server}\",\"room\":\"ops\",\"after\":\"{id}\"}}");
            std::fs::write(&path, content).unwrap();
            let loaded = cursor_file(path.clone(), "http://h:1/", "ops").load();
            assert_eq!(loaded.unwrap(), Some(Uuid::from_u128(1)), "{server}");
        }
    }

    #[test]
    fn a_file_holding_only_an_id_is_read_as_matching_and_rewritten_in_full() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("cursor");
        let id = Uuid::from_u128(7);
        std::fs::write(&path, format!("{id}\n")).unwrap();
        let file = in_directory(&directory);
        assert_eq!(file.load().unwrap(), Some(id));
        file.save(id).unwrap();
        let content = std::fs::read_to_string(&path).unwrap();
        assert!(content.contains("\"room\":\"ops\""), "{content}");
        assert_eq!(file.load().unwrap(), Some(id));
    }

    #[test]
    fn a_file_without_a_cursor_is_an_error_that_names_it() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("cursor");
        for content in ["yesterday\n", "{\"room\":\"ops\"}"] {
            std::fs::write(&path, content).unwrap();
            let error = in_directory(&directory).load().unwrap_err();
            assert!(matches!(error, CursorFileError::Invalid { .. }), "{error}");
            let shown = format!("{:?}", content.trim());
            assert!(error.to_string().contains(&shown), "{error}");
        }
    }

    #[test]
    fn a_relative_file_name_is_written_in_the_current_directory() {
        let bare = cursor_file(PathBuf::from("cursor"), "http://h/", "ops");
        assert_eq!(bare.directory(), Path::new("."));
        let nested = cursor_file(PathBuf::from("state/cursor"), "http://h/", "ops");
        assert_eq!(nested.directory(), Path::new("state"));
    }
}
