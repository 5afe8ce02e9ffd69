//! The connection limits every arm enforces: the largest request head, how long a client may take to send
//! one, how long an idle kept-alive connection stays open.
//!
//! Engineer D's `shared::config` is to hold these for every arm; until it does, the flags and the 64 KiB
//! constant live here, shaped to be replaced by the shared ones without touching the connection code (it
//! only sees [`ConnectionLimits`]).

use std::time::Duration;

use clap::Args;

/// Request heads above this answer 431 and close; 32 KiB heads are served.
pub const MAX_REQUEST_HEAD_BYTES: usize = 64 * 1024;
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The flags behind [`ConnectionLimits`].
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// How long a client may take to send a whole request head (from its connection, or from its first byte
    /// on a kept-alive connection) before the connection is closed, e.g. `10s`, `500ms`.
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    pub header_timeout: Duration,

    /// How long a kept-alive connection may wait for its next request before it is closed, e.g. `60s`.
    #[arg(long, default_value = "60s", value_parser = parse_timeout)]
    pub idle_timeout: Duration,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|error| error.to_string())?;
    if duration.is_zero() { Err("must be above zero".to_owned()) } else { Ok(duration) }
}

/// What one connection is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_head_bytes: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

impl From<&LimitArgs> for ConnectionLimits {
    fn from(args: &LimitArgs) -> ConnectionLimits {
        ConnectionLimits {
            max_head_bytes: MAX_REQUEST_HEAD_BYTES,
            header_timeout: args.header_timeout,
            idle_timeout: args.idle_timeout,
        }
    }
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max_head_bytes: MAX_REQUEST_HEAD_BYTES,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}
