//! What every endpoint does, written once. A server supplies an [`Executor`] (how to sleep without blocking,
//! where thread-pool work runs) and routes requests here; everything else, including the bytes of every
//! body, is shared.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::api::{self, Health, SeedResponse, SleepResponse};
use crate::catalogue::{Operation, RouteMatch, Style};
use crate::config::ServerArgs;
use crate::db::{self, AsyncDb, DbConfig, DbError, Pool};
use crate::error::ApiError;

/// The runtime-specific half of a handler.
pub trait Executor {
    /// Waits on the runtime's timer, leaving the event-loop thread free.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;

    /// Runs blocking work on the runtime's bounded thread pool.
    fn run_blocking<F, R>(&self, work: F) -> impl Future<Output = Result<R, ApiError>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static;
}

/// What a server shares between all its requests and threads.
pub struct AppState {
    pub server: &'static str,
    pub runtime: &'static str,
    pub args: ServerArgs,
    pub db_config: DbConfig,
    pub sleep: Duration,
    pub pool: Pool,
    pub async_db: AsyncDb,
    /// Catalogue requests being handled (queued on a thread pool or a SQLite thread included), so a client
    /// can tell when a backlog has drained.
    in_flight: AtomicU64,
    endpoints_body: Vec<u8>,
}

impl AppState {
    /// Prepares the database (schema, seed if empty) and opens both connection pools.
    pub fn new(server: &'static str, runtime: &'static str, args: ServerArgs) -> Result<AppState, DbError> {
        let db_config = args.db_config(server);
        db::prepare(&db_config)?;
        let pool = db::build_pool(&db_config, args.pool_size)?;
        let async_db = AsyncDb::open(&db_config, usize::from(args.async_connections))?;
        Ok(AppState {
            server,
            runtime,
            sleep: args.sleep(),
            db_config,
            pool,
            async_db,
            in_flight: AtomicU64::new(0),
            endpoints_body: api::to_json(&api::catalogue_info()),
            args,
        })
    }

    /// The body of `GET /healthz`; `io_driver` is the driver of the runtime answering.
    pub fn health_body(&self, io_driver: &str) -> Vec<u8> {
        api::to_json(&Health {
            server: self.server.to_owned(),
            runtime: self.runtime.to_owned(),
            workers: self.args.workers(),
            io_driver: io_driver.to_owned(),
            sleep_ms: self.args.sleep_ms,
            pool_size: self.args.pool_size,
            blocking_threads: usize::from(self.args.blocking_threads),
            async_connections: usize::from(self.args.async_connections),
            header_timeout_ms: duration_ms(self.args.header_timeout),
            idle_timeout_ms: duration_ms(self.args.idle_timeout),
            db: self.db_config.path.display().to_string(),
            pid: std::process::id(),
            in_flight: self.in_flight.load(Ordering::Relaxed),
        })
    }

    /// The body of `GET /api/endpoints`, built once.
    pub fn endpoints_body(&self) -> &[u8] {
        &self.endpoints_body
    }
}

/// Whole milliseconds, saturating (the flags' ranges keep every real value far below `u64::MAX`).
fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Counts a request as in flight for as long as it lives, however it ends (a dropped future included).
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicU64) -> InFlight<'a> {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs one catalogue endpoint and returns its JSON body.
pub async fn handle<E: Executor>(executor: &E, state: &Arc<AppState>, route: RouteMatch) -> Result<Vec<u8>, ApiError> {
    let _in_flight = InFlight::enter(&state.in_flight);
    run_endpoint(executor, state, route).await
}

async fn run_endpoint<E: Executor>(
    executor: &E,
    state: &Arc<AppState>,
    route: RouteMatch,
) -> Result<Vec<u8>, ApiError> {
    let RouteMatch { endpoint, item_id } = route;
    let item_id = item_id.unwrap_or(0);
    let (style, operation) = (endpoint.style, endpoint.operation);
    match style {
        Style::NonBlocking => match operation {
            Operation::Sleep => {
                executor.sleep(state.sleep).await;
                Ok(sleep_body(item_id, style, state.sleep))
            }
            Operation::Read => state.async_db.read(item_id).await.map(|item| api::to_json(&item)),
            Operation::Write => state.async_db.write(item_id).await.map(|item| api::to_json(&item)),
            Operation::Seed => state.async_db.seed().await.map(seed_body),
            Operation::Noop => Ok(sleep_body(item_id, style, Duration::ZERO)),
        },
        Style::ThreadPool => {
            let state = Arc::clone(state);
            executor.run_blocking(move || run_blocking_operation(&state, style, operation, item_id)).await?
        }
        Style::EventLoopBlocking => run_blocking_operation(state, style, operation, item_id),
    }
}

/// The blocking version of every operation: `std::thread::sleep` and pooled SQLite connections.
pub fn run_blocking_operation(
    state: &AppState,
    style: Style,
    operation: Operation,
    item_id: i64,
) -> Result<Vec<u8>, ApiError> {
    match operation {
        Operation::Sleep => {
            std::thread::sleep(state.sleep);
            Ok(sleep_body(item_id, style, state.sleep))
        }
        Operation::Read => db::read_item(&*db::pooled(&state.pool)?, item_id).map(|item| api::to_json(&item)),
        Operation::Write => db::write_item(&*db::pooled(&state.pool)?, item_id).map(|item| api::to_json(&item)),
        Operation::Seed => db::seed(&mut *db::pooled(&state.pool)?).map_err(db::sqlite_error).map(seed_body),
        Operation::Noop => Ok(sleep_body(item_id, style, Duration::ZERO)),
    }
}

fn sleep_body(item_id: i64, style: Style, slept: Duration) -> Vec<u8> {
    let slept_ms = u64::try_from(slept.as_millis()).unwrap_or(u64::MAX);
    api::to_json(&SleepResponse { item_id, mode: style.mode().to_owned(), slept_ms })
}

fn seed_body(seeded: i64) -> Vec<u8> {
    api::to_json(&SeedResponse { seeded })
}
