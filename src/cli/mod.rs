//! The command line: parse, dispatch, and map failures to exit codes (0 ok, 1 runtime failure,
//! 2 usage or configuration error).

mod args;
mod audit;
mod bootstrap;
mod check;
mod connect;
mod deliveries;
#[cfg(feature = "simulator")]
pub mod demo;
mod failure;
pub mod import;
mod program;
pub mod progress;
pub mod promote;
mod report;
mod sync;

pub use args::*;
use audit::*;
pub use bootstrap::*;
use check::*;
pub use connect::*;
use deliveries::*;
pub use failure::{Failure, FailureKind};
use report::*;

use crate::config::{AreaConfig, Catalog};
use crate::gitlab::{GitLab, RetryPolicy, Token};
use crate::plan::HookSecrets;
use crate::policy::provision;
use crate::reconcile::provision as provisioning;
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
