"""Installing storylab on each kind of machine (issue 20, item 4). All but the first test talk to PyPI.

- `test_pins_inside_ranges` (no network, instant): constraints.txt pins every dependency that pyproject.toml
  declares, each range's lower bound is its pin (the version tested), and this environment holds the pins.
- `test_existing_torch_is_kept` (~30 s): a venv holding a torch that is not the lock's (a real install of
  torch 2.14.1) keeps it through `pip install -e ".[cpu]"` (pip's dry run: the resolution of a real install).
- `test_pip_install_outside_a_clone` (slow, ~1.5-2.5 min): a real, non-editable `pip install .` into a fresh venv,
  then `storylab-run` in an empty folder far from any clone writes its runs and caches there.
- `test_resolves_on` (~1 min, running beside the two tests above): pip resolves the set `make` installs
  (`-c constraints.txt`, `[cpu,dev]`) from PyPI with `--only-binary=:all:` and `--platform` for macOS arm64,
  Linux x86_64 and Windows, and `[gpu]` on Linux. Nothing is installed. Every pin lies inside its range (the
  first test), so these also show that `pip install "storylab[cpu]"` has a solution on each.

pip evaluates environment markers (`sys_platform == 'darwin'`, ...) for the machine it runs on, whatever
`--platform` says (pypa/pip#11664). The dry runs therefore start pip with the marker environment of the target
machine (`XPIP` below), as Pex does for its foreign-platform resolves; wheel tags come from `--platform` and
`--python-version` as usual, and the report's `environment` shows the markers pip used.
"""
import json, os, re, shutil, subprocess, sys, tempfile, tomllib, urllib.request
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "constraints.txt"
OTHER_TORCH = "2.14.1"   # not the lock's 2.13.0, inside the range: on this machine's local index and on PyPI
PYTHON = "3.11.9"        # Requires-Python checks use the full version (soupsieve 4 needs >=3.11.5)

LINUX_TAGS = [f"manylinux_2_{i}_x86_64" for i in range(17, 36)] + ["manylinux2014_x86_64", "linux_x86_64"]
TARGETS = {  # wheel tags and the marker values of the target machine
    "macos-arm64": (["macosx_14_0_arm64"], dict(sys_platform="darwin", platform_system="Darwin", platform_machine="arm64", os_name="posix")),
    "linux-x86_64": (LINUX_TAGS, dict(sys_platform="linux", platform_system="Linux", platform_machine="x86_64", os_name="posix")),
    "windows-amd64": (["win_amd64"], dict(sys_platform="win32", platform_system="Windows", platform_machine="AMD64", os_name="nt")),
}
TENSORFLOW = {"macos-arm64": "tensorflow", "linux-x86_64": "tensorflow-cpu", "windows-amd64": "tensorflow-cpu"}

# pip, with the marker environment of another machine (argv[1], JSON) in place of this one's
XPIP = """import json, sys
import pip._vendor.packaging.markers as markers
target, here = json.loads(sys.argv[1]), markers.default_environment()
markers.default_environment = lambda: {**here, **target}
from pip._internal.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def norm(name: str) -> str: return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict:
    out = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line: name, _, v = line.partition("=="); out[norm(name)] = v.strip()
    return out


def requirements() -> list[Requirement]:
    "Every requirement pyproject.toml declares: core, and the cpu, gpu and dev extras."
    proj = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in proj["dependencies"] + sum(proj["optional-dependencies"].values(), [])]


def pypi_env() -> dict:
    "The environment of a machine that knows PyPI only: none of this machine's pip settings (local wheels, caps)."
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in ("PIP_CERT", "PIP_DEFAULT_TIMEOUT", "PIP_INDEX_URL")}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def installing(report: Path) -> dict:
    "{normalised name: version} of what a pip `--report` says it would install."
    return {norm(i["metadata"]["name"]): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}


@pytest.fixture(scope="module")
def pypi():
    try: urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=20).close()
    except OSError as e: pytest.skip(f"PyPI is not reachable from here ({e}): the install tests need it")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    "The working tree as a clone has it (tracked and untracked-but-not-ignored files), so builds leave the repo alone."
    dst = tmp_path_factory.mktemp("src") / "storylab"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for f in filter(None, files):
        if (REPO / f).is_file(): (dst / f).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(REPO / f, dst / f)
    return dst


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory, pypi):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
                   check=True, capture_output=True, env=pypi_env())
    whl, = out.glob("storylab-*.whl")
    return whl


def test_pins_inside_ranges():
    p = pins()
    for r in requirements():
        assert norm(r.name) in p, f"{r.name} is declared in pyproject.toml but not pinned in constraints.txt"
        assert r.specifier.contains(p[norm(r.name)], prereleases=True), f"{r.name}=={p[norm(r.name)]} lies outside {r}"
        lower = [s.version for s in r.specifier if s.operator == ">="]
        assert lower == [p[norm(r.name)]], f"{r}: the lower bound is not the tested pin {p[norm(r.name)]}"
    py = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(py).contains(f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}")
    # the environment the tests run in is the locked one (2.13.0+cpu is the lock's 2.13.0)
    for r in requirements():
        try: have = version(r.name)
        except PackageNotFoundError: continue   # another platform's or extra's package (tensorflow on Linux)
        assert have.split("+")[0] == p[norm(r.name)], f"{r.name} {have} is installed, constraints.txt pins {p[norm(r.name)]}"


# (target, extras) of each resolve, all under constraints.txt: make's set on each machine, and the GPU extra on Linux
RESOLVES = [(t, "cpu,dev,docs") for t in TARGETS] + [("linux-x86_64", "gpu")]


@pytest.fixture(scope="module")
def resolutions(wheel, tmp_path_factory):
    """Start every resolve of RESOLVES side by side and return {(target, extras): get}, where `get()` waits for
    that resolve and gives (returncode, log, report path). The install tests ask for this fixture too, so that
    the resolves (mostly waiting on PyPI) run while they install."""
    out, procs = tmp_path_factory.mktemp("resolve"), {}
    for target, extras in RESOLVES:
        tags, markers = TARGETS[target]
        env_markers = {**markers, "python_version": PYTHON.rsplit(".", 1)[0], "python_full_version": PYTHON}
        report, log = out / f"{target}-{extras}.json", out / f"{target}-{extras}.log"
        cmd = [sys.executable, "-c", XPIP, json.dumps(env_markers), "install", "--dry-run", "--ignore-installed",
               "--only-binary=:all:", "--python-version", PYTHON, *[a for t in tags for a in ("--platform", t)],
               "--target", str(out / "never-written"), "--quiet", "--report", str(report),
               "-c", str(CONSTRAINTS), f"{wheel}[{extras}]"]
        with open(log, "w") as f:
            procs[target, extras] = (subprocess.Popen(cmd, env=pypi_env(), stdout=f, stderr=subprocess.STDOUT), report, log)
    yield {key: (lambda p=p, r=r, l=l: (p.wait(timeout=900), l.read_text(), r)) for key, (p, r, l) in procs.items()}
    for p, _, _ in procs.values():
        if p.poll() is None: p.kill(); p.wait()


@pytest.fixture
def fresh_python(tmp_path):
    """The python of a fresh virtual environment without pip (this test run's pip installs into it with `--python`).
    It holds GBs: it lives in /dev/shm when that has room (memory: written and removed in moments, where this
    machine's disk took minutes to delete such a tree), else under tmp_path; removed afterwards."""
    shm = Path("/dev/shm")
    on_shm = shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 8 * 2**30
    root = Path(tempfile.mkdtemp(prefix="storylab-venv-", dir=shm if on_shm else tmp_path))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    yield root / "venv" / "bin" / "python"
    shutil.rmtree(root, ignore_errors=True)


def pip(python: Path, *args, timeout=900):
    """This run's pip, installing into the environment of `python`; its downloads and unpacking go next to it.
    Installs get `--no-compile`: byte-compiling every installed module took about 40 s of CPU of the install outside
    a clone, and Python compiles the modules a test imports when it imports them."""
    env = {**os.environ, "TMPDIR": str(python.parents[2])}
    args = [args[0], "--no-compile", *args[1:]] if args[:1] == ("install",) else list(args)
    res = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), *map(str, args)],
                         capture_output=True, text=True, env=env, timeout=timeout)
    assert res.returncode == 0, f"pip {' '.join(map(str, args))} failed:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    return res


def test_existing_torch_is_kept(fresh_python, tmp_path, source, pypi, resolutions):
    py = fresh_python
    pip(py, "install", "-q", "--no-deps", f"torch=={OTHER_TORCH}")          # the environment's own torch (Colab's, a CUDA build)
    assert {d["name"]: d["version"] for d in json.loads(pip(py, "list", "--format=json").stdout)}["torch"] == OTHER_TORCH
    keep = tmp_path / "keep.json"
    pip(py, "install", "--dry-run", "-q", "--report", keep, "-e", f"{source}[cpu]")
    got = installing(keep)
    assert {"storylab", "keras", "tensorflow-cpu"} <= set(got)
    assert "torch" not in got, f"pip install -e . would replace torch {OTHER_TORCH} with {got['torch']}"


@pytest.mark.slow
def test_pip_install_outside_a_clone(fresh_python, tmp_path, source, pypi, resolutions):
    py = fresh_python
    pip(py, "install", "-q", "-c", CONSTRAINTS, source)     # not editable; no extra: the torch experiments need no TensorFlow
    bin_ = py.parent
    work, home = tmp_path / "empty", tmp_path / "home"
    work.mkdir(); home.mkdir()
    path = os.pathsep.join([str(bin_)] + [p for p in os.environ["PATH"].split(os.pathsep) if Path(p).resolve() != (REPO / ".venv" / "bin").resolve()])
    env = {k: v for k, v in os.environ.items() if not k.startswith("STORYLAB_") and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(PATH=path, HOME=str(home), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", MPLBACKEND="Agg")
    def run(*cmd):
        res = subprocess.run([str(a) for a in cmd], cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, f"{' '.join(map(str, cmd))} exited {res.returncode}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        return res.stdout
    pkg = Path(run(py, "-c", "import storylab; print(storylab.__file__)").strip()).parent
    assert pkg.is_relative_to(py.parents[1]), f"storylab imported from {pkg}, not the fresh venv"
    assert {"sanity", "storyworld_eda", "story_gan"} <= set(run(bin_ / "storylab-run", "list").split())
    run(bin_ / "storylab-run", "sanity,storyworld_eda", "--preset", "smoke", "--name", "fresh")
    for name in ("sanity", "storyworld_eda"):
        rd = work / "reports" / "runs" / name / "fresh"
        rec = json.loads((rd / "metrics.json").read_text())
        assert rec["preset"] == "smoke" and rec["experiment"] == name
        assert (rd / f"{name}.ipynb").exists() and list((rd / "figures").glob("*.png"))
    assert (work / "cache" / "storyclip").is_dir()            # the notebook's kernel (started next to the packaged
    assert sorted(p.name for p in work.iterdir()) == ["cache", "reports"]   # notebook) wrote its caches here too
    assert sorted(p.name for p in (pkg / "experiments").iterdir() if p.is_dir()) == ["configs"]   # and nothing there
    assert not (home / ".storylab").exists()


@pytest.mark.parametrize("target,extras", RESOLVES, ids=[f"{t}-{e}" for t, e in RESOLVES])
def test_resolves_on(resolutions, target, extras):
    code, err, report = resolutions[target, extras]()
    assert code == 0, f"pip could not resolve storylab[{extras}] for {target}:\n{err[-3000:]}"
    rep = json.loads(report.read_text())
    assert rep["environment"]["sys_platform"] == TARGETS[target][1]["sys_platform"]   # markers were the target's
    got = installing(report)
    assert {"storylab", "torch", "keras", "transformers"} <= set(got)
    tf = "tensorflow" if extras == "gpu" else TENSORFLOW[target]
    other = {"tensorflow", "tensorflow-cpu"} - {tf}
    assert tf in got and not other & set(got), f"{target} gets {sorted(k for k in got if k.startswith('tensorflow'))}, expected {tf}"
    if extras == "gpu": assert "nvidia-cudnn-cu12" in got   # TensorFlow's CUDA libraries come with it
    p = pins()
    wrong = {k: (v, p[k]) for k, v in got.items() if k in p and v.split("+")[0] != p[k]}
    assert not wrong, f"resolved versions differ from constraints.txt: {wrong}"
