//! Access control (`--auth-file`): who may read, post and see metrics.
//!
//! - `file`: the TOML file, parsed strictly into rules;
//! - `pattern`: room patterns with `*`;
//! - `caller`: the [`FromRequest`](actix_web::FromRequest) extractor that
//!   finds a request's token and answers "may it do this?".
//!
//! [`Access`] holds the rules and swaps them on [`Access::reload`] (SIGHUP):
//! a request takes the rules current when it arrives, so parked polls are
//! never touched and the next request sees the new rules.

mod caller;
mod file;
mod pattern;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

pub(crate) use caller::Caller;
pub use file::AuthFileError;
pub use pattern::{InvalidPattern, RoomPattern};

pub(crate) use file::{digest, Rules};

/// The access-control rules in force; cheap to clone, shared by every
/// worker.
#[derive(Debug, Clone)]
pub struct Access {
    inner: Arc<AccessInner>,
}

#[derive(Debug)]
struct AccessInner {
    /// The file, or `None` when access control is off.
    path: Option<PathBuf>,
    rules: RwLock<Arc<Rules>>,
}

/// What [`Access::reload`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    /// The file was read again and its rules are in force.
    Rules,
    /// Access control is off; there is no file to read.
    Off,
}

impl Access {
    /// Access control from `path`, or off with `None`.
    pub fn load(path: Option<PathBuf>) -> Result<Self, AuthFileError> {
        let rules = match &path {
            Some(path) => Rules::load(path)?,
            None => Rules::default(),
        };
        Ok(Self {
            inner: Arc::new(AccessInner {
                path,
                rules: RwLock::new(Arc::new(rules)),
            }),
        })
    }

    /// True when an `--auth-file` is in force.
    pub fn is_on(&self) -> bool {
        self.inner.path.is_some()
    }

    /// Reads the file again; when it is invalid the old rules stay.
    pub fn reload(&self) -> Result<Reloaded, AuthFileError> {
        let Some(path) = &self.inner.path else {
            return Ok(Reloaded::Off);
        };
        let rules = Rules::load(path)?;
        *self
            .inner
            .rules
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(rules);
        Ok(Reloaded::Rules)
    }

    /// The rules in force now, or `None` when access control is off.
    pub(crate) fn current(&self) -> Option<Arc<Rules>> {
        self.is_on().then(|| {
            Arc::clone(
                &self
                    .inner
                    .rules
                    .read()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            )
        })
    }
}

/// Reloads `access` on every `SIGHUP` until the process ends; an invalid
/// file is logged and the old rules stay. The handler is installed before
/// this returns, so a `SIGHUP` sent afterwards never kills the process.
/// Must be called inside a tokio runtime.
pub fn reload_on_hangup(access: Access) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            tracing::error!(%error, "cannot install the SIGHUP handler");
            return;
        }
    };
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match access.reload() {
                Ok(Reloaded::Rules) => tracing::info!("SIGHUP: access-control file reloaded"),
                Ok(Reloaded::Off) => {
                    tracing::info!("SIGHUP: access control is off, nothing to reload")
                }
                Err(error) => tracing::error!(
                    %error,
                    "SIGHUP: access-control file refused; the old rules stay"
                ),
            }
        }
    });
}
