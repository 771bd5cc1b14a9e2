//! The command line: parse, dispatch, and map failures to exit codes (0 ok, 1 runtime failure,
//! 2 usage or configuration error).

use crate::bootstrap::{self, BootstrapError};
use crate::config::{AreaConfig, Catalog};
use crate::gitlab::{GitLab, GitLabError, RetryPolicy, Token};
use crate::plan::exec::Executor;
use crate::policy::provision;
use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

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
    #[arg(long, global = true, env = "SMEFLOW_CONFIG", default_value = "smeflow.toml")]
    pub config: PathBuf,
    /// More log output on stderr (-v: what is applied, -vv: every request).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create or repair an SME Area's collaboration project (project, labels, issue templates,
    /// seed issues, boards, webhook). Shows the plan, then applies only the difference.
    #[command(after_help = "Examples:\n  smeflow bootstrap-area ai --dry-run   # show what would change, write nothing\n  smeflow bootstrap-area ai             # apply it\n  smeflow bootstrap-area --all          # every area in smeflow.toml")]
    BootstrapArea(BootstrapArgs),
    /// Validate smeflow.toml, the label sets and the issue templates (renders every template for
    /// every area). Needs no GitLab.
    CheckConfig,
    /// Run the whole flow against a built-in GitLab simulator: no GitLab or token needed.
    Demo {
        /// Area to bootstrap in the demo.
        #[arg(default_value = "ai")]
        area: String,
    },
}

#[derive(Args, Debug)]
pub struct BootstrapArgs {
    /// Area slug or name from smeflow.toml (e.g. `ai`).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub area: Option<String>,
    /// Every area in smeflow.toml.
    #[arg(long)]
    pub all: bool,
    /// Print the plan and exit without writing anything.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub gitlab: GitLabArgs,
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

/// A failure with the exit code it deserves.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
    pub fn runtime(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<crate::config::ConfigError> for Failure {
    fn from(e: crate::config::ConfigError) -> Failure {
        Failure::usage(e.to_string())
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message.trim_end());
            ExitCode::from(f.code)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug,hyper=info,reqwest=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::CheckConfig => check_config(&cli.config),
        Command::BootstrapArea(args) => {
            let catalog = Catalog::load(&cli.config)?;
            let areas: Vec<&AreaConfig> = if args.all {
                catalog.config.areas.iter().collect()
            } else {
                vec![catalog.area(args.area.as_deref().unwrap_or_default())?]
            };
            let gl = connect(&args.gitlab)?;
            let secret = webhook_secret(&catalog);
            let webhook_url = args
                .gitlab
                .webhook_url
                .clone()
                .unwrap_or_else(|| catalog.config.webhook.url.clone());
            let opts = BootstrapOptions {
                dry_run: args.dry_run,
                webhook_url,
                webhook_secret: secret,
            };
            bootstrap_areas(&gl, &catalog, &areas, &opts, &mut std::io::stdout()).await
        }
        Command::Demo { area } => crate::demo::run(&cli.config, &area).await,
    }
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
    Ok(())
}

/// Builds the GitLab client from flags and environment, or says exactly what is missing.
pub fn connect(args: &GitLabArgs) -> Result<GitLab, Failure> {
    let url = args.gitlab_url.clone().filter(|u| !u.trim().is_empty()).ok_or_else(|| {
        Failure::usage("GITLAB_URL is not set: export GITLAB_URL=https://gitlab.example.com (or pass --gitlab-url). To try smeflow without a GitLab, run `smeflow demo`.")
    })?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(Failure::usage(format!(
            "GITLAB_URL `{url}` must start with https:// (e.g. https://gitlab.com)"
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
    if let Some(ms) = std::env::var("SMEFLOW_RETRY_BASE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        policy.base_delay = Duration::from_millis(ms);
        policy.max_delay = Duration::from_millis(ms.saturating_mul(8).max(1));
    }
    policy
}

fn webhook_secret(catalog: &Catalog) -> Option<Token> {
    std::env::var(&catalog.config.webhook.secret_env)
        .ok()
        .map(Token::new)
        .filter(|t| !t.is_empty())
}

pub struct BootstrapOptions {
    pub dry_run: bool,
    pub webhook_url: String,
    pub webhook_secret: Option<Token>,
}

/// Bootstraps each area in turn. One area's failure does not stop the others (they are
/// independent projects), except a rejected token, which would fail them all.
pub async fn bootstrap_areas(
    gl: &GitLab,
    catalog: &Catalog,
    areas: &[&AreaConfig],
    opts: &BootstrapOptions,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let mut failed = Vec::new();
    let many = areas.len() > 1;
    for (i, area) in areas.iter().enumerate() {
        if many {
            let _ = writeln!(out, "[{}/{}] {}", i + 1, areas.len(), area.name);
        }
        match bootstrap_one(gl, catalog, area, opts, out).await {
            Ok(()) => {}
            Err(f) if f.code == 2 => return Err(f),
            Err(f) => {
                let fatal = f.message.contains("401 Unauthorized");
                if !many || fatal {
                    return Err(f);
                }
                let _ = writeln!(out, "{}: FAILED: {}", area.name, f.message);
                failed.push(area.slug.clone());
            }
        }
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
) -> Result<(), Failure> {
    let started = Instant::now();
    let desired = bootstrap::desired(catalog, area, Some(&opts.webhook_url)).map_err(Failure::usage)?;
    let full = desired.full_path();
    let observed = bootstrap::observe(gl, &desired, &catalog.config_path.display().to_string())
        .await
        .map_err(|e| match e {
            BootstrapError::GroupNotFound { .. } => Failure::usage(e.to_string()),
            BootstrapError::GitLab(e) => gitlab_failure(e),
        })?;
    let plan = provision::plan(&desired, &observed);
    let _ = writeln!(out, "Area {} ({}) -> {}/{}", area.name, area.slug, gl.base_url(), full);
    let _ = writeln!(out, "{plan}");
    if opts.dry_run || plan.is_empty() {
        if opts.dry_run && !plan.is_empty() {
            let _ = writeln!(out, "Dry run: nothing was written.");
        }
        return Ok(());
    }
    if plan.changes.iter().any(|c| c.needs_webhook_secret()) && opts.webhook_secret.is_none() {
        return Err(Failure::usage(format!(
            "the webhook needs a secret token and {} is not set. Generate one (e.g. `openssl rand -hex 32`), export it, and give the same value to `smeflow serve`. Nothing was written.",
            catalog.config.webhook.secret_env
        )));
    }
    let mut exec = Executor::new(gl, opts.webhook_secret.clone());
    exec.know_labels(&full, &observed.labels);
    exec.know_boards(&full, &observed.boards);
    let total = plan.changes.len();
    let bar = progress_bar(total);
    let applied = exec
        .apply(&plan.changes, |done, change| match &bar {
            Some(bar) => {
                bar.set_position(done as u64);
                bar.set_message(change.to_string().lines().next().unwrap_or_default().to_string());
            }
            None => {
                if done % 25 == 0 && done < total {
                    eprintln!("  {done}/{total} changes applied");
                }
            }
        })
        .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let applied = applied.map_err(|e| gitlab_failure_text(e.to_string(), &e.source))?;
    let (c, u) = plan.counts();
    let _ = writeln!(
        out,
        "Applied {applied} changes ({c} created, {u} updated) in {:.1}s.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn progress_bar(total: usize) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || total < 2 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("  {bar:30} {pos}/{len} {wide_msg}")
            .expect("valid template"),
    );
    Some(bar)
}

fn gitlab_failure(e: GitLabError) -> Failure {
    gitlab_failure_text(e.to_string(), &e)
}

fn gitlab_failure_text(message: String, e: &GitLabError) -> Failure {
    // A bad token is something to fix in the environment, not a transient failure.
    let code = if matches!(e, GitLabError::Unauthorized { .. }) { 2 } else { 1 };
    Failure { code, message }
}
