"Shared fixtures: every test runs offline, in its own STORYLAB_HOME with the real experiment notebooks."
import os, shutil, subprocess, sys
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def home(tmp_path, monkeypatch):
    "A fresh STORYLAB_HOME whose experiments are the repository's notebooks; the cache is shared across tests."
    monkeypatch.setenv("STORYLAB_HOME", str(tmp_path))
    monkeypatch.setenv("STORYLAB_EXPERIMENTS", str(REPO / "nbs" / "experiments"))
    shared_cache = REPO / "cache"
    shared_cache.mkdir(exist_ok=True)
    (tmp_path / "cache").symlink_to(shared_cache)
    return tmp_path


def storylab(cmd, *args, check=True, timeout=900, **kw):
    "Run a storylab console script as a real subprocess; returns the CompletedProcess."
    res = subprocess.run([str(BIN / cmd), *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise AssertionError(f"{cmd} {' '.join(map(str, args))} exited {res.returncode}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res
