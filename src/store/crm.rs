//! What `smeflow import` brings in from outside GitLab: the CRM's opportunities and their stage
//! changes, NPS survey responses, and Stack Overflow questions with the SMEs' answers. The
//! program report's metrics read them back (`Store::imported`).
//!
//! An import is one transaction: every row is compared with what the store holds under its key,
//! inserted when new, updated when it differs, left alone when it is the same, so importing the
//! same file again changes nothing and says "0 new, 0 changed". Rows are validated before they
//! reach the store (`cli::import`); a file with one bad row stores nothing.
//!
//! The four tables share one shape (key columns, value columns of text or integers), so the
//! upsert is written once per dialect for all of them instead of once per table.

use super::postgres::PgStore;
use super::sqlite::sql;
use super::{Result, SqliteStore, Store};
use chrono::NaiveDate;

/// One opportunity from the CRM's report.
#[derive(Debug, Clone, PartialEq)]
pub struct Opportunity {
    /// The first 15 characters of the Salesforce id (case-sensitive): the 18-character form
    /// only adds a case checksum.
    pub id: String,
    pub stage: String,
    /// `None` when the CRM has no amount for it (not zero).
    pub amount_cents: Option<i64>,
    pub close_date: NaiveDate,
    pub won: bool,
    pub closed: bool,
}

/// One line of the opportunity history: a stage change.
#[derive(Debug, Clone, PartialEq)]
pub struct StageChange {
    pub id: String,
    pub from_stage: String,
    pub to_stage: String,
    pub on: NaiveDate,
}

/// One NPS survey response.
#[derive(Debug, Clone, PartialEq)]
pub struct NpsResponse {
    pub response_id: String,
    /// The 15-character opportunity id the response is about, when the survey carries one.
    pub opportunity: Option<String>,
    pub on: NaiveDate,
    /// 0–10, as the survey asks it.
    pub score: i64,
}

/// A relevant Stack Overflow question, with one of the SMEs' answers to it (or none).
#[derive(Debug, Clone, PartialEq)]
pub struct StackOverflowPost {
    pub question_id: i64,
    pub asked_on: NaiveDate,
    /// (answer id, its score) when an SME answered.
    pub answer: Option<(i64, i64)>,
}

/// Everything imported, for the metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imported {
    pub opportunities: Vec<Opportunity>,
    pub stage_changes: Vec<StageChange>,
    pub nps: Vec<NpsResponse>,
    pub stackoverflow: Vec<StackOverflowPost>,
}

/// What one import did to one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub new: usize,
    pub changed: usize,
    pub unchanged: usize,
}

impl std::fmt::Display for ImportCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} new, {} changed, {} unchanged",
            self.new, self.changed, self.unchanged
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Text(String),
    Int(Option<i64>),
}

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Int,
}

/// A table of imported rows: its first `keys` columns are the primary key.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    keys: usize,
}

const OPPORTUNITIES: Table = Table {
    name: "crm_opportunities",
    columns: &[
        ("id", Kind::Text),
        ("stage", Kind::Text),
        ("amount_cents", Kind::Int),
        ("close_date", Kind::Text),
        ("won", Kind::Int),
        ("closed", Kind::Int),
    ],
    keys: 1,
};

const STAGE_CHANGES: Table = Table {
    name: "crm_stage_changes",
    columns: &[
        ("id", Kind::Text),
        ("from_stage", Kind::Text),
        ("to_stage", Kind::Text),
        ("changed_on", Kind::Text),
    ],
    keys: 4,
};

const NPS: Table = Table {
    name: "nps_responses",
    columns: &[
        ("response_id", Kind::Text),
        ("opportunity", Kind::Text),
        ("responded_on", Kind::Text),
        ("score", Kind::Int),
    ],
    keys: 1,
};

/// `answer_id` 0 is a question no SME answered (Stack Overflow's ids start at 1).
const STACKOVERFLOW: Table = Table {
    name: "stackoverflow_posts",
    columns: &[
        ("question_id", Kind::Int),
        ("answer_id", Kind::Int),
        ("asked_on", Kind::Text),
        ("answer_score", Kind::Int),
    ],
    keys: 2,
};

fn day(d: NaiveDate) -> Cell {
    Cell::Text(d.format("%Y-%m-%d").to_string())
}

fn int(v: i64) -> Cell {
    Cell::Int(Some(v))
}

fn opportunity_cells(o: &Opportunity) -> Vec<Cell> {
    vec![
        Cell::Text(o.id.clone()),
        Cell::Text(o.stage.clone()),
        Cell::Int(o.amount_cents),
        day(o.close_date),
        int(o.won as i64),
        int(o.closed as i64),
    ]
}

fn change_cells(c: &StageChange) -> Vec<Cell> {
    vec![
        Cell::Text(c.id.clone()),
        Cell::Text(c.from_stage.clone()),
        Cell::Text(c.to_stage.clone()),
        day(c.on),
    ]
}

fn nps_cells(n: &NpsResponse) -> Vec<Cell> {
    vec![
        Cell::Text(n.response_id.clone()),
        Cell::Text(n.opportunity.clone().unwrap_or_default()),
        day(n.on),
        int(n.score),
    ]
}

fn post_cells(p: &StackOverflowPost) -> Vec<Cell> {
    let (answer, score) = p.answer.unwrap_or((0, 0));
    vec![int(p.question_id), int(answer), day(p.asked_on), int(score)]
}

fn text(c: &Cell) -> String {
    match c {
        Cell::Text(s) => s.clone(),
        Cell::Int(v) => v.map(|v| v.to_string()).unwrap_or_default(),
    }
}

fn number(c: &Cell) -> Option<i64> {
    match c {
        Cell::Int(v) => *v,
        Cell::Text(s) => s.parse().ok(),
    }
}

/// Dates were validated on the way in; a row someone edited by hand into something else is
/// left out rather than read as another day.
fn date(c: &Cell) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&text(c), "%Y-%m-%d").ok()
}

fn read_imported(mut rows: impl FnMut(&Table) -> Result<Vec<Vec<Cell>>>) -> Result<Imported> {
    let opportunities = rows(&OPPORTUNITIES)?
        .iter()
        .filter_map(|r| {
            Some(Opportunity {
                id: text(&r[0]),
                stage: text(&r[1]),
                amount_cents: number(&r[2]),
                close_date: date(&r[3])?,
                won: number(&r[4]) == Some(1),
                closed: number(&r[5]) == Some(1),
            })
        })
        .collect();
    let stage_changes = rows(&STAGE_CHANGES)?
        .iter()
        .filter_map(|r| {
            Some(StageChange {
                id: text(&r[0]),
                from_stage: text(&r[1]),
                to_stage: text(&r[2]),
                on: date(&r[3])?,
            })
        })
        .collect();
    let nps = rows(&NPS)?
        .iter()
        .filter_map(|r| {
            Some(NpsResponse {
                response_id: text(&r[0]),
                opportunity: Some(text(&r[1])).filter(|o| !o.is_empty()),
                on: date(&r[2])?,
                score: number(&r[3])?,
            })
        })
        .collect();
    let stackoverflow = rows(&STACKOVERFLOW)?
        .iter()
        .filter_map(|r| {
            let answer = number(&r[1])?;
            Some(StackOverflowPost {
                question_id: number(&r[0])?,
                asked_on: date(&r[2])?,
                answer: (answer != 0).then(|| (answer, number(&r[3]).unwrap_or(0))),
            })
        })
        .collect();
    Ok(Imported {
        opportunities,
        stage_changes,
        nps,
        stackoverflow,
    })
}

/// Every table `smeflow import` fills, each read whole by `imported`.
const IMPORTED: [&Table; 4] = [&OPPORTUNITIES, &STAGE_CHANGES, &NPS, &STACKOVERFLOW];

/// The rows of every imported table, by table name.
type Tables = std::collections::HashMap<&'static str, Vec<Vec<Cell>>>;

/// The rows of one import, table by table, written in one transaction.
type Batch<'a> = Vec<(&'a Table, Vec<Vec<Cell>>)>;

impl Store {
    /// Opportunities and (optionally) their stage history, in one transaction: the counts for
    /// each. `dry_run` counts the same way and rolls the transaction back.
    pub async fn import_opportunities(
        &self,
        opportunities: &[Opportunity],
        history: &[StageChange],
        dry_run: bool,
    ) -> Result<(ImportCounts, ImportCounts)> {
        let batch: Batch = vec![
            (
                &OPPORTUNITIES,
                opportunities.iter().map(opportunity_cells).collect(),
            ),
            (&STAGE_CHANGES, history.iter().map(change_cells).collect()),
        ];
        let counts = each!(self, s => s.import_batch(&batch, dry_run))?;
        Ok((counts[0], counts[1]))
    }

    pub async fn import_nps(
        &self,
        responses: &[NpsResponse],
        dry_run: bool,
    ) -> Result<ImportCounts> {
        let batch: Batch = vec![(&NPS, responses.iter().map(nps_cells).collect())];
        Ok(each!(self, s => s.import_batch(&batch, dry_run))?[0])
    }

    pub async fn import_stackoverflow(
        &self,
        posts: &[StackOverflowPost],
        dry_run: bool,
    ) -> Result<ImportCounts> {
        let batch: Batch = vec![(&STACKOVERFLOW, posts.iter().map(post_cells).collect())];
        Ok(each!(self, s => s.import_batch(&batch, dry_run))?[0])
    }

    /// Everything imported so far.
    pub async fn imported(&self) -> Result<Imported> {
        let mut tables = each!(self, s => s.all_tables())?;
        read_imported(|t| Ok(tables.remove(t.name).unwrap_or_default()))
    }
}

fn where_keys(t: &Table, placeholder: impl Fn(usize) -> String) -> String {
    t.columns[..t.keys]
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("{c} = {}", placeholder(i + 1)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn column_list(t: &Table, range: std::ops::Range<usize>) -> String {
    t.columns[range]
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ")
}

/// (select the values by key, insert, update the values by key), with `placeholder(n)` the
/// dialect's n-th parameter.
fn statements(t: &Table, placeholder: impl Fn(usize) -> String) -> (String, String, String) {
    let n = t.columns.len();
    // A table whose every column is its key has nothing to compare or update: finding the
    // row is enough.
    let values = match column_list(t, t.keys..n) {
        none if none.is_empty() => "1".to_string(),
        some => some,
    };
    let select = format!(
        "SELECT {values} FROM {} WHERE {}",
        t.name,
        where_keys(t, &placeholder)
    );
    let insert = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        t.name,
        column_list(t, 0..n),
        (1..=n).map(&placeholder).collect::<Vec<_>>().join(", ")
    );
    let sets = t.columns[t.keys..]
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("{c} = {}", placeholder(t.keys + i + 1)))
        .collect::<Vec<_>>()
        .join(", ");
    let update = if sets.is_empty() {
        select.clone()
    } else {
        format!(
            "UPDATE {} SET {sets} WHERE {}",
            t.name,
            where_keys(t, &placeholder)
        )
    };
    (select, insert, update)
}

fn sqlite_value(c: &Cell) -> rusqlite::types::Value {
    match c {
        Cell::Text(s) => rusqlite::types::Value::Text(s.clone()),
        Cell::Int(Some(v)) => rusqlite::types::Value::Integer(*v),
        Cell::Int(None) => rusqlite::types::Value::Null,
    }
}

fn sqlite_cell(v: rusqlite::types::ValueRef<'_>) -> Cell {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Integer(i) => Cell::Int(Some(i)),
        ValueRef::Null => Cell::Int(None),
        other => Cell::Text(other.as_str().unwrap_or_default().to_string()),
    }
}

impl SqliteStore {
    fn import_batch(&self, batch: &Batch, dry_run: bool) -> Result<Vec<ImportCounts>> {
        let mut c = self.connect()?;
        let err = |e| sql(&self.path, e);
        let tx = c
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut all = Vec::new();
        for (table, rows) in batch {
            let (select, insert, update) = statements(table, |i| format!("?{i}"));
            let mut counts = ImportCounts::default();
            for row in rows {
                let keys: Vec<_> = row[..table.keys].iter().map(sqlite_value).collect();
                let held: Option<Vec<Cell>> = {
                    let mut stmt = tx.prepare_cached(&select).map_err(err)?;
                    let mut found = stmt
                        .query(rusqlite::params_from_iter(keys.iter()))
                        .map_err(err)?;
                    match found.next().map_err(err)? {
                        Some(r) => Some(
                            (0..row.len() - table.keys)
                                .map(|i| r.get_ref(i).map(sqlite_cell))
                                .collect::<rusqlite::Result<_>>()
                                .map_err(err)?,
                        ),
                        None => None,
                    }
                };
                let all_values: Vec<_> = row.iter().map(sqlite_value).collect();
                match held {
                    None => {
                        tx.execute(&insert, rusqlite::params_from_iter(all_values.iter()))
                            .map_err(err)?;
                        counts.new += 1;
                    }
                    Some(values) if values[..] == row[table.keys..] => counts.unchanged += 1,
                    Some(_) => {
                        tx.execute(&update, rusqlite::params_from_iter(all_values.iter()))
                            .map_err(err)?;
                        counts.changed += 1;
                    }
                }
            }
            all.push(counts);
        }
        if !dry_run {
            tx.commit().map_err(err)?;
        }
        Ok(all)
    }

    fn all_tables(&self) -> Result<Tables> {
        IMPORTED
            .iter()
            .map(|t| Ok((t.name, self.all_cells(t)?)))
            .collect()
    }

    fn all_cells(&self, t: &Table) -> Result<Vec<Vec<Cell>>> {
        let width = t.columns.len();
        self.all_rows(
            &self.connect()?,
            &format!(
                "SELECT {} FROM {} ORDER BY {}",
                column_list(t, 0..width),
                t.name,
                column_list(t, 0..t.keys)
            ),
            [],
            |r| {
                (0..width)
                    .map(|i| r.get_ref(i).map(sqlite_cell))
                    .collect::<rusqlite::Result<Vec<_>>>()
            },
        )
    }
}

fn pg_param(c: &Cell) -> &(dyn tokio_postgres::types::ToSql + Sync) {
    match c {
        Cell::Text(s) => s,
        Cell::Int(v) => v,
    }
}

fn pg_cells(r: &tokio_postgres::Row, kinds: &[(&str, Kind)]) -> Vec<Cell> {
    kinds
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| match kind {
            Kind::Text => Cell::Text(r.get(i)),
            Kind::Int => Cell::Int(r.get(i)),
        })
        .collect()
}

impl PgStore {
    async fn import_batch(&self, batch: &Batch<'_>, dry_run: bool) -> Result<Vec<ImportCounts>> {
        self.run(|mut c| async move {
            let tx = c.transaction().await?;
            let mut all = Vec::new();
            for (table, rows) in batch {
                let (select, insert, update) = statements(table, |i| format!("${i}"));
                let (select, insert, update) = (
                    tx.prepare(&select).await?,
                    tx.prepare(&insert).await?,
                    tx.prepare(&update).await?,
                );
                let mut counts = ImportCounts::default();
                for row in rows {
                    let keys: Vec<_> = row[..table.keys].iter().map(pg_param).collect();
                    let all_params: Vec<_> = row.iter().map(pg_param).collect();
                    let held = tx
                        .query_opt(&select, &keys)
                        .await?
                        .map(|r| pg_cells(&r, &table.columns[table.keys..]));
                    match held {
                        None => {
                            tx.execute(&insert, &all_params).await?;
                            counts.new += 1;
                        }
                        Some(values) if values[..] == row[table.keys..] => counts.unchanged += 1,
                        Some(_) => {
                            tx.execute(&update, &all_params).await?;
                            counts.changed += 1;
                        }
                    }
                }
                all.push(counts);
            }
            if !dry_run {
                tx.commit().await?;
            }
            Ok(all)
        })
        .await
    }

    async fn all_tables(&self) -> Result<Tables> {
        let mut tables = Tables::new();
        for t in IMPORTED {
            tables.insert(t.name, self.all_cells(t).await?);
        }
        Ok(tables)
    }

    async fn all_cells(&self, t: &Table) -> Result<Vec<Vec<Cell>>> {
        let width = t.columns.len();
        self.run(|c| async move {
            Ok(c.query(
                &format!(
                    "SELECT {} FROM {} ORDER BY {}",
                    column_list(t, 0..width),
                    t.name,
                    column_list(t, 0..t.keys)
                ),
                &[],
            )
            .await?
            .iter()
            .map(|r| pg_cells(r, t.columns))
            .collect())
        })
        .await
    }
}
