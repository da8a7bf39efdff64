//! Backend construction: the `--store` string names a backend and where its
//! data lives.

use std::sync::Arc;

use super::{ChatStore, MemoryStore, OpenError, StoreOptions};

/// Opens the backend named by `spec`:
///
/// - `memory`: a [`MemoryStore`];
/// - `sqlite:PATH`: a `SqliteStore` in the file `PATH` (relative to the
///   working directory), created if missing. Without the `sqlite` feature
///   this is [`OpenError::NotCompiledIn`];
/// - `postgres://...` or `postgresql://...` (any libpq URL): a
///   `PostgresStore` in that database, which several servers may share.
///   Without the `postgres` feature this is [`OpenError::NotCompiledIn`].
///
/// Anything else is [`OpenError::UnknownScheme`]; a store that cannot be
/// opened is [`OpenError::Failed`].
pub async fn open(spec: &str, options: StoreOptions) -> Result<Arc<dyn ChatStore>, OpenError> {
    if spec == "memory" {
        return Ok(Arc::new(MemoryStore::new(options)));
    }
    if let Some(path) = spec.strip_prefix("sqlite:") {
        return open_sqlite(path, options).await;
    }
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        return open_postgres(spec, options).await;
    }
    Err(OpenError::UnknownScheme(spec.to_owned()))
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(path: &str, options: StoreOptions) -> Result<Arc<dyn ChatStore>, OpenError> {
    Ok(Arc::new(super::SqliteStore::open(path, options).await?))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(_path: &str, _options: StoreOptions) -> Result<Arc<dyn ChatStore>, OpenError> {
    Err(OpenError::NotCompiledIn {
        scheme: "sqlite",
        feature: "sqlite",
    })
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str, options: StoreOptions) -> Result<Arc<dyn ChatStore>, OpenError> {
    Ok(Arc::new(super::PostgresStore::open(url, options).await?))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(
    _url: &str,
    _options: StoreOptions,
) -> Result<Arc<dyn ChatStore>, OpenError> {
    Err(OpenError::NotCompiledIn {
        scheme: "postgres",
        feature: "postgres",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ReadQuery;
    use crate::RoomName;

    #[tokio::test]
    async fn open_rejects_an_unknown_scheme_with_a_typed_error() {
        let error = open("redis://localhost", StoreOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(error, OpenError::UnknownScheme(spec) if spec == "redis://localhost"));
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn open_sqlite_creates_the_database_file() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("chat.db");
        let spec = format!("sqlite:{}", path.display());
        let store = open(&spec, StoreOptions::default()).await.unwrap();
        assert!(path.is_file());
        store.check_health().await.unwrap();
    }

    #[cfg(not(feature = "sqlite"))]
    #[tokio::test]
    async fn open_sqlite_without_the_feature_says_it_is_not_compiled_in() {
        let error = open("sqlite:chat.db", StoreOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            OpenError::NotCompiledIn {
                scheme: "sqlite",
                ..
            }
        ));
        assert!(error.to_string().contains("feature `sqlite`"), "{error}");
    }

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn open_postgresql_connects_to_the_database() {
        let Some(database) = crate::store::postgres::testdb::TestDatabase::create().await else {
            return;
        };
        let url = database.url().replacen("postgres://", "postgresql://", 1);
        let store = open(&url, StoreOptions::default()).await.unwrap();
        store.check_health().await.unwrap();
    }

    #[cfg(not(feature = "postgres"))]
    #[tokio::test]
    async fn open_postgres_without_the_feature_says_it_is_not_compiled_in() {
        let error = open("postgres://localhost/chat", StoreOptions::default())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("feature `postgres`"), "{error}");
    }

    #[tokio::test]
    async fn open_memory_gives_an_empty_store() {
        let store = open("memory", StoreOptions::default()).await.unwrap();
        let page = store
            .read(&RoomName::general(), ReadQuery::Latest { limit: 10 })
            .await
            .unwrap();
        assert!(page.messages.is_empty());
    }
}
