#!/usr/bin/env bash
# What the console's browser tests need, installed before they run (the tests themselves
# reach nothing beyond 127.0.0.1): Debian's chromium and its chromedriver, and axe-core
# $AXE_VERSION (pinned, so a new release's rules cannot fail a build by surprise) from npm
# into $HOIST_AXE_DIR (default target/axe; the tests read
# $HOIST_AXE_DIR/node_modules/axe-core/axe.min.js). Safe to run again: it installs only
# what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for pair in chromium:chromium chromedriver:chromium-driver npm:npm; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${missing[*]} from Debian"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

axe_dir=${HOIST_AXE_DIR:-target/axe}
version=${AXE_VERSION:-4.14.1}
installed=$(node -e 'try{console.log(require(require("path").resolve(process.argv[1],"node_modules/axe-core/package.json")).version)}catch(e){}' "$axe_dir")
if [ "$installed" != "$version" ] || [ ! -f "$axe_dir/node_modules/axe-core/axe.min.js" ]; then
    mkdir -p "$axe_dir"
    echo "installing axe-core $version into $axe_dir"
    npm install --prefix "$axe_dir" --no-audit --no-fund --no-save --loglevel=error "axe-core@$version" >/dev/null
fi
echo "axe-core $version in $axe_dir; $(chromium --version 2>/dev/null); $(chromedriver --version | head -1)"
