#!/usr/bin/env bash
# Set up and run every test: the UI's unit tests; the Rust unit, property, crash,
# fuzz-corpus, CLI and network tests (nextest, slow groups included); then the
# end-to-end tests of the built desktop app under a virtual display.
# The same command runs in CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test

echo "== UI unit tests"
npm test --prefix ui --silent

echo "== Rust tests"
# All groups, the slow ones included (the `quick` profile skips those for the inner loop).
cargo nextest run --workspace --no-fail-fast "$@"

echo "== End-to-end: the desktop app under Xvfb through WebKitWebDriver"
cargo build -p branchline-app -p branchline-cli
node --test --test-concurrency=1 ui/e2e/app.test.mjs
