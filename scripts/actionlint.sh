#!/usr/bin/env bash
# Lints every GitHub Actions workflow of the project with actionlint (installed from the Go module
# proxy into .tools/ on first use): Slipway's own pipelines and the examples for its users.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=v1.7.7
TOOLS="$PWD/.tools"
if [ ! -x "$TOOLS/actionlint" ] || ! "$TOOLS/actionlint" -version | grep -q "${VERSION#v}"; then
  mkdir -p "$TOOLS"
  GOBIN="$TOOLS" go install "github.com/rhysd/actionlint/cmd/actionlint@$VERSION"
fi
# actionlint checks the shell of every `run:` step with shellcheck (Debian's package).
if ! command -v shellcheck >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get install -y -q shellcheck >/dev/null 2>&1 ||
    { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q shellcheck >/dev/null; }
fi
# The examples call each other as ./.github/workflows/<file> once copied into a repository: lint them
# from a copy laid out that way, so those calls are checked against the real reusable workflows.
examples="$(mktemp -d)"
trap 'rm -rf "$examples"' EXIT
mkdir -p "$examples/.github/workflows"
cp examples/github-actions/*.yaml "$examples/.github/workflows/"
"$TOOLS/actionlint" -no-color .github/workflows/*.yaml
(cd "$examples" && "$TOOLS/actionlint" -no-color .github/workflows/*.yaml)
echo "actionlint $VERSION: no findings in $(ls .github/workflows/*.yaml examples/github-actions/*.yaml | wc -l) workflows"
