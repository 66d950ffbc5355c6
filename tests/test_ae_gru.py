"AE-GRU end to end: the smoke run writes every metric and baseline, and storylab-eval re-scores its checkpoint."
import json

from conftest import storylab

FRAME = ("next_frame_l1", "next_frame_psnr", "next_frame_ssim")
CAPTION = ("caption_exact_match", "caption_bleu4", "caption_cider")
ALL = FRAME + CAPTION + ("caption_token_acc_teacher_forced", "ae_recon_l1", "next_frame_l1_residual", "next_frame_l1_decode",
       "next_frame_l1_true_latent", "next_frame_l1_minus_copy_last")


def test_smoke_run_has_all_metrics_and_baselines(home):
    storylab("storylab-run", "ae_gru", "--preset", "smoke", "--name", "s")
    run = home / "reports/runs/ae_gru/s"
    rec = json.loads((run / "metrics.json").read_text())
    assert set(ALL) <= set(rec["metrics"])
    for name in ("copy_last", "mean_frame"):
        assert set(FRAME + CAPTION) <= set(rec["baselines"][name]), name
        assert {"next_frame_l1", "caption_cider"} <= set(rec["baselines_ci"][name]), name
    assert {"next_frame_l1", "caption_cider"} <= set(rec["ci"])
    for k in rec["ci"]:
        lo, hi = rec["ci"][k]
        assert lo <= rec["metrics"][k] + 1e-9 and rec["metrics"][k] <= hi + 1e-9, (k, lo, hi)
    assert rec["headline"] == "caption_cider"
    assert 0 <= rec["metrics"]["caption_token_acc_teacher_forced"] <= 1
    assert {f["file"] for f in rec["figures"]} == {"ae_reconstructions.png", "loss_curves.png", "predictions.png"}
    assert all((run / "figures" / f["file"]).exists() for f in rec["figures"])
    assert "teacher-forced" in rec["notes"] and "free-running" in rec["notes"]

    # the saved model re-evaluates to the same numbers through the CLI
    res = storylab("storylab-eval", "ae_gru", "--checkpoint", run / "model.pt")
    again = json.loads(res.stdout[res.stdout.index("{"):])
    for k in FRAME + CAPTION + ("caption_token_acc_teacher_forced",):
        assert abs(again[k] - rec["metrics"][k]) < 1e-4, (k, again[k], rec["metrics"][k])
