"""Every notebook of `nbs/` and `nbs/experiments/` opens with an "Open in Colab" badge pointing at itself, and its first
code cell installs storylab in Colab and does nothing anywhere else. Both are written from `[project.urls] Repository`
of pyproject.toml by `python -m storylab.cli notebooks` (chapter 08): a notebook without them, or with cells older than
the URL, fails here until that command runs on it. Every experiment parameter has a type that
`papermill --help-notebook` shows."""
import json, os, re, subprocess, sys, types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "nbs").glob("*.ipynb")) + sorted((REPO / "nbs" / "experiments").glob("*.ipynb"))
EXPERIMENTS = sorted((REPO / "nbs" / "experiments").glob("*.ipynb"))


def _rel(path): return Path(path).relative_to(REPO).as_posix()


def _src(cell): return "".join(cell["source"])


def _fix(rel): return f"run `python -m storylab.cli notebooks {rel}`, then `nbdev-export && nbdev-clean`"


@pytest.fixture(scope="module")
def repo_url():
    from storylab.notebooks import repository_url
    return repository_url(REPO)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_rel)
def test_badge_and_install_cell(path, repo_url, monkeypatch):
    from storylab.notebooks import COLAB_BADGE_IMG, colab_badge_source, colab_install_source
    rel = _rel(path)
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    badge = _src(cells[0]) if cells and cells[0]["cell_type"] == "markdown" else ""
    assert COLAB_BADGE_IMG in badge, f"{rel}: its first cell is not an Open in Colab badge: {_fix(rel)}"
    link = re.fullmatch(r"\[!\[Open In Colab\]\(\S+\)\]\((\S+)\)", badge.strip())
    assert link and link.group(1).startswith("https://colab.research.google.com/github/") \
        and link.group(1).endswith(f"/blob/main/{rel}"), f"{rel}: the badge does not open this notebook: {badge!r}"
    assert badge == colab_badge_source(repo_url, rel), f"{rel}: badge out of date with pyproject's Repository URL: {_fix(rel)}"

    code = _src(next(c for c in cells if c["cell_type"] == "code"))
    assert '"google.colab" in sys.modules' in code, f"{rel}: its first code cell is not the Colab install cell: {_fix(rel)}"
    assert code == colab_install_source(repo_url, rel), f"{rel}: install cell out of date: {_fix(rel)}"
    assert code.startswith("#| hide\n") and "#| export" not in code, f"{rel}: the install cell must be hidden and not exported"

    # anywhere but Colab it does nothing: no process, no change of folder
    def refuse(*a, **k): raise AssertionError(f"{rel}: the install cell acted outside Colab: {a}")
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(os, "chdir", refuse)
    exec(compile(code, rel, "exec"), {})

    # in Colab (faked): clone the Repository URL, install the clone with no extra, go to this notebook's folder
    calls = []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: calls.append(cmd))
    monkeypatch.setattr(os, "chdir", lambda d: calls.append(("chdir", d)))
    monkeypatch.setattr(os.path, "isdir", lambda d: False)
    import importlib.util
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    exec(compile(code, rel, "exec"), {})
    assert calls == [["git", "clone", "-q", repo_url, "/content/storylab"],
                     [sys.executable, "-m", "pip", "install", "-q", "/content/storylab"],
                     ("chdir", "/content/storylab/" + Path(rel).parent.as_posix())], calls


def test_notebooks_tool_has_nothing_left_to_do():
    "`python -m storylab.cli notebooks --all --check`: the command the failures above point to agrees with them."
    res = subprocess.run([sys.executable, "-m", "storylab.cli", "notebooks", "--all", "--check"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"notebooks out of date (fix: python -m storylab.cli notebooks --all):\n{res.stdout}{res.stderr}"


@pytest.fixture(scope="module")
def help_notebook():
    "`papermill --help-notebook PATH`'s output, from papermill's own command (click), in this process."
    from click.testing import CliRunner
    from papermill.__main__ import papermill   # the console script's entry point
    def run(path):
        res = CliRunner().invoke(papermill, ["--help-notebook", str(path)])
        assert res.exit_code == 0, res.output
        return res.output
    return run


@pytest.mark.parametrize("path", EXPERIMENTS, ids=_rel)
def test_papermill_shows_every_parameter_type(path, help_notebook):
    from storylab.runner import notebook_spec
    rel, out = _rel(path), help_notebook(path)
    assert "Unknown type" not in out, (f"{rel}: papermill shows 'Unknown type' (give each parameter a type: "
                                       f"python -m storylab.cli notebooks {rel}):\n{out}")
    shown = dict(re.findall(r"^  (\w+): (\S+) \(default", out, re.M))
    spec, _ = notebook_spec(path)
    assert list(shown) == list(spec), f"{rel}: papermill reads {list(shown)}, storylab reads {list(spec)}"
    declared = {n: d["type"] for n, d in spec.items()}
    assert shown == declared, f"{rel}: papermill's types {shown} differ from the declared ones {declared}"
