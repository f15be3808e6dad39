#!/usr/bin/env bash
# Runs every test of CloudTrail-Tracker: formatting, lints, unit, store
# conformance, end-to-end CLI tests on the shared corpus and generated data.
# Installs what the tests need beyond the Rust toolchain first (idempotent).
#
#   ./scripts/test.sh            # everything
#   SKIP_INSTALL=1 ./scripts/test.sh   # assume test dependencies are installed
set -euo pipefail
cd "$(dirname "$0")/.."

# A one-shot build: incremental caches would only take disk (several GB).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

say() { printf '\n== %s\n' "$*"; }

if [ ! -d ../shared/corpus ]; then
  echo "error: the shared corpus is expected at ../shared/corpus (beside this checkout)" >&2
  exit 1
fi

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  say "test dependencies"
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
  python3 -m pip --version >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3-pip; }
  command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }
  command -v schemathesis >/dev/null || python3 -m pip install -q schemathesis
  # The AWS tests (crates/ctt-aws) start moto server themselves, on a free port.
  python3 -c 'import moto.server' 2>/dev/null || python3 -m pip install -q "moto[server]"
  command -v cfn-lint >/dev/null || python3 -m pip install -q cfn-lint
  # An independent check of the digests `ctt gen` signs (crates/ctt/tests/cli/verify.rs).
  python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install -q cryptography
  # The SMTP server email notifications are sent to (crates/ctt/tests/cli/notify.rs).
  python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install -q aiosmtpd
  # The portal's browser tests: Debian's Chromium, and playwright-core from npm.
  command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium chromium-driver; }
  command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
  (cd crates/ctt-server/tests/portal && npm ci --no-audit --no-fund --loglevel=error)
fi

say "cargo fmt --check"
cargo fmt --all -- --check

say "cfn-lint: the AWS SAM template"
cfn-lint deploy/template.yaml

say "the release build carries no test code (feature testsuite)"
if cargo tree -p ctt -p ctt-aws -e features,normal --locked 2>/dev/null | grep -q testsuite; then
  echo "error: the testsuite feature reaches a release build:" >&2
  cargo tree -p ctt -p ctt-aws -e features,normal -i ctt-store --locked >&2
  exit 1
fi

say "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "cargo test"
cargo test --workspace --locked --no-fail-fast

say "schemathesis: the API against its own OpenAPI document"
scripts/schemathesis.sh "${CARGO_TARGET_DIR:-target}/debug/ctt"

say "the web portal in headless Chromium (crates/ctt-server/tests/portal)"
# The binary `cargo test` built (as schemathesis does): `cargo build -p ctt`
# alone resolves other features and would compile the AWS stack a second time.
(cd crates/ctt-server/tests/portal && node --test --test-concurrency=1 --test-timeout=180000 portal.test.mjs)
