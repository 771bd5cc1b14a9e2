//! `smeflow import`: data the program's metrics need that GitLab does not hold — the CRM's
//! opportunities (and their stage history), NPS survey responses, Stack Overflow questions and
//! the SMEs' answers — read from CSV exports into the store.
//!
//! Every row is read and bounded before anything is stored: one bad cell refuses the whole file
//! with its line and column (all such cells are listed), and nothing is stored. The store writes
//! an import in one transaction and counts what is new or changed, so importing the same file
//! again says "0 new, 0 changed". Cell text never reaches GitLab: the report shows only figures
//! computed from it, and a cell quoted in an error is shown escaped.

use super::{Failure, StoreArgs};
use crate::config::import::ImportSection;
use crate::store::crm::{NpsResponse, Opportunity, StackOverflowPost, StageChange};
use chrono::{Datelike, NaiveDate};
use clap::Subcommand;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// A Salesforce opportunity report (CSV), optionally with the opportunity history export
    /// for stage progression. Opportunities are joined to SME requests by the id in their
    /// "Opportunity URL"; those no request names are the baseline.
    #[command(
        after_help = "Columns (other labels: [import.opportunities] and [import.history] in smeflow.toml):\n  report:  Opportunity ID, Stage, Amount, Close Date, Won, Closed\n  history: Opportunity ID, From Stage, To Stage, Last Modified Date\nDates: 2026-09-30 or 9/30/2026 (a time after the date is ignored). 15- and 18-character ids are the same opportunity.\n\nExample:\n  smeflow import opportunities opportunities.csv --history opportunity-history.csv"
    )]
    Opportunities {
        /// The opportunity report, exported as CSV.
        file: PathBuf,
        /// The opportunity history export (stage changes), as CSV.
        #[arg(long)]
        history: Option<PathBuf>,
        /// Read and check the files and say what would change; store nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// NPS survey responses (CSV): one row per response, scored 0–10.
    #[command(
        after_help = "Columns (other labels: [import.nps] in smeflow.toml):\n  Response ID, Opportunity ID (may be empty), Response Date, Score (0-10)"
    )]
    Nps {
        /// The NPS survey export, as CSV.
        file: PathBuf,
        /// Read and check the file and say what would change; store nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Relevant Stack Overflow questions (CSV), one row per SME answer, or one row with no
    /// answer for a question no SME answered.
    #[command(
        after_help = "Columns (other labels: [import.stackoverflow] in smeflow.toml):\n  Question ID, Question Date, Answer ID (empty: not answered), Answer Score"
    )]
    Stackoverflow {
        /// The questions and answers, as CSV (e.g. a Stack Exchange Data Explorer query's result).
        file: PathBuf,
        /// Read and check the file and say what would change; store nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// The bounds every parsed value is held to.
const FIRST_DAY: (i32, u32, u32) = (2000, 1, 1);
const LAST_DAY: (i32, u32, u32) = (2100, 12, 31);
/// $1 trillion, the same bound as an ARR.
const MAX_AMOUNT_CENTS: i64 = 100_000_000_000_000;
const MAX_TEXT: usize = 255;
const MAX_POST_ID: i64 = 1_000_000_000_000;
const MAX_ANSWER_SCORE: i64 = 1_000_000;
/// Errors listed for one file before "and N more".
const SHOWN_ERRORS: usize = 20;

pub async fn run(config: &Path, cmd: ImportCommand) -> Result<(), Failure> {
    let columns = import_columns(config)?;
    match cmd {
        ImportCommand::Opportunities {
            file,
            history,
            dry_run,
            store,
        } => {
            let opportunities = read_opportunities(&file, &columns)?;
            let changes = match &history {
                Some(h) => read_history(h, &columns)?,
                None => Vec::new(),
            };
            let store = open(&store).await?;
            let (o, h) = store
                .import_opportunities(&opportunities, &changes, dry_run)
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
            let mut said = format!(
                "{}: {} opportunities ({o})",
                file.display(),
                opportunities.len()
            );
            if let Some(h_file) = &history {
                said.push_str(&format!(
                    "; {}: {} stage changes ({h})",
                    h_file.display(),
                    changes.len()
                ));
            }
            finish(said, dry_run);
        }
        ImportCommand::Nps {
            file,
            dry_run,
            store,
        } => {
            let responses = read_nps(&file, &columns)?;
            let counts = open(&store)
                .await?
                .import_nps(&responses, dry_run)
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
            finish(
                format!(
                    "{}: {} NPS responses ({counts})",
                    file.display(),
                    responses.len()
                ),
                dry_run,
            );
        }
        ImportCommand::Stackoverflow {
            file,
            dry_run,
            store,
        } => {
            let posts = read_stackoverflow(&file, &columns)?;
            let counts = open(&store)
                .await?
                .import_stackoverflow(&posts, dry_run)
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
            finish(
                format!(
                    "{}: {} Stack Overflow rows ({counts})",
                    file.display(),
                    posts.len()
                ),
                dry_run,
            );
        }
    }
    Ok(())
}

fn finish(said: String, dry_run: bool) {
    if dry_run {
        println!("{said}. Dry run: nothing was stored.");
    } else {
        println!("{said}.");
    }
}

/// `[import]` from smeflow.toml when there is one (checked like every command checks it), else
/// the standard labels: an import needs no other configuration.
fn import_columns(config: &Path) -> Result<ImportSection, Failure> {
    if !config.exists() {
        return Ok(ImportSection::default());
    }
    Ok(crate::config::Catalog::load(config)?.config.import)
}

/// The store, created when there is none yet (an import may come before `serve` ever ran).
async fn open(store: &StoreArgs) -> Result<crate::store::Store, Failure> {
    crate::store::Store::open_either(store.database_url.as_deref(), &store.state)
        .await
        .map_err(|e| Failure::runtime(e.to_string()))
}

/// A CSV file's rows, each with its line number, and where each wanted column is.
struct Sheet {
    shown: String,
    columns: BTreeMap<&'static str, usize>,
    rows: Vec<(u64, csv::StringRecord)>,
}

/// A cell that could not be read: its line, the column's label, and what was wrong.
struct Bad {
    line: u64,
    column: String,
    problem: String,
}

/// A cell's value as it may be shown on a terminal: escaped, and cut short.
fn shown(value: &str) -> String {
    let cut: String = value.chars().take(40).collect();
    let more = if value.chars().count() > 40 {
        "…"
    } else {
        ""
    };
    format!("\"{}{more}\"", cut.escape_debug())
}

/// Reads `path`, finding each `(key, label)` column by its label in the header. A file without
/// a wanted column is refused naming it, the `[import]` key that renames it, and the columns
/// the file has.
fn read_sheet(
    path: &Path,
    section: &str,
    wanted: &[(&'static str, &str)],
    optional: &[&'static str],
) -> Result<Sheet, Failure> {
    let shown_path = path.display().to_string();
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::usage(format!("cannot read {shown_path}: {e}")))?;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(std::io::BufReader::new(file));
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| Failure::usage(format!("{shown_path}: not a CSV file ({e})")))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_string())
        .collect();
    let mut columns = BTreeMap::new();
    let mut missing = Vec::new();
    for (key, label) in wanted {
        match headers.iter().position(|h| h.eq_ignore_ascii_case(label)) {
            Some(i) => {
                columns.insert(*key, i);
            }
            None if optional.contains(key) => {}
            None => missing.push(format!(
                "`{label}` (if your export names it otherwise: [import.{section}] {key} = \"<its label>\" in smeflow.toml)"
            )),
        }
    }
    if !missing.is_empty() {
        return Err(Failure::usage(format!(
            "{shown_path} has no column {}. Its columns are: {}. Nothing was imported.",
            missing.join(", no column "),
            headers
                .iter()
                .map(|h| shown(h))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            Failure::usage(format!(
                "{shown_path} line {line}: not readable as CSV ({e}). Nothing was imported."
            ))
        })?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        // A Salesforce export ends with one-cell lines (totals, copyright, "Generated By").
        if record.len() == 1 && headers.len() > 1 {
            continue;
        }
        if record.len() != headers.len() {
            return Err(Failure::usage(format!(
                "{shown_path} line {line}: {} cells where the header has {}. Nothing was imported.",
                record.len(),
                headers.len()
            )));
        }
        rows.push((line, record));
    }
    Ok(Sheet {
        shown: shown_path,
        columns,
        rows,
    })
}

impl Sheet {
    fn cell<'a>(&self, row: &'a csv::StringRecord, key: &str) -> &'a str {
        self.columns
            .get(key)
            .and_then(|i| row.get(*i))
            .unwrap_or("")
            .trim()
    }

    /// Every bad cell at once, so one run shows everything to fix.
    fn refuse(&self, bad: Vec<Bad>) -> Result<(), Failure> {
        if bad.is_empty() {
            return Ok(());
        }
        let mut lines: Vec<String> = bad
            .iter()
            .take(SHOWN_ERRORS)
            .map(|b| {
                format!(
                    "  {} line {}, column `{}`: {}",
                    self.shown, b.line, b.column, b.problem
                )
            })
            .collect();
        if bad.len() > SHOWN_ERRORS {
            lines.push(format!("  … and {} more", bad.len() - SHOWN_ERRORS));
        }
        Err(Failure::usage(format!(
            "{} cannot be imported; nothing was stored. Fix these cells and import it again:\n{}",
            self.shown,
            lines.join("\n")
        )))
    }
}

/// Collects the problems of one file's cells.
struct Cells<'a> {
    sheet: &'a Sheet,
    labels: BTreeMap<&'static str, String>,
    bad: Vec<Bad>,
}

impl<'a> Cells<'a> {
    fn new(sheet: &'a Sheet, wanted: &[(&'static str, &str)]) -> Cells<'a> {
        Cells {
            sheet,
            labels: wanted.iter().map(|(k, l)| (*k, l.to_string())).collect(),
            bad: Vec::new(),
        }
    }

    /// Reads one cell with `parse`, noting the problem when it cannot.
    fn get<T>(
        &mut self,
        line: u64,
        row: &csv::StringRecord,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.sheet.cell(row, key);
        match parse(value) {
            Ok(v) => Some(v),
            Err(problem) => {
                self.bad.push(Bad {
                    line,
                    column: self.labels.get(key).cloned().unwrap_or_default(),
                    problem: if value.is_empty() {
                        problem
                    } else {
                        format!("{} {problem}", shown(value))
                    },
                });
                None
            }
        }
    }

    fn also(&mut self, line: u64, key: &str, problem: String) {
        self.bad.push(Bad {
            line,
            column: self.labels.get(key).cloned().unwrap_or_default(),
            problem,
        });
    }
}

/// A Salesforce id: 15 or 18 letters and digits. The first 15 name the record (case-sensitive);
/// the last 3 of the 18-character form are a checksum of their case.
pub fn salesforce_id(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("is empty: every row needs the opportunity's id".into());
    }
    crate::policy::request::opportunity::key(value)
        .ok_or_else(|| "is not a Salesforce id (15 or 18 letters and digits)".into())
}

fn optional_id(value: &str) -> Result<Option<String>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    salesforce_id(value).map(Some)
}

fn text(value: &str) -> Result<String, String> {
    if value.chars().count() > MAX_TEXT {
        return Err(format!("is longer than {MAX_TEXT} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("holds control characters".into());
    }
    Ok(value.to_string())
}

fn required_text(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("is empty".into());
    }
    text(value)
}

/// `2026-09-30` or `9/30/2026` (Salesforce's US format), a time after it ignored, 2000–2100.
pub fn date(value: &str) -> Result<NaiveDate, String> {
    let day_part = value.split([' ', 'T']).next().unwrap_or("");
    let parsed = NaiveDate::parse_from_str(day_part, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(day_part, "%m/%d/%Y"))
        .map_err(|_| {
            if value.is_empty() {
                "is empty: a date is needed".to_string()
            } else {
                "is not a date like 2026-09-30 or 9/30/2026".to_string()
            }
        })?;
    let first = NaiveDate::from_ymd_opt(FIRST_DAY.0, FIRST_DAY.1, FIRST_DAY.2).expect("a day");
    let last = NaiveDate::from_ymd_opt(LAST_DAY.0, LAST_DAY.1, LAST_DAY.2).expect("a day");
    if parsed < first || parsed > last {
        return Err(format!("is outside {}–{}", first.year(), last.year()));
    }
    Ok(parsed)
}

/// `12500`, `12,500.00`, `$12,500.00` or `USD 12,500.00`; empty is "no amount" (not zero).
pub fn amount(value: &str) -> Result<Option<i64>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let digits = value
        .trim_start_matches(|c: char| c.is_ascii_uppercase() || "$€£¥".contains(c))
        .trim()
        .replace(',', "");
    let err = || "is not an amount like 12500.00 or USD 12,500.00".to_string();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(err());
    }
    let v: f64 = digits.parse().map_err(|_| err())?;
    let cents = (v * 100.0).round();
    if !cents.is_finite() || cents > MAX_AMOUNT_CENTS as f64 {
        return Err("is more than $1 trillion".into());
    }
    Ok(Some(cents as i64))
}

pub fn flag(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err("is not 1/0, true/false or yes/no".into()),
    }
}

fn bounded(min: i64, max: i64) -> impl Fn(&str) -> Result<i64, String> {
    move |value| {
        let v: i64 = value
            .parse()
            .map_err(|_| format!("is not a whole number from {min} to {max}"))?;
        if v < min || v > max {
            return Err(format!("is outside {min}–{max}"));
        }
        Ok(v)
    }
}

fn wanted_opportunities(c: &ImportSection) -> Vec<(&'static str, &str)> {
    let o = &c.opportunities;
    vec![
        ("id", &o.id),
        ("stage", &o.stage),
        ("amount", &o.amount),
        ("close_date", &o.close_date),
        ("won", &o.won),
        ("closed", &o.closed),
    ]
}

pub fn read_opportunities(path: &Path, c: &ImportSection) -> Result<Vec<Opportunity>, Failure> {
    let wanted = wanted_opportunities(c);
    let sheet = read_sheet(path, "opportunities", &wanted, &[])?;
    let mut cells = Cells::new(&sheet, &wanted);
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for (line, row) in &sheet.rows {
        let line = *line;
        let id = cells.get(line, row, "id", salesforce_id);
        let stage = cells.get(line, row, "stage", required_text);
        let amount_cents = cells.get(line, row, "amount", amount);
        let close_date = cells.get(line, row, "close_date", date);
        let won = cells.get(line, row, "won", flag);
        let closed = cells.get(line, row, "closed", flag);
        if let Some(id) = &id {
            if let Some(first) = seen.insert(id.clone(), line) {
                cells.also(
                    line,
                    "id",
                    format!("opportunity {id} is also on line {first} (15- and 18-character ids are the same opportunity)"),
                );
            }
        }
        if let (Some(true), Some(false)) = (won, closed) {
            cells.also(line, "won", "is won but not closed".into());
        }
        if let (
            Some(id),
            Some(stage),
            Some(amount_cents),
            Some(close_date),
            Some(won),
            Some(closed),
        ) = (id, stage, amount_cents, close_date, won, closed)
        {
            out.push(Opportunity {
                id,
                stage,
                amount_cents,
                close_date,
                won,
                closed,
            });
        }
    }
    let bad = std::mem::take(&mut cells.bad);
    sheet.refuse(bad)?;
    Ok(out)
}

pub fn read_history(path: &Path, c: &ImportSection) -> Result<Vec<StageChange>, Failure> {
    let h = &c.history;
    let wanted = vec![
        ("id", h.id.as_str()),
        ("from_stage", &h.from_stage),
        ("to_stage", &h.to_stage),
        ("date", &h.date),
    ];
    let sheet = read_sheet(path, "history", &wanted, &[])?;
    let mut cells = Cells::new(&sheet, &wanted);
    // The same change twice in one export is one change.
    let mut out = BTreeSet::new();
    for (line, row) in &sheet.rows {
        let line = *line;
        let id = cells.get(line, row, "id", salesforce_id);
        let from = cells.get(line, row, "from_stage", text);
        let to = cells.get(line, row, "to_stage", text);
        let on = cells.get(line, row, "date", date);
        if let (Some(id), Some(from_stage), Some(to_stage), Some(on)) = (id, from, to, on) {
            out.insert((id, from_stage, to_stage, on));
        }
    }
    let bad = std::mem::take(&mut cells.bad);
    sheet.refuse(bad)?;
    Ok(out
        .into_iter()
        .map(|(id, from_stage, to_stage, on)| StageChange {
            id,
            from_stage,
            to_stage,
            on,
        })
        .collect())
}

pub fn read_nps(path: &Path, c: &ImportSection) -> Result<Vec<NpsResponse>, Failure> {
    let n = &c.nps;
    let wanted = vec![
        ("response_id", n.response_id.as_str()),
        ("opportunity", &n.opportunity),
        ("date", &n.date),
        ("score", &n.score),
    ];
    let sheet = read_sheet(path, "nps", &wanted, &["opportunity"])?;
    let mut cells = Cells::new(&sheet, &wanted);
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for (line, row) in &sheet.rows {
        let line = *line;
        let response_id = cells.get(line, row, "response_id", required_text);
        let opportunity = cells.get(line, row, "opportunity", optional_id);
        let on = cells.get(line, row, "date", date);
        let score = cells.get(line, row, "score", bounded(0, 10));
        if let Some(r) = &response_id {
            if let Some(first) = seen.insert(r.clone(), line) {
                cells.also(
                    line,
                    "response_id",
                    format!("response {} is also on line {first}", shown(r)),
                );
            }
        }
        if let (Some(response_id), Some(opportunity), Some(on), Some(score)) =
            (response_id, opportunity, on, score)
        {
            out.push(NpsResponse {
                response_id,
                opportunity,
                on,
                score,
            });
        }
    }
    let bad = std::mem::take(&mut cells.bad);
    sheet.refuse(bad)?;
    Ok(out)
}

pub fn read_stackoverflow(
    path: &Path,
    c: &ImportSection,
) -> Result<Vec<StackOverflowPost>, Failure> {
    let s = &c.stackoverflow;
    let wanted = vec![
        ("question_id", s.question_id.as_str()),
        ("asked", &s.asked),
        ("answer_id", &s.answer_id),
        ("answer_score", &s.answer_score),
    ];
    let sheet = read_sheet(path, "stackoverflow", &wanted, &[])?;
    let mut cells = Cells::new(&sheet, &wanted);
    let mut seen: BTreeMap<(i64, i64), u64> = BTreeMap::new();
    let mut out = Vec::new();
    let post_id = bounded(1, MAX_POST_ID);
    let score = bounded(-MAX_ANSWER_SCORE, MAX_ANSWER_SCORE);
    for (line, row) in &sheet.rows {
        let line = *line;
        let question_id = cells.get(line, row, "question_id", &post_id);
        let asked_on = cells.get(line, row, "asked", date);
        let answer_id = cells.get(line, row, "answer_id", optional(&post_id));
        let answer_score = cells.get(line, row, "answer_score", optional(&score));
        let answer = answer_of(&mut cells, line, answer_id, answer_score);
        if let (Some(q), Some(Some((a, _)))) = (question_id, answer) {
            if let Some(first) = seen.insert((q, a), line) {
                cells.also(
                    line,
                    "answer_id",
                    format!("answer {a} to question {q} is also on line {first}"),
                );
            }
        }
        if let (Some(question_id), Some(asked_on), Some(answer)) = (question_id, asked_on, answer) {
            out.push(StackOverflowPost {
                question_id,
                asked_on,
                answer,
            });
        }
    }
    let bad = std::mem::take(&mut cells.bad);
    sheet.refuse(bad)?;
    Ok(one_row_per_answer(out))
}

/// An empty cell is `None`; anything else must read with `parse`.
fn optional<T>(
    parse: &impl Fn(&str) -> Result<T, String>,
) -> impl Fn(&str) -> Result<Option<T>, String> + '_ {
    move |v| match v.is_empty() {
        true => Ok(None),
        false => parse(v).map(Some),
    }
}

/// A row's answer: `Some(None)` for a question without one, `Some(Some((id, score)))` with
/// one, `None` (and the cell named as bad) when the two cells disagree or did not read.
fn answer_of(
    cells: &mut Cells,
    line: u64,
    answer_id: Option<Option<i64>>,
    answer_score: Option<Option<i64>>,
) -> Option<Option<(i64, i64)>> {
    match (answer_id, answer_score) {
        (Some(Some(a)), Some(Some(s))) => Some(Some((a, s))),
        (Some(None), Some(None)) => Some(None),
        (Some(Some(_)), Some(None)) => {
            cells.also(
                line,
                "answer_score",
                "is empty: an answer needs its score".into(),
            );
            None
        }
        (Some(None), Some(Some(_))) => {
            cells.also(
                line,
                "answer_score",
                "is given for a row without an answer id".into(),
            );
            None
        }
        _ => None,
    }
}

/// A question listed once unanswered and once with an answer is an answered question; an
/// unanswered one listed twice counts once.
fn one_row_per_answer(mut posts: Vec<StackOverflowPost>) -> Vec<StackOverflowPost> {
    let answered: BTreeSet<i64> = posts
        .iter()
        .filter(|p| p.answer.is_some())
        .map(|p| p.question_id)
        .collect();
    let mut unanswered_seen = BTreeSet::new();
    posts.retain(|p| {
        p.answer.is_some()
            || (!answered.contains(&p.question_id) && unanswered_seen.insert(p.question_id))
    });
    posts
}
