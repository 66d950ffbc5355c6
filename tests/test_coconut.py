"""Coconut end to end. The session's smoke run (all four modes) is read for its records, predictions and checkpoint;
a run stopped mid-curriculum resumes at the right stage and ends exactly where an unbroken run ends."""
import json, os
import numpy as np
import pytest
from conftest import storylab, smoke_record

MODES = ["coconut", "cot", "no_cot", "pause"]
PAIRS = [("coconut", "cot"), ("coconut", "no_cot"), ("coconut", "pause"), ("cot", "no_cot")]
VOLATILE = {"wall_s", "peak_rss_mb", "finished_at", "run_dir", "cpu_threads", "figures", "params"}


def _run(home, name):
    return home / "reports" / "runs" / "coconut" / name


def _predictions(run):
    return [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]


def test_smoke_record_has_every_mode_and_its_paired_comparisons(smoke_home):
    rec = smoke_record(smoke_home, "coconut")
    m, n = rec["metrics"], int(rec["metrics"]["n_test"])
    assert rec["headline"] == "accuracy_coconut"
    for mode in MODES:
        for k in [f"accuracy_{mode}", f"tokens_{mode}", f"lang_tokens_{mode}", f"accuracy_{mode}_stage0", f"accuracy_{mode}_stage1"]:
            assert k in m, k
        assert 0 <= m[f"accuracy_{mode}"] <= 1
        latent = 1 if mode in ("coconut", "pause") else 0   # smoke: last stage 1 × c_thought 1
        assert m[f"tokens_{mode}"] - m[f"lang_tokens_{mode}"] == pytest.approx(latent)
        assert rec["baselines"]["chance"][f"accuracy_{mode}"] == pytest.approx(0.25)
        assert f"accuracy_{mode}" in rec["ci"] and f"accuracy_{mode}" in rec["baselines_ci"]["majority"]
    comps = {(c["metric"], c["a"], c["b"]): c for c in rec["comparisons"]}
    wanted = [(f"accuracy_{a}", a, b) for a, b in PAIRS] + [(f"accuracy_{mo}", mo, b) for mo in MODES for b in ("majority", "chance")]
    assert set(comps) == set(wanted), set(comps) ^ set(wanted)
    for (metric, a, b), c in comps.items():
        assert c["n"] == n and c["higher_is_better"] is True
        other = m[f"accuracy_{b}"] if b in MODES else rec["baselines"][b][metric]
        assert c["diff"] == pytest.approx(m[metric] - other) and c["lo"] - 1e-9 <= c["diff"] <= c["hi"] + 1e-9
    assert {f["file"] for f in rec["figures"]} >= {"accuracy_vs_stage.png", "accuracy_vs_tokens.png", "loss.png"}
    claims = rec["tables"]["seed 003 claims"]
    assert len(claims) == 1 and "no evaluation" in claims[0]["seed 003 claim"] and "accuracy_coconut" in claims[0]["storylab"]
    assert set(rec["tables"]["Training loss at the end of each stage"][0]) == {"mode", "stage 0", "stage 1"}


def test_predictions_recompute_accuracy_and_tokens(smoke_home):
    rec = smoke_record(smoke_home, "coconut")
    assert rec["predictions"] == "predictions.jsonl"
    rows = _predictions(_run(smoke_home, "smoke"))
    n = int(rec["metrics"]["n_test"])
    by = {}
    for r in rows:
        assert {"id", "mode", "system", "references", "prediction", "answer", "gold"} <= set(r), r
        assert r["mode"] in (r["system"], None) and r["gold"] == " ".join(r["references"][0].split()).strip(" .").lower()
        by.setdefault(r["system"], []).append(r)
    assert set(by) == set(MODES) | {"majority"}
    ids = [r["id"] for r in by["coconut"]]
    assert len(set(ids)) == n and all([r["id"] for r in v] == ids for v in by.values())   # the same held-out questions
    for system, v in by.items():
        acc = np.mean([r["answer"] == r["gold"] for r in v])
        expected = rec["baselines"]["majority"]["accuracy_coconut"] if system == "majority" else rec["metrics"][f"accuracy_{system}"]
        assert acc == pytest.approx(expected, abs=1e-12), system
        if system in MODES:
            assert np.mean([r["tokens"] for r in v]) == pytest.approx(rec["metrics"][f"tokens_{system}"], abs=1e-12)
            assert np.mean([r["lang_tokens"] for r in v]) == pytest.approx(rec["metrics"][f"lang_tokens_{system}"], abs=1e-12)


def test_saved_model_reevaluates_to_the_same_numbers(in_smoke_home):
    m = smoke_record(in_smoke_home, "coconut")["metrics"]
    res = storylab("storylab-eval", "coconut", "--checkpoint", _run(in_smoke_home, "smoke") / "model.pt")
    again = json.loads(res.stdout[res.stdout.index("{"):])
    assert again["accuracy"] == pytest.approx(m["accuracy_coconut"]) and again["n_test"] == m["n_test"]
    assert again["tokens"] == pytest.approx(m["tokens_coconut"])
    assert not (_run(in_smoke_home, "smoke") / "tokenizer").exists()   # the tokenizer is inside the checkpoint


def test_resume_mid_curriculum_ends_exactly_where_an_unbroken_run_ends(home, smoke_home):
    """Stop every mode after stage 0, resume: stage 0 is not trained again, and the records and predictions equal the
    session's unbroken smoke run (another process, another hash seed, the same thread count)."""
    ref = smoke_record(smoke_home, "coconut")
    env = {**os.environ, "STORYLAB_THREADS": str(ref["cpu_threads"]), "PYTHONHASHSEED": "4242"}
    run = _run(home, "r")
    storylab("storylab-run", "coconut", "--preset", "smoke", "-p", "stop_after_stage", "0", "--name", "r", env=env)
    for mode in MODES:
        assert (run / "checkpoints" / mode / "stage0" / "done.json").exists()
        assert not (run / "checkpoints" / mode / "stage1").exists()
    stopped = json.loads((run / "metrics.json").read_text())
    assert "accuracy_coconut" not in stopped["metrics"] and not stopped["comparisons"]   # stopped: no final evaluation
    assert not (run / "predictions.jsonl").exists()
    storylab("storylab-run", "coconut", "--preset", "smoke", "-p", "resume", "True", "--name", "r", env=env)
    out = (run / "coconut.ipynb").read_text()
    for mode in MODES:
        assert f"{mode}: stages [(0, 'resumed'), (1, 'trained')]" in out
        assert f"{mode} stage 0 epoch" not in out          # stage 0 was not trained again
    rec = json.loads((run / "metrics.json").read_text())
    assert rec["cpu_threads"] == ref["cpu_threads"]
    diff = {k for k in set(rec) | set(ref) if k not in VOLATILE and rec.get(k) != ref.get(k)}
    assert not diff, {k: (rec.get(k), ref.get(k)) for k in diff}
    assert (run / "predictions.jsonl").read_text() == (_run(smoke_home, "smoke") / "predictions.jsonl").read_text()
