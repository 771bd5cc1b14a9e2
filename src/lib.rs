//! smeflow: provisions and runs the GitLab side of an SME program. See README.md.

pub mod cli;
pub mod config;
pub mod contain;
pub mod eval;
pub mod gitlab;
pub mod plan;
pub mod policy;
pub mod reconcile;
pub mod redact;
pub mod report;
pub mod service;
pub mod sim;
pub mod store;
pub mod text;
