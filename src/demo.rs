//! `smeflow demo`: the whole flow against the built-in GitLab simulator.

use crate::cli::Failure;

pub async fn run(_config: &std::path::Path, _area: &str) -> Result<(), Failure> {
    Err(Failure::runtime("demo: the simulator is not wired in yet"))
}
