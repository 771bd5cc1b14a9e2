//! `[import]` in smeflow.toml: the column labels `smeflow import` looks for, for CRM reports and
//! survey exports whose columns are named otherwise. Every key is optional; the defaults are
//! Salesforce's standard labels and the columns the README documents.

use serde::{Deserialize, Serialize};

macro_rules! columns {
    ($(#[$doc:meta])* $name:ident { $($field:ident = $default:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $(pub $field: String,)*
        }
        impl Default for $name {
            fn default() -> Self {
                $name { $($field: $default.to_string(),)* }
            }
        }
    };
}

columns! {
    /// `[import.opportunities]`: a Salesforce opportunity report.
    OpportunityColumns {
        id = "Opportunity ID",
        stage = "Stage",
        amount = "Amount",
        close_date = "Close Date",
        won = "Won",
        closed = "Closed",
    }
}

columns! {
    /// `[import.history]`: a Salesforce opportunity history export (stage changes).
    HistoryColumns {
        id = "Opportunity ID",
        from_stage = "From Stage",
        to_stage = "To Stage",
        date = "Last Modified Date",
    }
}

columns! {
    /// `[import.nps]`: one row per NPS survey response.
    NpsColumns {
        response_id = "Response ID",
        opportunity = "Opportunity ID",
        date = "Response Date",
        score = "Score",
    }
}

columns! {
    /// `[import.stackoverflow]`: relevant questions, each with an SME's answer or none.
    StackOverflowColumns {
        question_id = "Question ID",
        asked = "Question Date",
        answer_id = "Answer ID",
        answer_score = "Answer Score",
    }
}

/// `[import]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ImportSection {
    pub opportunities: OpportunityColumns,
    pub history: HistoryColumns,
    pub nps: NpsColumns,
    pub stackoverflow: StackOverflowColumns,
}
