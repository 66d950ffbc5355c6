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
