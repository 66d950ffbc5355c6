"""The exercises that end the system chapters (10-15) and `make exercises` (`docs/make_exercises.py`).

Each exercise is a markdown statement, a code cell tagged `solution` (the reference solution), and the code cell
after it, tagged `check`; one cell tagged `exercise-setup` per chapter imports and builds what its checks use. The
tests run every check in a fresh namespace after that setup cell alone (no chapter is executed):

- with the reference solution it passes;
- with the learner's stub that `make exercises` puts in its place it fails, with a message naming the function;
- with each typical wrong answer listed in `WRONG` below it fails with an `AssertionError` that says what is wrong
  (so a check passes only for a correct answer, and a wrong one learns why).
"""
import json, re, sys, time, warnings
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "docs"))
import make_exercises as mx  # noqa: E402

NBS = REPO / "nbs"
SYSTEM_CHAPTERS = ("10_story_gan", "11_ae_gru", "12_keras_gen", "13_seq2seq", "14_pref_align", "15_coconut")
PENDING: dict[str, str] = {}   # chapter stem → why its exercises are not there yet (an xfail)

# Typical wrong answers: function → [(text of its reference solution, what a learner might write instead)]. Each must
# make the check fail with an AssertionError. A replaced text that is no longer in the solution fails the test.
WRONG = {
    # 10_story_gan
    "hinge_d_loss": [("F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()", "(1 - d_real).mean() + (1 + d_fake).mean()"),
                     ("F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()", "F.relu(1 + d_real).mean() + F.relu(1 - d_fake).mean()"),
                     ("F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()", "torch.cat([F.relu(1 - d_real), F.relu(1 + d_fake)]).mean()")],
    "beam_search": [("best = (score / ((5 + length) / 6) ** alpha).argmax(-1)", "best = score.argmax(-1)"),
                    ("score / ((5 + length) / 6) ** alpha", "score * ((5 + length) / 6) ** alpha"),
                    ("length = ids_mask(tokens, eos).sum(1).view(B, k).float()", "length = torch.full((B, k), float(tokens.shape[1]))")],
    "pointer_generator": [(".scatter_add(", ".scatter("),
                          ("gate * logits.softmax(-1) + (1 - gate) * copy", "(1 - gate) * logits.softmax(-1) + gate * copy"),
                          ("return torch.log(gate * logits.softmax(-1) + (1 - gate) * copy + 1e-9)",
                           "return gate * logits.softmax(-1) + (1 - gate) * copy")],
    # 11_ae_gru
    "masked_render": [(".abs().mean(-3, keepdim=True)", ".abs()"),
                      ("mask = (((new - old).abs().mean(-3, keepdim=True) - threshold) / threshold).clamp(0, 1)",
                       "mask = ((new - old).abs().mean(-3, keepdim=True) > threshold).float()"),
                      ("(1 - mask) * last_frame + mask * new", "mask * last_frame + (1 - mask) * new")],
    "psnr": [("10 * torch.log10(1 / mse)", "20 * torch.log10(1 / mse)"), (".flatten(1).mean(1)", ".mean()"), (".clamp(max=100)", "")],
    "token_accuracy": [("((logits.argmax(-1) == gold) & keep).sum(1) / keep.sum(1)", "(logits.argmax(-1) == gold).float().mean(1)"),
                       ("gold = target_ids[:, 1:]", "gold = target_ids[:, :-1]")],
    # 12_keras_gen
    "gaussian_kl": [("- mean ** 2", "+ mean ** 2"), ("np.sum(", "np.mean("), ("-0.5 * (", "-1.0 * (")],
    "slerp_latents": [("if np.sin(omega) < 1e-6: return interpolate_latents(z0, z1, steps)", "return interpolate_latents(z0, z1, steps)"),
                      ("np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1", "np.sin(t * omega) * z0 + np.sin((1 - t) * omega) * z1"),
                      ("if np.sin(omega) < 1e-6: return interpolate_latents(z0, z1, steps)", "")],
    "frechet": [("linalg.sqrtm(s1 @ s2)", "np.sqrt(np.abs(s1 @ s2))"), ("- 2 * np.real(covmean)", "- np.real(covmean)"),
                ("np.cov(f_real, rowvar=False), np.cov(f_gen, rowvar=False)", "np.diag(f_real.var(0)), np.diag(f_gen.var(0))")],
    # 13_seq2seq
    "decoder_arrays": [("encode_text(answers, reverse=True)", "encode_text(answers)"),
                       ("np.concatenate([np.full((len(targets), 1), START, targets.dtype), targets[:, :-1]], 1)", "targets.copy()")],
    "dot_attention": [("(w / w.sum(-1, keepdims=True))", "(w / w.sum(1, keepdims=True))"),
                      ("scores = query @ value.transpose(0, 2, 1)", "scores = query @ value.transpose(0, 2, 1) / np.sqrt(query.shape[-1])"),
                      ("np.exp(scores - scores.max(-1, keepdims=True))", "np.exp(scores)")],
    "greedy_answer": [("if t + 1 < out_len: prev[:, t + 1] = chars[:, t]", "pass")],
    # 14_pref_align
    "implicit_reward": [("return beta * (", "return ("),
                        ("policy.caption_logp(feats, ids, mask) - reference.caption_logp(feats, ids, mask)",
                         "reference.caption_logp(feats, ids, mask) - policy.caption_logp(feats, ids, mask)"),
                        ("policy.caption_logp(feats, ids, mask) - reference.caption_logp(feats, ids, mask)",
                         "(policy.token_logps(feats, ids, mask) - reference.token_logps(feats, ids, mask)).mean(1)")],
    "dpo": [("-F.logsigmoid(beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))).mean()",
             "-torch.log(torch.sigmoid(beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)))).mean()"),
            ("(policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)", "(policy_rejected - ref_rejected) - (policy_chosen - ref_chosen)"),
            ("-F.logsigmoid(beta * (", "-F.logsigmoid((")],
    "nt_xent": [("(F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2", "F.cross_entropy(logits, target)"),
                ("F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T", "a @ b.T"),
                (" / temperature", "")],
    # 15_coconut
    "curriculum_layout": [("s = max_latent_stage if mode in ABLATIONS else min(stage, max_latent_stage)", "s = min(stage, max_latent_stage)"),
                          ("s * c_thought", "min(s, n_steps) * c_thought")],
    "naive_logits": [("emb = emb.clone(); emb[:, c] = h[:, -1]", "pass"),
                     ("position_ids=pos).last_hidden_state)", "position_ids=None).last_hidden_state)")],
    "target_loss": [("logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten()", "logits.flatten(0, 1).float(), labels.flatten()")],
}


def _notebook(stem: str) -> dict:
    return json.loads((NBS / f"{stem}.ipynb").read_text(encoding="utf-8"))


def _chapters_with_exercises() -> list[str]:
    return [p.stem for p in sorted(NBS.glob("*.ipynb"))
            if any(mx.SOLUTION in mx.tags(c) for c in json.loads(p.read_text(encoding="utf-8"))["cells"])]


def _cases():
    out = []
    for stem in _chapters_with_exercises():
        for i, it in enumerate(mx.exercises(_notebook(stem))["items"]):
            out.append(pytest.param(stem, i, id=f"{stem}:{'+'.join(it['names'])}"))
    return out


def _run(stem: str, setup: list[str], solution: str, check: str) -> tuple[BaseException | None, float]:
    """Run the chapter's setup cells, then `solution` and `check`, in a fresh namespace: (the exception raised or None,
    seconds taken by solution and check)."""
    ns = {"__name__": "__main__"}
    try:
        for k, src in enumerate(setup): exec(compile(src, f"<{stem} exercise-setup {k}>", "exec"), ns)
    except Exception as e:  # the setup must run: that is not the learner's answer failing
        raise AssertionError(f"{stem}: the exercise-setup cell fails on its own: {e!r}") from e
    t0 = time.time()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # overflows and divisions by zero of the wrong answers
            exec(compile(solution, f"<{stem} solution>", "exec"), ns)
            exec(compile(check, f"<{stem} check>", "exec"), ns)
    except Exception as e:
        return e, time.time() - t0
    return None, time.time() - t0


@pytest.mark.parametrize("stem", [pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=PENDING[s])) if s in PENDING else s
                                  for s in SYSTEM_CHAPTERS])
def test_each_system_chapter_ends_with_three_exercises(stem):
    nb = _notebook(stem)
    cells = nb["cells"]
    heads = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and mx.source(c).lstrip().startswith("## Exercises")]
    assert heads, f"{stem}: no '## Exercises' section"
    section = cells[heads[-1]:]
    ex = mx.exercises({"cells": section})
    assert len(ex["items"]) >= 3, f"{stem}: {len(ex['items'])} exercises, at least 3 wanted"
    code = [c for c in section if c["cell_type"] == "code"]
    assert code and mx.SETUP in mx.tags(code[0]), f"{stem}: the exercises' first code cell should be tagged {mx.SETUP!r}"
    assert mx.CHECK in mx.tags(code[-1]), f"{stem}: the chapter should end with an exercise's check cell"
    for c in code:
        assert mx.tags(c) and set(mx.tags(c)) <= {mx.SETUP, mx.SOLUTION, mx.CHECK}, \
            f"{stem}: every code cell of the exercises is a setup, solution or check cell:\n{mx.source(c)[:200]}"
        assert not re.search(r"^\s*#\|\s*export", mx.source(c), re.M), f"{stem}: an exercise cell is exported:\n{mx.source(c)[:200]}"
    # every statement (a markdown cell) comes right before its solution
    for it in ex["items"]:
        assert section[it["index"] - 1]["cell_type"] == "markdown", f"{stem}: {it['names']} has no statement above its solution"


@pytest.mark.parametrize("stem, i", _cases())
def test_check_passes_only_for_a_correct_answer(stem, i, monkeypatch, record_property):
    monkeypatch.chdir(NBS)  # where nbdev-test runs a chapter
    ex = mx.exercises(_notebook(stem))
    it = ex["items"][i]
    err, seconds = _run(stem, ex["setup"], it["solution"], it["check"])
    assert err is None, f"{stem}: the check fails with the reference solution of {it['names']}: {err!r}"
    assert seconds < 10, f"{stem}: the check of {it['names']} took {seconds:.1f}s with its solution: checks must stay cheap"

    err, _ = _run(stem, ex["setup"], mx.stub_source(it["solution"]), it["check"])
    assert isinstance(err, NotImplementedError), f"{stem}: with the stub of {it['names']} the check should fail on the stub, got {err!r}"
    assert all(f"`{n}`" in str(err) for n in it["names"][:1]), f"the stub's message should name the function: {err}"

    for old, new in [w for n in it["names"] for w in WRONG.get(n, [])]:
        assert old in it["solution"], f"WRONG lists {old!r}, which is no longer in the solution of {it['names']}: update WRONG"
        err, _ = _run(stem, ex["setup"], it["solution"].replace(old, new), it["check"])
        assert isinstance(err, AssertionError) and len(str(err)) >= 20, (
            f"{stem}: the check of {it['names']} should fail with a helpful AssertionError when {old!r} is written {new!r}; "
            f"got {err!r}")
    record_property("check_seconds", round(seconds, 2))


@pytest.mark.parametrize("stem, i", _cases())
def test_every_exercise_has_typical_wrong_answers(stem, i):
    it = mx.exercises(_notebook(stem))["items"][i]
    assert any(WRONG.get(n) for n in it["names"]), f"{stem}: list a typical wrong answer of {it['names']} in WRONG"


def test_stub_keeps_signatures_and_docstrings_only():
    src = '''import functools
from math import pi

@functools.cache
def area(r: float,
         scale: float = 1.0) -> float:
    """Area of a circle.

    Second line."""
    x = pi * r ** 2   # the answer
    return x * scale

def nodoc(a):
    return a + 1
'''
    stub = mx.stub_source(src)
    ns = {}
    exec(stub, ns)
    assert "pi * r" not in stub and "a + 1" not in stub and "the answer" not in stub
    assert "import functools" in stub and "from math import pi" in stub and "@functools.cache" in stub
    assert "scale: float = 1.0) -> float:" in stub and "Second line." in stub
    for name in ("area", "nodoc"):
        with pytest.raises(NotImplementedError, match=f"`{name}`"): ns[name](1)
    assert mx.stub_source(stub) == stub   # stubbing a stub changes nothing
    with pytest.raises(ValueError, match="imports and function definitions only"): mx.stub_source("ANSWER = 42\n")
    with pytest.raises(ValueError, match="own lines"): mx.stub_source("def f(x): return x\n")


def test_make_exercises_writes_copies_with_stubs(tmp_path):
    written = mx.make_exercises(NBS, tmp_path)
    assert {p.stem for p in written} == set(_chapters_with_exercises())
    assert set(SYSTEM_CHAPTERS) - set(PENDING) <= {p.stem for p in written}
    for p in written:
        src, out = _notebook(p.stem), json.loads(p.read_text(encoding="utf-8"))
        assert len(out["cells"]) == len(src["cells"]) and out["metadata"] == src["metadata"]
        for a, b in zip(src["cells"], out["cells"]):
            if mx.SOLUTION in mx.tags(a):
                assert mx.source(b) == mx.stub_source(mx.source(a)).rstrip("\n") and mx.source(b) != mx.source(a)
                assert mx.solution_names(mx.source(b)) == mx.solution_names(mx.source(a))
            else:
                assert b == a, f"{p.name}: only solution cells change"
    again = mx.make_exercises(NBS, tmp_path)   # rewriting gives the same files
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in written]
