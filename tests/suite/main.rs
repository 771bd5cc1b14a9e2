//! Every end-to-end and integration test of smeflow, one module per topic, in one test binary:
//! the crate is linked once instead of once per file (see the README's "Tests").

mod common;
mod pg;

mod areas;
mod arr_driver;
mod bootstrap_area;
mod cockpit;
mod config_files;
mod dashboard;
mod demo;
mod explain;
mod explain_numbers;
mod explain_setup;
mod explain_stores;
mod gitlab_com;
mod group_label_repair;
mod hardening;
mod hook_health;
mod hostile_text;
mod note_twins;
mod nothing_twice;
mod one_of_each;
mod one_writer_per_area;
mod paging;
mod pg_client;
mod postgres;
mod program_report;
mod real_gitlab;
mod report;
mod requests;
mod robust;
mod service;
mod sim_quick_actions;
mod sim_routes;
mod similar_feedback;
mod simulator;
mod slack;
mod slack_store;
mod store_suite;
mod sync_board;
mod tagger;
mod theme_abstention;
mod theme_epic_twins;
mod theme_learning;
mod wiremock_requests;
