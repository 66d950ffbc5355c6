"""One decoding loop (chapter 05b), every system: decoding with the cache writes exactly what recomputing everything at
every step writes, in greedy mode and with beam search. The models are tiny and untrained, with weights drawn wide
enough that their outputs vary from token to token (a check on a constant sequence would prove nothing)."""
import numpy as np
import pytest
import torch
from fastcore.test import test_eq as same

from storylab.decoding import generate

EOS = 0


def _varied(ids):
    "`ids` hold at least three different tokens, and some row changes token."
    rows = ids.tolist()
    return len({t for row in rows for t in row}) >= 3 and max(len(set(row)) for row in rows) >= 2


def _check(model, inputs, eos, steps=8):
    for method in ("greedy", "beam"):
        cached = generate(model, inputs, steps, eos, method, num_beams=3)
        same(cached, generate(model, inputs, steps, eos, method, num_beams=3, cache=False))
        assert _varied(cached), cached


def _wide(model, std=0.5, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters(): p.normal_(0, std)
    return model.eval()


def test_story_gan_with_copy_head():
    from storylab.story_gan import GANConfig, build
    torch.manual_seed(0)
    cfg = GANConfig(emb_dim=16, k=3, prefix_len=4, ctx_len=5, d_model=32, n_layers=1, n_heads=2, disc_hidden=32,
                    decoder=dict(vocab_size=30, n_layer=1, n_embd=32, n_head=2, n_positions=40, eos_token_id=1,
                                 bos_token_id=1, pad_token_id=0))
    model = _wide(build(cfg), std=0.3)
    batch = dict(ctx_img=torch.randn(4, 3, 16), ctx_txt=torch.randn(4, 3, 16), ctx_tokens=torch.randint(2, 30, (4, 5)),
                 ctx_mask=torch.tensor([[0, 0, 1, 1, 1]] * 2 + [[1] * 5] * 2))
    with torch.no_grad(): pr = model.prompt(batch)
    _check(model, pr, eos=1)
    same(model.generate_tokens(pr, 8, "beam", num_beams=3), generate(model, pr, 8, 1, "beam", num_beams=3, cache=False))


@pytest.mark.parametrize("mode", ["coconut", "cot", "pause"])
def test_coconut_modes(mode):
    from transformers import GPT2Config, GPT2LMHeadModel
    from storylab.coconut import Coconut
    ids = dict(start=1, end=2, latent=3, eos=EOS, pad=EOS)
    torch.manual_seed(0)
    lm = GPT2LMHeadModel(GPT2Config(vocab_size=20, n_embd=32, n_layer=2, n_head=2, n_positions=64, bos_token_id=0, eos_token_id=0,
                                    initializer_range=0.5))
    model = Coconut(lm, 0, ids, mode).eval()
    tok = torch.randint(4, 20, (3, 10)); tok[:, 6:8] = 3 if mode != "cot" else tok[:, 6:8]   # two thought slots
    tok[:, 5], tok[:, 8] = 1, 2
    attn = torch.ones_like(tok); attn[0, :2] = 0; tok[0, :2] = EOS                          # a left-padded row
    slot = torch.full_like(tok, -1)
    batch = dict(ids=tok, attn=attn, img_slot=slot, latent=tok.eq(3) & slot.lt(0), feats=torch.zeros(3, 0, 0))
    _check(model, batch, EOS)
    got = model.generate(batch, 8)["tokens"]
    same(got, model.generate(batch, 8, cache=False)["tokens"])


def test_ae_gru_story_model():
    from storylab.ae_gru import ConvAutoencoder, StoryModel, WordVocab
    torch.manual_seed(0)
    model = _wide(StoryModel(ConvAutoencoder(32, 96, (8, 8, 8)), 25, dim=32, emb=16), std=0.3)
    images, words = torch.rand(3, 4, 3, 32, 32), torch.randint(4, 25, (3, 4, 6))
    _check(model, (images, words), WordVocab.eos)
    _, ids = model.generate(images, words, 8)
    same(ids, generate(model, (images, words), 8, WordVocab.eos, cache=False))


def test_pref_align_uses_transformers_generate():
    from storylab.pref_align import Config, build
    model = _wide(build(Config(vocab_size=40, feat_dim=12, special=dict(bos=1, eos=2, pad=0), n_layer=1, n_embd=32, n_head=2,
                               max_len=32, proj_dim=8, n_vision_tokens=3)), std=0.3)
    feats = torch.randn(4, 12)
    greedy = model.generate(feats, 8, 2)
    same(greedy, model.generate(feats, 8, 2, cache=False))
    assert _varied(greedy), greedy
    vt, bos = model.vision_tokens(feats), torch.ones(4, 1, dtype=torch.long)
    beams = [model.decoder.generate(input_ids=bos, attention_mask=bos, encoder_hidden_states=vt, max_new_tokens=8, num_beams=3,
                                    do_sample=False, eos_token_id=2, pad_token_id=2, use_cache=c) for c in (True, False)]
    same(*beams)


def test_seq2seq_greedy_decode_reads_its_own_answer_back():
    "The Keras model has no cache: its decoding is the naive path. Fed its own answer, it ranks every character first."
    from storylab.seq2seq import build_seq2seq, greedy_decode, teacher_inputs, N_TOKENS
    import keras
    keras.utils.set_random_seed(0)
    model = build_seq2seq(7, 4, units=16)
    for w in model.weights: w.assign(np.random.default_rng(0).normal(0, 0.5, w.shape).astype("float32"))
    source = np.random.default_rng(1).integers(0, N_TOKENS, (6, 7)).astype("int32")
    answer = greedy_decode(model, source, 4)["chars"].argmax(-1)
    again = model.predict([source, teacher_inputs(answer.astype("int32"))], verbose=0)["chars"].argmax(-1)
    same(again, answer)
    assert _varied(torch.as_tensor(answer)), answer
