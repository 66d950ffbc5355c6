"The StoryWorld EDA experiment's smoke run (from the session's smoke_home), and the offline guarantees of the backbones."
import subprocess, sys, os

from conftest import smoke_record


def test_storyworld_eda_smoke(smoke_home):
    rec = smoke_record(smoke_home, "storyworld_eda")
    m, chance = rec["metrics"], rec["baselines"]["chance"]
    for k in ("storyclip_R@1", "storyclip_R@5"):
        assert 0 <= chance[k] < 1 and 0 <= m[k] <= 1, (k, m[k], chance[k])
        lo, hi = rec["ci"][k]; assert lo <= m[k] <= hi
        # paired against each query's exact chance value: the mean difference is recall minus chance
        c = next(c for c in rec["comparisons"] if (c["metric"], c["a"], c["b"]) == (k, "model", "chance"))
        assert abs(c["diff"] - (m[k] - chance[k])) < 1e-9 and c["lo"] <= c["diff"] <= c["hi"] and c["n"] == m["n_frames"], c
    assert m["storyclip_R@5"] >= m["storyclip_R@1"]
    assert m["n_frames"] >= 5 * m["n_stories"] and m["vocab_words"] > 10 and m["bpe_vocab"] > 256
    files = {f["file"] for f in rec["figures"]}
    assert {"stories.png", "lengths.png", "wordcloud.png", "storyclip_retrieval.png"} <= files
    for f in files: assert (smoke_home / "reports/runs/storyworld_eda/smoke/figures" / f).stat().st_size > 1000


def test_hub_backbones_fail_fast_offline():
    "With HF_HUB_OFFLINE=1 every hub backbone raises at once and names the offline alternative."
    code = ("import time\nimport transformers.models.gpt2, transformers.models.clip  # imports are not what we time\n"
            "from transformers import AutoTokenizer, GPT2LMHeadModel, CLIPModel, CLIPTokenizer, CLIPImageProcessor\n"
            "from storylab.backbones import load_gpt2, load_tokenizer, TextEncoder, OfflineHubError\n"
            "for f, alt in ((lambda: load_gpt2('gpt2'), 'small_gpt2'), (lambda: load_tokenizer('gpt2'), 'train_bpe_tokenizer'),\n"
            "               (lambda: TextEncoder('clip').encode(['x']), 'minilm')):\n"
            "    t0 = time.time()\n"
            "    try: f(); raise SystemExit('no error')\n"
            "    except OfflineHubError as e: assert alt in str(e) and time.time() - t0 < 5, (str(e), time.time() - t0)\n"
            "print('ok')")
    res = subprocess.run([sys.executable, "-c", code], env={**os.environ, "HF_HUB_OFFLINE": "1"},
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-2000:]
