//! The command line as clap reads it: every command, its arguments and the help they print.

use super::*;

#[derive(Parser, Debug)]
#[command(
    name = "smeflow",
    version,
    about = "Provision and run the GitLab side of an SME program",
    long_about = "smeflow sets up each SME Area's GitLab collaboration project (labels, issue templates, \
seed issues, boards, webhook) and keeps it that way. Every command plans first: --dry-run shows \
the plan without writing anything, and running a command twice changes nothing the second time.\n\n\
Try it without a GitLab: `smeflow demo`.",
    after_help = "Environment: GITLAB_URL, GITLAB_TOKEN (needs the `api` scope and the Maintainer role on the SME group), \
SMEFLOW_CONFIG, SMEFLOW_WEBHOOK_URL, SMEFLOW_WEBHOOK_SECRET. Flags override the environment."
)]
pub struct Cli {
    /// Program configuration file.
    #[arg(
        long,
        global = true,
        env = "SMEFLOW_CONFIG",
        default_value = "smeflow.toml"
    )]
    pub config: PathBuf,
    /// More log output on stderr. `serve` logs every change it makes and every sync by default;
    /// -v adds its decisions (what it chose not to change, and why), -vv every GitLab request.
    /// Other commands log only warnings unless -v is given. RUST_LOG overrides the levels.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log lines as text (coloured only on a terminal, never with NO_COLOR set) or as one JSON
    /// object per line, for a log collector.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "SMEFLOW_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create or repair an SME Area's collaboration project (project, labels, issue templates,
    /// seed issues, boards, webhook). Shows the plan, then applies only the difference.
    #[command(
        after_help = "Examples:\n  smeflow bootstrap-area ai --dry-run   # show what would change, write nothing\n  smeflow bootstrap-area ai             # apply it\n  smeflow bootstrap-area --all          # every area in smeflow.toml"
    )]
    BootstrapArea(BootstrapArgs),
    /// Make an area of interest a formal SME area: the rest of the kit and a setup issue.
    ///
    /// Checks smeflow.toml has what a formal area needs (leads, PMs, a request channel, Google
    /// groups, themes) and names whatever is missing; provisions the rest of the kit (request
    /// and feedback templates and labels, themes, the PM Review board) with the same plan as
    /// bootstrap-area, and opens one "Formal area setup" issue with the program's own steps.
    /// Prints the smeflow.toml change to commit; never edits the file.
    #[command(
        after_help = "Examples:\n  smeflow promote-area cicd --dry-run   # check the config, show the plan, write nothing\n  smeflow promote-area cicd             # apply it; a second run changes nothing"
    )]
    PromoteArea(crate::cli::promote::PromoteArgs),
    /// Validate smeflow.toml, the label sets and the issue templates (renders every template for
    /// every area). Needs no GitLab.
    CheckConfig,
    /// Receive GitLab webhooks and keep every managed issue labelled and tagged.
    ///
    /// Each delivery is authenticated, stored durably, and answered 202 at once; workers then
    /// re-read the issue from GitLab and apply the label policies and theme tagging. Every area
    /// is synced at start-up and on `[feedback] sync_schedule`. Logs one line per change it
    /// makes and per sync (-v: its decisions too; -vv: every GitLab request).
    #[command(
        after_help = "Example:\n  SMEFLOW_WEBHOOK_SECRET=... GITLAB_URL=... GITLAB_TOKEN=... smeflow serve --listen 0.0.0.0:8080\n\nEndpoints: POST /webhooks/gitlab, GET /healthz, GET /readyz, GET /metrics, and GET / the read-only program dashboard (on when SMEFLOW_DASHBOARD_TOKEN is set; sign in with that token).\n\nSignals: SIGHUP reloads smeflow.toml, the label sets and the templates (e.g. after promote-area); a configuration with problems is not taken: the log says why and the previous one stays in use. SIGTERM or Ctrl-C stop after draining (--drain-timeout)."
    )]
    Serve(ServeArgs),
    /// Reconcile every issue of an area with the label, theme and PM-review policies, link
    /// feedback to one epic per theme, and repair the boards. `serve` runs this on a schedule.
    #[command(
        after_help = "Examples:\n  smeflow sync-board ai --dry-run   # what would change\n  smeflow sync-board --all          # every area"
    )]
    SyncBoard(SyncArgs),
    /// The monthly PM review: themes, customers, priorities, ARR drivers, flow figures and a
    /// chart; `--post` also keeps the ARR Driver, calibration and PM/SME meeting issues.
    #[command(
        after_help = "Examples:\n  smeflow report ai                     # Markdown on stdout\n  smeflow report ai --format json --since 2026-10-01\n  smeflow report ai --post              # commit the chart, keep \"PM Review YYYY-MM\", \"ARR Driver YYYY-QN\", \"SME Calibration YYYY-MM\", \"PM/SME Meeting YYYY-MM\"\n  smeflow report ai --post --dry-run    # what --post would create or update\n  smeflow report ai --until 2026-03-31 --post   # March's issues and Q1's ARR Driver issue\n  smeflow report --program --since 2026-10-01 [--post]   # all areas; --post keeps \"SME Program Review YYYY-MM\""
    )]
    Report(ReportArgs),
    /// Inspect and replay stored webhook deliveries.
    #[command(subcommand)]
    Deliveries(DeliveriesCommand),
    /// What smeflow changed in GitLab and why, from the store's audit log (oldest first).
    ///
    /// Every change `serve` (a webhook delivery or a scheduled sync) and `sync-board` applied,
    /// with the run that applied it: `delivery:<id>` (see `smeflow deliveries show <id>`) or
    /// `sync:<area>`.
    #[command(
        after_help = "Examples:\n  smeflow log --area ai --since 1d          # the AI area's changes of the last day\n  smeflow log --area ai --issue 5           # everything smeflow did to ai-sme#5\n  smeflow log --since 2026-10-01 --until 2026-11-01 --database-url postgres://smeflow@db/smeflow"
    )]
    Log(LogArgs),
    /// Move the store from one machine's SQLite file to the PostgreSQL that replicas share.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Read CSV exports the program metrics need into the store: CRM opportunities, NPS
    /// responses, Stack Overflow questions. A file with a bad cell stores nothing.
    #[command(subcommand)]
    Import(crate::cli::import::ImportCommand),
    /// Webhook secrets: `smeflow secret new` prints a fresh signing key.
    #[command(
        subcommand,
        after_help = "Rotation, step by step:\n  1. SMEFLOW_WEBHOOK_SECRET=\"$(smeflow secret new),<old values>\"; restart serve (it accepts every value)\n  2. smeflow bootstrap-area --all --rotate-webhook-secret   # the hooks get the new first values\n  3. drop the old values from SMEFLOW_WEBHOOK_SECRET; restart serve"
    )]
    Secret(SecretCommand),
    /// Precision and recall of theme tagging on the labelled feedback in eval/ (held-out part),
    /// the rules alone beside rules plus classifier. Needs no GitLab.
    #[command(
        after_help = "Examples:\n  smeflow eval-themes                 # every area, held-out part\n  smeflow eval-themes --split all     # the tune part, then the held-out part\n  smeflow eval-themes --area plan --split tune\n  smeflow eval-themes --fit           # refit the calibration on the tune part"
    )]
    EvalThemes(EvalThemesArgs),
    /// Run the whole flow against a built-in GitLab simulator: no GitLab or token needed.
    Demo {
        /// Area to bootstrap in the demo.
        #[arg(default_value = "ai")]
        area: String,
    },
}

#[derive(Args, Debug)]
pub struct EvalThemesArgs {
    /// Only this area (slug or name).
    #[arg(long)]
    pub area: Option<String>,
    /// Which part of the set: holdout (never tuned on), tune, or all (each part in its own table).
    #[arg(long, default_value = "holdout", value_parser = ["holdout", "tune", "all"])]
    pub split: String,
    /// Folder of themes-*.jsonl; default: eval/ next to the config file.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Fit the tagger's calibration on the tune part (whatever --split says) and print its
    /// weights and what each abstention threshold would do, for src/policy/themes/calibrate.rs.
    #[arg(long)]
    pub fit: bool,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SMEFLOW_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// SQLite file holding deliveries, the audit log and overrides.
    #[arg(long, env = "SMEFLOW_STATE", default_value = "smeflow.db")]
    pub state: PathBuf,
    /// PostgreSQL store shared by several `serve` replicas (postgres://user@host/db); replaces
    /// --state. Without it, the SQLite file is the store.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Concurrent workers (one issue is never processed by two at once); 0 only stores
    /// deliveries, for a receiver that another process works off.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Do not run the scheduled sync-board (at start-up and on `[feedback] sync_schedule`).
    #[arg(long)]
    pub no_sync: bool,
    /// DEVELOPMENT ONLY: accept deliveries without any secret. Anyone who can reach the port
    /// can then make smeflow act.
    #[arg(long)]
    pub insecure_accept_unsigned_webhooks: bool,
    /// Seconds a client has to send a request's headers; also how long an idle connection stays open.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,
    /// Seconds a client has to send a request's body.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout: u64,
    /// Open connections at once; more are answered 503. Default: half the descriptor limit.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,
    /// Seconds SIGTERM waits for open requests and in-flight deliveries before exiting anyway.
    #[arg(long, default_value_t = 10)]
    pub drain_timeout: u64,
    #[command(flatten)]
    pub gitlab: GitLabArgs,
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    #[command(flatten)]
    pub areas: AreaChoice,
    /// Print the plan and exit without writing anything (not even to the store).
    #[arg(long)]
    pub dry_run: bool,
    /// Read every issue, not only those changed since the last sync.
    #[arg(long)]
    pub full: bool,
    /// The store (snapshot of the last sync, overrides, notes written).
    #[arg(long, env = "SMEFLOW_STATE", default_value = "smeflow.db")]
    pub state: PathBuf,
    /// The PostgreSQL store `serve` replicas share, instead of --state.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub gitlab: GitLabArgs,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Area slug or name from smeflow.toml (not with --program).
    #[arg(required_unless_present = "program", conflicts_with = "program")]
    pub area: Option<String>,
    /// All areas side by side: the program lead's view.
    #[arg(long)]
    pub program: bool,
    /// Markdown to read (and post), or JSON with every figure for other tools.
    #[arg(long, value_enum, default_value = "md")]
    pub format: ReportFormat,
    /// Start of the period (YYYY-MM-DD); default: 30 days ago.
    #[arg(long, conflicts_with = "quarter")]
    pub since: Option<String>,
    /// End of the period (YYYY-MM-DD, to the end of that day, UTC); default: now. It names the
    /// month and quarter `--post` keeps issues for; issues opened after it are left out.
    /// One area's report only.
    #[arg(long, conflicts_with = "program")]
    pub until: Option<String>,
    /// With --program: the quarterly review of this quarter (e.g. 2026-Q3). Without it the
    /// program's metrics are those of the last complete quarter.
    #[arg(long, requires = "program")]
    pub quarter: Option<String>,
    /// Commit the chart and keep this period's issues up to date, each created once and then
    /// edited in place: "PM Review YYYY-MM", "ARR Driver YYYY-QN" (for the area leads),
    /// "SME Calibration YYYY-MM" and "PM/SME Meeting YYYY-MM". With --program: the "SME
    /// Program Review" issue of the month (of the quarter with --quarter).
    #[arg(long)]
    pub post: bool,
    /// With --post: print what would be created or updated, and write nothing.
    #[arg(long, requires = "post")]
    pub dry_run: bool,
    #[command(flatten)]
    pub gitlab: GitLabArgs,
    /// Where `smeflow import` stored opportunities, NPS and Stack Overflow data (--program).
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ReportFormat {
    Md,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum DeliveriesCommand {
    /// Newest deliveries first.
    List {
        /// Only deliveries in this state: pending, in_progress, done, failed, dead.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// One delivery with its payload and last error.
    Show {
        /// The delivery's id, from `deliveries list`.
        id: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Queue failed or dead deliveries again (one by id, or all with --all).
    Retry {
        /// The delivery's id, from `deliveries list`.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Every failed or dead delivery.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// The store a command reads: the SQLite file, or the PostgreSQL that replicas share.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// The SQLite file `smeflow serve` uses (deliveries, the audit log, overrides).
    #[arg(
        long,
        alias = "store",
        env = "SMEFLOW_STATE",
        default_value = "smeflow.db"
    )]
    pub state: PathBuf,
    /// The PostgreSQL store `serve` replicas share (postgres://user@host/db), instead of --state.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// Opens a store that must already exist: reading commands never create an empty one.
    pub(super) async fn open_existing(&self) -> Result<crate::store::Store, Failure> {
        let url = self
            .database_url
            .as_deref()
            .filter(|u| !u.trim().is_empty());
        if url.is_none() && !self.state.exists() {
            let shown = self.state.display().to_string();
            if crate::store::State::parse(&shown).is_some() {
                return Err(Failure::usage(format!(
                    "--state names the store file (there is none at `{shown}`); to list deliveries in state {shown}, use --status {shown}"
                )));
            }
            return Err(Failure::usage(format!(
                "no store at {shown}: pass --state (or SMEFLOW_STATE) with the file `smeflow serve` uses, or --database-url (DATABASE_URL) for its PostgreSQL"
            )));
        }
        crate::store::Store::open_either(url, &self.state)
            .await
            .map_err(|e| Failure::runtime(e.to_string()))
    }
}

/// `smeflow log`: which changes to show.
#[derive(Args, Debug)]
pub struct LogArgs {
    /// Only this area (slug or name from smeflow.toml).
    #[arg(long)]
    pub area: Option<String>,
    /// Only this issue, by its number (#5) in the area's project; give --area too when several
    /// areas have an issue with that number.
    #[arg(long, value_parser = parse_issue_number)]
    pub issue: Option<u64>,
    /// From this time on: a date (2026-10-01, midnight UTC), a time (2026-10-01T14:00:00Z), or
    /// an age (30m, 6h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Before this time; same forms as --since.
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many lines (the newest).
    #[arg(long, default_value_t = 200)]
    pub limit: usize,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub(super) fn parse_issue_number(s: &str) -> Result<u64, String> {
    s.trim()
        .trim_start_matches('#')
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0 && *n <= i64::MAX as u64)
        .ok_or_else(|| format!("`{s}` is not an issue number (e.g. 5 or #5)"))
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Copy deliveries (every state), the audit log, issue memory, overrides and sync
    /// snapshots from SQLite into PostgreSQL. Safe to re-run: only what is missing is copied.
    #[command(
        after_help = "Example:\n  smeflow store migrate --from smeflow.db --to postgres://smeflow@db.internal/smeflow"
    )]
    Migrate {
        /// The PostgreSQL store (postgres://user[:password]@host[:port]/database).
        #[arg(long, env = "DATABASE_URL")]
        to: String,
        /// The SQLite file `serve` used (stop that `serve` first).
        #[arg(long, env = "SMEFLOW_STATE", default_value = "smeflow.db")]
        from: PathBuf,
    },
}

/// One area by name, or `--all`.
#[derive(Args, Debug)]
pub struct AreaChoice {
    /// Area slug or name from smeflow.toml (e.g. `ai`).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub area: Option<String>,
    /// Every area in smeflow.toml.
    #[arg(long)]
    pub all: bool,
}

impl AreaChoice {
    pub(super) fn resolve<'c>(
        &self,
        catalog: &'c Catalog,
    ) -> Result<Vec<&'c AreaConfig>, crate::config::ConfigError> {
        if self.all {
            return Ok(catalog.config.areas.iter().collect());
        }
        Ok(vec![catalog.area(self.area.as_deref().unwrap_or_default())?])
    }
}

#[derive(Args, Debug)]
pub struct BootstrapArgs {
    #[command(flatten)]
    pub areas: AreaChoice,
    /// Print the plan and exit without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// The store, where a run takes its per-area lease so two runs never write the same area
    /// at once (share it between machines that bootstrap the same areas).
    #[arg(long, env = "SMEFLOW_STATE", default_value = "smeflow.db")]
    pub state: PathBuf,
    /// The PostgreSQL store `serve` replicas share, instead of --state.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Set the webhook's secrets again from SMEFLOW_WEBHOOK_SECRET (its first plain value and its
    /// first `whsec_` key). GitLab never shows a hook's secrets, so a rotation needs this; see
    /// the README's "Webhook secrets, signing and rotation".
    #[arg(long)]
    pub rotate_webhook_secret: bool,
    #[command(flatten)]
    pub gitlab: GitLabArgs,
}

#[derive(Subcommand, Debug)]
pub enum SecretCommand {
    /// Print a fresh signing key (`whsec_` and the base64 of 32 random bytes) for
    /// SMEFLOW_WEBHOOK_SECRET. GitLab 19.0+ signs every webhook delivery with it.
    New,
}

#[derive(Args, Debug, Clone)]
pub struct GitLabArgs {
    /// GitLab base URL, e.g. https://gitlab.com. The token is read from GITLAB_TOKEN only, so it
    /// never lands in shell history or process lists.
    #[arg(long, env = "GITLAB_URL")]
    pub gitlab_url: Option<String>,
    /// Public URL of `smeflow serve`'s webhook endpoint (overrides `[webhook] url`).
    #[arg(long, env = "SMEFLOW_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
}
