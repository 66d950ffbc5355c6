"""`make exercises`: practice copies of the chapters, with the reference solutions taken out.

A chapter's exercises (at its end) are cells with these tags (nbdev keeps cell tags):

- `exercise-setup`: imports and small objects every exercise of the chapter uses, so that the exercises also run
  on their own (after a kernel restart, or in a test) once `storylab` is importable;
- `solution`: the reference solution, imports and function definitions only;
- `check`: the cell right after a solution, which passes only for a correct answer and says what is wrong otherwise.

The copy of a chapter keeps every cell, with each `solution` cell replaced by its stub: the same imports and the same
function signatures and docstrings, each body a `raise NotImplementedError(...)` that names the function. The check
below a stub then fails with that message until the learner writes the function. Copies go to `exercises/` (a
generated folder, not tracked); chapters without a `solution` cell are not copied.

Usage: `python docs/make_exercises.py [--nbs nbs] [--out exercises]`.
"""
from __future__ import annotations
import argparse, ast, copy, json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETUP, SOLUTION, CHECK = "exercise-setup", "solution", "check"


def tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def source(cell: dict) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def _lines(text: str) -> list[str]:
    "A notebook cell's `source` list: lines that keep their newline, the last one without."
    lines = text.splitlines(keepends=True)
    if lines: lines[-1] = lines[-1].rstrip("\n")
    return lines


def stub_message(name: str) -> str:
    return f"Exercise: write `{name}` (the statement above says what it must do), then run the check below."


def stub_source(src: str) -> str:
    """The learner's version of a solution cell: imports kept, every top-level function kept down to its docstring
    (decorators and signature included), its body replaced by a `raise NotImplementedError` naming it."""
    tree = ast.parse(src)
    lines = src.splitlines()
    out, at = [], 0   # `at`: the first line (0-based) of `lines` not yet copied
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)): continue   # copied with the text around them
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            raise ValueError(f"line {node.lineno} of a solution cell: solution cells hold imports and function definitions "
                             f"only (anything else would stay in the exercise copy and give the answer away)")
        body = node.body
        has_doc = isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str)
        if body[0].lineno == node.lineno:
            raise ValueError(f"solution function {node.name!r}: put its docstring and body on their own lines, below the `def`")
        first = min([body[0].lineno, *(d.lineno for d in getattr(body[0], "decorator_list", []))])
        keep_to = body[0].end_lineno if has_doc else first - 1   # 1-based, inclusive: signature (+ docstring)
        indent = " " * (body[1 if has_doc and len(body) > 1 else 0].col_offset)
        out += lines[at:keep_to]
        out.append(f"{indent}raise NotImplementedError({stub_message(node.name)!r})")
        at = node.end_lineno
    out += lines[at:]
    return "\n".join(out).rstrip() + "\n" if out else ""


def solution_names(src: str) -> list[str]:
    "The names of the functions a solution cell defines."
    return [n.name for n in ast.parse(src).body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def exercises(nb: dict) -> dict:
    """{'setup': [setup sources], 'items': [{'names', 'solution', 'check', 'index'}]} of a notebook's exercises;
    raises ValueError when a solution cell is not followed by a check cell."""
    cells, setup, items = nb["cells"], [], []
    for i, c in enumerate(cells):
        t = tags(c)
        if SETUP in t: setup.append(source(c))
        if SOLUTION in t:
            nxt = next((d for d in cells[i + 1:] if d["cell_type"] == "code"), None)
            if nxt is None or CHECK not in tags(nxt):
                raise ValueError(f"cell {i}: a `solution` cell must be followed by a code cell tagged `check`")
            items.append(dict(names=solution_names(source(c)), solution=source(c), check=source(nxt), index=i))
    return dict(setup=setup, items=items)


def strip_notebook(nb: dict) -> dict:
    "A copy of `nb` whose `solution` cells hold their stubs (and no outputs)."
    nb = copy.deepcopy(nb)
    for c in nb["cells"]:
        if c["cell_type"] == "code" and SOLUTION in tags(c):
            c["source"] = _lines(stub_source(source(c)))
            c["outputs"], c["execution_count"] = [], None
    return nb


def write_notebook(nb: dict, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def make_exercises(nbs: Path = REPO / "nbs", out: Path = REPO / "exercises") -> list[Path]:
    "Write the stripped copy of every chapter in `nbs` that has a `solution` cell into `out`; returns the paths written."
    written = []
    for p in sorted(Path(nbs).glob("*.ipynb")):
        nb = json.loads(p.read_text(encoding="utf-8"))
        if not any(SOLUTION in tags(c) for c in nb["cells"]): continue
        exercises(nb)   # refuses a solution without its check
        write_notebook(strip_notebook(nb), Path(out) / p.name)
        written.append(Path(out) / p.name)
    return written


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nbs", type=Path, default=REPO / "nbs")
    ap.add_argument("--out", type=Path, default=REPO / "exercises")
    a = ap.parse_args()
    for p in make_exercises(a.nbs, a.out):
        n = sum(SOLUTION in tags(c) for c in json.loads(p.read_text(encoding="utf-8"))["cells"])
        print(f"{p.relative_to(Path.cwd()) if p.is_relative_to(Path.cwd()) else p}: {n} exercises")
