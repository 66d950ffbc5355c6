"Two processes under `accelerate launch` (gloo on CPU): both ranks train, stay in sync, and the saved model loads."
import json, os, shutil, subprocess

from conftest import BIN
from storylab.core import load_checkpoint


def test_two_process_training_stays_in_sync(home):
    cmd = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", str(BIN / "storylab-launch"), "sanity",
           "--preset", "smoke", "--name", "ddp", "-p", "epochs", "2"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    run = home / "reports/runs/sanity/ddp"
    rec = json.loads((run / "metrics.json").read_text())
    assert rec["metrics"]["world_size"] == 2, rec["metrics"]
    assert rec["metrics"]["ranks_in_sync"] == 1.0
    state = load_checkpoint(run / "model.pt", {"hidden": rec["params"]["hidden"]})["state"]["model"]
    assert all(v.isfinite().all() for v in state.values())
