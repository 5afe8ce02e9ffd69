//! The processes the runner drives: one supervisor for every child ([`process`]), the server under test
//! ([`server`]) and the load generator ([`vegeta`]); [`remote`] reaches other hosts over ssh.

pub mod process;
pub mod remote;
pub mod server;
pub mod vegeta;
