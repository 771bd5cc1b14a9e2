//! The command line: parse, dispatch, and map failures to exit codes (0 ok, 1 runtime failure,
//! 2 usage or configuration error).

#[cfg(feature = "simulator")]
pub mod demo;
mod failure;
pub mod import;
mod program;
pub mod progress;
pub mod promote;
mod sync;

pub use failure::{Failure, FailureKind};

use crate::config::{AreaConfig, Catalog};
use crate::gitlab::{GitLab, RetryPolicy, Token};
use crate::plan::HookSecrets;
use crate::policy::provision;
use crate::reconcile::provision as bootstrap;
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
    async fn open_existing(&self) -> Result<crate::store::Store, Failure> {
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

fn parse_issue_number(s: &str) -> Result<u64, String> {
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
    fn resolve<'c>(
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

/// `smeflow check-config | head -1`: the reader went away, so the rest of the output has
/// nowhere to go. Rust's `print!` panics on that; like other command-line tools, end quietly.
fn end_quietly_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

pub fn main() -> ExitCode {
    end_quietly_on_broken_pipe();
    let cli = Cli::parse();
    let serving = matches!(cli.command, Command::Serve(_));
    init_logging(cli.verbose, cli.log_format, serving);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // `serve` stops gracefully on its own signals; every other command that holds an area's
    // lease gives it back when interrupted, so the next run starts at once.
    let outcome = if matches!(cli.command, Command::Serve(_)) {
        runtime.block_on(run(cli))
    } else {
        runtime.block_on(async {
            tokio::select! {
                outcome = run(cli) => outcome,
                signal = interrupted() => {
                    crate::store::lease::release_held().await;
                    Err(Failure::interrupted(signal))
                }
            }
        })
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message.trim_end());
            ExitCode::from(f.code())
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM, naming which.
async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}

/// The levels: `serve` says what it changes (`smeflow::change`) and each sync at its default
/// level; -v adds decisions (debug), -vv GitLab's requests (debug in `smeflow::gitlab`) and the
/// HTTP stack. Handlebars logs every value it renders at debug, which drowns everything else,
/// so it stays at warn whatever the level.
fn log_filter(verbose: u8, serving: bool) -> String {
    let levels = match (verbose, serving) {
        (0, true) => "warn,smeflow=info",
        (0, false) => "warn",
        (1, _) => "warn,smeflow=debug,smeflow::gitlab=info",
        _ => "info,smeflow=debug,hyper=info,reqwest=info",
    };
    format!("{levels},handlebars=warn")
}

fn init_logging(verbose: u8, format: LogFormat, serving: bool) {
    use std::io::IsTerminal;
    let filter = match std::env::var("RUST_LOG") {
        Ok(mut own) if !own.trim().is_empty() => {
            if !own.contains("handlebars") {
                own.push_str(",handlebars=warn");
            }
            tracing_subscriber::EnvFilter::new(own)
        }
        _ => tracing_subscriber::EnvFilter::new(log_filter(verbose, serving)),
    };
    // https://no-color.org: set and not empty means no colour.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            // The reconcile's key (`span.issue`, `span.area`): a collector groups a run's lines.
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(!no_color && std::io::stderr().is_terminal())
            .try_init(),
    };
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::CheckConfig => check_config(&cli.config),
        Command::BootstrapArea(args) => {
            let catalog = Catalog::load(&cli.config)?;
            let areas = args.areas.resolve(&catalog)?;
            let gl = connect(&args.gitlab, &catalog)?;
            let secrets = webhook_secrets(&catalog)?;
            let webhook_url = webhook_url(&catalog, &args.gitlab, args.dry_run)?;
            let opts = BootstrapOptions {
                dry_run: args.dry_run,
                show_plan: true,
                webhook_url,
                webhook_secrets: secrets,
                rotate_webhook_secret: args.rotate_webhook_secret,
            };
            if args.dry_run {
                return bootstrap_areas(&gl, &catalog, &areas, &opts, &mut std::io::stdout()).await;
            }
            let store = crate::store::Store::open_either(args.database_url.as_deref(), &args.state).await.map_err(|e| {
                Failure::usage(format!(
                    "{e}: bootstrap-area keeps its per-area lock there; pass --state (or SMEFLOW_STATE) with a writable file"
                ))
            })?;
            let leases = lease_areas(&store, "bootstrap-area", &gl, &catalog, &areas).await?;
            let outcome =
                bootstrap_areas(&gl, &catalog, &areas, &opts, &mut std::io::stdout()).await;
            for lease in leases {
                lease.release().await;
            }
            outcome
        }
        Command::PromoteArea(args) => crate::cli::promote::run(&cli.config, args).await,
        Command::Serve(args) => serve(&cli.config, args).await,
        Command::SyncBoard(args) => sync::sync_board(&cli.config, args).await,
        Command::Report(args) => report(&cli.config, args).await,
        Command::Deliveries(cmd) => deliveries(cmd).await,
        Command::Log(args) => audit_log(&cli.config, args).await,
        Command::Import(cmd) => crate::cli::import::run(&cli.config, cmd).await,
        Command::Store(StoreCommand::Migrate { to, from }) => {
            use crate::store::migrate::MigrateError;
            let moved =
                crate::store::migrate::sqlite_to_postgres(&from, &to).await.map_err(|e| match e {
                    // Something to fix in the command or on the machine, not worth a retry.
                    MigrateError::NoSource(_) | MigrateError::InUse(_) => {
                        Failure::usage(format!("store migrate: {e}"))
                    }
                    MigrateError::Store(_) => Failure::runtime(format!("store migrate: {e}")),
                })?;
            print!("{}", crate::store::migrate::summary(&from, &to, &moved));
            Ok(())
        }
        Command::Secret(SecretCommand::New) => {
            println!("{}", new_signing_key());
            Ok(())
        }
        Command::EvalThemes(args) => eval_themes(&cli.config, args),
        #[cfg(feature = "simulator")]
        Command::Demo { area } => demo::run(&cli.config, &area).await,
        #[cfg(not(feature = "simulator"))]
        Command::Demo { .. } => Err(Failure::usage(
            "this smeflow was built without its GitLab simulator (--no-default-features), so it has no demo; build it with the default features to run `smeflow demo`",
        )),
    }
}

/// Takes every selected area's lease (in one order, so two runs over several areas cannot
/// deadlock), waiting for another run that holds one.
pub(crate) async fn lease_areas(
    store: &crate::store::Store,
    command: &str,
    gl: &GitLab,
    catalog: &Catalog,
    areas: &[&AreaConfig],
) -> Result<Vec<crate::store::lease::AreaLease>, Failure> {
    use crate::store::lease::{area_lease_name, AreaLease, WAIT};
    let mut names: Vec<(String, String)> = areas
        .iter()
        .map(|a| {
            let name = area_lease_name(gl.base_url(), &catalog.config.gitlab.group, a);
            (name, a.slug.clone())
        })
        .collect();
    names.sort();
    let mut leases = Vec::new();
    for (name, slug) in names {
        let what = format!("area {slug}");
        let lease = AreaLease::take(store, &name, &what, WAIT, |holder| {
            eprintln!("{command}: waiting for another run on {what} ({holder}) to finish");
        })
        .await
        .map_err(|e| Failure::runtime(e.to_string()))?;
        leases.push(lease);
    }
    Ok(leases)
}

fn eval_themes(config: &std::path::Path, args: EvalThemesArgs) -> Result<(), Failure> {
    let catalog = Catalog::load(config)?;
    let only = match &args.area {
        Some(a) => Some(catalog.area(a)?.slug.clone()),
        None => None,
    };
    let dir = args.data.unwrap_or_else(|| {
        config
            .parent()
            .map(|p| p.join("eval"))
            .unwrap_or_else(|| PathBuf::from("eval"))
    });
    let cases = crate::eval::load(&dir).map_err(Failure::usage)?;
    if args.fit {
        let tune = crate::eval::evaluate(&catalog, &cases, Some("tune"), only.as_deref())
            .map_err(Failure::usage)?;
        print!("{}", crate::eval::fit(&tune).map_err(Failure::usage)?);
        return Ok(());
    }
    let splits: &[&str] = match args.split.as_str() {
        "all" => &["tune", "holdout"],
        one => &[one][..],
    };
    for (i, split) in splits.iter().enumerate() {
        let results = crate::eval::evaluate(&catalog, &cases, Some(split), only.as_deref())
            .map_err(Failure::usage)?;
        let what = match *split {
            "holdout" => "the held-out part".to_string(),
            s => format!("the {s} part"),
        };
        if i > 0 {
            println!();
        }
        print!(
            "{}",
            crate::eval::render(&results, &format!("{what} of {}", dir.display()))
        );
    }
    Ok(())
}

/// `whsec_` and the base64 of 32 random bytes: the signing-token format GitLab 19.0+ takes.
pub fn new_signing_key() -> String {
    use base64::Engine;
    let key: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

async fn serve(config: &std::path::Path, args: ServeArgs) -> Result<(), Failure> {
    let catalog = Catalog::load(config)?;
    let raw = std::env::var(&catalog.config.webhook.secret_env).unwrap_or_default();
    let secrets = crate::service::auth::Secrets::parse(&raw)
        .map_err(|e| Failure::usage(format!("{}: {e}", catalog.config.webhook.secret_env)))?;
    if secrets.is_empty() && !args.insecure_accept_unsigned_webhooks {
        return Err(Failure::usage(format!(
            "refusing to start without a webhook secret: set {} to the secret token of the project webhooks (several, comma-separated, while rotating; `whsec_...` entries verify signed deliveries). For local development only: --insecure-accept-unsigned-webhooks",
            catalog.config.webhook.secret_env
        )));
    }
    if secrets.is_empty() {
        // One line, through the log: a JSON log stays JSON.
        tracing::warn!(
            "INSECURE: --insecure-accept-unsigned-webhooks: accepting webhook deliveries without a secret; anyone who can reach {} can make smeflow act",
            args.listen
        );
    }
    let gl = connect(&args.gitlab, &catalog)?;
    let opts = crate::service::ServeOptions {
        listen: args.listen,
        state: args.state,
        workers: args.workers,
        secrets,
        insecure: args.insecure_accept_unsigned_webhooks,
        sync: !args.no_sync && args.workers > 0,
    };
    let mut hardening = crate::service::Hardening::default();
    hardening.limits.header_timeout = std::time::Duration::from_secs(args.header_timeout);
    hardening.limits.body_timeout = std::time::Duration::from_secs(args.body_timeout);
    hardening.limits.drain = std::time::Duration::from_secs(args.drain_timeout);
    if let Some(n) = args.max_connections {
        hardening.limits.max_connections = n as usize;
    }
    // Test-only: divides every worker backoff and pause, so a simulated hour runs in seconds.
    if let Some(scale) = std::env::var("SMEFLOW_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        hardening.backoff.time_scale = scale;
    }
    let database_url = args.database_url.filter(|u| !u.trim().is_empty());
    crate::service::serve_on(database_url, opts, hardening, &catalog, gl)
        .await
        .map_err(Failure::from)
}

async fn report(config: &std::path::Path, args: ReportArgs) -> Result<(), Failure> {
    use crate::report::run::{apply, plan_post, read};
    let catalog = Catalog::load(config)?;
    let Some(area_name) = args.area.clone().filter(|_| !args.program) else {
        return program_report(&catalog, args).await;
    };
    let area = catalog.area(&area_name)?;
    crate::cli::promote::require_formal(area, "the monthly PM review")?;
    let now = report_until(args.until.as_deref(), chrono::Utc::now())?;
    let since = report_since(args.since.as_deref(), now)?;
    if since >= now {
        return Err(Failure::usage(
            "--since must be before the end of the period",
        ));
    }
    let gl = connect(&args.gitlab, &catalog)?;
    let project = area.project_full_path(&catalog.config.gitlab.group);
    let read = read(&gl, &project, &area.name, since, now).await?;
    match args.format {
        // The hidden marker finds the posted issue again; on a terminal it is only noise.
        ReportFormat::Md => print!(
            "{}",
            crate::report::render_markdown(&read.report, None)
                .replace("\n<!-- smeflow:pm-review -->\n", "")
        ),
        ReportFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&read.report).unwrap_or_default()
        ),
    }
    if args.post {
        let (changes, titles) = plan_post(&gl, &catalog, area, &read, now).await?;
        let kept = titles
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", ");
        if changes.is_empty() {
            eprintln!("No changes: {kept} are already up to date.");
            return Ok(());
        }
        for c in &changes {
            eprintln!("  {c}");
        }
        if args.dry_run {
            eprintln!(
                "Plan: {} change(s) to {kept}; dry run: nothing was written.",
                changes.len()
            );
            return Ok(());
        }
        apply(&gl, &changes).await?;
        eprintln!("Posted {} change(s) to {kept}.", changes.len());
    }
    Ok(())
}

/// `--until` as the end of that day (UTC), or `now` without it; a day still to come is refused
/// (its figures would be today's under a future name).
fn report_until(
    until: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
    let Some(s) = until else {
        return Ok(now);
    };
    let day = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| Failure::usage(format!("--until `{s}` must be a date like 2026-03-31")))?;
    if day > now.date_naive() {
        return Err(Failure::usage(format!(
            "--until `{s}` is in the future: the period can end today at the latest"
        )));
    }
    Ok(day
        .and_hms_opt(23, 59, 59)
        .expect("a time of day")
        .and_utc()
        .min(now))
}

/// `--since` as the start of that day (UTC), or 30 days before `now` without it.
fn report_since(
    since: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
    match since {
        None => Ok(now - chrono::Duration::days(30)),
        Some(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
            .map_err(|_| Failure::usage(format!("--since `{s}` must be a date like 2026-10-01"))),
    }
}

async fn program_report(catalog: &Catalog, args: ReportArgs) -> Result<(), Failure> {
    use crate::cli::program::period as program_period;
    use crate::report::program::{self, run::ProgramReportError};
    let now = chrono::Utc::now();
    let since = report_since(args.since.as_deref(), now)?;
    if since >= now {
        return Err(Failure::usage("--since must be a date in the past"));
    }
    if args.post && catalog.config.program.project.is_none() {
        return Err(Failure::usage(
            ProgramReportError::NoProgramProject.to_string(),
        ));
    }
    let period = program_period(args.quarter.as_deref(), since, now)?;
    let (since, until) = (period.since, period.until);
    let imported = crate::cli::program::imported(&args.store).await?;
    let gl = connect(&args.gitlab, catalog)?;
    // Time to assignment is compared with the quarter 6 months before.
    let previous_since = (since - (until - since)).min(period.quarter.minus(2).start());
    let (inputs, skipped) = program::run::read(&gl, catalog, previous_since).await?;
    for name in &skipped {
        eprintln!("Area {name} has no project in GitLab yet (run `smeflow bootstrap-area`); it is left out.");
    }
    let mut report = program::compute(&inputs, since, until);
    let interest = program::run::read_interest(&gl, catalog).await?;
    report.interest = program::interest_rows(&interest, since, until);
    report.metrics = Some(program::metrics::compute(
        &inputs,
        &imported,
        period.quarter,
    ));
    let body = program::render_markdown(&report);
    match args.format {
        ReportFormat::Md => print!("{body}"),
        ReportFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
    }
    let title = match period.quarterly {
        true => format!("SME Program Review {}", period.quarter),
        false => program::review_title(now),
    };
    if args.post && args.dry_run {
        eprintln!(
            "Dry run: \"{title}\" would be created or updated with the text above; nothing was written."
        );
    } else if args.post {
        let said = program::run::post_titled(&gl, catalog, &body, title).await?;
        eprintln!("{said}");
    }
    Ok(())
}

async fn deliveries(cmd: DeliveriesCommand) -> Result<(), Failure> {
    use crate::store::State;
    let when = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default()
    };
    match cmd {
        DeliveriesCommand::List {
            status,
            limit,
            store,
        } => {
            let state = match status.as_deref() {
                None => None,
                Some(s) => Some(State::parse(s).ok_or_else(|| {
                    Failure::usage(format!(
                        "unknown state `{s}`: use pending, in_progress, done, failed or dead"
                    ))
                })?),
            };
            let store = store.open_existing().await?;
            let rows = store
                .list(state, limit)
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
            println!(
                "{:>6}  {:<11}  {:>3}  {:<19}  {:<22}  target",
                "id", "state", "try", "received (UTC)", "event"
            );
            for d in rows {
                println!(
                    "{:>6}  {:<11}  {:>3}  {:<19}  {:<22}  {}#{}{}",
                    d.id,
                    d.state.as_str(),
                    d.attempts,
                    when(d.received_at),
                    d.event,
                    d.project_path.unwrap_or_default(),
                    d.issue_iid.map(|i| i.to_string()).unwrap_or_default(),
                    d.last_error
                        .map(|e| format!("  ({})", e.lines().next().unwrap_or_default()))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        DeliveriesCommand::Show { id, store } => {
            let store = store.open_existing().await?;
            let d = store
                .get(id)
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?
                .ok_or_else(|| Failure::usage(format!("no delivery {id}")))?;
            println!(
                "delivery {}: {} ({} attempts)",
                d.id,
                d.state.as_str(),
                d.attempts
            );
            println!("event:     {}", d.event);
            println!("key:       {}", d.dedupe_key);
            println!(
                "target:    {}#{}",
                d.project_path.unwrap_or_default(),
                d.issue_iid.unwrap_or_default()
            );
            println!("received:  {} UTC", when(d.received_at));
            println!("next try:  {} UTC", when(d.next_attempt_at));
            if let Some(e) = d.last_error {
                println!("last error: {e}");
            }
            let body: serde_json::Value = serde_json::from_slice(&d.body).unwrap_or_default();
            println!(
                "{}",
                serde_json::to_string_pretty(&body).unwrap_or_default()
            );
            Ok(())
        }
        DeliveriesCommand::Retry { id, all: _, store } => {
            let store = store.open_existing().await?;
            let n = store
                .retry(id)
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
            println!("{n} deliver{} queued again; a running `smeflow serve` picks {} up within a second.", if n == 1 { "y" } else { "ies" }, if n == 1 { "it" } else { "them" });
            Ok(())
        }
    }
}

/// `smeflow log`: the audit log, filtered, one change a line.
async fn audit_log(config: &std::path::Path, args: LogArgs) -> Result<(), Failure> {
    let now = chrono::Utc::now();
    let project = match &args.area {
        Some(area) => {
            let catalog = Catalog::load(config)?;
            Some(
                catalog
                    .area(area)?
                    .project_full_path(&catalog.config.gitlab.group),
            )
        }
        None => None,
    };
    let since = args
        .since
        .as_deref()
        .map(|s| parse_moment("--since", s, now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| parse_moment("--until", s, now))
        .transpose()?;
    if let (Some(a), Some(b)) = (since, until) {
        if a >= b {
            return Err(Failure::usage("--since must be before --until"));
        }
    }
    let store = args.store.open_existing().await?;
    let query = crate::store::audit::AuditQuery {
        project: project.clone(),
        issue_iid: args.issue,
        since_ms: since.map(|t| t.timestamp_millis()),
        until_ms: until.map(|t| t.timestamp_millis()),
        limit: args.limit,
    };
    let entries = store
        .audit_entries(&query)
        .await
        .map_err(|e| Failure::runtime(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    if entries.is_empty() {
        let _ = writeln!(
            out,
            "No changes recorded{} in {}.",
            match (&project, args.issue) {
                (Some(p), Some(i)) => format!(" for {p}#{i}"),
                (Some(p), None) => format!(" for {p}"),
                (None, Some(i)) => format!(" for issue #{i}"),
                (None, None) => String::new(),
            },
            store.describe()
        );
        return Ok(());
    }
    let by_width = entries.iter().map(|e| e.source.len()).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "{:<19}  {:<by_width$}  {:<}",
        "when (UTC)", "by", "project: change"
    );
    for e in &entries {
        let when = chrono::DateTime::from_timestamp_millis(e.at_ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{when:<19}  {:<by_width$}  {}: {}",
            e.source, e.project, e.change
        );
    }
    if entries.len() == args.limit {
        let _ = writeln!(
            out,
            "(the newest {} lines; --limit shows more, --since fewer)",
            args.limit
        );
    }
    Ok(())
}

/// A moment given on the command line: a date (midnight UTC), an RFC 3339 time, or an age
/// before `now` (30m, 6h, 7d; at most ten years).
fn parse_moment(
    flag: &str,
    s: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
    let s = s.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let unit = s.chars().last().unwrap_or(' ');
    let minutes = match unit {
        'm' => Some(1),
        'h' => Some(60),
        'd' => Some(24 * 60),
        _ => None,
    };
    let age = minutes.and_then(|per| {
        s[..s.len() - 1]
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(per))
            .filter(|m| (0..=10 * 366 * 24 * 60).contains(m))
            .map(chrono::Duration::minutes)
    });
    age.map(|a| now - a).ok_or_else(|| {
        Failure::usage(format!(
            "{flag} `{s}` is not a date (2026-10-01), a time (2026-10-01T14:00:00Z) or an age (30m, 6h, 7d)"
        ))
    })
}

fn check_config(path: &std::path::Path) -> Result<(), Failure> {
    let catalog = Catalog::load(path)?;
    let labels: usize = catalog.label_sets.values().map(|s| s.labels.len()).sum();
    println!(
        "{} is valid: {} areas, {} label sets with {labels} labels, {} issue templates and {} seed issues that render for every area.",
        path.display(),
        catalog.config.areas.len(),
        catalog.label_sets.len(),
        catalog.templates.len(),
        catalog.seed_issues.len()
    );
    let spec = &catalog.config.feedback.sync_schedule;
    if let Ok(schedule) = crate::config::schedule::parse_schedule(spec) {
        let runs: Vec<String> =
            crate::config::schedule::next_runs(&schedule, chrono::Utc::now(), 3)
                .iter()
                .map(|t| t.format("%a %Y-%m-%d %H:%M").to_string())
                .collect();
        println!(
            "`serve` syncs every area on `{spec}` (UTC); next: {}.",
            runs.join(", ")
        );
    }
    print!("{}", catalog.describe_areas().map_err(Failure::usage)?);
    for warning in config_warnings(&catalog) {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

/// What is valid but will not work as meant: said by `check-config`, never fatal.
fn config_warnings(catalog: &Catalog) -> Vec<String> {
    let mut warnings = Vec::new();
    let overridden = std::env::var("SMEFLOW_WEBHOOK_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());
    match overridden {
        Some(url) if is_placeholder_webhook(&url) => warnings.push(format!(
            "SMEFLOW_WEBHOOK_URL `{url}` is the shipped placeholder: bootstrap-area refuses to point hooks there; set it to the address where GitLab reaches `smeflow serve`, plus /webhooks/gitlab"
        )),
        Some(_) => {}
        None if is_placeholder_webhook(&catalog.config.webhook.url) => {
            warnings.push(placeholder_webhook_help(catalog))
        }
        None => {}
    }
    let formal: Vec<&AreaConfig> = catalog
        .config
        .areas
        .iter()
        .filter(|a| a.status.is_formal())
        .collect();
    let nobody: Vec<&str> = formal
        .iter()
        .filter(|a| a.leads.is_empty() && a.pms.is_empty())
        .map(|a| a.slug.as_str())
        .collect();
    if !nobody.is_empty() {
        let which = if nobody.len() == formal.len() {
            format!("every formal area ({})", nobody.join(", "))
        } else {
            format!("formal area(s) {}", nobody.join(", "))
        };
        warnings.push(format!(
            "{which} has empty `leads` and `pms` in {}: no one is mentioned when an SME request waits 24 hours, and feedback notes mention no PM. Add GitLab usernames (without @), e.g. leads = [\"jdoe\"]",
            catalog.config_path.display()
        ));
    }
    warnings
}

/// Builds the GitLab client from flags and environment, or says exactly what is missing.
pub fn connect(args: &GitLabArgs, catalog: &Catalog) -> Result<GitLab, Failure> {
    let gl = connect_unpaced(args)?;
    gl.set_action_limits(action_limits(catalog));
    Ok(gl)
}

/// `[gitlab] notes_per_minute` / `issues_per_minute`; `SMEFLOW_ACTION_WINDOW_MS` shortens
/// their minute, for tests.
fn action_limits(catalog: &Catalog) -> crate::gitlab::ActionLimits {
    let mut limits = crate::gitlab::ActionLimits {
        notes: catalog.config.gitlab.notes_per_minute,
        issue_creations: catalog.config.gitlab.issues_per_minute,
        ..Default::default()
    };
    if let Some(ms) = std::env::var("SMEFLOW_ACTION_WINDOW_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        limits.window = Duration::from_millis(ms.max(1));
    }
    limits
}

fn connect_unpaced(args: &GitLabArgs) -> Result<GitLab, Failure> {
    let url = args.gitlab_url.clone().filter(|u| !u.trim().is_empty()).ok_or_else(|| {
        Failure::usage("GITLAB_URL is not set: export GITLAB_URL=https://gitlab.example.com (or pass --gitlab-url). To try smeflow without a GitLab, run `smeflow demo`.")
    })?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(Failure::usage(format!(
            "GITLAB_URL `{}` must start with https:// or http:// (e.g. https://gitlab.com)",
            crate::redact::url(&url)
        )));
    }
    let trimmed = url.trim_end_matches('/');
    if trimmed.ends_with("/api/v4") || trimmed.ends_with("/api/v3") {
        return Err(Failure::usage(format!(
            "GITLAB_URL `{}` names the API, not the instance: drop the {} (e.g. GITLAB_URL={}); smeflow adds it itself",
            crate::redact::url(&url),
            &trimmed[trimmed.len() - 7..],
            crate::redact::url(&trimmed[..trimmed.len() - 7])
        )));
    }
    let token = std::env::var("GITLAB_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            Failure::usage("GITLAB_TOKEN is not set: create a personal, group or project access token with the `api` scope (Maintainer role on the SME group) and export GITLAB_TOKEN=<token>")
        })?;
    GitLab::new(&url, Token::new(token.trim()), retry_policy())
        .map_err(|e| Failure::runtime(e.to_string()))
}

/// `SMEFLOW_RETRY_BASE_MS` shortens backoff, for tests and impatient operators.
fn retry_policy() -> RetryPolicy {
    let mut policy = RetryPolicy::default();
    // For tests that play a slow GitLab in seconds rather than minutes.
    let millis = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
    };
    if let Some(base) = millis("SMEFLOW_RETRY_BASE_MS") {
        policy.base_delay = base;
        policy.max_delay = base.saturating_mul(8).max(Duration::from_millis(1));
    }
    if let Some(timeout) = millis("SMEFLOW_REQUEST_TIMEOUT_MS") {
        policy.request_timeout = timeout;
    }
    if let Some(settle) = millis("SMEFLOW_WRITE_SETTLE_MS") {
        policy.write_settle = settle;
    }
    policy
}

/// The shipped `[webhook] url`: a hook pointing there never reaches `serve`.
pub const PLACEHOLDER_WEBHOOK_HOST: &str = "smeflow.example.com";

fn is_placeholder_webhook(url: &str) -> bool {
    let rest = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host = rest.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    host.eq_ignore_ascii_case(PLACEHOLDER_WEBHOOK_HOST)
}

fn placeholder_webhook_help(catalog: &Catalog) -> String {
    format!(
        "the webhook URL is still the shipped placeholder `{}`: GitLab would send every delivery there, not to `smeflow serve`. Set SMEFLOW_WEBHOOK_URL (or --webhook-url, or `[webhook] url` in {}) to the address where GitLab reaches `smeflow serve`, plus /webhooks/gitlab, e.g. https://smeflow.your-company.com/webhooks/gitlab",
        catalog.config.webhook.url,
        catalog.config_path.display()
    )
}

/// The URL project hooks get: `--webhook-url`/SMEFLOW_WEBHOOK_URL, else `[webhook] url`. The
/// shipped placeholder is refused before anything is written (a dry run only warns).
pub(crate) fn webhook_url(
    catalog: &Catalog,
    args: &GitLabArgs,
    dry_run: bool,
) -> Result<String, Failure> {
    let url = args
        .webhook_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| catalog.config.webhook.url.clone());
    if is_placeholder_webhook(&url) {
        let help = placeholder_webhook_help(catalog);
        if !dry_run {
            return Err(Failure::usage(format!("refusing to write: {help}")));
        }
        eprintln!("warning: {help}. Without that, this plan cannot be applied.");
    }
    Ok(url)
}

pub(crate) fn webhook_secrets(catalog: &Catalog) -> Result<Option<HookSecrets>, Failure> {
    let env = &catalog.config.webhook.secret_env;
    let raw = std::env::var(env).unwrap_or_default();
    let secrets =
        HookSecrets::from_list(&raw).map_err(|e| Failure::usage(format!("{env}: {e}")))?;
    Ok(Some(secrets).filter(|s| !s.is_empty()))
}

pub struct BootstrapOptions {
    pub dry_run: bool,
    /// Print every planned change (the summary line is always printed).
    pub show_plan: bool,
    pub webhook_url: String,
    pub webhook_secrets: Option<HookSecrets>,
    pub rotate_webhook_secret: bool,
}

/// How many areas `bootstrap-area --all` provisions at once. A fresh area is about 90 requests
/// (a few seconds at GitLab.com's distance), so eight at once stay far inside GitLab.com's
/// 2,000 requests a minute, and the client paces on `RateLimit-Remaining` and the per-action
/// limits anyway; four made seven areas take two rounds, twice one area.
const AREAS_AT_ONCE: usize = 8;

/// Bootstraps the areas, up to `AREAS_AT_ONCE` at a time (they are independent projects), each
/// area's output printed whole and in order. One area's failure does not stop the others,
/// except a rejected token, which would fail them all.
pub async fn bootstrap_areas(
    gl: &GitLab,
    catalog: &Catalog,
    areas: &[&AreaConfig],
    opts: &BootstrapOptions,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    use futures_util::stream::{self, StreamExt};
    let mut failed = Vec::new();
    let many = areas.len() > 1;
    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    let mut results = stream::iter(areas.iter().enumerate())
        .map(|(i, area)| async move {
            let mut text: Vec<u8> = Vec::new();
            if many {
                let _ = writeln!(text, "[{}/{}] {}", i + 1, areas.len(), area.name);
            }
            let outcome = bootstrap_one(gl, catalog, area, opts, &mut text).await;
            (area, text, outcome)
        })
        .buffered(AREAS_AT_ONCE);
    while let Some((area, text, outcome)) = results.next().await {
        let _ = out.write_all(&text);
        match outcome {
            Ok((0, 0)) => unchanged += 1,
            Ok((c, u)) => {
                created += c;
                updated += u;
            }
            Err(f) if f.fails_every_area() || !many => return Err(f),
            Err(f) => {
                let _ = writeln!(out, "{}: FAILED: {}", area.name, f.message);
                failed.push(area.slug.clone());
            }
        }
    }
    if many {
        let (create, update) = if opts.dry_run {
            ("to create", "to update")
        } else {
            ("created", "updated")
        };
        let _ = writeln!(
            out,
            "\nAll {} areas: {created} {create}, {update_n} {update}; {unchanged} already matched the configuration{}{}.",
            areas.len(),
            if failed.is_empty() {
                String::new()
            } else {
                format!("; {} failed ({})", failed.len(), failed.join(", "))
            },
            if opts.dry_run { "; dry run: nothing was written" } else { "" },
            update_n = updated,
        );
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::runtime(format!(
            "{} of {} areas failed: {} (see above); run the command again to finish them",
            failed.len(),
            areas.len(),
            failed.join(", ")
        )))
    }
}

async fn bootstrap_one(
    gl: &GitLab,
    catalog: &Catalog,
    area: &AreaConfig,
    opts: &BootstrapOptions,
    out: &mut dyn Write,
) -> Result<(usize, usize), Failure> {
    let desired =
        bootstrap::desired(catalog, area, Some(&opts.webhook_url)).map_err(Failure::usage)?;
    provision_area(gl, catalog, area, desired, opts, out).await
}

/// `reconcile::provision::provision_area` with the CLI's options, progress and exit codes:
/// shared by `bootstrap-area` and `promote-area`. Returns the changes created and updated.
pub(crate) async fn provision_area(
    gl: &GitLab,
    catalog: &Catalog,
    area: &AreaConfig,
    desired: provision::DesiredArea,
    opts: &BootstrapOptions,
    out: &mut dyn Write,
) -> Result<(usize, usize), Failure> {
    let provision_opts = bootstrap::ProvisionOptions {
        dry_run: opts.dry_run,
        show_plan: opts.show_plan,
        webhook_secrets: opts.webhook_secrets.clone(),
        rotate_webhook_secret: opts.rotate_webhook_secret,
    };
    let progress = progress::Terminal::with_plain_lines();
    Ok(
        bootstrap::provision_area(gl, catalog, area, desired, &provision_opts, &progress, out)
            .await?,
    )
}
