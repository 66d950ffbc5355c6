"ProsQA generator, loader and search sets (storylab.prosqa): distribution match, round trip, refused records, CLI."
import json, os, subprocess, sys
from pathlib import Path

import pytest
from scipy.stats import ks_2samp

from storylab.prosqa import (FIELDS, ProsQAConfig, ProsQAError, check_problem, distances, fact, frontier, generate,
                             load_prosqa, parse_fact, problem_stats, reachable, unreachable, write_prosqa, main)

REAL = Path(__file__).parent / "data" / "prosqa_valid.json"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def real():
    return load_prosqa(REAL)


def test_license_beside_data():
    assert "MIT License" in (REAL.parent / "PROSQA_LICENSE.txt").read_text()


def test_real_file_loads_and_round_trips(real, tmp_path):
    assert len(real) == 300 and all(list(p) == list(FIELDS) for p in real)
    out = write_prosqa(real, tmp_path / "copy.json")
    assert load_prosqa(out) == real
    assert out.read_bytes() == REAL.read_bytes()          # the real files' compact layout, byte for byte


def test_default_generator_matches_real_distribution(real):
    gen = generate(500, seed=1)
    rs, gs = [problem_stats(p) for p in real], [problem_stats(p) for p in gen]
    for k in ("concepts", "facts", "steps", "question_words"):
        p = ks_2samp([s[k] for s in rs], [s[k] for s in gs]).pvalue
        assert p > 0.01, f"{k}: KS p = {p:.4g}"


def test_generated_records_are_well_formed_and_seeded():
    gen = generate(40, seed=2)
    assert gen == generate(40, seed=2) and gen[:5] == generate(5, seed=2) and gen != generate(40, seed=3)
    shuffled = 0
    for i, p in enumerate(gen):
        check_problem(p, "generated", i)
        sym, n = p["idx_to_symbol"], len(p["idx_to_symbol"])
        entities = set(range(n)) - {b for _, b in p["edges"]}
        facts = [fact(sym[a], sym[b], a in entities) for a, b in p["edges"]]
        body, question = p["question"].rsplit(". ", 1)
        stated = [s + "." for s in body.split(". ")]
        assert sorted(stated) == sorted(facts)                       # every edge stated once, nothing else
        shuffled += stated != facts
        assert question in (f"Is {sym[p['root']]} a {sym[p['target']]} or {sym[p['neg_target']]}?",
                            f"Is {sym[p['root']]} a {sym[p['neg_target']]} or {sym[p['target']]}?")
        assert p["answer"] == f"{sym[p['root']]} is a {sym[p['target']]}."
        assert len(p["steps"]) == distances(n, p["edges"], p["root"])[p["target"]]   # a shortest path
        assert ProsQAConfig().min_steps <= len(p["steps"]) <= ProsQAConfig().max_steps
    assert shuffled >= 35


def test_scaled_down_config():
    cfg = ProsQAConfig(n_nodes=12, in_degree=1.2, min_steps=2, max_steps=3)
    for p in generate(20, seed=0, cfg=cfg):
        assert len(p["idx_to_symbol"]) <= 12 and 2 <= len(p["steps"]) <= 3
    with pytest.raises(ValueError, match="side_p"):
        ProsQAConfig(side_p=0.7)


def _write_broken(tmp_path, change, i=2):
    recs = json.loads(REAL.read_text()); change(recs[i])
    f = tmp_path / "bad.json"; f.write_text(json.dumps(recs))
    return f


def _last_step_to_neg(r):
    prev = parse_fact(r["steps"][-1])[0]
    r["steps"][-1] = f"Every {prev} is a {r['idx_to_symbol'][r['neg_target']]}."   # a fact, but not an edge


@pytest.mark.parametrize("field,change,why", [
    ("edges", lambda r: r.pop("edges"), "missing"),
    ("question", lambda r: r.pop("question"), "missing"),
    ("target", lambda r: r.update(target=len(r["idx_to_symbol"])), "outside idx_to_symbol"),
    ("target", lambda r: r.update(target=-1), "outside idx_to_symbol"),
    ("steps", _last_step_to_neg, "is not an edge of the graph"),
    ("steps", lambda r: r["steps"].reverse(), "does not continue from"),
    ("steps", lambda r: r["steps"].pop(), "not at the target"),
    ("steps", lambda r: r.update(steps=["Tom walks."]), "is not a fact"),
    ("edges", lambda r: r["edges"].append([0, 99]), "outside idx_to_symbol"),
    ("root", lambda r: r.update(root="1"), "wrong type"),
    ("answer", lambda r: r.update(answer="Tom is a cat."), "does not name the target"),
    ("neg_target", lambda r: r.update(neg_target=r["target"]), "reachable from the root"),
])
def test_malformed_record_is_refused_with_file_item_field(tmp_path, field, change, why):
    f = _write_broken(tmp_path, change)
    with pytest.raises(ProsQAError) as e:
        load_prosqa(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: item 2: field '{field}': "), msg
    assert why in msg, msg


def test_bad_files_are_refused(tmp_path):
    (f := tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ProsQAError, match="x.json: not valid JSON"): load_prosqa(f)
    f.write_text(json.dumps({"question": "?"}))
    with pytest.raises(ProsQAError, match="expected a JSON list"): load_prosqa(f)
    f.write_text(json.dumps([generate(1)[0], 7]))
    with pytest.raises(ProsQAError, match="item 1: field"): load_prosqa(f)


def test_refused_write_leaves_file_untouched(tmp_path):
    f = write_prosqa(generate(2, seed=5), tmp_path / "p.json"); before = f.read_bytes()
    bad = generate(2, seed=6); bad[1] = {k: v for k, v in bad[1].items() if k != "steps"}
    with pytest.raises(ProsQAError, match="item 1: field 'steps': missing"):
        write_prosqa(bad, f)
    assert f.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_search_sets(real):
    toy = dict(idx_to_symbol=list("RSabcdex"), edges=[[0, 2], [0, 3], [2, 4], [3, 4], [4, 5], [1, 6], [6, 7]],
               root=0, target=5, neg_target=7, steps=[], question="", answer="")
    assert reachable(toy) == {2, 3, 4, 5} and unreachable(toy) == {1, 6, 7}
    assert [frontier(toy, k) for k in (1, 2, 3, 4)] == [{2, 3}, {4}, {5}, set()]
    for p in real:
        n, k = len(p["idx_to_symbol"]), len(p["steps"])
        layers = [frontier(p, j) for j in range(1, n)]
        assert p["target"] in layers[k - 1] and p["neg_target"] in unreachable(p)
        assert set().union(*layers) == reachable(p) and sum(map(len, layers)) == len(reachable(p))
        assert reachable(p) | unreachable(p) | {p["root"]} == set(range(n))


def test_cli_writes_problems(tmp_path):
    out = tmp_path / "gen.json"
    r = subprocess.run([sys.executable, "-m", "storylab.prosqa", "--n", "5", "--seed", "3", "--out", str(out)],
                       capture_output=True, text=True, cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert r.returncode == 0, r.stderr
    assert f"wrote 5 problems to {out}" in r.stdout
    assert load_prosqa(out) == generate(5, seed=3)
    with pytest.raises(SystemExit):
        main(["--n", "2", "--out", str(tmp_path / "x.json"), "--n-nodes", "100"])
    assert not (tmp_path / "x.json").exists()


# ---- the `prosqa` experiment: Coconut and its baselines on ProsQA (smoke preset), resume mid-curriculum ----------------

MODES = ["coconut", "cot", "no_cot", "pause", "no_curriculum", "pause_as_thought"]
PAIRS = [("coconut", "cot"), ("coconut", "no_cot"), ("coconut", "pause"), ("cot", "no_cot")]
VOLATILE = {"wall_s", "peak_rss_mb", "finished_at", "run_dir", "cpu_threads", "figures", "params"}


def _env(home, **extra):
    return {**os.environ, "STORYLAB_HOME": str(home), "STORYLAB_EXPERIMENTS": str(REPO / "nbs" / "experiments"),
            "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def _run(home, name):
    return home / "reports" / "runs" / "prosqa" / name


def test_smoke_experiment_records_every_mode_and_the_paired_differences(smoke_home):
    "The session's smoke run of `prosqa` (made with every experiment by `smoke_home`)."
    run = _run(smoke_home, "smoke")
    rec = json.loads((run / "metrics.json").read_text())
    m, n = rec["metrics"], int(rec["metrics"]["n_test"])
    assert rec["experiment"] == "prosqa" and rec["headline"] == "accuracy_coconut"
    for mode in MODES:
        assert 0 <= m[f"accuracy_{mode}"] <= 1 and f"accuracy_{mode}" in rec["ci"]
        latent = 1 if mode in ("coconut", "pause", "no_curriculum", "pause_as_thought") else 0   # smoke: 1 stage × 1 thought
        assert m[f"tokens_{mode}"] - m[f"lang_tokens_{mode}"] == pytest.approx(latent), mode
    comps = {(c["a"], c["b"]): c for c in rec["comparisons"]}
    assert set(PAIRS) <= set(comps) and all((mode, "chance") in comps for mode in MODES)
    for (a, b), c in comps.items():
        assert c["metric"] == f"accuracy_{a}" and c["n"] == n and c["method"].startswith("paired bootstrap")
        other = m[f"accuracy_{b}"] if b in MODES else 0.5
        assert c["diff"] == pytest.approx(m[f"accuracy_{a}"] - other) and c["lo"] - 1e-9 <= c["diff"] <= c["hi"] + 1e-9
    assert {f["file"] for f in rec["figures"]} >= {"accuracy_vs_stage.png", "accuracy_vs_tokens.png", "thought_search.png"}
    assert "thought_reachable_share_coconut" in m and "real distribution" in rec["notes"]
    assert load_prosqa(run / "test_prosqa.json")[0]["question"]          # the generated held-out set, as a ProsQA file
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == n * len(MODES)
    for r in rows:
        assert {"id", "mode", "prediction", "answer", "gold"} <= set(r)
        assert r["gold"] == r["references"][0].rstrip(".").split()[-1].lower()   # the answer sentence's final concept
    for mode in MODES:
        mine = [r for r in rows if r["mode"] == mode]
        assert sum(r["answer"] == r["gold"] for r in mine) / n == pytest.approx(m[f"accuracy_{mode}"], abs=1e-12)


def test_resume_mid_curriculum_ends_where_an_unbroken_run_ends(home, smoke_home):
    "Stop every mode after stage 0, resume: stage 0 is not trained again, and records and predictions equal the unbroken run."
    from conftest import storylab
    ref = json.loads((_run(smoke_home, "smoke") / "metrics.json").read_text())
    env = _env(home, STORYLAB_THREADS=str(ref["cpu_threads"]), PYTHONHASHSEED="4242")
    run = _run(home, "r")
    storylab("storylab-run", "prosqa", "--preset", "smoke", "-p", "stop_after_stage", "0", "--name", "r", env=env)
    for mode in MODES:
        assert (run / "checkpoints" / mode / "stage0" / "done.json").exists() and not (run / "checkpoints" / mode / "stage1").exists()
    stopped = json.loads((run / "metrics.json").read_text())
    assert "accuracy_coconut" not in stopped["metrics"] and not stopped["comparisons"] and not (run / "predictions.jsonl").exists()
    storylab("storylab-run", "prosqa", "--preset", "smoke", "-p", "resume", "True", "--name", "r", env=env)
    out = (run / "prosqa.ipynb").read_text()
    for mode in MODES: assert f"{mode}: stages [(0, 'resumed'), (1, 'trained')]" in out
    rec = json.loads((run / "metrics.json").read_text())
    diff = {k for k in set(rec) | set(ref) if k not in VOLATILE and rec.get(k) != ref.get(k)}
    assert not diff, {k: (rec.get(k), ref.get(k)) for k in diff}
    assert (run / "predictions.jsonl").read_text() == (_run(smoke_home, "smoke") / "predictions.jsonl").read_text()
