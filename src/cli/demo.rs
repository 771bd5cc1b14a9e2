//! `smeflow demo`: the whole flow against the built-in GitLab simulator, so a newcomer sees
//! what smeflow does without a GitLab or a token: bootstrap (plan, apply, no-op), then the
//! service tagging a few realistic feedback issues as they are opened.

use super::{bootstrap_areas, BootstrapOptions, Failure};
use crate::config::Catalog;
use crate::gitlab::{GitLab, RetryPolicy, Token};
use crate::service::{auth::Secrets, ServeOptions};
use crate::sim::{Access, Simulator};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const BOT_TOKEN: &str = "glpat-demo-smeflow-bot";
const SA_TOKEN: &str = "glpat-demo-solutions-architect";
const DEMO_SECRET: &str = "demo-webhook-secret";

/// Realistic feedback, as Solutions Architects write it.
const FEEDBACK: [(&str, &str, &str); 4] = [
    (
        "ACME Corp: Duo Chat forgets our conversation history",
        "**Customer:** ACME Corp\n**ARR at stake:** 250000\n\n### Problem\n\nAfter three or four follow-up questions the chat loses all context and answers as if the conversation had just started.",
        "Type::Customer Feedback",
    ),
    (
        "Globex: code completion is too slow in JetBrains IDEs",
        "**Customer:** Globex\n**ARR at stake:** 80000\n\n### Problem\n\nSuggestions take 3-4 seconds to appear; developers stop waiting for them.",
        "Type::Customer Feedback,Region::EMEA NEUR,Priority::High",
    ),
    (
        "Initech wants to run models on their own GPUs",
        "**Customer:** Initech\n\n### Problem\n\nTheir network is air-gapped; they want to bring their own model and serve it with vLLM.",
        "Type::Customer Feedback,Region::US East,Priority::Medium",
    ),
    (
        "Umbrella: Duo Chat loses the conversation after a few questions",
        "**Customer:** Umbrella\n**ARR at stake:** 120000\n\n### Problem\n\nLong chat sessions lose their history; the team re-explains the context every time.",
        "Type::Customer Feedback,Region::APAC,Priority::High",
    ),
];

fn failure(e: impl std::fmt::Display) -> Failure {
    Failure::runtime(e.to_string())
}

pub async fn run(config: &Path, area_wanted: &str) -> Result<(), Failure> {
    let catalog = Catalog::load(config).map_err(|e| {
        Failure::usage(format!(
            "{e}\n(run the demo from the repository root, where smeflow.toml is, or set SMEFLOW_CONFIG)"
        ))
    })?;
    let area = catalog.area(area_wanted)?;
    crate::cli::promote::require_formal(area, "the demo's customer-feedback flow")?;
    let sim = Simulator::start().await;
    let group = catalog.config.gitlab.group.trim_matches('/').to_string();
    sim.add_group(&group);
    sim.add_user("smeflow-bot", BOT_TOKEN);
    sim.set_member(&group, "smeflow-bot", Access::Maintainer);
    sim.add_user("jdoe", SA_TOKEN);
    sim.set_member(&group, "jdoe", Access::Developer);
    println!(
        "GitLab simulator listening on {} (group {group})",
        sim.url()
    );

    let gl =
        GitLab::new(&sim.url(), Token::new(BOT_TOKEN), RetryPolicy::default()).map_err(failure)?;
    let state = tempfile::tempdir().map_err(failure)?;
    let service = crate::service::start(
        ServeOptions {
            listen: "127.0.0.1:0".parse().expect("address"),
            state: state.path().join("smeflow.db"),
            workers: 2,
            secrets: Secrets::parse(DEMO_SECRET).map_err(Failure::runtime)?,
            insecure: false,
            sync: false,
        },
        &catalog,
        gl.clone(),
    )
    .await
    .map_err(failure)?;
    let webhook_url = format!("http://{}/webhooks/gitlab", service.addr);
    println!(
        "smeflow serve listening on {webhook_url} (the demo points the area's webhook here)\n"
    );
    let app = service.app.clone();
    let bot = service.bot.clone();
    let controller = service.controller.clone();
    let idle_check = crate::service::Idle(app.clone());
    tokio::spawn(service.serve_until(std::future::pending()));

    let mut out = std::io::stdout();
    let opts = |dry_run, show_plan| BootstrapOptions {
        dry_run,
        show_plan,
        webhook_url: webhook_url.clone(),
        webhook_secrets: crate::plan::HookSecrets::from_list(DEMO_SECRET).ok(),
        rotate_webhook_secret: false,
    };
    println!("== 1. smeflow bootstrap-area {} --dry-run", area.slug);
    bootstrap_areas(&gl, &catalog, &[area], &opts(true, true), &mut out).await?;
    println!(
        "   requests: {} reads, {} writes\n",
        sim.count("GET"),
        sim.writes()
    );

    sim.reset_requests();
    println!("== 2. smeflow bootstrap-area {}", area.slug);
    bootstrap_areas(&gl, &catalog, &[area], &opts(false, false), &mut out).await?;
    println!(
        "   requests: {} reads, {} writes\n",
        sim.count("GET"),
        sim.writes()
    );

    sim.reset_requests();
    println!("== 3. smeflow bootstrap-area {} (again)", area.slug);
    bootstrap_areas(&gl, &catalog, &[area], &opts(false, false), &mut out).await?;
    println!(
        "   requests: {} reads, {} writes\n",
        sim.count("GET"),
        sim.writes()
    );

    let project = area.project_full_path(&group);
    print_project(&sim, &catalog, &project);

    println!("\n== 4. A Solutions Architect opens customer feedback; smeflow serve reacts to the webhooks");
    let mut opened = Vec::new();
    for (title, description, labels) in FEEDBACK {
        let (status, issue) = sim
            .open_issue_as(
                SA_TOKEN,
                &project,
                json!({"title": title, "description": description, "labels": labels}),
            )
            .await;
        if status != 201 {
            return Err(Failure::runtime(format!(
                "the simulator refused the demo issue: {issue}"
            )));
        }
        println!(
            "   @jdoe opened #{} \"{title}\" with labels [{labels}]",
            issue["iid"]
        );
        opened.push(issue["iid"].as_u64().unwrap_or_default());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut quiet = 0;
    while quiet < 3 && Instant::now() < deadline {
        sim.deliveries_flushed().await;
        quiet = if idle_check.idle() { quiet + 1 } else { 0 };
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!();
    for iid in opened {
        let issue = sim
            .issues(&project)
            .into_iter()
            .find(|i| i["iid"] == iid)
            .unwrap_or_default();
        let labels: Vec<&str> = issue["labels"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str())
            .collect();
        println!("#{iid} {}", issue["title"].as_str().unwrap_or_default());
        println!("   labels: {}", labels.join(", "));
        // GitLab's own system notes ("added to epic &1") are not smeflow speaking.
        for note in sim
            .notes(&project, iid)
            .into_iter()
            .filter(|n| n["system"] != true)
        {
            let body = note["body"].as_str().unwrap_or_default();
            let text: Vec<&str> = body
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with("<!--"))
                .collect();
            println!(
                "   note by @{}: {}",
                note["author"]["username"].as_str().unwrap_or_default(),
                text.join(" / ")
            );
        }
    }
    let sent = sim.deliveries();
    println!(
        "\n{} webhook deliveries were sent and answered {}; smeflow's own edits came back as webhooks and changed nothing.",
        sent.len(),
        if sent.iter().all(|d| d.status == 202) { "202" } else { "with errors" }
    );
    let epics = sim.epics(&group);
    if !epics.is_empty() {
        println!("A theme that two customers share got its epic as the feedback arrived:");
    }
    for epic in epics {
        println!(
            "   epic \"{}\" links {} feedback issues",
            epic["title"].as_str().unwrap_or_default(),
            epic["issue_ids"].as_array().map(Vec::len).unwrap_or(0)
        );
    }

    println!(
        "\n== 5. smeflow sync-board {} (serve also runs this hourly; it repairs what a missed webhook left)",
        area.slug
    );
    let opts = crate::reconcile::area::SyncOptions {
        dry_run: false,
        full: false,
    };
    let shown = super::sync::Presenter::new(crate::reconcile::Quiet, false);
    let synced = controller
        .reconcile_area(&area.slug, &opts, crate::store::lease::WAIT, |_| {}, &shown)
        .await
        .map_err(failure)?;
    shown.done(&synced);

    println!("\n== 6. The PM Review board");
    let issues = sim.issues(&project);
    for board in sim
        .boards(&project)
        .into_iter()
        .filter(|b| b["name"] == "PM Review")
    {
        for list in board["lists"].as_array().into_iter().flatten() {
            let label = list["label"]["name"].as_str().unwrap_or_default();
            let cards: Vec<String> = issues
                .iter()
                .filter(|i| {
                    i["state"] == "opened"
                        && i["labels"]
                            .as_array()
                            .is_some_and(|l| l.iter().any(|x| x == label))
                })
                .map(|i| format!("#{}", i["iid"]))
                .collect();
            println!(
                "   {:<24} {}",
                label.trim_start_matches("PM Status::"),
                cards.join(" ")
            );
        }
    }

    println!("\n== 7. smeflow report {} --post", area.slug);
    let now = chrono::Utc::now();
    let (report, info) = crate::report::run::build(
        &gl,
        &project,
        &area.name,
        now - chrono::Duration::days(30),
        now,
    )
    .await
    .map_err(failure)?;
    print!("{}", crate::report::render_markdown(&report, None));
    let said = crate::report::run::post(&gl, &project, &info, &report, now)
        .await
        .map_err(failure)?;
    println!("\n{said}");

    request_life(&sim, &controller, &catalog, area, &idle_check).await?;

    println!("\n== 9. smeflow report --program (every area side by side)");
    let since = now - chrono::Duration::days(30);
    let (inputs, _) =
        crate::report::program::run::read(&gl, &catalog, since - (chrono::Utc::now() - since))
            .await
            .map_err(failure)?;
    let report = crate::report::program::compute(&inputs, since, chrono::Utc::now());
    print!("{}", crate::report::program::render_markdown(&report));

    // The dashboard: the demo makes up its token, as a person would set SMEFLOW_DASHBOARD_TOKEN.
    let token = format!("demo-dashboard-{}", rand::random::<u64>());
    let _ = app.dashboard.set(std::sync::Arc::new(
        crate::service::dashboard::Dashboard::new(&token, &catalog, gl.clone()),
    ));
    let dashboard_url = webhook_url.trim_end_matches("webhooks/gitlab").to_string();
    let events_url = webhook_url.replace("/webhooks/gitlab", "/slack/events");
    slack_life(&sim, &gl, &catalog, area, &app, bot, &events_url).await?;

    println!("\n== 11. The dashboard\n{dashboard_url}  (sign in with the token {token}, or send `Authorization: Bearer {token}`)");
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        println!("The simulator and the dashboard run until you press Ctrl-C.");
        let _ = tokio::signal::ctrl_c().await;
    }
    Ok(())
}

/// An SME request made in Slack: the area's request workflow posts it, smeflow opens the issue
/// and answers in the thread; an SME's checkmark assigns them; a request nobody took for 24
/// hours gets the escalation in its thread. Slack is the built-in Slack simulator.
async fn slack_life(
    sim: &Simulator,
    gl: &GitLab,
    catalog: &Catalog,
    area: &crate::config::AreaConfig,
    app: &std::sync::Arc<crate::service::AppState>,
    bot: crate::gitlab::types::User,
    events_url: &str,
) -> Result<(), Failure> {
    const CHANNEL: &str = "C0DEMOREQ";
    let slack = crate::sim::slack::SlackSim::start("xoxb-demo-bot", "demo-signing-secret").await;
    slack.add_channel(CHANNEL);
    // The demo's smeflow.toml, as a program with Slack writes it.
    let mut with_slack = catalog.clone();
    with_slack.config.slack = Some(crate::config::SlackSection {
        users: [("U0SMEAI", "sme-ai"), ("U0LEADAI", "lead-ai")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    });
    for a in with_slack
        .config
        .areas
        .iter_mut()
        .filter(|a| a.slug == area.slug)
    {
        a.slack.requests_id = Some(CHANNEL.into());
        a.leads = vec!["lead-ai".into()];
    }
    let service = crate::service::slack::SlackService::new(
        &with_slack,
        crate::slack::Slack::new(&slack.api_url(), "xoxb-demo-bot"),
        "demo-signing-secret",
        Duration::from_secs(1),
    )
    .map_err(Failure::runtime)?;
    let service = std::sync::Arc::new(service);
    let _ = app.slack.set(service.clone());
    let worker = crate::service::slack::SlackWorker {
        gitlab: gl.clone(),
        bot,
    };
    tokio::spawn(worker.run(app.clone(), service));
    println!(
        "\n== 10. SME requests made in Slack ({} is its request channel)",
        area.slack.requests
    );
    let meeting = (chrono::Utc::now() + chrono::Duration::days(4)).format("%Y-%m-%d 15:00");
    let request = |account: &str| {
        format!("*New SME request* from <@U0SADEMO>\n*Account:* {account}\n*SFDC Opportunity URL:* <https://sf.example.com/006{account}|006{account}>\n*Engagement type:* Customer Call\n*Next meeting date:* {meeting}\n*Time zone:* CET\n*Expected duration:* 1 hour\n*Context:* {account} runs GitLab Self-Managed and evaluates Duo.\n*Questions:*\n1. Can Duo Chat answer from our own documentation?\n*Discovery notes:* <https://docs.example.com/{account}>\n*Prep call booked:* yes")
    };
    let in_thread = |ts: &str| -> Vec<String> {
        slack
            .posted()
            .into_iter()
            .filter(|p| p.thread_ts.as_deref() == Some(ts))
            .map(|p| p.text)
            .collect()
    };
    let (hooli, _, _) = slack
        .workflow_posts(events_url, CHANNEL, &request("Hooli"))
        .await;
    let (vandelay, _, _) = slack
        .workflow_posts(events_url, CHANNEL, &request("Vandelay"))
        .await;
    println!("   The SME Request workflow posted two requests (Hooli, Vandelay); Slack sent smeflow signed events.");
    until(|| in_thread(&hooli).len() == 1 && in_thread(&vandelay).len() == 1).await?;
    println!(
        "   smeflow opened an SME Request issue for each and answered in the request's thread:"
    );
    println!("   > {}", in_thread(&hooli)[0]);

    let group = catalog.config.gitlab.group.trim_matches('/').to_string();
    let project = area.project_full_path(&group);
    let iid_of = |ts: &str| {
        sim.issues(&project)
            .into_iter()
            .find(|i| i["description"].as_str().is_some_and(|d| d.contains(ts)))
            .and_then(|i| i["iid"].as_u64())
    };
    let issue = |iid: Option<u64>| {
        sim.issues(&project)
            .into_iter()
            .find(|i| i["iid"].as_u64() == iid)
    };
    slack
        .react(events_url, "U0SMEAI", "white_check_mark", CHANNEL, &hooli)
        .await;
    until(|| {
        issue(iid_of(&hooli))
            .is_some_and(|i| i["assignees"].as_array().is_some_and(|a| !a.is_empty()))
    })
    .await?;
    let taken = issue(iid_of(&hooli)).unwrap_or_default();
    let labels: Vec<String> = serde_json::from_value(taken["labels"].clone()).unwrap_or_default();
    println!("\n   @sme-ai (Slack U0SMEAI in [slack] users) put :white_check_mark: on the Hooli request; #{} is assigned to @{} and moved: {}", taken["iid"], taken["assignees"][0]["username"].as_str().unwrap_or_default(), labels.join(", "));

    println!("\n   Nobody took the Vandelay request; 25 hours later (simulated) smeflow says so in its thread:");
    if let Some(iid) = iid_of(&vandelay) {
        sim.backdate_creation(&project, iid, 25, None);
    }
    until(|| in_thread(&vandelay).len() == 2).await?;
    println!("   > {}", in_thread(&vandelay)[1]);
    Ok(())
}

/// Polls until `done` holds, at most 30 seconds.
async fn until(done: impl Fn() -> bool) -> Result<(), Failure> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        if Instant::now() > deadline {
            return Err(Failure::runtime(
                "the Slack part of the demo did not finish in 30 seconds",
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Waits until GitLab has sent every webhook and smeflow has worked them all off, including
/// the deliveries its own edits cause.
async fn settle(sim: &Simulator, idle: &crate::service::Idle) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut quiet = 0;
    while quiet < 3 && Instant::now() < deadline {
        sim.deliveries_flushed().await;
        quiet = if idle.idle() { quiet + 1 } else { 0 };
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn print_notes(sim: &Simulator, project: &str, iid: u64, after: usize) -> usize {
    let notes: Vec<serde_json::Value> = sim
        .notes(project, iid)
        .into_iter()
        .filter(|n| n["system"] != true)
        .collect();
    for note in notes.iter().skip(after) {
        let body = note["body"].as_str().unwrap_or_default();
        println!(
            "   note by @{} on #{iid}:",
            note["author"]["username"].as_str().unwrap_or_default()
        );
        for line in body.lines().filter(|l| !l.starts_with("<!--")) {
            println!("   | {line}");
        }
    }
    notes.len()
}

/// An SME request from the rushed first version to the feedback after the engagement.
async fn request_life(
    sim: &Simulator,
    controller: &crate::reconcile::controller::Controller,
    catalog: &Catalog,
    area: &crate::config::AreaConfig,
    idle: &crate::service::Idle,
) -> Result<(), Failure> {
    let group = catalog.config.gitlab.group.trim_matches('/').to_string();
    let project = area.project_full_path(&group);
    // Half an hour more than the 30 the demo announces: the meeting is written to the minute,
    // so the lead time smeflow reads is 30 hours whatever second the demo starts at.
    let meeting_at = chrono::Utc::now() + chrono::Duration::minutes(30 * 60 + 30);
    let meeting = meeting_at.format("%Y-%m-%d %H:%M UTC").to_string();
    let rushed = format!("**Account name:** Initech\n**Opportunity URL:** https://sf.example.com/006INITECH\n**Engagement type:** Customer Call\n**Next customer meeting:** {meeting}\n**Expected duration:** 1 hour\n\n### Context\n\nInitech evaluates Duo for 1,200 developers on an air-gapped network.\n\n### The exact questions for the SME\n\n1. TBD\n\n### Rules of engagement\n\n- [ ] Discovery is done and its notes are linked\n- [ ] A prep call with the SME is booked before the customer meeting\n- [ ] The meeting agenda is shared with the SME\n\n### After the engagement\n\n- [ ] A PM follow-up is needed\n");
    println!("\n== 8. An SME request from start to finish");
    let (status, issue) = sim
        .open_issue_as(
            SA_TOKEN,
            &project,
            json!({"title": "Initech: Duo on an air-gapped network", "description": rushed,
                   "labels": "Type::SME Request,SME Workflow::Triage,SME Request::Customer Call"}),
        )
        .await;
    if status != 201 {
        return Err(Failure::runtime(format!(
            "the simulator refused the demo request: {issue}"
        )));
    }
    let iid = issue["iid"].as_u64().unwrap_or_default();
    println!("   @jdoe opened SME request #{iid}, meeting in 30 hours, questions \"TBD\"");
    settle(sim, idle).await;
    let mut seen = print_notes(sim, &project, iid, 0);

    // The request is made older rather than the clock later, so everything after it (the
    // assignment, the program report) sees the same 25 hours the escalation saw.
    println!("\n   25 hours pass (simulated: the request is backdated): nobody has taken it. The hourly sync decides:");
    let meeting_now = (meeting_at - chrono::Duration::hours(25))
        .format("%Y-%m-%d %H:%M UTC")
        .to_string();
    sim.backdate_creation(&project, iid, 25, Some((&meeting, &meeting_now)));
    // The sync's decision for this one issue, as the hourly sync makes it.
    let key = crate::reconcile::controller::IssueKey {
        project: project.clone(),
        iid,
    };
    let trigger = crate::reconcile::controller::IssueTrigger {
        source: "demo".into(),
        event: None,
    };
    let outcome = controller
        .reconcile_issue(&key, &trigger)
        .await
        .map_err(failure)?;
    for c in &outcome.changes {
        println!("   {c}");
    }
    settle(sim, idle).await;
    seen = print_notes(sim, &project, iid, seen);

    let sme = sim.add_user("sme-ai", "glpat-demo-sme");
    sim.set_member(&group, "sme-ai", Access::Developer);
    sim.edit_issue_as(
        "glpat-demo-sme",
        &project,
        iid,
        json!({"assignee_ids": [sme]}),
    )
    .await;
    settle(sim, idle).await;
    let labels: Vec<String> = sim
        .issues(&project)
        .into_iter()
        .find(|i| i["iid"] == iid)
        .and_then(|i| serde_json::from_value(i["labels"].clone()).ok())
        .unwrap_or_default();
    println!(
        "\n   @sme-ai assigned themself; smeflow moved the request: {}",
        labels.join(", ")
    );

    let done = rushed
        .replace(&meeting, &meeting_now)
        .replace("1. TBD", "1. Can Duo Self-Hosted run without internet access?\n2. Which GPUs does it need for 1,200 developers?")
        .replace("- [ ] Discovery", "- [x] Discovery")
        .replace("- [ ] A prep call", "- [x] A prep call")
        .replace("- [ ] A PM follow-up is needed", "- [x] A PM follow-up is needed");
    sim.edit_issue_as(
        SA_TOKEN,
        &project,
        iid,
        json!({"description": done, "state_event": "close"}),
    )
    .await;
    settle(sim, idle).await;
    println!("\n   After the customer call @jdoe ticked \"A PM follow-up is needed\" and closed the request:");
    print_notes(sim, &project, iid, seen);
    if let Some(follow_up) = sim.issues(&project).into_iter().find(|i| {
        i["description"]
            .as_str()
            .is_some_and(|d| d.contains(&format!("smeflow:follow-up-of #{iid}")))
    }) {
        println!(
            "   follow-up issue #{} \"{}\" labels {}",
            follow_up["iid"],
            follow_up["title"].as_str().unwrap_or_default(),
            follow_up["labels"]
        );
    }

    let feedback = "**Customer:** Initech\n**SME request issue:** #REQ\n\n### How it went\n\nThe customer is confident about the air-gapped set-up.\n\n### Action items\n\n- FAQ: Duo Self-Hosted runs without internet access once the model is mirrored\n- Enablement: Sizing GPU nodes for Duo Self-Hosted\n- Best practice: One vLLM node per 400 developers, two for failover\n- PM enhancement: An offline installer bundle for Duo Self-Hosted models\n".replace("REQ", &iid.to_string());
    let (_, fb) = sim
        .open_issue_as(
            "glpat-demo-sme",
            &project,
            json!({"title": "Initech: air-gapped Duo workshop", "description": feedback,
                   "labels": "Type::SME Support Feedback,SME Workflow::Triage"}),
        )
        .await;
    settle(sim, idle).await;
    let fb_iid = fb["iid"].as_u64().unwrap_or_default();
    println!("\n   @sme-ai filed Customer SME Support Feedback #{fb_iid} with four action items; smeflow routed each one:");
    print_notes(sim, &project, fb_iid, 0);
    Ok(())
}

fn print_project(sim: &Simulator, catalog: &Catalog, project: &str) {
    println!("== What the project {project} now has");
    let mut labels = sim.labels(project);
    // In the label sets' order: smeflow creates labels several at a time, so GitLab's own
    // order (by id) differs from run to run.
    let order: std::collections::HashMap<&str, (&str, usize)> = catalog
        .label_sets
        .iter()
        .flat_map(|(set, file)| {
            file.labels
                .iter()
                .enumerate()
                .map(move |(i, l)| (l.name.as_str(), (set.as_str(), i)))
        })
        .collect();
    labels.sort_by_key(|l| {
        order
            .get(l["name"].as_str().unwrap_or_default())
            .copied()
            .unwrap_or(("~", usize::MAX))
    });
    println!("Labels ({}):", labels.len());
    let mut by_scope: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for l in &labels {
        let name = l["name"].as_str().unwrap_or_default();
        let (scope, value) = name.rsplit_once("::").unwrap_or(("(plain)", name));
        by_scope
            .entry(scope.to_string())
            .or_default()
            .push(value.to_string());
    }
    for (scope, values) in by_scope {
        println!("  {scope}: {}", values.join(", "));
    }
    println!("Issue templates ({} commit):", sim.commits(project));
    for name in catalog.templates.keys() {
        let path = format!("{}/{name}.md", crate::config::render::TEMPLATE_DIR);
        let lines = sim
            .file(project, &path)
            .map(|c| c.lines().count())
            .unwrap_or(0);
        println!("  {path} ({lines} lines)");
    }
    println!("Seed issues:");
    for i in sim.issues(project) {
        println!(
            "  #{} {}",
            i["iid"],
            i["title"].as_str().unwrap_or_default()
        );
    }
    println!("Boards:");
    for b in sim.boards(project) {
        let lists: Vec<String> = b["lists"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["label"]["name"].as_str())
            .map(|n| n.rsplit_once("::").map(|(_, v)| v).unwrap_or(n).to_string())
            .collect();
        println!(
            "  {}: {}",
            b["name"].as_str().unwrap_or_default(),
            lists.join(" | ")
        );
    }
    for h in sim.hooks(project) {
        println!(
            "Webhook: {} (issues: {}, comments: {}, push: {})",
            h["url"].as_str().unwrap_or_default(),
            h["issues_events"],
            h["note_events"],
            h["push_events"]
        );
    }
}
