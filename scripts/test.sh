#!/usr/bin/env bash
# Set up and run every test: unit, property, crash, fuzz-corpus and CLI tests.
# The same command runs in CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "the tests need a Rust toolchain (cargo): https://rustup.rs" >&2; exit 1; }
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
# The JavaScript automerge, to check that exported documents load there too.
command -v npm >/dev/null || { echo "the tests need Node.js and npm (interop with JavaScript automerge)" >&2; exit 1; }
npm ci --prefix tests/js --no-audit --no-fund --silent
# All groups, the slow ones included (the `quick` profile skips those for the inner loop).
cargo nextest run --workspace --no-fail-fast "$@"
