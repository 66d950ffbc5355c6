"""StoryWorld frames generated per second at 64×64 on one core, and one epoch over cached frozen-encoder embeddings vs one epoch that re-encodes.

Run: `python bench/bench_data.py` (prints markdown tables). One thread everywhere (`OMP_NUM_THREADS=1`,
`torch.set_num_threads(1)`), so the numbers are per core. The cached and re-encoding epochs run
interleaved, several rounds each, and the median is reported, so both see the same machine load.
An "epoch" is what a training loop on frozen features does: get the embeddings of every item, then
one pass of a small head (a linear classifier of the frame's setting) over them in batches.
"""
import os
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"): os.environ[var] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1"); os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
import argparse, statistics, time

import numpy as np
import torch
from torch import nn

from storylab.backbones import ImageEncoder, TextEncoder, cached_encode
from storylab.core import peak_rss_mb
from storylab.views import caption_pairs
from storylab.storyworld import generate, load_storyworld, story_world

torch.set_num_threads(1)


def median_time(fn, rounds):
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return statistics.median(times)


def generation_rows(n_stories, rounds):
    "Frames/s of `generate` (render + PNG + Dataset) and of rendering alone (`story_world`)."
    n_frames = sum(len(story_world(12345, i)["images"]) for i in range(n_stories))
    full = median_time(lambda: generate(n_stories, seed=12345, image_size=64), rounds)
    render = median_time(lambda: [story_world(12345, i, image_size=64) for i in range(n_stories)], rounds)
    return [("`generate` (render + PNG + `datasets.Dataset`)", n_frames / full), ("rendering only (`story_world`)", n_frames / render)]


def head_epoch(emb, labels, batch=64):
    "One pass of a linear classifier over the embeddings: the training work an epoch does besides encoding."
    torch.manual_seed(0)
    x, y = torch.from_numpy(np.ascontiguousarray(emb)), torch.from_numpy(labels)
    head = nn.Linear(x.shape[1], int(labels.max()) + 1); opt = torch.optim.SGD(head.parameters(), lr=0.1)
    for i in range(0, len(x), batch):
        opt.zero_grad(); nn.functional.cross_entropy(head(x[i:i + batch]), y[i:i + batch]).backward(); opt.step()


def cache_rows(n_stories, rounds, storyclip="cpu"):
    pairs = caption_pairs(load_storyworld(n_stories, seed=0))
    captions, images = [r["caption"] for r in pairs], np.stack([r["image"] for r in pairs])
    labels = np.unique([r["attributes"]["setting"] for r in pairs], return_inverse=True)[1].astype(np.int64)
    rows = []
    for label, enc, items in (("MiniLM captions", TextEncoder("minilm"), captions),
                              ("StoryCLIP frames", ImageEncoder("storyclip", preset=storyclip, progress=False), images)):
        key = {"bench": "storyworld", "n_stories": n_stories, "seed": 0}
        cached_encode(enc, items, key_data=key); enc.encode(items[:8])   # fill the cache, load the weights: neither is timed
        times = {"re-encode": [], "cached": []}
        for _ in range(rounds):   # interleaved
            t0 = time.perf_counter(); head_epoch(enc.encode(items), labels); times["re-encode"].append(time.perf_counter() - t0)
            t0 = time.perf_counter(); head_epoch(cached_encode(enc, items, key_data=key), labels); times["cached"].append(time.perf_counter() - t0)
        fresh, cached = statistics.median(times["re-encode"]), statistics.median(times["cached"])
        rows.append((f"{label} ({len(items):,})", fresh, cached, fresh / cached))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stories", type=int, default=30, help="stories generated per timing round")
    ap.add_argument("--cache-stories", type=int, default=100, help="stories whose frames one epoch covers")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--storyclip", default="cpu", help="StoryCLIP preset whose tower is timed (trained once if not cached)")
    args = ap.parse_args()
    print("| StoryWorld at 64×64, 1 core | frames/s |\n|---|---|")
    for name, fps in generation_rows(args.stories, args.rounds): print(f"| {name} | {fps:,.0f} |")
    print("\n| one epoch over | re-encoding (s) | cached embeddings (s) | speed-up |\n|---|---|---|---|")
    for name, fresh, cached, speedup in cache_rows(args.cache_stories, args.rounds, args.storyclip):
        print(f"| {name} | {fresh:.3f} | {cached:.4f} | {speedup:,.0f}× |")
    print(f"\npeak memory {peak_rss_mb():.0f} MiB; 1 thread; median of {args.rounds} interleaved rounds")


if __name__ == "__main__":
    main()
