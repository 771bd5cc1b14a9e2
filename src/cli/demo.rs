//! `smeflow demo`: the whole flow against the built-in GitLab simulator, so a newcomer sees
//! what smeflow does without a GitLab or a token: bootstrap (plan, apply, no-op), then the
//! service tagging a few realistic feedback issues as they are opened.

use super::{bootstrap_areas, BootstrapOptions, Failure};
use crate::config::{AreaConfig, Catalog};
use crate::gitlab::{label::ScopedLabel, types::User, GitLab, RetryPolicy, Token};
use crate::reconcile::controller::Controller;
use crate::service::{auth::Secrets, AppState, Idle, Running, ServeOptions};
use crate::sim::{slack::SlackSim, Access, Simulator};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BOT_TOKEN: &str = "glpat-demo-smeflow-bot";
const SA_TOKEN: &str = "glpat-demo-solutions-architect";
const DEMO_SECRET: &str = "demo-webhook-secret";
/// The area's SME request channel in the Slack simulator.
const SLACK_CHANNEL: &str = "C0DEMOREQ";

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

/// What every step of the demo works with: the simulated GitLab, the running `serve`, and the
/// area whose story is told.
struct Demo<'a> {
    catalog: &'a Catalog,
    area: &'a AreaConfig,
    sim: Simulator,
    gl: GitLab,
    group: String,
    project: String,
    webhook_url: String,
    app: Arc<AppState>,
    bot: User,
    controller: Arc<Controller>,
    idle: Idle,
    // Holds the service's store: dropping it would delete the database under the workers.
    _state: tempfile::TempDir,
}

pub async fn run(config: &Path, area_wanted: &str) -> Result<(), Failure> {
    let catalog = Catalog::load(config).map_err(|e| {
        Failure::usage(format!(
            "{e}\n(run the demo from the repository root, where smeflow.toml is, or set SMEFLOW_CONFIG)"
        ))
    })?;
    let area = catalog.area(area_wanted)?;
    crate::cli::promote::require_formal(area, "the demo's customer-feedback flow")?;
    let demo = Demo::start(&catalog, area).await?;
    demo.bootstrap_three_times().await?;
    print_project(&demo.sim, &catalog, &demo.project);
    demo.feedback_arrives().await?;
    demo.sync_board().await?;
    demo.print_pm_review_board();
    let now = demo.post_report().await?;
    demo.request_life().await?;
    demo.program_report(now).await?;
    let token = demo.open_dashboard();
    demo.slack_life().await?;
    demo.show_dashboard(&token).await;
    Ok(())
}

impl<'a> Demo<'a> {
    /// The simulator with smeflow's bot and a Solutions Architect in the group, and `serve`
    /// listening for the webhooks the area's hook will point at.
    async fn start(catalog: &'a Catalog, area: &'a AreaConfig) -> Result<Demo<'a>, Failure> {
        let group = catalog.config.gitlab.group.trim_matches('/').to_string();
        let sim = start_simulator(&group).await;
        let gl = GitLab::new(&sim.url(), Token::new(BOT_TOKEN), RetryPolicy::default())
            .map_err(failure)?;
        let state = tempfile::tempdir().map_err(failure)?;
        let service = start_service(catalog, &gl, &state).await?;
        let webhook_url = format!("http://{}/webhooks/gitlab", service.addr);
        println!(
            "smeflow serve listening on {webhook_url} (the demo points the area's webhook here)\n"
        );
        let demo = Demo {
            catalog,
            area,
            project: area.project_full_path(&group),
            group,
            gl,
            webhook_url,
            app: service.app.clone(),
            bot: service.bot.clone(),
            controller: service.controller.clone(),
            idle: Idle(service.app.clone()),
            sim,
            _state: state,
        };
        tokio::spawn(service.serve_until(std::future::pending()));
        Ok(demo)
    }

    /// Steps 1–3: the plan, its application, and a second run that has nothing left to do.
    async fn bootstrap_three_times(&self) -> Result<(), Failure> {
        self.bootstrap(1, " --dry-run", true).await?;
        self.sim.reset_requests();
        self.bootstrap(2, "", false).await?;
        self.sim.reset_requests();
        self.bootstrap(3, " (again)", false).await
    }

    /// One `bootstrap-area`, headed by its step and followed by what it cost in requests.
    async fn bootstrap(&self, step: u8, flags: &str, dry_run: bool) -> Result<(), Failure> {
        println!(
            "== {step}. smeflow bootstrap-area {}{flags}",
            self.area.slug
        );
        let opts = BootstrapOptions {
            dry_run,
            show_plan: dry_run,
            webhook_url: self.webhook_url.clone(),
            webhook_secrets: crate::plan::HookSecrets::from_list(DEMO_SECRET).ok(),
            rotate_webhook_secret: false,
        };
        let mut out = std::io::stdout();
        bootstrap_areas(&self.gl, self.catalog, &[self.area], &opts, &mut out).await?;
        println!(
            "   requests: {} reads, {} writes\n",
            self.sim.count("GET"),
            self.sim.writes()
        );
        Ok(())
    }

    /// Step 4: feedback opened as a person would, and what smeflow made of each issue once
    /// every webhook it caused has been worked off.
    async fn feedback_arrives(&self) -> Result<(), Failure> {
        println!("\n== 4. A Solutions Architect opens customer feedback; smeflow serve reacts to the webhooks");
        let mut opened = Vec::new();
        for (title, description, labels) in FEEDBACK {
            opened.push(self.open_feedback(title, description, labels).await?);
        }
        settle(&self.sim, &self.idle).await;
        println!();
        for iid in opened {
            self.print_tagged_issue(iid);
        }
        self.print_deliveries_and_epics();
        Ok(())
    }

    async fn open_feedback(
        &self,
        title: &str,
        description: &str,
        labels: &str,
    ) -> Result<u64, Failure> {
        let (status, issue) = self
            .sim
            .open_issue_as(
                SA_TOKEN,
                &self.project,
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
        Ok(issue["iid"].as_u64().unwrap_or_default())
    }

    /// An issue's labels and smeflow's notes on it, each note on one line.
    fn print_tagged_issue(&self, iid: u64) {
        let issue = self
            .sim
            .issues(&self.project)
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
        for note in self
            .sim
            .notes(&self.project, iid)
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

    /// Shows that the webhooks smeflow's own edits caused were answered and changed nothing,
    /// and the epic a shared theme got.
    fn print_deliveries_and_epics(&self) {
        let sent = self.sim.deliveries();
        println!(
            "\n{} webhook deliveries were sent and answered {}; smeflow's own edits came back as webhooks and changed nothing.",
            sent.len(),
            if sent.iter().all(|d| d.status == 202) { "202" } else { "with errors" }
        );
        let epics = self.sim.epics(&self.group);
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
    }

    /// Step 5: the sync that serve runs hourly, here once by hand.
    async fn sync_board(&self) -> Result<(), Failure> {
        println!(
            "\n== 5. smeflow sync-board {} (serve also runs this hourly; it repairs what a missed webhook left)",
            self.area.slug
        );
        let opts = crate::reconcile::area::SyncOptions {
            dry_run: false,
            full: false,
        };
        let shown = super::sync::Presenter::new(crate::reconcile::Quiet, false);
        let synced = self
            .controller
            .reconcile_area(
                &self.area.slug,
                &opts,
                crate::store::lease::WAIT,
                |_| {},
                &shown,
            )
            .await
            .map_err(failure)?;
        shown.done(&synced);
        Ok(())
    }

    /// Step 6: the PM Review board's lists with the open issues each one holds.
    fn print_pm_review_board(&self) {
        println!("\n== 6. The PM Review board");
        let issues = self.sim.issues(&self.project);
        for board in self
            .sim
            .boards(&self.project)
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
                    ScopedLabel::parse(label).map_or(label, |l| l.value),
                    cards.join(" ")
                );
            }
        }
    }

    /// Step 7: the monthly PM review, printed and posted. Returns the time it was made for, so
    /// the program report covers the same period.
    async fn post_report(&self) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
        println!("\n== 7. smeflow report {} --post", self.area.slug);
        let now = chrono::Utc::now();
        let (report, info) = crate::report::run::build(
            &self.gl,
            &self.project,
            &self.area.name,
            now - chrono::Duration::days(30),
            now,
        )
        .await
        .map_err(failure)?;
        print!("{}", crate::report::render_markdown(&report, None));
        let said = crate::report::run::post(&self.gl, &self.project, &info, &report, now)
            .await
            .map_err(failure)?;
        println!("\n{said}");
        Ok(now)
    }

    /// Step 9: every area side by side, over the month the PM review covered.
    async fn program_report(&self, now: chrono::DateTime<chrono::Utc>) -> Result<(), Failure> {
        println!("\n== 9. smeflow report --program (every area side by side; the program's metrics for this quarter so far)");
        let since = now - chrono::Duration::days(30);
        let (inputs, _) = crate::report::program::run::read(
            &self.gl,
            self.catalog,
            since - (chrono::Utc::now() - since),
        )
        .await
        .map_err(failure)?;
        let mut report = crate::report::program::compute(&inputs, since, chrono::Utc::now());
        // The demo's work all happens now: its metrics are this quarter's so far (as
        // `--quarter` shows a running quarter), with nothing imported.
        let quarter = crate::report::program::quarter::Quarter::of(now);
        report.metrics = Some(crate::report::program::metrics::compute(
            &inputs,
            &crate::store::crm::Imported::default(),
            quarter,
        ));
        print!("{}", crate::report::program::render_markdown(&report));
        Ok(())
    }

    /// Turns the dashboard on. The demo makes up its token, as a person would set
    /// SMEFLOW_DASHBOARD_TOKEN; it is returned to be shown.
    fn open_dashboard(&self) -> String {
        let token = format!("demo-dashboard-{}", rand::random::<u64>());
        let _ = self
            .app
            .dashboard
            .set(Arc::new(crate::service::dashboard::Dashboard::new(
                &token,
                self.catalog,
                self.gl.clone(),
            )));
        token
    }

    /// Step 11: where the dashboard is; in a terminal the demo keeps running until Ctrl-C so
    /// it can be opened.
    async fn show_dashboard(&self, token: &str) {
        let dashboard_url = self.webhook_url.trim_end_matches("webhooks/gitlab");
        println!("\n== 11. The dashboard\n{dashboard_url}  (sign in with the token {token}, or send `Authorization: Bearer {token}`)");
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() {
            println!("The simulator and the dashboard run until you press Ctrl-C.");
            let _ = tokio::signal::ctrl_c().await;
        }
    }

    /// Step 10, an SME request made in Slack: the area's request workflow posts it, smeflow
    /// opens the issue and answers in the thread; an SME's checkmark assigns them; a request
    /// nobody took for 24 hours gets the escalation in its thread. Slack is the built-in Slack
    /// simulator.
    async fn slack_life(&self) -> Result<(), Failure> {
        let events_url = self
            .webhook_url
            .replace(crate::config::WEBHOOK_PATH, "/slack/events");
        let slack = self.start_slack().await?;
        println!(
            "\n== 10. SME requests made in Slack ({} is its request channel)",
            self.area.slack.requests
        );
        let meeting = (chrono::Utc::now() + chrono::Duration::days(4))
            .format("%Y-%m-%d 15:00")
            .to_string();
        let request = |account: &str| slack_request(account, &meeting);
        let (hooli, _, _) = slack
            .workflow_posts(&events_url, SLACK_CHANNEL, &request("Hooli"))
            .await;
        let (vandelay, _, _) = slack
            .workflow_posts(&events_url, SLACK_CHANNEL, &request("Vandelay"))
            .await;
        println!("   The SME Request workflow posted two requests (Hooli, Vandelay); Slack sent smeflow signed events.");
        until(|| in_thread(&slack, &hooli).len() == 1 && in_thread(&slack, &vandelay).len() == 1)
            .await?;
        println!(
            "   smeflow opened an SME Request issue for each and answered in the request's thread:"
        );
        println!("   > {}", in_thread(&slack, &hooli)[0]);
        self.sme_takes_request(&slack, &events_url, &hooli).await?;
        self.nobody_takes_request(&slack, &vandelay).await
    }

    /// The Slack simulator, and smeflow's Slack side (its service and worker) pointed at it
    /// with the area's request channel configured.
    async fn start_slack(&self) -> Result<SlackSim, Failure> {
        let slack = SlackSim::start("xoxb-demo-bot", "demo-signing-secret").await;
        slack.add_channel(SLACK_CHANNEL);
        let service = crate::service::slack::SlackService::new(
            &with_slack(self.catalog, self.area),
            crate::slack::Slack::new(&slack.api_url(), "xoxb-demo-bot"),
            "demo-signing-secret",
            Duration::from_secs(1),
        )
        .map_err(Failure::runtime)?;
        let service = Arc::new(service);
        let _ = self.app.slack.set(service.clone());
        let worker = crate::service::slack::SlackWorker {
            gitlab: self.gl.clone(),
            bot: self.bot.clone(),
        };
        tokio::spawn(worker.run(self.app.clone(), service));
        Ok(slack)
    }

    /// An SME's checkmark on the request in Slack assigns them the issue.
    async fn sme_takes_request(
        &self,
        slack: &SlackSim,
        events_url: &str,
        request_ts: &str,
    ) -> Result<(), Failure> {
        slack
            .react(
                events_url,
                "U0SMEAI",
                "white_check_mark",
                SLACK_CHANNEL,
                request_ts,
            )
            .await;
        until(|| {
            self.issue_of_slack_request(request_ts)
                .is_some_and(|i| i["assignees"].as_array().is_some_and(|a| !a.is_empty()))
        })
        .await?;
        let taken = self.issue_of_slack_request(request_ts).unwrap_or_default();
        let labels: Vec<String> =
            serde_json::from_value(taken["labels"].clone()).unwrap_or_default();
        println!("\n   @sme-ai (Slack U0SMEAI in [slack] users) put :white_check_mark: on the Hooli request; #{} is assigned to @{} and moved: {}", taken["iid"], taken["assignees"][0]["username"].as_str().unwrap_or_default(), labels.join(", "));
        Ok(())
    }

    /// A request nobody took: made 25 hours older, it gets the escalation in its thread.
    async fn nobody_takes_request(
        &self,
        slack: &SlackSim,
        request_ts: &str,
    ) -> Result<(), Failure> {
        println!("\n   Nobody took the Vandelay request; 25 hours later (simulated) smeflow says so in its thread:");
        if let Some(iid) = self
            .issue_of_slack_request(request_ts)
            .and_then(|i| i["iid"].as_u64())
        {
            self.sim.backdate_creation(&self.project, iid, 25, None);
        }
        until(|| in_thread(slack, request_ts).len() == 2).await?;
        println!("   > {}", in_thread(slack, request_ts)[1]);
        Ok(())
    }

    /// The issue smeflow opened for a Slack request: its description links the message.
    fn issue_of_slack_request(&self, request_ts: &str) -> Option<serde_json::Value> {
        self.sim.issues(&self.project).into_iter().find(|i| {
            i["description"]
                .as_str()
                .is_some_and(|d| d.contains(request_ts))
        })
    }

    /// Step 8, an SME request from the rushed first version to the feedback after the
    /// engagement.
    async fn request_life(&self) -> Result<(), Failure> {
        // Half an hour more than the 30 the demo announces: the meeting is written to the
        // minute, so the lead time smeflow reads is 30 hours whatever second the demo starts at.
        let meeting_at = chrono::Utc::now() + chrono::Duration::minutes(30 * 60 + 30);
        let meeting = meeting_at.format("%Y-%m-%d %H:%M UTC").to_string();
        let rushed = rushed_request(&meeting);
        println!("\n== 8. An SME request from start to finish");
        let iid = self.open_rushed_request(&rushed).await?;
        let seen = print_notes(&self.sim, &self.project, iid, 0);

        // The request is made older rather than the clock later, so everything after it (the
        // assignment, the program report) sees the same 25 hours the escalation saw.
        println!("\n   25 hours pass (simulated: the request is backdated): nobody has taken it. The hourly sync decides:");
        let meeting_now = (meeting_at - chrono::Duration::hours(25))
            .format("%Y-%m-%d %H:%M UTC")
            .to_string();
        self.sim
            .backdate_creation(&self.project, iid, 25, Some((&meeting, &meeting_now)));
        let seen = self.hourly_sync_escalates(iid, seen).await?;
        self.sme_assigns_themself(iid).await;
        let done = rushed
            .replace(&meeting, &meeting_now)
            .replace("1. TBD", "1. Can Duo Self-Hosted run without internet access?\n2. Which GPUs does it need for 1,200 developers?")
            .replace("- [ ] Discovery", "- [x] Discovery")
            .replace("- [ ] A prep call", "- [x] A prep call")
            .replace("- [ ] A PM follow-up is needed", "- [x] A PM follow-up is needed");
        self.close_asking_for_follow_up(iid, &done, seen).await;
        self.sme_files_support_feedback(iid).await;
        Ok(())
    }

    /// Opens the request as a Solutions Architect in a hurry writes it, and shows what smeflow
    /// answered.
    async fn open_rushed_request(&self, rushed: &str) -> Result<u64, Failure> {
        let (status, issue) = self
            .sim
            .open_issue_as(
                SA_TOKEN,
                &self.project,
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
        settle(&self.sim, &self.idle).await;
        Ok(iid)
    }

    /// The sync's decision for this one issue, as the hourly sync makes it. Returns how many of
    /// the issue's notes have been shown.
    async fn hourly_sync_escalates(&self, iid: u64, seen: usize) -> Result<usize, Failure> {
        let key = crate::reconcile::controller::IssueKey {
            project: self.project.clone(),
            iid,
        };
        let trigger = crate::reconcile::controller::IssueTrigger {
            source: "demo".into(),
            event: None,
        };
        let outcome = self
            .controller
            .reconcile_issue(&key, &trigger)
            .await
            .map_err(failure)?;
        for c in &outcome.changes {
            println!("   {c}");
        }
        settle(&self.sim, &self.idle).await;
        Ok(print_notes(&self.sim, &self.project, iid, seen))
    }

    async fn sme_assigns_themself(&self, iid: u64) {
        let sme = self.sim.add_user("sme-ai", "glpat-demo-sme");
        self.sim
            .set_member(&self.group, "sme-ai", Access::Developer);
        self.sim
            .edit_issue_as(
                "glpat-demo-sme",
                &self.project,
                iid,
                json!({"assignee_ids": [sme]}),
            )
            .await;
        settle(&self.sim, &self.idle).await;
        let labels: Vec<String> = self
            .sim
            .issues(&self.project)
            .into_iter()
            .find(|i| i["iid"] == iid)
            .and_then(|i| serde_json::from_value(i["labels"].clone()).ok())
            .unwrap_or_default();
        println!(
            "\n   @sme-ai assigned themself; smeflow moved the request: {}",
            labels.join(", ")
        );
    }

    /// The request closed with "A PM follow-up is needed" ticked: smeflow asks for feedback and
    /// opens the follow-up issue.
    async fn close_asking_for_follow_up(&self, iid: u64, description: &str, seen: usize) {
        self.sim
            .edit_issue_as(
                SA_TOKEN,
                &self.project,
                iid,
                json!({"description": description, "state_event": "close"}),
            )
            .await;
        settle(&self.sim, &self.idle).await;
        println!("\n   After the customer call @jdoe ticked \"A PM follow-up is needed\" and closed the request:");
        print_notes(&self.sim, &self.project, iid, seen);
        if let Some(follow_up) = self.sim.issues(&self.project).into_iter().find(|i| {
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
    }

    /// The SME's feedback after the engagement: smeflow routes each action item.
    async fn sme_files_support_feedback(&self, request_iid: u64) {
        let feedback = "**Customer:** Initech\n**SME request issue:** #REQ\n\n### How it went\n\nThe customer is confident about the air-gapped set-up.\n\n### Action items\n\n- FAQ: Duo Self-Hosted runs without internet access once the model is mirrored\n- Enablement: Sizing GPU nodes for Duo Self-Hosted\n- Best practice: One vLLM node per 400 developers, two for failover\n- PM enhancement: An offline installer bundle for Duo Self-Hosted models\n".replace("REQ", &request_iid.to_string());
        let (_, fb) = self
            .sim
            .open_issue_as(
                "glpat-demo-sme",
                &self.project,
                json!({"title": "Initech: air-gapped Duo workshop", "description": feedback,
                       "labels": "Type::SME Support Feedback,SME Workflow::Triage"}),
            )
            .await;
        settle(&self.sim, &self.idle).await;
        let fb_iid = fb["iid"].as_u64().unwrap_or_default();
        println!("\n   @sme-ai filed Customer SME Support Feedback #{fb_iid} with four action items; smeflow routed each one:");
        print_notes(&self.sim, &self.project, fb_iid, 0);
    }
}

/// The simulated GitLab with the SME group, smeflow's bot as a Maintainer and a Solutions
/// Architect as a Developer in it.
async fn start_simulator(group: &str) -> Simulator {
    let sim = Simulator::start().await;
    sim.add_group(group);
    sim.add_user("smeflow-bot", BOT_TOKEN);
    sim.set_member(group, "smeflow-bot", Access::Maintainer);
    sim.add_user("jdoe", SA_TOKEN);
    sim.set_member(group, "jdoe", Access::Developer);
    println!(
        "GitLab simulator listening on {} (group {group})",
        sim.url()
    );
    sim
}

/// `serve` on a free local port with its store in `state`; the scheduled sync is off so the
/// demo decides when it syncs.
async fn start_service(
    catalog: &Catalog,
    gl: &GitLab,
    state: &tempfile::TempDir,
) -> Result<Running, Failure> {
    crate::service::start(
        ServeOptions {
            listen: "127.0.0.1:0".parse().expect("address"),
            state: state.path().join("smeflow.db"),
            workers: 2,
            secrets: Secrets::parse(DEMO_SECRET).map_err(Failure::runtime)?,
            insecure: false,
            sync: false,
        },
        catalog,
        gl.clone(),
    )
    .await
    .map_err(failure)
}

/// An SME request written the way a Solutions Architect in a hurry writes it: the questions
/// are "TBD" and no rule of engagement is ticked.
fn rushed_request(meeting: &str) -> String {
    format!("**Account name:** Initech\n**Opportunity URL:** https://sf.example.com/006INITECH\n**Engagement type:** Customer Call\n**Next customer meeting:** {meeting}\n**Expected duration:** 1 hour\n\n### Context\n\nInitech evaluates Duo for 1,200 developers on an air-gapped network.\n\n### The exact questions for the SME\n\n1. TBD\n\n### Rules of engagement\n\n- [ ] Discovery is done and its notes are linked\n- [ ] A prep call with the SME is booked before the customer meeting\n- [ ] The meeting agenda is shared with the SME\n\n### After the engagement\n\n- [ ] A PM follow-up is needed\n")
}

/// The demo's smeflow.toml, as a program with Slack writes it: Slack users mapped to GitLab
/// users, and the area's request channel and lead.
fn with_slack(catalog: &Catalog, area: &AreaConfig) -> Catalog {
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
        a.slack.requests_id = Some(SLACK_CHANNEL.into());
        a.leads = vec!["lead-ai".into()];
    }
    with_slack
}

/// What the SME Request workflow posts in the channel for one account.
fn slack_request(account: &str, meeting: &str) -> String {
    format!("*New SME request* from <@U0SADEMO>\n*Account:* {account}\n*SFDC Opportunity URL:* <https://sf.example.com/006{account}|006{account}>\n*Engagement type:* Customer Call\n*Next meeting date:* {meeting}\n*Time zone:* CET\n*Expected duration:* 1 hour\n*Context:* {account} runs GitLab Self-Managed and evaluates Duo.\n*Questions:*\n1. Can Duo Chat answer from our own documentation?\n*Discovery notes:* <https://docs.example.com/{account}>\n*Prep call booked:* yes")
}

/// What was posted in the thread of the message `ts`, oldest first.
fn in_thread(slack: &SlackSim, ts: &str) -> Vec<String> {
    slack
        .posted()
        .into_iter()
        .filter(|p| p.thread_ts.as_deref() == Some(ts))
        .map(|p| p.text)
        .collect()
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
async fn settle(sim: &Simulator, idle: &Idle) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut quiet = 0;
    while quiet < 3 && Instant::now() < deadline {
        sim.deliveries_flushed().await;
        quiet = if idle.idle().await { quiet + 1 } else { 0 };
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
        let (scope, value) = ScopedLabel::parse(name)
            .map(|l| (l.scope, l.value))
            .unwrap_or(("(plain)", name));
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
            .map(|n| ScopedLabel::parse(n).map_or(n, |l| l.value).to_string())
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
