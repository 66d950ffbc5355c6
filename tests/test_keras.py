"The Keras experiments run end to end offline, their records hold what the report needs, and the VAE also trains on the torch backend."
import json, os, subprocess, sys, textwrap
from collections import defaultdict

import pytest

from conftest import REPO, smoke_record

VERDICTS = ("holds", "does not hold", "not measured in this preset", "not testable offline")


@pytest.mark.parametrize("name,metrics", [
    ("keras_gen", ["vae_z4_recon_mse", "vae_z4_loss", "vae_z4_kl", "fd_vae_z4", "fd_gan_z8", "vae_z4_sharpness", "gan_z16_sharpness"]),
    ("seq2seq", ["text2text_exact_match", "image2text_exact_match", "text2image_digit_accuracy", "text2text_exact_f0.3_d1",
                 "image2text_exact_f0.3_d1", "reader_digit_accuracy", "image2text_read_correct"]),
])
def test_smoke_experiment(smoke_home, name, metrics):
    rd = smoke_home / "reports" / "runs" / name / "smoke"
    rec = smoke_record(smoke_home, name)
    for m in metrics: assert m in rec["metrics"], (m, sorted(rec["metrics"]))
    assert rec["preset"] == "smoke" and rec["baselines"]
    assert rec["figures"] and all((rd / "figures" / f["file"]).exists() for f in rec["figures"])
    # the headline is compared, paired, with every competing baseline that reports it
    h, refs = rec["headline"], set(rec.get("reference_baselines", []))
    for b, vals in rec["baselines"].items():
        if h in vals and b not in refs:
            assert any(c["metric"] == h and c["b"] == b for c in rec["comparisons"]), (h, b, rec["comparisons"])
    # seed 004's claims: one row per claim, each with a verdict
    (rows,) = [v for k, v in rec["tables"].items() if k.startswith("Seed 004's claims")]
    assert len(rows) == {"keras_gen": 3, "seq2seq": 4}[name], rows
    for r in rows: assert r["verdict"].startswith(VERDICTS) and r["claim (seed 004)"], r


def test_frechet_intervals_are_half_samples(smoke_home):
    rec = smoke_record(smoke_home, "keras_gen")
    fd = [k for k in rec["metrics"] if k.startswith("fd_")]
    assert fd and all(rec["ci"][k][0] <= rec["metrics"][k] <= rec["ci"][k][1] for k in fd)
    lo, hi = rec["baselines_ci"]["real_train_images"][fd[0]]
    assert lo <= rec["baselines"]["real_train_images"][fd[0]] <= hi          # the plain bootstrap missed this one
    fd_cmp = [c for c in rec["comparisons"] if c["metric"] in fd]
    assert {c["b"] for c in fd_cmp} == {"uniform_noise", "real_train_images"}
    assert all("half-samples without replacement" in c["method"] and c["lo"] <= c["diff"] <= c["hi"] for c in fd_cmp)
    assert "half-samples" in rec["notes"] and "stand in for faces" in rec["notes"]


def test_seq2seq_exact_match_recomputes_from_predictions(smoke_home):
    rec = smoke_record(smoke_home, "seq2seq")
    rows = [json.loads(line) for line in (smoke_home / "reports" / "runs" / "seq2seq" / "smoke" / rec["predictions"]).open()]
    hits = defaultdict(list)
    for r in rows:
        assert {"id", "references", "prediction", "system", "expression", "gold", "answer", "scores"} <= set(r), r
        assert r["references"] == [r["gold"]] and r["prediction"] == r["answer"]
        for s in r["scores"]: hits[s].append(r["prediction"] == r["references"][0])
    recorded = {f"metrics.{k}": v for k, v in rec["metrics"].items() if "_exact_" in k}
    recorded |= {f"baselines.{b}.{k}": v for b, m in rec["baselines"].items() for k, v in m.items()}
    assert set(hits) == set(recorded), (sorted(hits), sorted(recorded))
    for k, v in recorded.items(): assert abs(sum(hits[k]) / len(hits[k]) - v) < 1e-9, (k, v)
    # one row per held-out expression and task in the main configuration
    main = [r for r in rows if r["system"] in ("text2text", "image2text", "text2image")]
    assert len({(r["id"], r["system"]) for r in main}) == len(main)


def test_seq2seq_checkpoints_score_again(smoke_home):
    "`storylab-eval seq2seq` re-scores each main model the smoke run saved (`storylab.seq2seq.save`) with its record's numbers."
    from conftest import storylab
    from storylab.core import THREAD_VARS
    rec, rd = smoke_record(smoke_home, "seq2seq"), smoke_home / "reports" / "runs" / "seq2seq" / "smoke"
    env = {**os.environ, "STORYLAB_HOME": str(smoke_home), **{v: str(rec["cpu_threads"]) for v in THREAD_VARS}}
    for task in ("text2text", "image2text", "text2image"):
        out = storylab("storylab-eval", "seq2seq", "--checkpoint", rd / f"model-{task}.pt", env=env).stdout
        res = json.loads(out[out.index("{"):])
        assert res["exact_match"] == rec["metrics"][f"{task}_exact_match"], (task, res, rec["metrics"])
        assert res["n_held_out"] == rec["tables"]["main configuration"][0]["held-out expressions scored"]
    assert res["digit_accuracy"] == rec["metrics"]["text2image_digit_accuracy"], res


def test_vae_trains_on_torch_backend():
    code = textwrap.dedent("""
        import keras, numpy as np
        assert keras.backend.backend() == "torch"
        from storylab.keras_gen import VAE, set_threads
        from storylab.images import load_digits
        set_threads(2)
        (x, _), _ = load_digits()
        vae = VAE(latent_dim=4, filters=8); vae.compile(optimizer=keras.optimizers.Adam(2e-3))
        h = vae.fit(x[:256], epochs=2, batch_size=64, verbose=0).history
        assert h["loss"][-1] < h["loss"][0] and np.isfinite(h["kl"]).all(), h
        assert vae.sample(2).shape == (2, 28, 28, 1)
        assert vae.per_image_loss(x[:3])["loss"].shape == (3,)
        print("ok", h["loss"])
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=dict(os.environ, KERAS_BACKEND="torch"),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout[-2000:] + r.stderr[-3000:]


def _weights(path) -> dict:
    import h5py, numpy as np
    out = {}
    with h5py.File(path, "r") as f: f.visititems(lambda k, v: out.__setitem__(k, np.array(v)) if isinstance(v, h5py.Dataset) else None)
    return out


def _kill_and_resume(smoke_home, home, name, model, overrides=()):
    """Run `name` at the smoke preset, SIGKILL it once `model` has backed up its first of two epochs, run it again under
    the same name; return (the session's uninterrupted smoke record, the resumed record, the resumed run's folder)."""
    from conftest import BIN, kill_when, storylab
    from storylab.core import THREAD_VARS
    straight = smoke_record(smoke_home, name)
    env = {**os.environ, **{v: str(straight["cpu_threads"]) for v in THREAD_VARS}}   # the smoke run's threads: the same float sums
    args = [name, "--preset", "smoke", "--name", "killed", *overrides]
    run = home / "reports" / "runs" / name / "killed"
    proc = subprocess.Popen([str(BIN / "storylab-run"), *args, "-p", "epoch_delay", "2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    kill_when(proc, run / "checkpoints" / model / "state.json")
    assert not (run / "metrics.json").exists(), "the run finished before it was killed"
    assert json.loads((run / "checkpoints" / model / "state.json").read_text())["epoch"] == 1
    storylab("storylab-run", *args, env=env)               # the same run name: it continues
    rec = json.loads((run / "metrics.json").read_text())
    out = "".join("".join(o.get("text", "")) for c in json.loads((run / f"{name}.ipynb").read_text())["cells"] for o in c.get("outputs", []))
    assert f"{model}: resumed after epoch 1 of 2" in out, out[-3000:]
    assert rec["training"][model] == {"epochs": 2, "resumed_after_epoch": 1, "epochs_trained": 1}, rec["training"]
    assert all(t["resumed_after_epoch"] == 0 for t in straight["training"].values()), straight["training"]
    # the interrupted model continued the uninterrupted run's training: the same history and final weights
    a, b = (json.loads((r / "checkpoints" / model / "state.json").read_text()) for r in (smoke_home / "reports/runs" / name / "smoke", run))
    assert a["history"] == b["history"] and a["epoch"] == b["epoch"] == 2
    wa, wb = _weights(smoke_home / "reports/runs" / name / "smoke/checkpoints" / model / a["weights"]), _weights(run / "checkpoints" / model / b["weights"])
    assert wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)
    return straight, rec, run


def test_keras_gen_resumes_after_kill(smoke_home, home):
    "SIGKILL while the first GAN trains: the classifier and the VAEs are loaded, the GAN continues after its first epoch."
    straight, rec, run = _kill_and_resume(smoke_home, home, "keras_gen", "gan_z8")
    for m in ("classifier", "vae_z4", "vae_z8"): assert rec["training"][m]["epochs_trained"] == 0, (m, rec["training"])
    assert rec["training"]["gan_z16"] == {"epochs": 2, "resumed_after_epoch": 0, "epochs_trained": 2}
    assert set(rec["metrics"]) == set(straight["metrics"]) and "fd_gan_z8" in straight["ci"]
    for k, (lo, hi) in straight["ci"].items(): assert lo <= rec["metrics"][k] <= hi, (k, rec["metrics"][k], lo, hi)


def test_seq2seq_resumes_after_kill(smoke_home, home):
    """SIGKILL while text→image trains (the smoke run's text→image alone: the character reader, then its model): the
    reader is loaded, the model continues after its first epoch and draws digits the reader scores as the smoke run's did."""
    straight, rec, run = _kill_and_resume(smoke_home, home, "seq2seq", "text2image_f0.6_d1", ["-p", "tasks", "[text2image]"])
    assert rec["training"]["reader"]["epochs_trained"] == 0 and set(rec["training"]) == {"reader", "text2image_f0.6_d1"}
    shared = [k for k in rec["metrics"] if k in straight["ci"]]
    assert {"text2image_exact_match", "text2image_digit_accuracy", "text2image_sharpness", "reader_digit_accuracy"} <= set(shared)
    for k in shared: assert straight["ci"][k][0] <= rec["metrics"][k] <= straight["ci"][k][1], (k, rec["metrics"][k], straight["ci"][k])
