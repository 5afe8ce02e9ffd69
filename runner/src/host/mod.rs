//! The machine the runner measures on: what it is ([`machine`]), which CPUs the server and the load
//! generator get ([`affinity`]), and its ports ([`ports`]). Depends on nothing above it but the results schema.

pub mod affinity;
pub mod machine;
pub mod ports;
