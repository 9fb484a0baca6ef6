#!/usr/bin/env bash
# The paper run: one `dpstudy reproduce` of the paper profile (full-short) at one clean
# revision, and everything the paper, the README and the appendix make from it.
#
#   artifact/paper-run.sh DATA_DIR [RESULTS_DIR]
#   artifact/paper-run.sh --remake     (no run: only what follows, from the committed run,
#                                       after a change to the report's code)
#
# DATA_DIR holds all 70,000 MNIST images (../shared/data/mnist-full here); RESULTS_DIR
# (default results/) receives the run's own directory. Needs root (T8 and T12 emulate hosts)
# and the baselines' Python (artifact/baselines/install.sh). It runs about an hour and a
# half on 2 cores (`dpstudy reproduce --profile full-short --dry-run` estimates it): start it
# in the background with a log, and compile nothing beside it, since it times.
#
# Then, from the finished run: artifact/expected/full-short is replaced by it; paper/tables
# and paper/figures are remade (`report`, `model`); the README's and the appendix's
# generated regions (`docs`) and the appendix's claims table (`claims`) are rewritten. It
# commits nothing: `git status` shows what the run changed, and `dpstudy provenance` must
# then pass.
set -euo pipefail
cd "$(dirname "$0")/.."

remake_only=false
[ "${1:-}" = --remake ] && remake_only=true
data="${1:?usage: artifact/paper-run.sh DATA_DIR [RESULTS_DIR] | --remake (DATA_DIR: all 70,000 MNIST images)}"
results="${2:-results}"
$remake_only || [ -f "$data/train-images-idx3-ubyte" ] || [ -f "$data/train-images-idx3-ubyte.gz" ] \
  || { echo "paper-run: $data has no MNIST training images (train-images-idx3-ubyte): the paper profile needs all 70,000" >&2; exit 2; }
# A run names its revision; a dirty tree would make one that is not in the history.
if ! $remake_only && [ -n "$(git status --porcelain)" ]; then
  echo "paper-run: the working tree is not clean; commit first, so that the run's revision is one of the history:" >&2
  git status --short >&2
  exit 1
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dpstudy-target}"
cargo build --release --locked
# A copy of the binary, so that a build during the run cannot replace what runs.
bin_dir="$(mktemp -d "${TMPDIR:-/tmp}/dpstudy-paper-run.XXXXXX")"
cp "$CARGO_TARGET_DIR/release/dpstudy" "$bin_dir/dpstudy"
dpstudy="$bin_dir/dpstudy"

expected=artifact/expected/full-short
status=0
if ! $remake_only; then
  before="$(ls -d "$results"/full-short-*/ 2>/dev/null || true)"
  "$dpstudy" reproduce --profile full-short --data-dir "$data" --results-dir "$results" || status=$?
  run="$(comm -13 <(printf '%s\n' $before | sort) <(ls -d "$results"/full-short-*/ | sort) | tail -1)"
  [ -n "$run" ] || { echo "paper-run: reproduce left no run directory under $results (exit $status)" >&2; exit 1; }
  # A failed claim is a result; a failed run, or none, is not a paper run.
  [ -f "$run/check.json" ] || { echo "paper-run: $run has no check.json: the run did not finish (exit $status)" >&2; exit 1; }

  rm -rf "$expected"
  mkdir -p "$expected"
  # What the tables, the claims and the cost model read; not the per-run logs, result files,
  # figures and HTML, which `report` remakes or nothing reads.
  for f in "$run"/*; do
    case "$(basename "$f")" in
      report.html|figures|logs|runs|cluster) ;;
      *) cp -r "$f" "$expected/" ;;
    esac
  done
fi
# The paper's tables and figures, from a scratch copy of what is committed (as `dpstudy
# provenance` checks them), so that the committed directory stays as the run wrote it.
scratch="$(mktemp -d "${TMPDIR:-/tmp}/dpstudy-paper-report.XXXXXX")"
cp -r "$expected" "$scratch/run"
rm -rf paper/tables paper/figures   # all generated: what the run does not make goes
"$dpstudy" report "$scratch/run" --paper-dir paper
"$dpstudy" model "$scratch/run" --out "$scratch/model" --paper-dir paper >/dev/null
"$dpstudy" docs
# The appendix's claims table: `dpstudy claims` between its markers.
table="$("$dpstudy" claims)"
TABLE="$table" python3 - artifact/README.md <<'PY'
import os, re, sys
path = sys.argv[1]
text = open(path).read()
new = "<!-- claims:begin -->\n" + os.environ["TABLE"].rstrip("\n") + "\n<!-- claims:end -->"
text, n = re.subn(r"<!-- claims:begin -->.*?<!-- claims:end -->", lambda _: new, text, flags=re.S)
assert n == 1, f"{path}: no claims region"
open(path, "w").write(text)
PY
$remake_only || echo "paper-run: $run (exit $status) is now $expected"
echo "paper-run: paper/, README.md and artifact/README.md remade from $expected"
"$dpstudy" provenance || true
git status --short
