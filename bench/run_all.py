"""Run every benchmark in bench/ one after another and collect what they print into reports/bench.md,
which `storylab-report` quotes (with the total time, kept in reports/bench.json). Run: `python bench/run_all.py` (or `make bench`)."""
import subprocess, sys, time
from pathlib import Path

from storylab.core import atomic_write, atomic_write_json, storylab_home

here = Path(__file__).parent
sections, t_start = [], time.time()
for script in sorted(here.glob("bench_*.py")):
    t0 = time.time()
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    out = res.stdout.strip() if res.returncode == 0 else f"failed ({res.returncode}):\n```\n{res.stderr[-1500:]}\n```"
    print(f"== {script.name} ({time.time() - t0:.0f} s)\n{out}\n", flush=True)
    doc = (script.read_text().split('"""')[1].strip().splitlines() or [""])[0]
    sections.append(f"### `bench/{script.name}`\n\n{doc}\n\n{out}\n")
atomic_write(storylab_home() / "reports" / "bench.md",
             f"Measured on this machine by `make bench` ({time.strftime('%Y-%m-%d')}); each script compares its cases side by side in one run.\n\n"
             + "\n".join(sections))
atomic_write_json(storylab_home() / "reports" / "bench.json", {"total_s": round(time.time() - t_start, 1), "date": time.strftime("%Y-%m-%d")})
