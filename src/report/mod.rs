//! Reports: the monthly PM review of one area (`smeflow report <AREA>`) and the program lead's
//! view across all areas (`smeflow report --program`, in `program`).
//!
//! Each is cut the same way: `figures` is pure (issues in, figures out, tested on data with
//! known answers), `render` only formats (Markdown, SVG), and `run` is the only part that talks
//! to GitLab (reading the issues, and `--post`).

pub mod cadence;
pub mod drivers;
pub mod feedback;
pub mod figures;
pub mod program;
pub mod render;
pub mod run;

pub use figures::{
    arr_at_stake, compute, Flow, Item, Report, ThemeRow, ARR_DRIVER, SME_REQUEST_TYPE,
};
pub use render::{render_markdown, render_svg};
pub use run::review_title;
