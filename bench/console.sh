#!/usr/bin/env bash
# The console's render times at 10,000 repositories and a repository of 1,000 tags: the
# repository list (first page, a search, sorted by tags, a late page), the big repository
# (first and last page of its tags) and one of its tags, on the server's side (200
# sequential GETs each) and as chromium sees them (30 navigations each), p50 and p99; and
# how long pushing all that through /v2 takes. See benches/console.rs.
#
#   bash bench/console.sh            # a release build, the full size
#   SMOKE=1 bash bench/console.sh    # 300 repositories, 50 tags, few samples (for CI)
# Prints Markdown; bench/results.sh puts it into bench/RESULTS.md.
# Needs chromium and chromium-driver (tests/browser-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
for pair in chromium:chromium chromedriver:chromium-driver; do
  command -v "${pair%%:*}" >/dev/null || { echo "missing ${pair%%:*}: apt-get install ${pair##*:} (or bash tests/browser-deps.sh)" >&2; exit 1; }
done
if [ -n "${SMOKE:-}" ]; then
  export CONSOLE_REPOS=${CONSOLE_REPOS:-300} CONSOLE_TAGS=${CONSOLE_TAGS:-50}
  export CONSOLE_N=${CONSOLE_N:-20} CONSOLE_BROWSER_N=${CONSOLE_BROWSER_N:-3}
  cargo bench --locked --profile dev --bench console
else
  cargo bench --locked --bench console
fi
