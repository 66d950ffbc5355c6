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


def hand_loop(model, data, loss_fn, bs, epochs=3):
    from torch.utils.data import default_collate
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for e in range(epochs):
        for idx in epoch_batches(len(data), bs, e):
            batch = default_collate([data[i] for i in idx])
            opt.zero_grad(); loss = loss_fn(model, batch); loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()


def trainer_loop(model, data, loss_fn, bs, epochs=3):
    Trainer(model, data, loss_fn=loss_fn, optimizer=torch.optim.AdamW(model.parameters(), lr=1e-3),
            batch_size=bs, epochs=epochs, progress=False).fit()


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--rounds", type=int, default=3); ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for case in (mlp_case, gpt2_case):
        name, model, data, loss_fn, bs = case()
        times = {"hand-written": [], "Trainer": []}
        for _ in range(args.rounds):   # interleaved, so both see the same machine load
            for label, fn in (("hand-written", hand_loop), ("Trainer", trainer_loop)):
                t0 = time.perf_counter(); fn(model, data, loss_fn, bs); times[label].append(time.perf_counter() - t0)
        hand, tr = statistics.median(times["hand-written"]), statistics.median(times["Trainer"])
        rows.append((name, 3 * len(data) / hand, 3 * len(data) / tr, 100 * (tr / hand - 1)))
    head = "| model | hand-written loop (samples/s) | shared Trainer (samples/s) | overhead |"
    print(head + "\n|---|---|---|---|")
    for n, h, t, o in rows: print(f"| {n} | {h:,.0f} | {t:,.0f} | {o:+.1f}% |")
    print(f"\npeak memory {peak_rss_mb():.0f} MiB; 1 torch thread; median of {args.rounds} interleaved rounds of 3 epochs")


if __name__ == "__main__":
    main()
