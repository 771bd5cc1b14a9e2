#!/bin/sh
# Provisioning at GitLab.com's distance: the simulator adds BENCH_LATENCY_MS (default 150) to
# every request; prints how long a fresh area, a run with nothing to change, and
# `bootstrap-area --all` take, with their request counts. Targets: fresh <= 3 s, nothing to
# change <= 0.5 s, --all <= 2x one area. BENCH_BASELINE_BIN=<an older smeflow binary> measures
# it too, in the same run, for before/after figures. See bench/README.md.
set -e
cd "$(dirname "$0")/.."
exec cargo test --test latency_bench -- --ignored --nocapture --test-threads 1
