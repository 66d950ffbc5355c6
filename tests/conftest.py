"Shared fixtures: every test runs offline, in its own STORYLAB_HOME with the real experiment notebooks."
import os, shutil, subprocess, sys
from collections import Counter
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if os.environ.get("PYTEST_XDIST_WORKER"):   # two workers share the cores: one thread per process, as `--jobs 2` gives
    os.environ.setdefault("STORYLAB_THREADS", "1")


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


@pytest.fixture(scope="session")
def smoke_home(tmp_path_factory):
    """One STORYLAB_HOME holding a smoke run of every experiment (`storylab-run all --preset smoke --jobs 2`, run once
    per test session): tests that only read a smoke run's records share it instead of running their own.
    Each run is `reports/runs/NAME/smoke/`. Under pytest-xdist (`make test` runs two workers) the first worker that
    asks builds it in the session's common temporary folder, under a file lock, and the other one waits for it."""
    from filelock import FileLock
    if not os.environ.get("PYTEST_XDIST_WORKER"): return _smoke_home(tmp_path_factory.mktemp("smoke_home"))
    root = tmp_path_factory.getbasetemp().parent   # shared by the workers of one session
    with FileLock(str(root / "smoke_home.lock")):
        home = root / "smoke_home"
        if not (home / ".built").exists():
            shutil.rmtree(home, ignore_errors=True); home.mkdir()
            _smoke_home(home); (home / ".built").touch()
    return home


def _smoke_home(home: Path) -> Path:
    (REPO / "cache").mkdir(exist_ok=True)
    (home / "cache").symlink_to(REPO / "cache")
    env = {**os.environ, "STORYLAB_HOME": str(home), "STORYLAB_EXPERIMENTS": str(REPO / "nbs" / "experiments")}
    storylab("storylab-run", "all", "--preset", "smoke", "--jobs", "2", "--name", "smoke", timeout=1800, env=env)
    return home


@pytest.fixture
def in_smoke_home(smoke_home, monkeypatch):
    "`smoke_home` as this test's STORYLAB_HOME (for console scripts such as storylab-eval that read it)."
    monkeypatch.setenv("STORYLAB_HOME", str(smoke_home))
    monkeypatch.setenv("STORYLAB_EXPERIMENTS", str(REPO / "nbs" / "experiments"))
    return smoke_home


def smoke_record(home, name) -> dict:
    "The smoke run's metrics.json of experiment `name` in `smoke_home`."
    import json
    return json.loads((home / "reports" / "runs" / name / "smoke" / "metrics.json").read_text())


def kill_when(proc, path, timeout=300):
    "SIGKILL a `storylab-run` process and its kernel (jupyter gives kernels their own session) once `path` exists."
    import signal, time, psutil
    t0 = time.time()
    while not path.exists() and time.time() - t0 < timeout and proc.poll() is None: time.sleep(0.2)
    assert path.exists(), f"no checkpoint {path} appeared"
    victims = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for v in victims: v.send_signal(signal.SIGKILL)
    proc.wait(); psutil.wait_procs(victims, timeout=10)


# xdist's `--dist loadfile` hands out the files with the most tests first. That queued test_rehearsal.py (one test,
# the longest: about 200 s of CPU) last, and the run ended with it alone on one worker. `make test` passes
# --no-loadscope-reorder, and this keeps xdist's order but moves the rehearsal up to REHEARSAL_SLOT: it then starts
# once the smoke run is built, not beside it (starting it at once, with the installs, was measured slower). Measured
# back to back in one checkout: pytest took 701 s in xdist's order (the workers finished at 560, 603 and 689 s) and
# 618 s in this one (600, 603 and 608 s).
REHEARSAL_SLOT = 6


def pytest_collection_modifyitems(session, config, items):
    count = Counter(it.path.name for it in items)
    files = sorted(count, key=lambda f: -count[f])   # stable: ties keep the collection's order, as xdist's does
    if "test_rehearsal.py" in files: files.insert(REHEARSAL_SLOT, files.pop(files.index("test_rehearsal.py")))
    rank = {f: i for i, f in enumerate(files)}
    items.sort(key=lambda it: rank[it.path.name])   # stable: the order within a file is kept
