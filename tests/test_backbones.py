"The StoryWorld EDA experiment end to end at its smoke preset, and the offline guarantees of the backbones."
import json, os, subprocess, sys, time

from conftest import BIN, storylab


def test_storyworld_eda_smoke(home):
    t0 = time.time()
    storylab("storylab-run", "storyworld_eda", "--preset", "smoke", "--name", "s")
    rec = json.loads((home / "reports/runs/storyworld_eda/s/metrics.json").read_text())
    m, chance = rec["metrics"], rec["baselines"]["chance"]
    for k in ("storyclip_R@1", "storyclip_R@5"):
        assert 0 <= chance[k] < 1 and 0 <= m[k] <= 1, (k, m[k], chance[k])
        lo, hi = rec["ci"][k]; assert lo <= m[k] <= hi
    assert m["storyclip_R@5"] >= m["storyclip_R@1"]
    assert m["n_frames"] >= 5 * m["n_stories"] and m["vocab_words"] > 10 and m["bpe_vocab"] > 256
    files = {f["file"] for f in rec["figures"]}
    assert {"stories.png", "lengths.png", "wordcloud.png", "storyclip_retrieval.png"} <= files
    for f in files: assert (home / "reports/runs/storyworld_eda/s/figures" / f).stat().st_size > 1000
    print(f"storyworld_eda smoke: {time.time() - t0:.1f} s")


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
