//! SQLite semantics: pragmas, schema, seed, read, write, and the two ways the servers reach the database
//! (an r2d2 pool for blocking work, connections on their own threads for the non-blocking path).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use thiserror::Error;

use crate::api::Item;
use crate::config::{POOL_TIMEOUT_MS_RANGE, Synchronous};
use crate::error::ApiError;

/// Items 1..=SEED_ITEMS exist after a seed.
pub const SEED_ITEMS: i64 = 2000;

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS bench_items (
    id INTEGER PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    value INTEGER NOT NULL
)";
const SELECT_ITEM: &str = "SELECT id, name, value FROM bench_items WHERE id = ?1";
/// One statement, so no read-to-write lock upgrade can fail with SQLITE_BUSY in WAL mode.
const INCREMENT_ITEM: &str = "UPDATE bench_items SET value = value + 1 WHERE id = ?1 RETURNING id, name, value";

pub type Pool = r2d2::Pool<SqliteConnectionManager>;

/// Where the database is and how every connection to it is configured.
#[derive(Debug, Clone)]
pub struct DbConfig {
    pub path: PathBuf,
    pub synchronous: Synchronous,
    pub busy_timeout: Duration,
    /// How long a thread waits for a pooled connection, and start-up for the pool to fill (`--pool-timeout-ms`).
    pub pool_timeout: Duration,
}

/// Failures while setting the database up (not per request: those are [`ApiError`]s).
#[derive(Debug, Error)]
pub enum DbError {
    #[error("cannot open SQLite database {path}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("cannot prepare SQLite database {path}")]
    Prepare { path: PathBuf, source: rusqlite::Error },
    #[error(
        "cannot open the {size} pooled connections to {path} within --pool-timeout-ms {} (allowed {}..={})",
        timeout.as_millis(), POOL_TIMEOUT_MS_RANGE.start(), POOL_TIMEOUT_MS_RANGE.end()
    )]
    Pool { path: PathBuf, size: u32, timeout: Duration, source: r2d2::Error },
}

/// Applies the pragmas every connection gets: WAL, the configured `synchronous`, the busy timeout.
pub fn configure(conn: &Connection, config: &DbConfig) -> rusqlite::Result<()> {
    conn.busy_timeout(config.busy_timeout)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", config.synchronous.pragma_value())?;
    Ok(())
}

/// Opens one configured connection.
pub fn open(config: &DbConfig) -> Result<Connection, DbError> {
    let conn = Connection::open(&config.path).map_err(|source| DbError::Open { path: config.path.clone(), source })?;
    configure(&conn, config).map_err(|source| DbError::Open { path: config.path.clone(), source })?;
    Ok(conn)
}

/// Creates the table if missing and seeds it if empty, so a fresh server answers reads at once.
pub fn prepare(config: &DbConfig) -> Result<(), DbError> {
    let prepare_error = |source| DbError::Prepare { path: config.path.clone(), source };
    let mut conn = open(config)?;
    conn.execute(CREATE_TABLE, []).map_err(prepare_error)?;
    let rows: i64 = conn.query_row("SELECT COUNT(*) FROM bench_items", [], |r| r.get(0)).map_err(prepare_error)?;
    if rows == 0 {
        seed(&mut conn).map_err(prepare_error)?;
    }
    Ok(())
}

/// Recreates the standard items (1..=2000, `value` 0) in one immediate transaction; returns how many.
///
/// Rows are replaced rather than the table dropped, so concurrent readers on other connections never see a
/// missing table.
pub fn seed(conn: &mut Connection) -> rusqlite::Result<i64> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute(CREATE_TABLE, [])?;
    tx.execute("DELETE FROM bench_items", [])?;
    {
        let mut insert = tx.prepare("INSERT INTO bench_items (id, name, value) VALUES (?1, ?2, 0)")?;
        for id in 1..=SEED_ITEMS {
            insert.execute(params![id, item_name(id)])?;
        }
    }
    tx.commit()?;
    Ok(SEED_ITEMS)
}

pub fn item_name(id: i64) -> String {
    format!("item_{id}")
}

pub fn read_item(conn: &Connection, item_id: i64) -> Result<Item, ApiError> {
    conn.prepare_cached(SELECT_ITEM)
        .and_then(|mut stmt| stmt.query_row([item_id], row_to_item).optional())
        .map_err(sqlite_error)?
        .ok_or(ApiError::ItemNotFound { item_id })
}

pub fn write_item(conn: &Connection, item_id: i64) -> Result<Item, ApiError> {
    conn.prepare_cached(INCREMENT_ITEM)
        .and_then(|mut stmt| stmt.query_row([item_id], row_to_item).optional())
        .map_err(sqlite_error)?
        .ok_or(ApiError::ItemNotFound { item_id })
}

/// Sum of every item's `value`: after a seed, exactly the number of successful writes (the runner's audit).
pub fn total_value(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COALESCE(SUM(value), 0) FROM bench_items", [], |r| r.get(0))
}

fn row_to_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    Ok(Item { id: row.get(0)?, name: row.get(1)?, value: row.get(2)? })
}

/// Maps a SQLite failure to the response it deserves: locked past the busy timeout is 503, the rest 500.
pub fn sqlite_error(error: rusqlite::Error) -> ApiError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => ApiError::Busy { detail: error.to_string() },
        _ => ApiError::Internal { detail: error.to_string() },
    }
}

/// The pool behind the thread-pool and blocking endpoints; a thread that cannot get a connection within the
/// pool timeout answers 503. Building it opens all `size` connections, within the same timeout: its own knob,
/// since the busy timeout may well be shorter than opening 40 connections takes.
pub fn build_pool(config: &DbConfig, size: u32) -> Result<Pool, DbError> {
    let pragmas = config.clone();
    let manager = SqliteConnectionManager::file(&config.path).with_init(move |conn| configure(conn, &pragmas));
    r2d2::Pool::builder()
        .max_size(size)
        .connection_timeout(config.pool_timeout)
        .build(manager)
        .map_err(|source| DbError::Pool { path: config.path.clone(), size, timeout: config.pool_timeout, source })
}

/// Takes a pooled connection, or answers 503 when none frees up in time.
pub fn pooled(pool: &Pool) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, ApiError> {
    pool.get().map_err(|e| ApiError::Busy { detail: format!("no pooled connection: {e}") })
}

/// Connections for the non-blocking path: each runs its queries on its own thread (tokio-rusqlite), so
/// awaiting one never blocks an event-loop thread, on tokio or on monoio. Requests go round-robin.
pub struct AsyncDb {
    connections: Vec<tokio_rusqlite::Connection>,
    next: AtomicUsize,
}

impl AsyncDb {
    pub fn open(config: &DbConfig, connections: usize) -> Result<AsyncDb, DbError> {
        let connections = (0..connections.max(1))
            .map(|_| open(config).map(tokio_rusqlite::Connection::from))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AsyncDb { connections, next: AtomicUsize::new(0) })
    }

    fn connection(&self) -> &tokio_rusqlite::Connection {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.connections.len();
        &self.connections[index]
    }

    pub async fn read(&self, item_id: i64) -> Result<Item, ApiError> {
        self.connection().call_raw(move |conn| read_item(conn, item_id)).await.map_err(connection_closed)?
    }

    pub async fn write(&self, item_id: i64) -> Result<Item, ApiError> {
        self.connection().call_raw(move |conn| write_item(conn, item_id)).await.map_err(connection_closed)?
    }

    pub async fn seed(&self) -> Result<i64, ApiError> {
        self.connection().call_raw(|conn| seed(conn).map_err(sqlite_error)).await.map_err(connection_closed)?
    }
}

fn connection_closed(error: tokio_rusqlite::Error) -> ApiError {
    ApiError::Internal { detail: format!("SQLite connection thread: {error}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_config(name: &str) -> DbConfig {
        let path = std::env::temp_dir().join(format!("shared-db-test-{name}-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        DbConfig {
            path,
            synchronous: Synchronous::Normal,
            busy_timeout: Duration::from_millis(2000),
            pool_timeout: Duration::from_millis(2000),
        }
    }

    #[test]
    fn prepare_seeds_then_reads_and_writes() {
        let config = temp_config("rw");
        prepare(&config).expect("prepare");
        let conn = open(&config).expect("open");
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("journal mode");
        assert_eq!(mode, "wal");
        assert_eq!(read_item(&conn, 7), Ok(Item { id: 7, name: "item_7".into(), value: 0 }));
        assert_eq!(write_item(&conn, 7).map(|i| i.value), Ok(1));
        assert_eq!(write_item(&conn, 7).map(|i| i.value), Ok(2));
        assert_eq!(total_value(&conn), Ok(2));
        assert_eq!(read_item(&conn, SEED_ITEMS + 1), Err(ApiError::ItemNotFound { item_id: SEED_ITEMS + 1 }));
        assert_eq!(write_item(&conn, 0).map_err(|e| e.status()), Err(404));
        let _ = std::fs::remove_file(&config.path);
    }

    #[test]
    fn seed_resets_values() {
        let config = temp_config("seed");
        prepare(&config).expect("prepare");
        let mut conn = open(&config).expect("open");
        write_item(&conn, 1).expect("write");
        assert_eq!(seed(&mut conn), Ok(SEED_ITEMS));
        assert_eq!(total_value(&conn), Ok(0));
        let count: i64 = conn.query_row("SELECT COUNT(*) FROM bench_items", [], |r| r.get(0)).expect("count");
        assert_eq!(count, SEED_ITEMS);
        let _ = std::fs::remove_file(&config.path);
    }
}
