//! The wall clock as `results.json` records it: RFC 3339 UTC with milliseconds.

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
