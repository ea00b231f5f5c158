#!/usr/bin/env bash
# Prints the folder of a checkout of REV (git archive, made once, outside this tree: its tests walk the tree), with
# the git-ignored bench data and the tests' npm packages shared, so the benches can run an older commit's scripts
# beside today's:  OLD_DIR=$(bench/old-checkout.sh main~3)
set -euo pipefail
cd "$(dirname "$0")/.."
NEW=$PWD
SHA=$(git rev-parse --short "${1:?usage: bench/old-checkout.sh REV}")
OLD=${TMPDIR:-/tmp}/py-utilities-compare/$SHA
if [ ! -f "$OLD/.complete" ]; then
  rm -rf "$OLD" && mkdir -p "$OLD"
  git archive "$SHA" | tar -x -C "$OLD"
  touch "$OLD/.complete"
fi
mkdir -p "$NEW/bench/data"
[ -e "$OLD/bench/data" ] || ln -s "$NEW/bench/data" "$OLD/bench/data"
[ -d "$NEW/tests/node_modules" ] && [ ! -e "$OLD/tests/node_modules" ] && ln -s "$NEW/tests/node_modules" "$OLD/tests/node_modules"
echo "$OLD"
