//! smeflow: provisions and runs the GitLab side of an SME program. See README.md.

pub mod cli;
pub mod config;
pub mod contain;
pub mod eval;
pub mod gitlab;
pub mod markdown;
pub mod plan;
pub mod policy;
pub mod reconcile;
pub mod redact;
pub mod report;
pub mod service;
/// The GitLab simulator: for the tests, the benchmarks and `smeflow demo`. A default feature, so
/// a build for a server can leave it out (`--no-default-features`).
#[cfg(feature = "simulator")]
pub mod sim;
pub mod slack;
pub mod store;
pub mod text;
