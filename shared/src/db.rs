//! SQLite semantics: pragmas, schema, seed, read, write, the two ways the servers reach the database (an r2d2
//! pool for blocking work, connections on their own threads for the non-blocking path), and how a stopping
//! server leaves the database: checkpointed, every connection closed, no `-wal` file.
//!
//! The WAL stays bounded while a server runs because SQLite's auto-checkpoint (every 1,000 pages, ~4 MB) runs
//! in the connection that commits: that needs every write statement stepped to its end (see [`write_item`]).
//! The auto-checkpoint is PASSIVE, though: under concurrent writers some connection nearly always holds a
//! snapshot, SQLite cannot restart the WAL from its beginning, and the file grows (measured: 9.6 MB after
//! 3,000 writes from 4 clients). The [`Checkpointer`] thread restarts it when it grows past
//! [`WAL_RESTART_BYTES`].

use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;
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

/// The WAL file is truncated back to this size whenever a checkpoint lets SQLite restart it, so a burst that
/// outran the checkpoints (a long reader holds them back) does not leave a large file behind for good.
pub const WAL_SIZE_LIMIT_BYTES: i64 = 8 * 1024 * 1024;

/// Above this size the [`Checkpointer`] forces a WAL restart: half again the ~4 MB the auto-checkpoint cycles
/// through when it can restart the WAL itself, so it only steps in when that fails.
pub const WAL_RESTART_BYTES: u64 = 6 * 1024 * 1024;
/// The [`Checkpointer`] looks at the WAL's size once per this many writes (one-row writes add one ~4 KiB
/// frame each: ~4 MB between looks).
pub const WRITES_PER_LOOK: u64 = 1000;
/// How often a busy `RESTART` checkpoint is tried again, and the pause between tries (an auto-checkpoint of
/// 1,000 pages takes a few milliseconds).
const RESTART_ATTEMPTS: u32 = 50;
const RESTART_RETRY_PAUSE: Duration = Duration::from_millis(1);

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
    #[error("cannot close a SQLite connection thread for {path}: {detail}")]
    CloseThread { path: PathBuf, detail: String },
    #[error("cannot start the WAL checkpointer thread for {path}")]
    Checkpointer { path: PathBuf, source: std::io::Error },
    #[error("cannot checkpoint {path} and close it")]
    Checkpoint { path: PathBuf, source: rusqlite::Error },
    #[error("{path}: the final checkpoint could not copy every WAL frame (another connection holds it back)")]
    CheckpointBusy { path: PathBuf },
    #[error("{path}: {holders} holder(s) of the server state still run, so their connections stay open")]
    StillOpen { path: PathBuf, holders: usize },
    #[error("{wal} is still there ({bytes} bytes) after every connection closed")]
    WalLeft { wal: PathBuf, bytes: u64 },
}

/// Applies the pragmas every connection gets: WAL, the configured `synchronous`, the busy timeout.
pub fn configure(conn: &Connection, config: &DbConfig) -> rusqlite::Result<()> {
    conn.busy_timeout(config.busy_timeout)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", config.synchronous.pragma_value())?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)?;
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

/// Increments one item's `value`; the row as it is after the write.
///
/// The statement is stepped until SQLite reports it done, not reset after its one row: SQLite runs its WAL hook,
/// and with it the auto-checkpoint, only when a statement's last step returns `SQLITE_DONE`. A `RETURNING`
/// statement reset after its row (what `query_row` does) still commits, but never checkpoints: measured, 4,000
/// writes left a 16 MB `-wal` file that no server connection ever copied back.
pub fn write_item(conn: &Connection, item_id: i64) -> Result<Item, ApiError> {
    step_to_done(conn, INCREMENT_ITEM, item_id).map_err(sqlite_error)?.ok_or(ApiError::ItemNotFound { item_id })
}

fn step_to_done(conn: &Connection, sql: &str, item_id: i64) -> rusqlite::Result<Option<Item>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query([item_id])?;
    let item = rows.next()?.map(row_to_item).transpose()?;
    while rows.next()?.is_some() {}
    Ok(item)
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

impl AsyncDb {
    /// Closes every connection and waits until each thread has closed its SQLite handle.
    pub fn close(self, path: &Path) -> Result<(), DbError> {
        for connection in self.connections {
            match wait_here(connection.close()) {
                Ok(()) | Err(tokio_rusqlite::Error::ConnectionClosed) => {}
                Err(error) => return Err(DbError::CloseThread { path: path.to_owned(), detail: error.to_string() }),
            }
        }
        Ok(())
    }
}

/// A thread that restarts the WAL (a `RESTART` checkpoint: copy every frame, wait for readers to leave the
/// WAL, so the next writer starts at its beginning) whenever it has grown past [`WAL_RESTART_BYTES`]. The
/// writes wake it, once every [`WRITES_PER_LOOK`]: it costs nothing while nothing is written and one `stat`
/// per ~4 MB of WAL while writes go on; writers wait while a restart runs (a few milliseconds). Stops, and
/// closes its connection, when dropped.
pub struct Checkpointer {
    shared: Arc<CheckpointerShared>,
    thread: Option<JoinHandle<()>>,
}

struct CheckpointerShared {
    writes: AtomicU64,
    /// Looks requested and not yet taken, and whether to stop.
    state: Mutex<LookRequests>,
    wake: Condvar,
}

#[derive(Default)]
struct LookRequests {
    pending: bool,
    stop: bool,
}

impl Checkpointer {
    pub fn start(config: &DbConfig) -> Result<Checkpointer, DbError> {
        let conn = open(config)?;
        let wal = wal_path(&config.path);
        let shared = Arc::new(CheckpointerShared {
            writes: AtomicU64::new(0),
            state: Mutex::new(LookRequests::default()),
            wake: Condvar::new(),
        });
        let looker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("wal-checkpointer".to_owned())
            .spawn(move || restart_when_large(&conn, &wal, &looker))
            .map_err(|source| DbError::Checkpointer { path: config.path.clone(), source })?;
        Ok(Checkpointer { shared, thread: Some(thread) })
    }

    /// Called after every committed write: one atomic add, and a wake-up once per [`WRITES_PER_LOOK`].
    pub fn note_write(&self) {
        if self.shared.writes.fetch_add(1, Ordering::Relaxed) % WRITES_PER_LOOK == WRITES_PER_LOOK - 1 {
            self.request(|requests| requests.pending = true);
        }
    }

    fn request(&self, change: impl FnOnce(&mut LookRequests)) {
        if let Ok(mut requests) = self.shared.state.lock() {
            change(&mut requests);
        }
        self.shared.wake.notify_one();
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.request(|requests| requests.stop = true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn restart_when_large(conn: &Connection, wal: &Path, shared: &CheckpointerShared) {
    loop {
        let Ok(requests) = shared.state.lock() else { return };
        let Ok(mut requests) = shared.wake.wait_while(requests, |r| !r.pending && !r.stop) else { return };
        if requests.stop {
            return;
        }
        requests.pending = false;
        drop(requests);
        if std::fs::metadata(wal).is_ok_and(|meta| meta.len() > WAL_RESTART_BYTES) {
            restart_wal(conn);
        }
    }
}

/// One `RESTART` checkpoint, retried while another connection's auto-checkpoint holds the checkpoint lock:
/// SQLite answers busy at once then, without calling the busy handler. Still busy after the retries (or a
/// reader outlasting the busy timeout) is fine: the next look tries again.
fn restart_wal(conn: &Connection) {
    for _ in 0..RESTART_ATTEMPTS {
        match conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| row.get::<_, i64>(0)) {
            Ok(0) | Err(_) => return,
            Ok(_busy) => std::thread::sleep(RESTART_RETRY_PAUSE),
        }
    }
}

/// The `-wal` file next to a database file.
pub fn wal_path(db: &Path) -> PathBuf {
    let mut wal = OsString::from(db.as_os_str());
    wal.push("-wal");
    PathBuf::from(wal)
}

/// The last step of a stop, once the server's own connections are closed: one more connection copies every
/// WAL frame into the database and truncates the WAL (`TRUNCATE` checkpoint), then closes; as the last
/// connection, its close removes the `-wal` file. Errors if a frame could not be copied or the file remains.
pub fn checkpoint_and_close(config: &DbConfig) -> Result<(), DbError> {
    let checkpoint_error = |source| DbError::Checkpoint { path: config.path.clone(), source };
    let conn = open(config)?;
    let busy: i64 =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0)).map_err(checkpoint_error)?;
    conn.close().map_err(|(_, source)| checkpoint_error(source))?;
    if busy != 0 {
        return Err(DbError::CheckpointBusy { path: config.path.clone() });
    }
    let wal = wal_path(&config.path);
    match std::fs::metadata(&wal) {
        Ok(meta) => Err(DbError::WalLeft { wal, bytes: meta.len() }),
        Err(_) => Ok(()),
    }
}

/// Drives one future to completion on the calling thread. Closing a tokio-rusqlite connection is a future,
/// and a stopping server may have no runtime left to await it on (monoio's workers are gone by then).
fn wait_here<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
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

    /// 4 threads x 1,500 one-row writes: without any checkpoint they leave a ~24 MB WAL (one 4 KiB frame
    /// each); with the auto-checkpoint alone, concurrent writers keep it from restarting.
    #[test]
    fn sustained_concurrent_writes_keep_the_wal_bounded() {
        let config = temp_config("wal");
        prepare(&config).expect("prepare");
        let pool = build_pool(&config, 4).expect("pool");
        let checkpointer = Arc::new(Checkpointer::start(&config).expect("checkpointer"));
        let wal = wal_path(&config.path);
        let writers: Vec<_> = (0..4)
            .map(|thread| {
                let (pool, wal, checkpointer) = (pool.clone(), wal.clone(), Arc::clone(&checkpointer));
                std::thread::spawn(move || {
                    let mut largest = 0;
                    for write in 0..1500 {
                        write_item(&pool.get().expect("pooled"), 1 + (thread * 7 + write) % 50).expect("write");
                        checkpointer.note_write();
                        // ~4,000 writes/s from the four threads: twice the soak's rate.
                        std::thread::sleep(Duration::from_millis(1));
                        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
                    }
                    largest
                })
            })
            .collect();
        let largest = writers.into_iter().map(|w| w.join().expect("writer")).max().unwrap_or(0);
        eprintln!("largest WAL: {largest} bytes");
        assert!(largest < 12 * 1024 * 1024, "the WAL grew to {largest} bytes");
        drop(checkpointer);
        drop(pool);
        let _ = std::fs::remove_file(&config.path);
    }

    #[test]
    fn closing_checkpoints_and_removes_the_wal() {
        let config = temp_config("close");
        prepare(&config).expect("prepare");
        let pool = build_pool(&config, 4).expect("pool");
        let async_db = AsyncDb::open(&config, 2).expect("async connections");
        for _ in 0..10 {
            write_item(&pool.get().expect("pooled"), 3).expect("write");
        }
        assert!(wal_path(&config.path).exists(), "writes in WAL mode leave a -wal file while connections are open");
        async_db.close(&config.path).expect("closing the async connections");
        drop(pool);
        checkpoint_and_close(&config).expect("the final checkpoint");
        assert!(!wal_path(&config.path).exists(), "no -wal file after the stop");
        let conn = Connection::open(&config.path).expect("reopen");
        assert_eq!(total_value(&conn), Ok(10));
        drop(conn);
        let _ = std::fs::remove_file(&config.path);
    }

    #[test]
    fn a_pool_that_cannot_fill_names_its_flag_and_range() {
        let mut config = temp_config("unreachable");
        config.path = std::env::temp_dir().join("runtime-bench-no-such-dir").join("x.db");
        config.pool_timeout = Duration::from_millis(100);
        let error = build_pool(&config, 2).map(drop).expect_err("no database can be opened there").to_string();
        assert!(error.contains("--pool-timeout-ms 100 (allowed 100..=3600000)"), "{error}");
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
