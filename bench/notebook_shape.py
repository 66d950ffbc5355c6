"""The shape of the codebase: module lengths, exported-cell lengths and how often an exported definition is followed by an example.

Run: `python bench/notebook_shape.py` (prints markdown tables and one PASS/FAIL line per threshold;
`--json PATH` also writes the figures as JSON). Chapters are `nbs/*.ipynb` except `index`; modules
are `storylab/*.py` except the generated `_modidx.py`. Standard library only; reads files, runs nothing.

Rules. A cell is exported when its leading directive lines (lines starting with `#|`) include
`#| export` or `#| exports`; its length is its non-blank lines other than directive lines. A public
definition is a top-level `def`/`async def`/`class` of an exported cell whose name does not start
with `_`. It is followed by an example when, after its cell and before the next exported cell that
defines a public name, some non-exported code cell whose source (directives removed) is non-empty,
not only imports, mentions the name as a word (`\\bname\\b`, comments included).
"""
import argparse, ast, json, re, statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULE_MAX, MEDIAN_MAX, CELL_MAX, EXAMPLE_MIN = 400, 15, 60, 70.0


def code_cells(path):
    "Source of every code cell of a notebook, in order."
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells if c["cell_type"] == "code"]


def is_directive(line): return line.startswith("#|")


def is_exported(src):
    "Whether the cell's leading directive lines include `export` or `exports` (`#| export`, `#|export`, `#| export mod`)."
    for line in src.lstrip("\n").splitlines():
        if not is_directive(line): return False
        if line[2:].split()[:1] in (["export"], ["exports"]): return True
    return False


def body(src):
    "The cell's source with directive lines removed."
    return "\n".join(l for l in src.splitlines() if not is_directive(l))


def n_lines(src): return sum(1 for l in src.splitlines() if l.strip() and not is_directive(l))


def public_defs(src):
    "Top-level public function and class names of an exported cell."
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return [n.name for n in ast.parse(body(src)).body if isinstance(n, kinds) and not n.name.startswith("_")]


def is_example(src):
    "A non-exported cell with something other than imports (IPython `!`/`%` lines are code too)."
    if is_exported(src): return False
    text = body(src).strip()
    if not text: return False
    try: tree = ast.parse("\n".join(l for l in text.splitlines() if not l.lstrip().startswith(("!", "%"))))
    except SyntaxError: return True
    return not tree.body or not all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in tree.body)


def chapter_shape(path):
    cells = code_cells(path)
    exported = [i for i, s in enumerate(cells) if is_exported(s)]
    lengths = [n_lines(cells[i]) for i in exported]
    defs = {i: public_defs(cells[i]) for i in exported}
    mentions = lambda name, srcs: any(re.search(rf"\b{re.escape(name)}\b", body(s)) for s in srcs)
    followed, anywhere, missing = 0, 0, []
    for i in exported:
        if not defs[i]: continue
        end = next((j for j in exported if j > i and defs[j]), len(cells))
        window = [cells[j] for j in range(i + 1, end) if is_example(cells[j])]
        later = [s for s in cells[i + 1:] if is_example(s)]
        for name in defs[i]:
            if mentions(name, window): followed += 1
            else: missing.append(name)
            anywhere += mentions(name, later)
    return dict(chapter=path.stem, lengths=lengths, defs=sum(len(d) for d in defs.values()), followed=followed,
                anywhere=anywhere, missing=missing)


def summary(name, lengths, n_defs, followed):
    return dict(chapter=name, exported_cells=len(lengths),
                median_lines=statistics.median(lengths) if lengths else None, max_lines=max(lengths, default=None),
                cells_over_60=sum(n > CELL_MAX for n in lengths), public_defs=n_defs, followed=followed,
                followed_pct=round(100 * followed / n_defs, 1) if n_defs else None)


def table(header, rows):
    fmt = lambda v: "–" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args()

    shapes = [chapter_shape(p) for p in sorted((ROOT / "nbs").glob("*.ipynb")) if p.stem != "index"]
    # JSON only: the share mentioned by an example anywhere later in the chapter (how much is ordering, not absence)
    loose = lambda a, d: round(100 * a / d, 1) if d else None
    chapters = [dict(summary(s["chapter"], s["lengths"], s["defs"], s["followed"]), without_example=s["missing"],
                     followed_anywhere_later_pct=loose(s["anywhere"], s["defs"])) for s in shapes]
    overall = summary("all chapters", [n for s in shapes for n in s["lengths"]],
                      sum(s["defs"] for s in shapes), sum(s["followed"] for s in shapes))
    modules = [dict(module=p.name, lines=len(p.read_text().splitlines()))
               for p in sorted((ROOT / "storylab").glob("*.py")) if p.name != "_modidx.py"]
    for m in modules: m["ok"] = m["lines"] <= MODULE_MAX
    overall["followed_anywhere_later_pct"] = loose(sum(s["anywhere"] for s in shapes), overall["public_defs"])

    long_modules = [m["module"] for m in modules if not m["ok"]]
    wide_medians = [c["chapter"] for c in chapters if c["median_lines"] is not None and c["median_lines"] > MEDIAN_MAX]
    long_cells = [c["chapter"] for c in chapters if c["cells_over_60"]]
    pct = overall["followed_pct"]
    checks = {  # threshold: (passed, detail)
        f"every module ≤ {MODULE_MAX} lines": (not long_modules, ", ".join(long_modules)),
        f"median exported cell ≤ {MEDIAN_MAX} lines in every chapter": (not wide_medians, ", ".join(wide_medians)),
        f"no exported cell over {CELL_MAX} lines": (not long_cells, f"{overall['cells_over_60']} in " + ", ".join(long_cells)),
        f"≥ {EXAMPLE_MIN:g}% of public definitions followed by an example (all chapters)":
            (pct is not None and pct >= EXAMPLE_MIN, f"{pct}%"),
    }

    cols = ["chapter", "exported_cells", "median_lines", "max_lines", "cells_over_60", "public_defs", "followed_pct"]
    header = ["chapter", "exported cells", "median lines", "max lines", f"cells over {CELL_MAX}",
              "public definitions", "followed by an example (%)"]
    print("## Chapters\n")
    print(table(header, [[c[k] for k in cols] for c in chapters + [overall]]))
    print("\n## Modules (storylab/*.py, without _modidx.py)\n")
    print(table(["module", "lines", f"≤ {MODULE_MAX}"],
                [[m["module"], m["lines"], "yes" if m["ok"] else "no"] for m in modules]))
    print("\n## Thresholds\n")
    for name, (ok, detail) in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}" + ("" if ok else f" ({detail})"))

    if args.json:
        figures = dict(chapters=chapters, all_chapters=overall, modules=modules,
                       checks=[dict(threshold=k, passed=ok, detail=d) for k, (ok, d) in checks.items()])
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
