"""AE-GRU end to end: the session's smoke run holds every metric, baseline, paired comparison and a predictions file
that re-scores its captions; storylab-eval re-scores its checkpoint; a run killed with SIGKILL resumes bit-identically."""
import json, signal, subprocess, time

import numpy as np
import torch

from conftest import BIN, kill_when, smoke_record, storylab
from storylab.ae_gru import AEGRUConfig, load
from storylab.ae_gru_data import WordVocab
from storylab.core import load_checkpoint
from storylab.metrics import caption_scores

FRAME = ("next_frame_l1", "next_frame_psnr", "next_frame_ssim")
CAPTION = ("caption_exact_match", "caption_bleu4", "caption_cider")
ALL = FRAME + CAPTION + ("caption_token_acc_teacher_forced", "ae_recon_l1", "next_frame_l1_residual", "next_frame_l1_decode",
       "next_frame_l1_true_latent")
COMPARED = ("caption_cider", "next_frame_l1", "caption_exact_match", "next_frame_psnr", "next_frame_ssim")


def _run(home): return home / "reports/runs/ae_gru/smoke"


def test_smoke_run_has_all_metrics_baselines_and_comparisons(smoke_home):
    rec, run = smoke_record(smoke_home, "ae_gru"), _run(smoke_home)
    assert set(ALL) <= set(rec["metrics"]) and "next_frame_l1_minus_copy_last" not in rec["metrics"]
    for name in ("copy_last", "mean_frame"):
        assert set(FRAME + CAPTION) <= set(rec["baselines"][name]), name
        assert {"next_frame_l1", "caption_cider"} <= set(rec["baselines_ci"][name]), name
    assert {"next_frame_l1", "caption_cider"} <= set(rec["ci"])
    assert rec["headline"] == "caption_cider"
    assert 0 <= rec["metrics"]["caption_token_acc_teacher_forced"] <= 1
    assert {f["file"] for f in rec["figures"]} == {"ae_reconstructions.png", "loss_curves.png", "predictions.png"}
    assert all((run / "figures" / f["file"]).exists() for f in rec["figures"])
    assert "teacher-forced" in rec["notes"] and "free-running" in rec["notes"]

    # model vs each baseline on every per-window metric, over the same held-out windows
    comps = {(c["metric"], c["b"]): c for c in rec["comparisons"]}
    n = sum(json.loads(l)["system"] == "model" for l in (run / "predictions.jsonl").read_text().splitlines())
    for b in ("copy_last", "mean_frame"):
        for m in COMPARED:
            c = comps[(m, b)]
            assert c["a"] == "model" and c["n"] == n and c["lo"] - 1e-9 <= c["diff"] <= c["hi"] + 1e-9, c
            assert c["higher_is_better"] == (m != "next_frame_l1"), c
            assert abs(c["diff"] - (rec["metrics"][m] - rec["baselines"][b][m])) < 1e-9, c  # a paired mean difference
    l1 = comps[("next_frame_l1", "copy_last")]
    assert f"{l1['diff']:+.4f} [{l1['lo']:+.4f}, {l1['hi']:+.4f}]" in rec["notes"]  # the prose quotes the record

    # the seed's own claims, quoted as strings, beside this run's number on the same measure
    claims = {r["seed 002 claim"]: r for r in rec["tables"]["seed 002 claims"]}
    assert claims["masked token accuracy"]["seed (quoted)"] == "99.5 percent"
    assert claims["masked token accuracy"]["storylab"] == rec["metrics"]["caption_token_acc_teacher_forced"]
    assert claims["autoencoder validation L1"]["seed (quoted)"] == "0.06 to 0.08"
    assert 0 < claims["autoencoder validation L1"]["storylab"] < 1
    assert all(r["setting difference"] for r in claims.values())


def test_predictions_recompute_the_caption_scores(smoke_home):
    "BLEU-4, CIDEr and exact match of the model and each baseline, from predictions.jsonl alone."
    rec = smoke_record(smoke_home, "ae_gru")
    assert rec["predictions"] == "predictions.jsonl"
    rows = [json.loads(l) for l in (_run(smoke_home) / "predictions.jsonl").read_text().splitlines()]
    systems = {"model": rec["metrics"], **rec["baselines"]}
    assert {r["system"] for r in rows} == set(systems)
    ids = None
    for name, m in systems.items():
        mine = [r for r in rows if r["system"] == name]
        assert len({r["id"] for r in mine}) == len(mine) and all(len(r["references"]) == 1 for r in mine), name
        assert ids is None or ids == [r["id"] for r in mine], "every system answers the same windows"
        ids = [r["id"] for r in mine]
        sc = caption_scores({r["id"]: r["references"] for r in mine}, {r["id"]: r["prediction"] for r in mine})
        assert abs(sc["BLEU-4"] - m["caption_bleu4"]) < 1e-9 and abs(sc["CIDEr"] - m["caption_cider"]) < 1e-9, (name, sc)
        exact = np.mean([WordVocab.tokenize(r["references"][0]) == WordVocab.tokenize(r["prediction"]) for r in mine])
        assert abs(exact - m["caption_exact_match"]) < 1e-12, name


def test_eval_checkpoint_reproduces_the_run(in_smoke_home):
    rec = smoke_record(in_smoke_home, "ae_gru")
    res = storylab("storylab-eval", "ae_gru", "--checkpoint", _run(in_smoke_home) / "model.pt")
    again = json.loads(res.stdout[res.stdout.index("{"):])
    for k in FRAME + CAPTION + ("caption_token_acc_teacher_forced",):
        assert abs(again[k] - rec["metrics"][k]) < 1e-4, (k, again[k], rec["metrics"][k])
    # the checkpoint holds the config, the vocabulary and the data settings of the run (storylab.system's one format)
    model, cfg, vocab, extra = load(_run(in_smoke_home) / "model.pt")
    assert isinstance(cfg, AEGRUConfig) and cfg.vocab_size == len(vocab) and model.threshold == cfg.threshold
    assert extra["data"]["n_stories"] == rec["params"]["n_stories"] and extra["data"]["source"] == rec["params"]["source"]


def test_kill_and_resume_gives_identical_weights(smoke_home, home):
    "SIGKILL in the middle of stage 2, resume: the weights and metrics equal the session's uninterrupted smoke run."
    import psutil
    straight = smoke_record(smoke_home, "ae_gru")
    args = ["ae_gru", "--preset", "smoke", "--name", "killed", "-p", "ckpt_every", "1",
            "-p", "threads", str(straight["cpu_threads"])]  # the same thread count: the same float reductions
    run = home / "reports/runs/ae_gru/killed"
    proc = subprocess.Popen([str(BIN / "storylab-run"), *args, "-p", "step_delay", "0.5"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ckpt = run / "checkpoints/stage2/last.pt"
    kill_when(proc, ckpt)
    assert not (run / "model.pt").exists(), "the run finished before it was killed"
    st = load_checkpoint(ckpt)["state"]
    assert st["epoch"] == 0 and 0 < st["batch_in_epoch"], "killed outside stage 2's only epoch"
    storylab("storylab-run", *args)  # same run name: both stages resume from their checkpoints
    a = load_checkpoint(_run(smoke_home) / "model.pt")["state"]["model"]
    b = load_checkpoint(run / "model.pt")["state"]["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((run / "metrics.json").read_text())["metrics"] == straight["metrics"]
