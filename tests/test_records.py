"""Run records a reviewer can trust, checked on the session's smoke run of every experiment: intervals that hold
their estimates, paired comparisons behind every verdict, predictions that recompute, runs that repeat exactly,
and no measured number typed by hand into prose."""
import json, math

import pytest

from conftest import REPO, storylab
from prose_numbers import hand_typed_numbers, notebooks

VOLATILE = {"wall_s", "peak_rss_mb", "finished_at", "run_dir", "cpu_threads", "figures", "_mtime"}


def _records(home):
    return {mj.parent.parent.name: json.loads(mj.read_text()) for mj in sorted((home / "reports/runs").glob("*/smoke/metrics.json"))}


def test_every_experiment_ran_and_every_interval_holds_its_estimate(smoke_home):
    recs = _records(smoke_home)
    assert set(recs) >= {"sanity", "ae_gru", "coconut", "keras_gen", "pref_align", "seq2seq", "story_gan", "storyworld_eda"}, set(recs)
    bad = []
    for name, rec in recs.items():
        pairs = [(m, rec["metrics"].get(m), ci) for m, ci in rec.get("ci", {}).items()]
        pairs += [(f"{b}.{m}", rec["baselines"].get(b, {}).get(m), ci) for b, cis in rec.get("baselines_ci", {}).items() for m, ci in cis.items()]
        pairs += [(f"{c['a']}−{c['b']} {c['metric']}", c["diff"], (c["lo"], c["hi"])) for c in rec.get("comparisons", [])]
        for what, v, ci in pairs:
            if v is None or ci is None: continue
            lo, hi = ci
            if not (lo - 1e-9 <= v <= hi + 1e-9) or math.isnan(lo) or math.isnan(hi): bad.append((name, what, v, ci))
    assert not bad, bad


def test_every_headline_has_a_paired_verdict(smoke_home):
    from storylab.report import headline_comparison, strongest_baseline
    for name, rec in _records(smoke_home).items():
        if strongest_baseline(rec) is None: continue
        c = headline_comparison(rec)
        assert c is not None, f"{name}: no paired comparison of its headline {rec['headline']!r} with {strongest_baseline(rec)[0]!r}"
        assert c["n"] >= 2 and c["method"].startswith("paired bootstrap")


def test_report_from_the_smoke_runs_shows_paired_verdicts_and_the_timeline(in_smoke_home):
    storylab("storylab-report", "--no-html")
    text = (in_smoke_home / "reports/REPORT.md").read_text()
    assert "Better / worse / n.s. always comes from a paired interval" in text
    assert "**Paired comparisons on the same held-out items**" in text and "timeline.png" in text
    spans = json.loads((in_smoke_home / "reports/runs/all.json").read_text())["timeline"]
    assert spans[0]["name"] == "shared" and {s["worker"] for s in spans[1:]} <= {0, 1}
    assert all(s["start"] >= spans[0]["end"] - 1e-6 for s in spans[1:])   # nothing starts before the shared assets exist


def test_no_measured_number_is_typed_into_prose():
    hits = {str(nb.relative_to(REPO)): hand_typed_numbers(nb) for nb in notebooks()}
    hits = {k: v for k, v in hits.items() if v}
    assert not hits, "numbers typed by hand (render them from run records):\n" + "\n".join(
        f"{k} cell {i}: {tok} | {line}" for k, v in hits.items() for i, tok, line in v)


def test_the_prose_check_catches_a_typed_result(tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("The model reached 0.937 accuracy on 2,091 frames "
                                                                       "at 64 pixels in 2026 (see `000_c9e796e3ccad8309.txt`).")])
    path = tmp_path / "x.ipynb"; nbformat.write(nb, str(path))
    assert [h[1] for h in hand_typed_numbers(path)] == ["0.937", "2,091"]
