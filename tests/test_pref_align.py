"Preference-guided captioning end to end: the smoke run, the dry run, the config file, predict and eval."
import json, os, subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import BIN, REPO, storylab

METRICS = ("t2i_R@1", "t2i_R@5", "i2t_R@1", "i2t_R@5", "pref_acc", "reward_margin", "loglik_acc", "BLEU-4", "METEOR",
           "ROUGE-L", "CIDEr", "CLIPScore", "BERTScore", "specificity", "hallucination", "skipped_batches_stage1",
           "skipped_batches_stage2")


def test_smoke_run_metrics_predict_and_eval(home):
    storylab("storylab-run", "pref_align", "--preset", "smoke", "--name", "s")
    run = home / "reports/runs/pref_align/s"
    rec = json.loads((run / "metrics.json").read_text())
    assert set(METRICS) <= set(rec["metrics"]), set(METRICS) - set(rec["metrics"])
    assert {"t2i_R@1", "pref_acc"} <= set(rec["baselines"]["chance"])
    assert {"pref_acc", "CIDEr", "hallucination", "CLIPScore"} <= set(rec["baselines"]["before_dpo"])
    assert {"pref_acc", "CIDEr", "hallucination"} <= set(rec["ci"]) and rec["headline"] == "pref_acc"
    lo, hi = rec["ci"]["hallucination_change"]   # paired: after minus before DPO on the same frames
    assert lo <= rec["metrics"]["hallucination_change"] <= hi
    assert {f["file"] for f in rec["figures"]} == {"losses.png", "before_after.png", "samples.png"}
    assert all((run / "figures" / f["file"]).exists() for f in rec["figures"])
    assert rec["metrics"]["dry_run"] == 0 and rec["metrics"]["skipped_batches_stage2"] == 0
    # on-policy sampling ran (smoke: 2 samples per frame; the tiny smoke model's samples may all tie, giving no pair)
    m = rec["metrics"]
    assert 0 <= m["onpolicy_pairs"] <= m["n_train_pairs"] and m["onpolicy_s"] > 0 and "on-policy" in rec["notes"]
    if m["onpolicy_pairs"]: assert m["onpolicy_chosen_hallucination"] <= m["onpolicy_rejected_hallucination"]
    # one image file → one caption, from the saved checkpoint
    frame = home / "frame.png"
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(frame)
    res = storylab("storylab-predict", "pref_align", "--image", frame, "--checkpoint", run / "model.pt")
    assert res.returncode == 0 and len(res.stdout.strip().splitlines()) == 1
    out = storylab("storylab-eval", "pref_align", "--checkpoint", run / "model.pt", "-p", "bert_n", "4").stdout
    scores = json.loads(out[out.index("{"):])
    assert {"policy_CIDEr", "reference_CIDEr", "policy_pref_acc", "policy_hallucination"} <= set(scores)
    assert abs(scores["policy_pref_acc"] - rec["metrics"]["pref_acc"]) < 1e-6   # same split, same checkpoint

def test_dry_run_and_config_file(home, tmp_path):
    storylab("storylab-run", "pref_align", "--preset", "smoke", "-p", "dry_run", "True", "--name", "dry")
    rec = json.loads((home / "reports/runs/pref_align/dry/metrics.json").read_text())
    assert rec["metrics"]["dry_run"] == 1 and rec["metrics"]["stage1_s"] < 5 and rec["metrics"]["stage2_s"] < 5
    assert abs(rec["metrics"]["dry_run_stage2_loss"] - np.log(2)) < 1e-4   # DPO starts with policy = reference
    # papermill -f params.yaml is the config file; stage 1 only
    cfg = tmp_path / "params.yaml"
    cfg.write_text(f"preset: smoke\nstage: '1'\ndry_run: true\nrun_dir: {tmp_path / 'run'}\n")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    res = subprocess.run([str(BIN / "papermill"), str(REPO / "nbs/experiments/pref_align.ipynb"), str(tmp_path / "out.ipynb"),
                          "-f", str(cfg)], capture_output=True, text=True, env=env, cwd=str(REPO / "nbs/experiments"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Stage 1" in json.loads((tmp_path / "run/metrics.json").read_text())["notes"]
    assert (tmp_path / "run/stage1.pt").exists()
    # stage 2 from that checkpoint; a relative path is read from the repository root (here STORYLAB_HOME = tmp_path)
    storylab("storylab-run", "pref_align", "--preset", "smoke", "-p", "stage", "2", "-p", "init_checkpoint", "run/stage1.pt",
             "-p", "dry_run", "True", "--name", "s2")
    assert "Stage 2" in json.loads((home / "reports/runs/pref_align/s2/metrics.json").read_text())["notes"]


def test_bad_stage_is_refused(home):
    res = storylab("storylab-run", "pref_align", "--preset", "smoke", "-p", "stage", "3", "-p", "dry_run", "True", check=False)
    assert res.returncode != 0 and "stage must be" in res.stderr


def test_onpolicy_pairs_need_storyworld(home):
    "Hub data have no attributes to label sampled captions: on-policy pairs are refused before any data is loaded."
    res = storylab("storylab-run", "pref_align", "--preset", "smoke", "-p", "source", "hub", "-p", "dry_run", "True", check=False)
    assert res.returncode != 0 and "onpolicy_samples" in res.stderr
