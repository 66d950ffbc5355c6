"The StoryReasoning GAN end to end: the smoke run's metrics and baselines, re-evaluation, kill-and-resume in both modes."
import json, os, signal, subprocess, time
from pathlib import Path

import pytest, torch

from conftest import BIN, REPO, storylab
from storylab.core import load_checkpoint

ARGS = ["--preset", "smoke", "-p", "ckpt_every", "2"]
METRICS = ("CLIPScore", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")


@pytest.fixture(scope="module")
def gan_home(tmp_path_factory):
    "One STORYLAB_HOME for the module (like `home`), holding a finished straight smoke run."
    home = tmp_path_factory.mktemp("story_gan_home")
    (home / "cache").symlink_to(REPO / "cache")
    old = {k: os.environ.get(k) for k in ("STORYLAB_HOME", "STORYLAB_EXPERIMENTS")}
    os.environ.update(STORYLAB_HOME=str(home), STORYLAB_EXPERIMENTS=str(REPO / "nbs" / "experiments"))
    storylab("storylab-run", "story_gan", *ARGS, "--name", "straight")
    yield home
    for k, v in old.items():
        if v is None: os.environ.pop(k, None)
        else: os.environ[k] = v


def test_smoke_writes_every_metric_and_baseline(gan_home):
    rec = json.loads((gan_home / "reports/runs/story_gan/straight/metrics.json").read_text())
    for m in (*METRICS, "disc_acc"): assert m in rec["metrics"], m
    assert set(rec["baselines"]) >= {"copy_last", "retrieval", "warmup_only"}
    for b in ("copy_last", "retrieval"):
        for m in METRICS: assert m in rec["baselines"][b], (b, m)
    for m in ("CIDEr", "CLIPScore"):
        lo, hi = rec["ci"][m]; assert lo <= rec["metrics"][m] <= hi + 1e-9
        assert m in rec["baselines_ci"]["copy_last"]
    # adversarial mode is real: D accuracy per epoch, and both players logged losses
    per_epoch = rec["tables"]["disc_acc_per_epoch"]
    assert len(per_epoch) == rec["params"]["adv_epochs"] and all(0 <= r["valid"] <= 1 for r in per_epoch)
    assert {"loss.png", "metrics.png", "examples.png"} <= {f["file"] for f in rec["figures"]}
    assert "storyclip" in rec["notes"] and "minilm" in rec["notes"]


def test_eval_checkpoint_reproduces_the_run(gan_home):
    run = gan_home / "reports/runs/story_gan/straight"
    out = storylab("storylab-eval", "story_gan", "--checkpoint", run / "model.pt")
    res = json.loads(out.stdout[out.stdout.index("{"):])
    rec = json.loads((run / "metrics.json").read_text())
    for m in METRICS: assert abs(res[m] - rec["metrics"][m]) < 1e-6, m
    # the checkpoint rebuilds the copy-aware decoder: it reads the context captions' tokens after the prefix
    gan = load_checkpoint(run / "model.pt")["config"]["gan"]
    assert gan["ctx_len"] == rec["params"]["ctx_len"] > 0 and gan["copy_ngram"] > 0


def _kill_when(proc, path: Path, timeout=300):
    "SIGKILL the runner and its kernel as soon as `path` exists; returns the checkpoint's state."
    import psutil
    t0 = time.time()
    while not path.exists() and time.time() - t0 < timeout and proc.poll() is None: time.sleep(0.2)
    assert path.exists(), f"no checkpoint {path} appeared"
    victims = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for v in victims: v.send_signal(signal.SIGKILL)
    proc.wait(); psutil.wait_procs(victims, timeout=10)
    return load_checkpoint(path)["state"]


def test_kill_and_resume_in_both_modes_gives_identical_weights(gan_home):
    run = gan_home / "reports/runs/story_gan/killed"
    slow = [*ARGS, "-p", "step_delay", "0.5", "--name", "killed"]
    def start(*extra):
        return subprocess.Popen([str(BIN / "storylab-run"), "story_gan", *slow, *extra],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    st = _kill_when(start(), run / "checkpoints/warmup/last.pt")
    assert st["opt_steps"] > 0 and not (run / "warmup.pt").exists(), "killed after the warmup finished"
    st = _kill_when(start("-p", "resume", "True"), run / "checkpoints/adv/last.pt")
    assert not (run / "model.pt").exists(), "killed after the adversarial phase finished"
    assert any(k.startswith("disc_") for k in st["steps"][-1]), "the adversarial checkpoint has no discriminator step"
    storylab("storylab-run", "story_gan", *slow, "-p", "resume", "True")
    a = load_checkpoint(gan_home / "reports/runs/story_gan/straight/model.pt")["state"]["model"]
    b = load_checkpoint(run / "model.pt")["state"]["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
