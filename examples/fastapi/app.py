"""A FastAPI port of the ancestor (see ../../README.md, "External arms"), serving the workspace's catalogue.

Same paths and semantics as the Rust arms (shared/src: catalogue.rs, handler.rs, db.rs, error.rs): sleep and
no-op endpoints, SQLite reads and atomic increments in WAL mode on the file given as --db, the seed route,
the same JSON bodies and error bodies ({"error": "..."}) with the same status codes. It lists the catalogue in
its OpenAPI document (/openapi.json), which is how the ancestor discovered endpoints, and answers /healthz in
the workspace's Health format so the runner can record it and see when a warm-up has drained.

How each style runs here, CPython's way:
- non_blocking: `async def` with asyncio.sleep and aiosqlite (SQLite on aiosqlite's own thread);
- thread_pool: a plain `def`, which FastAPI runs on its worker thread pool (anyio, 40 threads);
- event_loop_blocking: `async def` calling time.sleep / sqlite3 directly: the anti-pattern.
"""

import asyncio
import contextlib
import os
import selectors
import sqlite3
import threading
import time

import aiosqlite
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

DB_PATH = os.environ.get("BENCH_DB", "bench.db")
SLEEP_MS = int(os.environ.get("BENCH_SLEEP_MS", "50"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))
SEED_ITEMS = 2000
BUSY_TIMEOUT_MS = 5000
# anyio's default limit on the threads FastAPI runs `def` endpoints on.
THREAD_POOL = 40
I64_MAX = 2**63 - 1

CREATE_TABLE = """CREATE TABLE IF NOT EXISTS bench_items (
    id INTEGER PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    value INTEGER NOT NULL
)"""
SELECT_ITEM = "SELECT id, name, value FROM bench_items WHERE id = ?"
INCREMENT_ITEM = "UPDATE bench_items SET value = value + 1 WHERE id = ? RETURNING id, name, value"


class ApiError(Exception):
    """A request failure, with the status and message the Rust arms give it (shared/src/error.rs)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def invalid_item_id(raw: str) -> ApiError:
    return ApiError(400, f'item id "{raw[:64]}" is not a positive 64-bit integer')


def parse_item_id(raw: str) -> int:
    """A positive integer that fits in 64 bits, written in ASCII digits only (no sign, no spaces)."""
    if not raw or not all("0" <= c <= "9" for c in raw):
        raise invalid_item_id(raw)
    value = int(raw)
    if value <= 0 or value > I64_MAX:
        raise invalid_item_id(raw)
    return value


def sqlite_error(error: sqlite3.Error) -> ApiError:
    text = str(error)
    if "locked" in text or "busy" in text:
        return ApiError(503, f"database busy: {text}")
    return ApiError(500, f"internal error: {text}")


def item_body(row) -> dict:
    if row is None:
        raise AssertionError("callers check for a missing row")
    return {"id": row[0], "name": row[1], "value": row[2]}


def sleep_body(item_id: int, mode: str, slept_ms: int) -> dict:
    return {"item_id": item_id, "mode": mode, "slept_ms": slept_ms}


# --- blocking SQLite: one connection per thread, configured like shared/src/db.rs ---------------------------

_local = threading.local()


def configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")


def blocking_connection() -> sqlite3.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        # Autocommit (isolation_level=None): every statement commits on its own, as in the Rust arms.
        conn = sqlite3.connect(DB_PATH, isolation_level=None, check_same_thread=False)
        configure(conn)
        _local.conn = conn
    return conn


def blocking_read(item_id: int) -> dict:
    try:
        row = blocking_connection().execute(SELECT_ITEM, (item_id,)).fetchone()
    except sqlite3.Error as error:
        raise sqlite_error(error) from error
    if row is None:
        raise ApiError(404, f"item {item_id} not found")
    return item_body(row)


def blocking_write(item_id: int) -> dict:
    try:
        row = blocking_connection().execute(INCREMENT_ITEM, (item_id,)).fetchone()
    except sqlite3.Error as error:
        raise sqlite_error(error) from error
    if row is None:
        raise ApiError(404, f"item {item_id} not found")
    return item_body(row)


def blocking_seed() -> dict:
    conn = blocking_connection()
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(CREATE_TABLE)
        conn.execute("DELETE FROM bench_items")
        conn.executemany(
            "INSERT INTO bench_items (id, name, value) VALUES (?, ?, 0)",
            ((i, f"item_{i}") for i in range(1, SEED_ITEMS + 1)),
        )
        conn.execute("COMMIT")
    except sqlite3.Error as error:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise sqlite_error(error) from error
    return {"seeded": SEED_ITEMS}


def prepare() -> None:
    """The table exists and holds the standard items when it was empty (like shared::db::prepare)."""
    conn = blocking_connection()
    conn.execute(CREATE_TABLE)
    if conn.execute("SELECT COUNT(*) FROM bench_items").fetchone()[0] == 0:
        blocking_seed()


# --- non-blocking SQLite: one aiosqlite connection per worker process ---------------------------------------

_async_db: aiosqlite.Connection | None = None


async def async_db() -> aiosqlite.Connection:
    global _async_db
    if _async_db is None:
        conn = await aiosqlite.connect(DB_PATH, isolation_level=None)
        for pragma in (f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}", "PRAGMA journal_mode = WAL",
                       "PRAGMA synchronous = NORMAL"):
            await conn.execute(pragma)
        _async_db = conn
    return _async_db


async def async_fetch_one(sql: str, item_id: int) -> dict:
    try:
        conn = await async_db()
        async with conn.execute(sql, (item_id,)) as cursor:
            row = await cursor.fetchone()
    except sqlite3.Error as error:
        raise sqlite_error(error) from error
    if row is None:
        raise ApiError(404, f"item {item_id} not found")
    return item_body(row)


# --- the app ---------------------------------------------------------------------------------------------


class InFlight:
    """Counts catalogue requests being handled (`in_flight` in /healthz), as a raw ASGI middleware: cheap."""

    def __init__(self, app):
        self.app = app
        self.count = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            return await self.app(scope, receive, send)
        self.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.count -= 1


@contextlib.asynccontextmanager
async def lifespan(_app):
    """Prepares the database before serving; afterwards closes it and checkpoints, so no -wal is left."""
    prepare()
    await async_db()
    yield
    if _async_db is not None:
        await _async_db.close()
    blocking_connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")


app = FastAPI(title="runtime-bench FastAPI arm", version="0.1.0", lifespan=lifespan)


@app.exception_handler(ApiError)
async def api_error(_request: Request, error: ApiError) -> JSONResponse:
    return JSONResponse({"error": error.message}, status_code=error.status)


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    if error.status_code == 404:
        return JSONResponse({"error": f"no route for {request.url.path}"}, status_code=404)
    if error.status_code == 405:
        message = f"method {request.method} not allowed for {request.url.path}"
        return JSONResponse({"error": message}, status_code=405)
    return JSONResponse({"error": str(error.detail)}, status_code=error.status_code)


@app.exception_handler(RequestValidationError)
async def validation_error(request: Request, _error: RequestValidationError) -> JSONResponse:
    return JSONResponse({"error": f"bad request for {request.url.path}"}, status_code=400)


@app.get("/api/simple/noop/{item_id}")
async def simple_noop(item_id: str):
    return sleep_body(parse_item_id(item_id), "async", 0)


@app.get("/api/simple/sync_threadpool/{item_id}")
def simple_sync_threadpool(item_id: str):
    item = parse_item_id(item_id)
    time.sleep(SLEEP_MS / 1000)
    return sleep_body(item, "sync_threadpool", SLEEP_MS)


@app.get("/api/simple/async_blocking/{item_id}")
async def simple_async_blocking(item_id: str):
    item = parse_item_id(item_id)
    time.sleep(SLEEP_MS / 1000)  # blocks the event loop: the anti-pattern this endpoint shows
    return sleep_body(item, "async_blocking", SLEEP_MS)


@app.get("/api/simple/async/{item_id}")
async def simple_async(item_id: str):
    item = parse_item_id(item_id)
    await asyncio.sleep(SLEEP_MS / 1000)
    return sleep_body(item, "async", SLEEP_MS)


@app.get("/api/db/async/read/{item_id}")
async def get_item_async_read(item_id: str):
    return await async_fetch_one(SELECT_ITEM, parse_item_id(item_id))


@app.post("/api/db/async/write/{item_id}")
async def update_item_async_write(item_id: str):
    return await async_fetch_one(INCREMENT_ITEM, parse_item_id(item_id))


@app.get("/api/db/sync_threadpool/read/{item_id}")
def get_item_sync_threadpool_read(item_id: str):
    return blocking_read(parse_item_id(item_id))


@app.post("/api/db/sync_threadpool/write/{item_id}")
def update_item_sync_threadpool_write(item_id: str):
    return blocking_write(parse_item_id(item_id))


@app.get("/api/db/async/blocking/read/{item_id}")
async def get_item_async_blocking_read(item_id: str):
    return blocking_read(parse_item_id(item_id))  # blocks the event loop


@app.post("/api/db/async/blocking/write/{item_id}")
async def update_item_async_blocking_write(item_id: str):
    return blocking_write(parse_item_id(item_id))  # blocks the event loop


@app.post("/api/db/seed")
def seed():
    return blocking_seed()


_in_flight = InFlight(app)


async def health(_request: Request) -> JSONResponse:
    selector = selectors.DefaultSelector.__name__.removesuffix("Selector").lower()
    return JSONResponse({
        "server": "fastapi",
        "runtime": f"CPython asyncio (uvicorn), {WORKERS} worker process(es), GIL per process",
        "workers": WORKERS,
        "io_driver": selector,
        "sleep_ms": SLEEP_MS,
        "pool_size": THREAD_POOL,
        "blocking_threads": THREAD_POOL,
        "async_connections": 1,
        "db": DB_PATH,
        "pid": os.getpid(),
        # This worker process's count: with several workers, the one that answers.
        "in_flight": _in_flight.count,
    })


# Not in the OpenAPI document: it is operational, not part of the catalogue.
app.add_route("/healthz", health, methods=["GET"], include_in_schema=False)

# What uvicorn serves: the app behind the in-flight counter.
asgi = _in_flight
