"The foundation end to end: the runner CLI, the report, kill-and-resume, checkpoints."
import json, os, signal, subprocess, sys, time
from pathlib import Path

import pytest
import torch

from conftest import BIN, kill_when, storylab
from storylab.core import load_checkpoint, save_checkpoint, CheckpointError, ConfigMismatchError


def test_unknown_parameter_is_refused_before_work(home):
    res = storylab("storylab-run", "sanity", "-p", "no_such_param", "1", check=False)
    assert res.returncode != 0
    assert "no_such_param" in res.stderr and "valid parameters" in res.stderr and "epochs" in res.stderr
    assert not (home / "reports" / "runs" / "sanity").exists() or not any((home / "reports" / "runs" / "sanity").iterdir())


def test_wrong_type_is_refused(home):
    res = storylab("storylab-run", "sanity", "-p", "epochs", "many", check=False)
    assert res.returncode == 2 and "epochs must be int" in res.stderr


def test_sanity_run_and_report(smoke_home):
    "The session's smoke run of sanity (made by `storylab-run all --preset smoke --jobs 2`) and its report section."
    run = smoke_home / "reports/runs/sanity/smoke"
    rec = json.loads((run / "metrics.json").read_text())
    for key in ("experiment", "preset", "params", "metrics", "baselines", "comparisons", "wall_s", "version", "peak_rss_mb"):
        assert key in rec
    assert rec["preset"] == "smoke" and rec["params"]["epochs"] == 3
    assert (run / "sanity.ipynb").exists() and (run / "figures/loss.png").exists()
    assert rec["cpu_threads"] == max(1, (os.cpu_count() or 1) // 2) and (run / "run.log").exists()   # --jobs 2: a share of the cores
    storylab("storylab-report", "--no-html", env={**os.environ, "STORYLAB_HOME": str(smoke_home)})
    text = (smoke_home / "reports/REPORT.md").read_text()
    assert "## sanity" in text and "test_mse" in text and (smoke_home / "assets/sanity/loss.png").exists()


def test_plain_papermill_works(home, tmp_path):
    out = tmp_path / "out.ipynb"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    res = subprocess.run([str(BIN / "papermill"), str(Path(os.environ["STORYLAB_EXPERIMENTS"]) / "sanity.ipynb"), str(out),
                          "-p", "preset", "smoke", "-p", "run_dir", str(tmp_path / "run")], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads((tmp_path / "run/metrics.json").read_text())["preset"] == "smoke"


def test_failing_cell_exits_nonzero_with_its_error(home):
    res = storylab("storylab-run", "sanity", "--preset", "smoke", "-p", "lr", "-1.0", "-p", "epochs", "1", check=False)
    # a negative learning rate is refused by torch's optimizer inside the notebook
    assert res.returncode != 0 and "Invalid learning rate" in res.stderr


def _final_weights(run_dir):
    return load_checkpoint(run_dir / "model.pt")["state"]["model"]


def test_kill_and_resume_gives_identical_weights(home):
    args = ["--preset", "smoke", "-p", "epochs", "6", "-p", "ckpt_every", "3", "-p", "n_train", "256"]
    storylab("storylab-run", "sanity", *args, "--name", "straight")
    run = home / "reports/runs/sanity/killed"
    proc = subprocess.Popen([str(BIN / "storylab-run"), "sanity", *args, "-p", "step_delay", "0.1", "--name", "killed"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ckpt = run / "checkpoints" / "last.pt"
    kill_when(proc, ckpt)
    assert not (run / "model.pt").exists(), "the run finished before it was killed"
    done = load_checkpoint(ckpt)["state"]
    assert done["opt_steps"] > 0 and done["epoch"] < 6
    storylab("storylab-run", "sanity", *args, "-p", "resume", "True", "--name", "killed")
    a, b = _final_weights(home / "reports/runs/sanity/straight"), _final_weights(run)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class Unpicklable:
    def __reduce__(self): raise RuntimeError("disk full (simulated)")


def test_failed_save_keeps_previous_checkpoint_and_truncated_file_is_refused(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"w": torch.ones(3)}, {"hidden": 8})
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(path, {"w": Unpicklable()}, {"hidden": 8})
    assert torch.equal(load_checkpoint(path, {"hidden": 8})["state"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]       # no temp file left behind
    raw = path.read_bytes(); (tmp_path / "cut.pt").write_bytes(raw[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"): load_checkpoint(tmp_path / "cut.pt")
    with pytest.raises(ConfigMismatchError, match="hidden: checkpoint=8 vs asked=16"): load_checkpoint(path, {"hidden": 16})


def test_several_experiments_refuse_a_parameter(home):
    "`-p` sets a parameter of one experiment; with several it is refused before any work."
    bad = storylab("storylab-run", "sanity,storyworld_eda", "-p", "epochs", "2", check=False)
    assert bad.returncode == 2 and "one experiment" in bad.stderr


def test_seeds_and_sweep_are_recorded_and_reported(home):
    storylab("storylab-run", "sanity", "--seeds", "3", "--jobs", "2", "--name", "s")
    seeds = json.loads((home / "reports/seeds/sanity.json").read_text())
    assert seeds["seeds"] == [0, 1, 2] and seeds["runs"] == ["s-seed0", "s-seed1", "s-seed2"] and len(set(seeds["values"])) == 3
    assert seeds["std"] > 0 and any(c["metric"] == "test_mse" and len(c["diffs"]) == 3 for c in seeds["comparisons"])
    for s in range(3):
        assert json.loads((home / f"reports/runs/sanity/s-seed{s}/metrics.json").read_text())["params"]["seed"] == s
    assert json.loads((home / "reports/runs/sanity/s-seed0/metrics.json").read_text())["seeds"]["values"] == seeds["values"]

    storylab("storylab-run", "sanity", "--sweep", "lr=0.01,0.03", "--jobs", "2", "--name", "w")
    sweep = json.loads((home / "reports/sweeps/sanity.json").read_text())
    assert [r["params"]["lr"] for r in sweep["runs"]] == [0.01, 0.03] and sweep["headline"] == "test_mse"
    assert all(r["value"] is not None and r["ci"][0] <= r["value"] <= r["ci"][1] for r in sweep["runs"])
    assert json.loads((home / "reports/runs/sanity/w-lr=0.03/metrics.json").read_text())["params"]["lr"] == 0.03

    storylab("storylab-report", "--no-html")
    text = (home / "reports/REPORT.md").read_text()
    assert "## Seed variation" in text and "mean ± std over seeds" in text and "## Sweeps" in text
    assert (home / "assets/report/sweep_sanity.png").stat().st_size > 0


def test_sweep_and_seeds_refuse_bad_input(home):
    res = storylab("storylab-run", "sanity", "--sweep", "no_such=1,2", check=False)
    assert res.returncode == 2 and "no_such" in res.stderr and "valid parameters" in res.stderr
    res = storylab("storylab-run", "sanity,ae_gru", "--seeds", "2", check=False)
    assert res.returncode == 2 and "one experiment" in res.stderr
