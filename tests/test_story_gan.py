"""The StoryReasoning GAN end to end: the session's smoke run (metrics, baselines, paired comparisons, predictions),
re-evaluation of its checkpoint, and kill-and-resume in both modes."""
import json, os, signal, subprocess, time
from pathlib import Path

import pytest, torch

from conftest import BIN, kill_when, storylab, smoke_record
from storylab.core import THREAD_VARS, load_checkpoint

ARGS = ["--preset", "smoke", "-p", "ckpt_every", "2"]
METRICS = ("CLIPScore", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")
REALISM = ("grammar_rate", "repeat_rate")


def test_smoke_writes_every_metric_baseline_and_comparison(smoke_home):
    rec = smoke_record(smoke_home, "story_gan")
    for m in (*METRICS, *REALISM, "disc_acc", "disc_acc_valid_epoch1"): assert m in rec["metrics"], m
    assert set(rec["baselines"]) >= {"copy_last", "retrieval", "warmup_only"}
    for b in ("copy_last", "retrieval", "warmup_only"):
        for m in (*METRICS, *REALISM): assert m in rec["baselines"][b], (b, m)
    for m in ("CIDEr", "CLIPScore", *REALISM):
        lo, hi = rec["ci"][m]; assert lo - 1e-9 <= rec["metrics"][m] <= hi + 1e-9
        assert m in rec["baselines_ci"]["copy_last"]
    # paired comparisons: adv against every baseline on the headline, and against warmup_only on the four the issue names
    comps = {(c["metric"], c["a"], c["b"]): c for c in rec["comparisons"]}
    assert {("CIDEr", "adv", b) for b in ("copy_last", "retrieval", "warmup_only")} <= set(comps)
    assert {(m, "adv", "warmup_only") for m in ("CLIPScore", *REALISM)} <= set(comps)
    assert comps[("repeat_rate", "adv", "warmup_only")]["higher_is_better"] is False
    # adversarial mode is real: held-out D accuracy per epoch (and its figure), the first epoch's in metrics
    per_epoch = rec["tables"]["disc_acc_per_epoch"]
    assert len(per_epoch) == rec["params"]["adv_epochs"] and all(0 <= r["valid"] <= 1 for r in per_epoch)
    assert per_epoch[0]["valid"] == rec["metrics"]["disc_acc_valid_epoch1"]
    assert {"loss.png", "metrics.png", "examples.png", "disc_acc.png"} <= {f["file"] for f in rec["figures"]}
    assert {"realism", "adv_vs_warmup_examples", "seed_000_claims"} <= set(rec["tables"])
    assert [r["seed's value"] for r in rec["tables"]["seed_000_claims"]] == ["not given"] * 2
    assert "storyclip" in rec["notes"] and "minilm" in rec["notes"]


def test_predictions_hold_every_system_and_recompute_the_realism_rates(smoke_home):
    from storylab.story_gan import repeats_ngram
    from storylab.captions import grammatical
    rec = smoke_record(smoke_home, "story_gan")
    rows = [json.loads(l) for l in (smoke_home / "reports/runs/story_gan/smoke" / rec["predictions"]).read_text().splitlines()]
    systems = {"adv", "warmup_only", "copy_last", "retrieval"}
    by = {s: [r for r in rows if r["system"] == s] for s in systems}
    assert {r["system"] for r in rows} == systems and len({len(v) for v in by.values()}) == 1
    assert all([r["id"] for r in v] == [r["id"] for r in by["adv"]] for v in by.values())
    for s, v in by.items():
        got = rec["metrics"] if s == "adv" else rec["baselines"][s]
        assert abs(sum(grammatical(r["prediction"]) for r in v) / len(v) - got["grammar_rate"]) < 1e-9, s
        assert abs(sum(repeats_ngram(r["prediction"]) for r in v) / len(v) - got["repeat_rate"]) < 1e-9, s


def test_eval_checkpoint_reproduces_the_run(in_smoke_home):
    run = in_smoke_home / "reports/runs/story_gan/smoke"
    out = storylab("storylab-eval", "story_gan", "--checkpoint", run / "model.pt")
    res = json.loads(out.stdout[out.stdout.index("{"):])
    rec = json.loads((run / "metrics.json").read_text())
    for m in (*METRICS, *REALISM, "disc_acc"): assert abs(res[m] - rec["metrics"][m]) < 1e-6, m
    # the checkpoint rebuilds the copy-aware decoder (it reads the context captions' tokens after the prefix) and holds
    # its tokenizer: no tokenizer folder beside it
    from storylab.story_gan import load
    cfg, tok = load(run / "model.pt")[1:3]
    assert cfg.ctx_len == rec["params"]["ctx_len"] > 0 and cfg.copy_ngram > 0
    assert len(tok) == cfg.decoder["vocab_size"] and not (run / "tokenizer").exists()


def _kill_when(proc, path: Path, timeout=300):
    "`kill_when`, then the killed run's checkpoint state."
    kill_when(proc, path, timeout)
    return load_checkpoint(path)["state"]


def test_kill_and_resume_in_both_modes_gives_identical_weights(in_smoke_home):
    "Killed in the warmup, then in the adversarial phase, resumed: the same weights as the session's straight smoke run."
    run = in_smoke_home / "reports/runs/story_gan/killed"
    slow = [*ARGS, "-p", "step_delay", "0.5", "--name", "killed"]
    threads = str(smoke_record(in_smoke_home, "story_gan")["cpu_threads"])   # as many threads as the straight run had
    env = {**os.environ, **{v: threads for v in THREAD_VARS}}
    def start(*extra):
        return subprocess.Popen([str(BIN / "storylab-run"), "story_gan", *slow, *extra], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    st = _kill_when(start(), run / "checkpoints/warmup/last.pt")
    assert st["opt_steps"] > 0 and not (run / "warmup.pt").exists(), "killed after the warmup finished"
    st = _kill_when(start("-p", "resume", "True"), run / "checkpoints/adv/last.pt")
    assert not (run / "model.pt").exists(), "killed after the adversarial phase finished"
    assert any(k.startswith("disc_") for k in st["steps"][-1]), "the adversarial checkpoint has no discriminator step"
    assert any(k == "gen_adv" for k in st["steps"][-1]), "the adversarial checkpoint has no policy-gradient term"
    storylab("storylab-run", "story_gan", *slow, "-p", "resume", "True", env=env)
    a = load_checkpoint(in_smoke_home / "reports/runs/story_gan/smoke/model.pt")["state"]["model"]
    b = load_checkpoint(run / "model.pt")["state"]["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
