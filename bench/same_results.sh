#!/bin/bash
# Does a refactor change any result? Smoke runs of every text-writing experiment at commit REF and at the working
# tree, then their numbers and predictions side by side (#16: "greedy outputs identical before and after").
# Usage: bench/same_results.sh REF [EXPERIMENTS]   (any experiments, comma-separated; those that write no text compare numbers only; from the repository root, after `make venv`; about 4 min on 2 cores)
set -euo pipefail
ref=${1:?usage: bench/same_results.sh REF [EXPERIMENTS]}
names=${2:-story_gan,ae_gru,pref_align,coconut,prosqa,seq2seq}
repo=$(pwd); tmp=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$tmp/ref" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add -q "$tmp/ref" "$ref"
mkdir -p "$tmp/cache" "$tmp/home_ref" "$tmp/home_now"
ln -s "$tmp/cache" "$tmp/home_ref/cache"; ln -s "$tmp/cache" "$tmp/home_now/cache"   # one StoryCLIP tower for both
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 MPLBACKEND=Agg TF_CPP_MIN_LOG_LEVEL=2
# PYTHONPATH puts REF's package ahead of the editable install, in storylab-run and in its kernels
(cd "$tmp/home_ref" && PYTHONPATH="$tmp/ref" STORYLAB_HOME="$tmp/home_ref" STORYLAB_EXPERIMENTS="$tmp/ref/nbs/experiments" \
  "$repo/.venv/bin/storylab-run" "$names" --preset smoke --jobs 2 --name smoke > "$tmp/ref.log" 2>&1) || { tail -20 "$tmp/ref.log"; exit 1; }
(cd "$tmp/home_now" && STORYLAB_HOME="$tmp/home_now" STORYLAB_EXPERIMENTS="$repo/nbs/experiments" \
  "$repo/.venv/bin/storylab-run" "$names" --preset smoke --jobs 2 --name smoke > "$tmp/now.log" 2>&1) || { tail -20 "$tmp/now.log"; exit 1; }
"$repo/.venv/bin/python" - "$tmp" "$names" "$ref" <<'PY'
import json, os, sys
tmp, names, ref = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
def strip(x):   # what a run measured, without times and memory
    if isinstance(x, dict): return {k: strip(v) for k, v in x.items() if not (k.endswith("_s") or k == "peak_rss_mb")}
    if isinstance(x, list): return [strip(v) for v in x]
    return x
print(f"| experiment | numbers ({ref} vs working tree) | predictions |\n|---|---|---|")
same_all = True
for n in names:
    recs = [json.load(open(f"{tmp}/{h}/reports/runs/{n}/smoke/metrics.json")) for h in ("home_ref", "home_now")]
    paths = [f"{tmp}/{h}/reports/runs/{n}/smoke/predictions.jsonl" for h in ("home_ref", "home_now")]
    preds = [open(p).read() if os.path.exists(p) else "" for p in paths]   # experiments that write no text: numbers only
    keys = ("metrics", "baselines", "ci", "baselines_ci", "comparisons", "tables")
    same = all(strip(recs[0].get(k)) == strip(recs[1].get(k)) for k in keys)
    rows = f"{'identical' if preds[0] == preds[1] else 'DIFFER'} ({len(preds[1].splitlines())} rows)" if any(preds) else "none written"
    print(f"| {n} | {'identical' if same else 'DIFFER'} | {rows} |")
    same_all &= same and preds[0] == preds[1]
sys.exit(0 if same_all else 1)
PY
