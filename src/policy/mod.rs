//! Policies: pure functions from what was observed in GitLab to the changes that make it match
//! what is desired. They never talk to GitLab, so their tests need no server.

pub mod issue;
pub mod provision;
pub mod themes;
