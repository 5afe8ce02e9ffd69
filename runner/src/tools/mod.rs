//! The processes the runner drives: one supervisor for every child ([`process`]), the server under test
//! ([`server`]), an arm from outside the workspace declared in a manifest ([`external`]), and the load
//! generator ([`vegeta`]); [`remote`] reaches other hosts over ssh.

pub mod external;
pub mod process;
pub mod remote;
pub mod server;
pub mod vegeta;
