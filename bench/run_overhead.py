"""What every `storylab-run` pays before and after its notebook's own work, with and without the two cuts in
`storylab.cli.run_experiment`: (1) importing papermill with jsonschema allowed to import `rfc3987_syntax` (which
builds a Lark grammar) or not, (2) a papermill run of a notebook importing torch and matplotlib, as every
experiment does, ending with a graceful or an immediate kernel shutdown. The cases alternate, `--reps` times each
(default 5); the table gives medians of wall time and of CPU time (user + sys, the kernel included).
Run: `python bench/run_overhead.py` (about two minutes)."""
import argparse, os, resource, statistics, subprocess, sys, tempfile, time
from pathlib import Path

IMPORT = "import sys\n{block}import papermill\n"
BLOCK = 'sys.modules.setdefault("rfc3987_syntax", None)\n'
RUN = """import sys, nbformat
sys.modules.setdefault("rfc3987_syntax", None)
import papermill as pm
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import torch, matplotlib.pyplot as plt")])
nb.metadata.kernelspec = {{"name": "python3", "language": "python", "display_name": "Python 3"}}
nbformat.write(nb, sys.argv[1])
pm.execute_notebook(sys.argv[1], sys.argv[1], kernel_name="python3", progress_bar=False, shutdown_kernel={mode!r})
"""


def measure(code: str, *args) -> tuple[float, float]:
    "Wall and CPU seconds (user + sys of the child and everything it waited for) of `python -c code args`."
    before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True)
    wall, after = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(reps: int):
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]   # the kernel's python
    cases = {"import papermill, rfc3987_syntax imported": (IMPORT.format(block=""),),
             "import papermill, rfc3987_syntax left out": (IMPORT.format(block=BLOCK),)}
    with tempfile.TemporaryDirectory() as d:
        nb = str(Path(d) / "nb.ipynb")
        cases |= {"papermill run, graceful kernel shutdown": (RUN.format(mode="graceful"), nb),
                  "papermill run, immediate kernel shutdown": (RUN.format(mode="immediate"), nb)}
        got = {k: [] for k in cases}
        for _ in range(reps):
            for k, args in cases.items(): got[k].append(measure(*args))
    print(f"| case ({reps} runs each, alternating) | median wall (s) | median CPU (s) |\n|---|---|---|")
    for k, v in got.items():
        print(f"| {k} | {statistics.median(w for w, _ in v):.2f} | {statistics.median(c for _, c in v):.2f} |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    main(ap.parse_args().reps)
