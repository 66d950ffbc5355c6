"Coconut end to end: every mode runs at the smoke preset; a run stopped mid-curriculum resumes at the right stage."
import json
import pytest
from conftest import storylab

METRICS = ["accuracy", "tokens_per_answer", "lang_tokens_per_answer"]


def _record(home, name):
    return json.loads((home / "reports" / "runs" / "coconut" / name / "metrics.json").read_text())


@pytest.mark.parametrize("mode", ["coconut", "cot", "no_cot", "pause"])
def test_smoke_each_mode(home, mode):
    storylab("storylab-run", "coconut", "--preset", "smoke", "-p", "mode", mode, "--name", mode)
    rec = _record(home, mode)
    m = rec["metrics"]
    for k in METRICS + [f"{mode}_accuracy", f"{mode}_accuracy_stage0", f"{mode}_accuracy_stage1"]: assert k in m, k
    assert 0 <= m["accuracy"] <= 1 and m["tokens_per_answer"] >= m["lang_tokens_per_answer"]
    latent = 1 if mode in ("coconut", "pause") else 0   # smoke: last stage 1 × c_thought 1
    assert m["tokens_per_answer"] - m["lang_tokens_per_answer"] == pytest.approx(latent)
    assert set(rec["baselines"]) == {"chance", "majority"} and rec["baselines"]["chance"]["accuracy"] == pytest.approx(0.25)
    assert "accuracy" in rec["ci"] and "accuracy" in rec["baselines_ci"]["majority"]
    assert {f["file"] for f in rec["figures"]} >= {"accuracy_vs_stage.png", "accuracy_vs_tokens.png", "loss.png"}
    ckpt = home / "reports" / "runs" / "coconut" / mode / "model.pt"
    assert ckpt.exists()
    if mode == "coconut":   # the saved model re-evaluates to the same numbers
        res = storylab("storylab-eval", "coconut", "--checkpoint", ckpt)
        again = json.loads(res.stdout[res.stdout.index("{"):])
        assert again["accuracy"] == pytest.approx(m["accuracy"]) and again["n_test"] == m["n_test"]
        assert again["tokens"] == pytest.approx(m["tokens_per_answer"])


def test_resume_mid_curriculum_continues_at_the_right_stage(home):
    run = home / "reports" / "runs" / "coconut" / "r"
    first = storylab("storylab-run", "coconut", "--preset", "smoke", "-p", "stop_after_stage", "0", "--name", "r")
    assert (run / "checkpoints" / "coconut" / "stage0" / "done.json").exists()
    assert not (run / "checkpoints" / "coconut" / "stage1").exists()
    assert "accuracy" not in _record(home, "r")["metrics"]   # stopped: no final evaluation yet
    storylab("storylab-run", "coconut", "--preset", "smoke", "-p", "resume", "True", "--name", "r")
    out = (run / "coconut.ipynb").read_text()
    assert "stages [(0, 'resumed'), (1, 'trained')]" in out
    assert "coconut stage 0 epoch" not in out          # stage 0 was not trained again
    m = _record(home, "r")["metrics"]
    assert "accuracy" in m and "coconut_accuracy_stage0" in m and "coconut_accuracy_stage1" in m
