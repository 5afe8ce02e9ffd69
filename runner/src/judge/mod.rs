//! Judging measured tests: whether a result can be trusted ([`validity`]), how a search probe went against
//! the SLO ([`verdict`]), and a finished search summed up ([`capacity`]). Pure functions of measurements.

pub mod attackers;
pub mod capacity;
pub mod clean_ceiling;
pub mod cost;
pub mod validity;
pub mod verdict;

pub use validity::{Evidence, Invalidity, Process};
pub use verdict::Slo;
