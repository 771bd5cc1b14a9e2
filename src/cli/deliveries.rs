//! `smeflow deliveries list/show/retry`: the webhook deliveries the store holds, on either backend,
//! and a dead one sent back to the queue.

use super::*;

pub(super) async fn deliveries(cmd: DeliveriesCommand) -> Result<(), Failure> {
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
