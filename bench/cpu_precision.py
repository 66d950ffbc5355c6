"""What bf16 autocast would save per training step on this CPU, for the torch models at their `cpu` preset sizes:
fp32 (what every experiment runs) against `torch.autocast("cpu", dtype=torch.bfloat16)`, with and without dropout,
one thread, side by side. Issue #18 asks whether cheaper steps alone could bring `make report` under 20 minutes;
this measures the cheapest change to the arithmetic. It is not part of `make bench` (no `bench_` prefix): it informs
a decision and changes nothing. Run: `python bench/cpu_precision.py [--reps 8]`."""
import argparse, statistics, time

import torch
from storylab.backbones import small_gpt2
from storylab.ae_gru import ConvAutoencoder, ae_loss

# (name, n_layer, n_embd, vocab, batch, tokens): the GPT-2s of the cpu presets, at a typical padded length
GPT2S = [("prosqa (cot, stage 0)", 2, 128, 420, 32, 69), ("coconut (StoryWorld)", 4, 128, 600, 32, 96),
         ("pref_align decoder", 2, 128, 1000, 32, 96), ("story_gan decoder", 2, 128, 1000, 32, 58)]


def gpt2_step(n_layer, n_embd, vocab, batch, tokens):
    model = small_gpt2(vocab, n_layer, n_embd, 4, n_positions=256)
    ids = torch.randint(0, vocab, (batch, tokens), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    def loss(): return model(input_ids=ids, labels=ids).loss
    return model, opt, loss


def ae_step():
    model = ConvAutoencoder(64, 384, (32, 64, 128))
    x = torch.rand(32, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    return model, opt, lambda: ae_loss(model, x)


def ms_per_step(build, bf16: bool, dropout: bool, reps: int) -> float:
    torch.manual_seed(0)
    model, opt, loss_fn = build()
    model.train(dropout)
    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16): loss = loss_fn()
        loss.float().backward(); opt.step(); opt.zero_grad(set_to_none=True)
    step(); step()   # warm-up: allocator, oneDNN kernels
    times = []
    for _ in range(reps):
        t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cases = [(name, lambda a=a: gpt2_step(*a), True) for name, *a in GPT2S] + [("ae_gru autoencoder (64 px)", ae_step, False)]
    print(f"torch {torch.__version__}, 1 thread, native bf16 on this CPU (oneDNN): {torch.ops.mkldnn._is_mkldnn_bf16_supported()}; "
          f"median of {args.reps} steps (forward, backward, AdamW)\n")
    print("| model | fp32 ms | bf16 ms | fp32, no dropout ms | bf16, no dropout ms | bf16 / fp32 |")
    print("|---|---|---|---|---|---|")
    for name, build, has_dropout in cases:
        r = {(b, d): ms_per_step(build, b, d, args.reps) for b in (False, True) for d in ((True, False) if has_dropout else (False,))}
        d = has_dropout
        nd = lambda b: f"{r[(b, False)]:.0f}" if has_dropout else "–"
        print(f"| {name} | {r[(False, d)]:.0f} | {r[(True, d)]:.0f} | {nd(False)} | {nd(True)} | {r[(True, d)] / r[(False, d)]:.2f} |")
