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
    spans = {s["name"]: s for s in json.loads((in_smoke_home / "reports/runs/all.json").read_text())["timeline"]}
    assert {s["worker"] for s in spans.values()} == {0, 1} and spans["shared"]["ok"]
    for name in ("story_gan", "pref_align", "coconut", "storyworld_eda"):   # they read the StoryCLIP tower: after it exists
        assert spans[name]["start"] >= spans["shared"]["end"] - 1e-6, (name, spans[name], spans["shared"])
    other = [s for n, s in spans.items() if n in ("ae_gru", "keras_gen", "seq2seq", "sanity")]
    assert min(s["start"] for s in other) < spans["shared"]["end"]          # meanwhile the other worker is not idle


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


# where each text-writing experiment keeps the text metrics its predictions recompute: metric → key in metrics.json
CAPTION_KEYS = {"story_gan": {"BLEU-4": "BLEU-4", "CIDEr": "CIDEr"},
                "ae_gru": {"BLEU-4": "caption_bleu4", "CIDEr": "caption_cider"},
                "pref_align": {"BLEU-4": "BLEU-4", "CIDEr": "CIDEr"}}
ANSWER_KEYS = {"coconut": "accuracy_{}", "seq2seq": "{}_exact_match"}


def _predictions(home, name):
    rec = json.loads((home / f"reports/runs/{name}/smoke/metrics.json").read_text())
    assert rec.get("predictions"), f"{name} writes text but records no predictions file"
    rows = [json.loads(l) for l in (home / f"reports/runs/{name}/smoke" / rec["predictions"]).read_text().splitlines()]
    by_system = {}
    for r in rows: by_system.setdefault(r.get("system", r.get("mode", "model")), []).append(r)
    return rec, by_system


def _recorded(rec, system, key):
    "The value metrics.json holds for `system` (a baseline's, else the model's) under `key`."
    return rec["baselines"][system].get(key) if system in rec.get("baselines", {}) else rec["metrics"].get(key)


@pytest.mark.parametrize("name", sorted(CAPTION_KEYS))
def test_caption_metrics_recompute_from_predictions_alone(smoke_home, name):
    from storylab.metrics import caption_scores
    rec, by_system = _predictions(smoke_home, name)
    checked = 0
    for system, rows in by_system.items():
        assert len({r["id"] for r in rows}) == len(rows), f"{name}/{system}: an id appears twice"
        scores = caption_scores({r["id"]: r["references"] for r in rows}, {r["id"]: r["prediction"] for r in rows})
        for metric, key in CAPTION_KEYS[name].items():
            want = _recorded(rec, system, key)
            if want is None: continue
            assert abs(scores[metric] - want) < 1e-6, (name, system, metric, scores[metric], want)
            checked += 1
    assert checked >= 2, f"{name}: only {checked} recorded text metrics matched a system in the predictions"


@pytest.mark.parametrize("name", sorted(ANSWER_KEYS))
def test_answer_accuracy_recomputes_from_predictions_alone(smoke_home, name):
    rec, by_system = _predictions(smoke_home, name)
    checked = 0
    for system, rows in by_system.items():
        want = _recorded(rec, system, ANSWER_KEYS[name].format(system))
        if want is None: continue
        got = sum(str(r["answer"]).strip() == str(r["gold"]).strip() for r in rows) / len(rows)
        assert abs(got - want) < 1e-9, (name, system, got, want)
        checked += 1
    assert checked >= 2, f"{name}: only {checked} systems' accuracy could be checked"


def _numbers(rec):
    "Everything measured in a record, minus times and memory (keys ending in _s, the volatile fields)."
    keep = {k: rec.get(k) for k in ("metrics", "baselines", "ci", "baselines_ci", "comparisons", "tables", "seeds")}
    def strip(x):
        if isinstance(x, dict): return {k: strip(v) for k, v in x.items() if not (k.endswith("_s") or k in VOLATILE)}
        if isinstance(x, list): return [strip(v) for v in x]
        return x
    return strip(keep)


def test_text_writing_experiments_repeat_exactly(smoke_home, tmp_path_factory):
    "A second smoke run of every text-writing experiment, in another home, gives the same numbers and predictions."
    import os
    names = sorted(set(CAPTION_KEYS) | set(ANSWER_KEYS))
    home = tmp_path_factory.mktemp("again")
    (home / "cache").symlink_to(REPO / "cache")
    env = {**os.environ, "STORYLAB_HOME": str(home), "STORYLAB_EXPERIMENTS": str(REPO / "nbs" / "experiments"),
           "PYTHONHASHSEED": "12345"}   # a different string hash: set and dict order of strings must not matter
    storylab("storylab-run", ",".join(names), "--preset", "smoke", "--jobs", "2", "--name", "smoke", timeout=1800, env=env)
    for name in names:
        a, b = (json.loads((h / f"reports/runs/{name}/smoke/metrics.json").read_text()) for h in (smoke_home, home))
        assert _numbers(a) == _numbers(b), f"{name}: numbers differ between two identical smoke runs"
        pa, pb = ((h / f"reports/runs/{name}/smoke/predictions.jsonl").read_text() for h in (smoke_home, home))
        assert pa == pb, f"{name}: predictions differ between two identical smoke runs"
