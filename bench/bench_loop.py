"""Training throughput of the shared `Trainer` against a minimal hand-written loop on the same model and batches.

Run: `python bench/bench_loop.py` (prints a table; `--markdown` for the report). Threads are fixed so that the
two loops compete on equal terms; they run interleaved, several rounds each, and the median is reported.
"""
import argparse, statistics, time

import torch
from torch import nn

from storylab.core import peak_rss_mb
from storylab.train import Trainer, epoch_batches


def gpt2_case():
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=1000, n_positions=32, n_embd=128, n_layer=2, n_head=4))
    data = [torch.randint(0, 1000, (24,)) for _ in range(512)]
    return "tiny GPT-2 LM (2×128, 24 tokens)", model, data, lambda m, b: m(input_ids=b, labels=b).loss, 32


def mlp_case():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))
    data = [(torch.randn(64), torch.randn(1)) for _ in range(4096)]
    return "MLP 64→256→256→1", model, data, lambda m, b: nn.functional.mse_loss(m(b[0]), b[1]), 64


def ae_gru_case():
    "The AE-GRU story model (smoke-sized) on StoryWorld K+1 windows, with its stage-2 loss."
    from storylab.ae_gru import Config, build, story_loss
    from storylab.ae_gru_data import StorySamples, WordVocab, max_caption_tokens
    from storylab.data import kplus1, load_stories
    windows = kplus1(load_stories("storyworld", "train", n_stories=40, seed=0), 4, 64)
    caps = [c for w in windows for c in w["context_captions"] + [w["target_caption"]]]
    vocab, max_len = WordVocab.build(caps), max_caption_tokens(caps, 64)
    torch.manual_seed(0)
    model = build(Config(image_size=64, latent_dim=384, ae_widths=[16, 32, 64], vocab_size=len(vocab), dim=96, emb=32))
    return "AE-GRU story model (stage 2)", model, StorySamples(windows, vocab, max_len), story_loss, 32, None


def coconut_case():
    "Coconut's GPT-2 with image prefix and two continuous thoughts per question (stage 2 of the curriculum)."
    from storylab.coconut import build, config_for, collate_examples, coconut_loss, encode_example
    from storylab.storyworld import load_storyworld
    from storylab.views import questions
    from transformers import PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models, pre_tokenizers
    qs = questions(load_storyworld(60, seed=0), seed=0)
    words = sorted({w for q in qs for t in (q["question"], *q["choices"], *q["steps"], "###") for w in t.replace(",", " ").replace(".", " ").split()})
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({w: i for i, w in enumerate(["[UNK]", *words])}, unk_token="[UNK]")))
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    torch.manual_seed(0)
    cfg = config_for(tok, 384, "coconut", dict(vocab_size=len(tok) + 8, n_layer=2, n_embd=128, n_head=4, n_positions=256))
    model = build(cfg)
    items = [encode_example(q, torch.randn(len(q["images"]), 384), tok, model.ids, "coconut", 2, 1, 3) for q in qs]
    return "Coconut LM, 2 thoughts (stage 2)", model, items, coconut_loss, 32, lambda b: collate_examples(b, model.ids)


def _loss(out): return out["loss"] if isinstance(out, dict) else out


def hand_loop(model, data, loss_fn, bs, collate=None, epochs=3):
    from torch.utils.data import default_collate
    collate = collate or default_collate
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for e in range(epochs):
        for idx in epoch_batches(len(data), bs, e):
            batch = collate([data[i] for i in idx])
            opt.zero_grad(); loss = _loss(loss_fn(model, batch)); loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()


def trainer_loop(model, data, loss_fn, bs, collate=None, epochs=3):
    from torch.utils.data import default_collate
    Trainer(model, data, loss_fn=loss_fn, optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3),
            collate=collate or default_collate, batch_size=bs, epochs=epochs, progress=False).fit()


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--rounds", type=int, default=3); ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for case in (mlp_case, gpt2_case, ae_gru_case, coconut_case):
        name, model, data, loss_fn, bs, *collate = case()
        times = {"hand-written": [], "Trainer": []}
        for _ in range(args.rounds):   # interleaved, so both see the same machine load
            for label, fn in (("hand-written", hand_loop), ("Trainer", trainer_loop)):
                t0 = time.perf_counter(); fn(model, data, loss_fn, bs, *collate); times[label].append(time.perf_counter() - t0)
        hand, tr = statistics.median(times["hand-written"]), statistics.median(times["Trainer"])
        rows.append((name, 3 * len(data) / hand, 3 * len(data) / tr, 100 * (tr / hand - 1)))
    head = "| model | hand-written loop (samples/s) | shared Trainer (samples/s) | overhead |"
    print(head + "\n|---|---|---|---|")
    for n, h, t, o in rows: print(f"| {n} | {h:,.0f} | {t:,.0f} | {o:+.1f}% |")
    print(f"\npeak memory {peak_rss_mb():.0f} MiB; 1 torch thread; median of {args.rounds} interleaved rounds of 3 epochs")


if __name__ == "__main__":
    main()
