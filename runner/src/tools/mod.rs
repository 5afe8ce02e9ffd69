//! The processes the runner drives: one supervisor for every child ([`process`]), the server under test
//! ([`server`]) and the load generator ([`vegeta`]).

pub mod process;
pub mod server;
pub mod vegeta;
