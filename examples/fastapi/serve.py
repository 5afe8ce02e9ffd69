"""Starts the FastAPI arm the way the runner starts every arm: --host, --port, --workers, --db, --sleep-ms.

uvicorn cannot pass options to the app, so they travel as environment variables (its worker processes
inherit them). With --workers 1 uvicorn serves in this process; with more it forks worker processes.
"""

import argparse
import os

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--db", default="bench.db")
    parser.add_argument("--sleep-ms", type=int, default=50)
    args = parser.parse_args()
    os.environ["BENCH_DB"] = os.path.abspath(args.db)
    os.environ["BENCH_SLEEP_MS"] = str(args.sleep_ms)
    os.environ["BENCH_WORKERS"] = str(args.workers)
    uvicorn.run(
        "app:asgi",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        # The runner stops servers with SIGTERM and gives them a grace period: finish what is in flight.
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
