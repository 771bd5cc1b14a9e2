//! The program lead's view across all areas (`smeflow report --program`): feedback submitted and
//! actioned, items shipped per quarter against the handbook's goal (at least 5 product
//! improvements from SME feedback per quarter), SME requests by type and region, time to SME
//! assignment against the previous period (the goal: 20% faster within 6 months), requests that
//! missed the 24-hour promise, and enablement topics and knowledge-base items added; areas of
//! interest apart, with their members' activity and what they lack for promotion; and the
//! program's eight metrics against their goals for a quarter (`metrics`).
//!
//! Cut like the area report: `figures` is pure and snapshot-tested, `render` formats, `run`
//! reads GitLab and posts the review issue. The dashboard reuses `run::read` and `compute`.

pub mod figures;
pub mod interest;
pub mod metric;
pub mod metrics;
pub mod quarter;
pub mod render;
pub mod run;

pub use figures::{
    compute, quarter, AreaInput, AreaRow, Assignment, Missed, ProgramReport,
    ASSIGNMENT_FASTER_GOAL_PCT, SHIPPED_PER_QUARTER_GOAL,
};
pub use interest::{interest_rows, InterestInput, InterestRow};
pub use render::render_markdown;
pub use run::review_title;
