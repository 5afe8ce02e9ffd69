//! The machine the runner measures on: what it is ([`machine`]), which CPUs the server and the load
//! generator get ([`affinity`]), its ports ([`ports`]) and the loopback address each test's server listens on
//! ([`loopback`]), and its address towards remote attackers ([`route`]). Depends on nothing above it but the results schema.

pub mod affinity;
pub mod loopback;
pub mod machine;
pub mod ports;
pub mod route;
