"""`make docs`: build the storylab site into `_site/` (Sphinx + MyST-NB, offline).

1. Chapters (`nbs/NN_*.ipynb`, stored without outputs) are executed the way `nbdev-test` executes them (nbdev's
   skip flags, execnb's `CaptureShell`, the notebook's folder as working directory), with nbdev's `add_show_docs`
   processor inserting a `show_doc` cell after every exported function or class, and nbdev's doc processors cleaning
   the result. Executed copies are cached in `_build/docs/executed/` by the hash of the chapter and of `storylab/`,
   so only changed chapters run again. Nothing is written into `nbs/`.
2. Experiments: the executed notebook of each experiment's newest run (`storylab.report.newest_runs`, which skips
   `gpu-rehearsal`), with the run's figures placed after the cell that saved them.
3. `reports/REPORT.md` with its figures, and `README.md` as the landing page.
4. `sphinx-build` renders the staged tree (`_build/docs/src/`) into `_site/`.

The staging is hand-written because Sphinx reads one source folder, and the site's sources are spread over `nbs/`
(without outputs), the untracked `reports/runs/`, `reports/` and `assets/`.

Usage: `python docs/build_site.py [--out _site] [--runs DIR] [--workers 2] [--chapters GLOB] [--force] [--execute-only]`.
`make test` runs `--execute-only --force` in place of `nbdev-test` on the chapters: each chapter runs once per test
session, and the site build of `tests/test_docs.py` takes the executed copies from the cache.
"""
from __future__ import annotations
import argparse, hashlib, json, os, re, shutil, subprocess, sys, time
from fnmatch import fnmatch
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
BUILD = REPO / "_build" / "docs"
EXEC_VERSION = "4"  # bump when the execution/processing below changes, to invalidate cached executed chapters
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# Every notebook opens with an "Open in Colab" badge (`python -m storylab.cli notebooks`); on the site its image is a
# local copy (docs/_static/colab-badge.svg staged at /_colab/), so that no page fetches anything from outside.
COLAB_BADGE_IMG = b"https://colab.research.google.com/assets/colab-badge.svg"
LOCAL_BADGE_IMG = b"/_colab/colab-badge.svg"   # a leading / is the source folder's root for Sphinx


def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts: h.update(p); h.update(b"\0")
    return h.hexdigest()


def _write_if_changed(path: Path, data: bytes) -> None:
    # Sphinx rebuilds only the pages whose sources changed (by mtime), so unchanged staged files are left untouched.
    if path.exists() and path.read_bytes() == data: return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _copy_if_changed(src: Path, dest: Path) -> None:
    _write_if_changed(dest, src.read_bytes())


def _local_badge(data: bytes) -> bytes:
    "A staged page with its Colab badge image taken from the site itself."
    return data.replace(COLAB_BADGE_IMG, LOCAL_BADGE_IMG)


def chapters(nbs: Path, pattern: str | None = None) -> list[Path]:
    "The chapter notebooks in nbdev's order (file name), without the README's notebook and `_`/`.`-prefixed files."
    from nbdev.config import get_config
    readme = get_config().readme_nb
    out = [p for p in sorted(nbs.glob("*.ipynb")) if p.name != readme and not p.name.startswith(("_", "."))]
    return [p for p in out if not pattern or any(fnmatch(p.stem, g.strip()) for g in pattern.split(","))]


def _package_hash() -> bytes:
    return b"".join(p.read_bytes() for p in sorted((REPO / "storylab").rglob("*.py")))


# ----------------------------------------------------------------------------------------------------------- chapters
def execute_chapter(src: Path, dest: Path) -> tuple[str, bool, float, str]:
    """Execute chapter `src` as `nbdev-test` does, with `show_doc` cells added, and write the cleaned, executed copy
    to `dest`. Returns (name, passed, seconds, error text)."""
    # Hand-written because nbdev's `test_nb` can only save outputs back into the source notebook (`--save`), and
    # nbdev's doc pipeline (`exec_show_docs`) runs only imports, exports and show_doc cells; this joins the two.
    from fastcore.nbio import write_nb
    from fastcore.xtras import working_directory
    from execnb.shell import CaptureShell
    from nbdev.config import get_config
    from nbdev.process import NBProcessor
    from nbdev.processors import add_show_docs, strip_ansi, hide_line, hide_, filter_stream_, clean_magics, \
        rm_header_dash, strip_hidden_metadata, populate_language
    from nbdev.test import _skip_cell
    cfg = get_config()
    t0 = time.time()
    nb = NBProcessor(src, procs=[populate_language, add_show_docs], rm_directives=False, process=True).nb
    skip = _skip_cell(nb, cfg.tst_flags.split() if isinstance(cfg.tst_flags, str) else cfg.tst_flags, [])
    os.environ["IN_TEST"] = "1"  # as nbdev's test_nb sets it
    k = CaptureShell(src, profile=bool(cfg.exec_profile))
    k.run_cell("from nbdev.showdoc import show_doc")
    err = ""
    with working_directory(src.parent):
        try: k.run_all(nb, exc_stop=True, preproc=skip, cell_timeout=cfg.cell_timeout or None)
        except Exception: err = k.prettytb(fname=src) or repr(k.exc)
        finally: k.close()
    for c in nb.cells:  # how each cell shows: API docs without their call, exported source folded under the API doc
        tags = c.metadata.setdefault("tags", [])
        dirs = getattr(c, "directives_", None) or {}
        if getattr(c, "has_sd", False):
            tags.append("remove-input")
            for o in c.get("outputs", []):  # nbdev's renderer opens with a `---` rule, which docutils rejects in output
                md = o.get("data", {}).get("text/markdown")
                if md: o["data"]["text/markdown"] = re.sub(r"\A\s*---\s*\n", "", "".join(md))
        elif c.cell_type == "code" and dirs.keys() & {"export", "exporti"}: tags.append("hide-input")
        for o in c.get("outputs", []):
            if WIDGET_MIME in o.get("data", {}): del o["data"][WIDGET_MIME]
            if isinstance(o.get("text"), list): o["text"] = "".join(o["text"])  # nbdev's stream processors want str
    nb = NBProcessor(nb=nb, procs=[hide_, strip_ansi, hide_line, filter_stream_, rm_header_dash, clean_magics,
                                   strip_hidden_metadata], rm_directives=True, process=True).nb
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and not c.source.strip() and not c.get("outputs"))]
    nb.metadata.pop("widgets", None)
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    nb.metadata["storylab_docs"] = {"passed": not err}
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_nb(nb, dest)
    return src.name, not err, time.time() - t0, err


def _execute_one(job):
    src, dest = job
    try: return execute_chapter(Path(src), Path(dest))
    except Exception as e:  # a chapter that cannot even be read or processed
        import traceback
        return Path(src).name, False, 0.0, traceback.format_exc()


def build_chapters(stage: Path, pattern: str | None, workers: int, force: bool) -> list[tuple[str, bool, float, str]]:
    "Execute (or reuse from the cache) every chapter; copy the executed notebooks into `stage/chapters/`."
    from fastcore.parallel import parallel
    cache = BUILD / "executed"
    pkg = _package_hash()
    jobs, results = [], []
    # one key per chapter, taken before anything runs: the sources may change while the chapters execute
    execd = {src: cache / f"{src.stem}.{_sha(EXEC_VERSION.encode(), src.read_bytes(), pkg)[:16]}.ipynb"
             for src in chapters(REPO / "nbs", pattern)}
    keep = {d.name for d in execd.values()}
    for src, dest in execd.items():
        ok = dest.exists() and json.loads(dest.read_text()).get("metadata", {}).get("storylab_docs", {}).get("passed")
        if ok and not force: results.append((src.name, True, 0.0, "cached"))
        else: jobs.append((str(src), str(dest)))
    if jobs:
        names = ", ".join(Path(s).stem for s, _ in jobs)
        print(f"docs: executing {len(jobs)} chapter(s) with {workers} worker(s): {names}", flush=True)
        if str(DOCS) not in sys.path: sys.path.insert(0, str(DOCS))
        from build_site import _execute_one as run  # by module name, so worker processes can unpickle it
        results += list(parallel(run, jobs, n_workers=min(workers, len(jobs)) if workers > 1 else 0,
                                 pause=0.01, threadpool=False))
    stems = {src.stem for src in execd}
    for p in cache.glob("*.ipynb"):  # older executions of the chapters built now
        if p.name.split(".")[0] in stems and p.name not in keep: p.unlink()
    (stage / "chapters").mkdir(parents=True, exist_ok=True)
    staged = set()
    for src, dest in execd.items():
        if not dest.exists(): continue  # could not be processed at all: reported with the results
        _write_if_changed(stage / "chapters" / src.name, _local_badge(dest.read_bytes()))
        staged.add(src.name)
    for p in (stage / "chapters").glob("*.ipynb"):
        if p.name not in staged: p.unlink()
    return sorted(results)


# -------------------------------------------------------------------------------------------------------- experiments
_SAVEFIG = re.compile(r"""savefig\(\s*[^,]+,\s*f?["']([^"']+)["']""")


def stage_experiment(rec: dict, dest_dir: Path) -> str | None:
    """Copy the executed notebook of run `rec` to `dest_dir/NAME.ipynb` with its figures placed after the cells that
    saved them; returns NAME, or None when the run kept no executed notebook."""
    # Hand-written because papermill runs the experiments with the Agg backend, so their figures exist only as files
    # under `figures/`; no library puts saved files back next to the cells that wrote them.
    run_dir, name = Path(rec["run_dir"]), rec.get("experiment") or Path(rec["run_dir"]).parent.name
    src = run_dir / f"{name}.ipynb"
    if not src.exists(): return None
    nb = json.loads(src.read_text())
    figs = [f for f in rec.get("figures", []) if (run_dir / "figures" / f["file"]).exists()]
    known = {f["file"] for f in figs}
    figs += [{"file": p.name, "caption": ""} for p in sorted((run_dir / "figures").glob("*.png"))
             if p.name not in known]
    fig_dir = f"{name}_figures"

    def fig_cell(f):
        cap = " ".join(f.get("caption", "").split())
        return {"cell_type": "markdown", "metadata": {}, "id": f"fig-{Path(f['file']).stem}"[:64],
                "source": f"```{{figure}} {fig_dir}/{f['file']}\n:alt: {Path(f['file']).stem}\n\n{cap}\n```\n"}

    cells, placed = [], set()
    for c in nb["cells"]:
        if c.get("id") == "colab-install":  # Colab's install cell: nothing for a reader of the site
            c.setdefault("metadata", {}).setdefault("tags", []).append("remove-cell")
        for o in c.get("outputs", []):
            if WIDGET_MIME in o.get("data", {}): del o["data"][WIDGET_MIME]
        cells.append(c)
        if c["cell_type"] == "code":
            src_text = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for stem in _SAVEFIG.findall(src_text):
                f = next((f for f in figs if Path(f["file"]).stem == stem and f["file"] not in placed), None)
                if f: cells.append(fig_cell(f)); placed.add(f["file"])
    rest = [f for f in figs if f["file"] not in placed]
    if rest:
        cells.append({"cell_type": "markdown", "metadata": {}, "id": "figures-rest",
                      "source": "## Figures of this run\n"})
        cells += [fig_cell(f) for f in rest]
    when = rec.get("finished_at", "")
    note = (f"*This page is the notebook as executed by run `{run_dir.name}` (preset `{rec.get('preset', '?')}`"
            f"{', finished ' + when if when else ''}); its numbers and figures are that run's.*\n")
    def md_text(c): return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
    first_md = next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and md_text(c).startswith("# ")),
                    next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown"), -1))   # after the title
    cells.insert(first_md + 1, {"cell_type": "markdown", "metadata": {}, "id": "run-note", "source": note})
    nb["cells"] = cells
    nb.get("metadata", {}).pop("widgets", None)
    _write_if_changed(dest_dir / f"{name}.ipynb", _local_badge(json.dumps(nb, indent=1).encode()))
    for f in figs: _copy_if_changed(run_dir / "figures" / f["file"], dest_dir / fig_dir / f["file"])
    return name


def build_experiments(stage: Path, runs: Path) -> list[str]:
    "Stage the newest run of every experiment, in chapter order (an experiment named like a chapter goes with it)."
    from storylab.report import newest_runs
    order = {p.stem.split("_", 1)[-1]: i for i, p in enumerate(chapters(REPO / "nbs"))}
    recs = newest_runs(runs) if runs.exists() else {}
    out = stage / "experiments"
    names = [n for n in (stage_experiment(r, out) for r in recs.values()) if n]
    if out.exists():  # experiments (or figures) that are no longer staged
        keep = {f"{n}.ipynb" for n in names} | {f"{n}_figures" for n in names}
        for p in out.iterdir():
            if p.name not in keep: shutil.rmtree(p) if p.is_dir() else p.unlink()
    return sorted(names, key=lambda n: (order.get(n, -1), n))


# ---------------------------------------------------------------------------------------------------- landing, report
def build_pages(stage: Path, chapter_names: list[str], experiment_names: list[str]) -> None:
    "README as the landing page (with the site's table of contents), REPORT.md with the figures it references."
    # Hand-written because Sphinx takes its navigation from a toctree in a source page and reads images only inside
    # its source folder: the generated README gets the toctree appended, and the report's `../assets/` figures are
    # copied at the same relative path.
    readme = (REPO / "README.md").read_text()

    def toc(caption, entries):
        if not entries: return ""
        return "\n```{toctree}\n:hidden:\n:caption: " + caption + "\n\n" + "\n".join(entries) + "\n```\n"
    index = (readme + "\n" + toc("Chapters", [f"chapters/{n}" for n in chapter_names])
             + toc("Experiments", [f"experiments/{n}" for n in experiment_names])
             + toc("Report", ["reports/REPORT"] if (REPO / "reports" / "REPORT.md").exists() else []))
    _write_if_changed(stage / "index.md", _local_badge(index.encode()))
    _copy_if_changed(DOCS / "_static" / "colab-badge.svg", stage / "_colab" / "colab-badge.svg")
    report = REPO / "reports" / "REPORT.md"
    if report.exists():
        text = report.read_text()
        _write_if_changed(stage / "reports" / "REPORT.md", text.encode())
        for ref in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text):  # figures the report shows, at the same relative path
            src = (report.parent / ref).resolve()
            if src.is_file() and REPO in src.parents: _copy_if_changed(src, stage / src.relative_to(REPO))


# ------------------------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "_site"), help="site folder (default: _site/)")
    ap.add_argument("--runs", default=None, help="run records to take experiments from (default: reports/runs)")
    ap.add_argument("--workers", type=int, default=2, help="chapters executed in parallel (default 2)")
    ap.add_argument("--chapters", default=None, help="comma-separated globs of chapter names to include (default all)")
    ap.add_argument("--force", action="store_true", help="execute every chapter again, ignoring the cache")
    ap.add_argument("--execute-only", action="store_true",
                    help="only execute (and cache) the chapters; exit 1 if one fails (`make test` runs them this way, "
                         "so its site build takes them from the cache)")
    a = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1"); os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from storylab.core import storylab_home
    runs = Path(a.runs) if a.runs else storylab_home() / "reports" / "runs"
    stage, out = BUILD / "src", Path(a.out).resolve()
    if out in (REPO, *REPO.parents) or (out / ".git").exists(): sys.exit(f"docs: refusing to replace {out}")
    stage.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    results = build_chapters(stage, a.chapters, a.workers, a.force)
    t1 = time.time()
    for name, ok, secs, err in results:
        print(f"docs:   {name}: {'cached' if err == 'cached' else ('%.0f s' % secs)}{'' if ok else '  FAILED'}")
        if not ok: print(err[-4000:], file=sys.stderr)
    failed = [n for n, ok, _, _ in results if not ok]
    if a.execute_only:
        print(f"docs: {len(results)} chapter(s) executed in {t1 - t0:.0f} s" + (f"; failed: {', '.join(failed)}" if failed else ""))
        return 1 if failed else 0
    exps = build_experiments(stage, runs)
    build_pages(stage, sorted(p.stem for p in (stage / "chapters").glob("*.ipynb")), exps)
    print(f"docs: {len(results)} chapter(s) in {t1 - t0:.0f} s; experiments from {runs}: {', '.join(exps) or 'none'}",
          flush=True)
    # Sphinx builds inside _build/docs/ (MyST-NB writes a `jupyter_execute/` folder beside the output folder), then
    # the finished site replaces `out`.
    html = BUILD / "html"
    if html.exists(): shutil.rmtree(html)  # pages of removed sources must go; the doctrees keep the rebuild quick
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", "auto", "-c", str(DOCS),
           "-d", str(BUILD / "doctrees"), str(stage), str(html)]
    rc = subprocess.call(cmd, cwd=REPO)
    if rc == 0:
        if out.exists(): shutil.rmtree(out)
        shutil.copytree(html, out, ignore=shutil.ignore_patterns(".buildinfo", ".doctrees"))
    t2 = time.time()
    print(f"docs: sphinx-build {t2 - t1:.0f} s; site {out}/index.html ({t2 - t0:.0f} s in all)")
    if failed: print(f"docs: chapters that failed to execute (their pages stop at the error): {', '.join(failed)}",
                     file=sys.stderr)
    return rc or (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
