"""The system contract of `storylab.system` (issue 16): every system module exposes `Config` (a dataclass whose
defaults build a tiny model offline), `build(cfg)`, `save`/`load` (one checkpoint: weights, config, tokenizer) and
`evaluate(...) -> Evaluation`. Each system's case below gives a small config, its tokenizer, a deterministic output
of a model, and an evaluation on a few held-out items."""
import dataclasses, importlib

import numpy as np
import pytest
import torch

from storylab.core import CheckpointError, ConfigMismatchError
from storylab.system import SYSTEMS, Evaluation, Loaded


def _array(x):
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def case_story_gan():
    "StoryReasoning GAN: a tiny copy-aware StoryGAN, a BPE tokenizer of StoryWorld captions, four windows scored with MiniLM."
    from storylab.adversarial import sentence_embeddings
    from storylab.backbones import TextEncoder, train_bpe_tokenizer
    from storylab.story_gan import Config, evaluate
    from storylab.story_windows import decoder_config, windows
    from storylab.storyworld import frame_text, story_world
    stories = [[frame_text(f) for f in story_world(1, i)["world"]["frames"]] for i in range(3)]
    tok = train_bpe_tokenizer([c for s in stories for c in s], vocab_size=300, name="toy_gan")
    cfg = Config(emb_dim=384, k=3, prefix_len=4, ctx_len=24, d_model=32, n_layers=1, n_heads=2, disc_hidden=32,
                 decoder=decoder_config("small", tok, max_len=16, n_layer=1, n_embd=32, n_head=2, prefix_len=4, ctx_len=24))
    g = torch.Generator().manual_seed(0)
    batch = dict(ctx_img=torch.randn(2, 3, 384, generator=g), ctx_txt=torch.randn(2, 3, 384, generator=g),
                 ctx_tokens=torch.randint(2, len(tok), (2, 24), generator=g), ctx_mask=torch.ones(2, 24, dtype=torch.long),
                 tokens=torch.randint(2, len(tok), (2, 6), generator=g), mask=torch.ones(2, 6, dtype=torch.long))

    def outputs(model):   # teacher-forced next-token scores of the caption positions
        model.eval()
        with torch.no_grad(): return model.decode(model.prompt(batch), batch["tokens"], batch["mask"])[0]

    def evaluate_(model, tokenizer):
        text_enc, rng = TextEncoder("minilm"), np.random.default_rng(0)
        embs = [dict(story_id=f"toy{i}", captions=c, img=rng.standard_normal((len(c), 384)).astype(np.float32),
                     txt=text_enc.encode(c)) for i, c in enumerate(stories)]
        few = windows(embs, 3)[:4]
        sents, smask = sentence_embeddings(text_enc, [w["target_caption"] for w in few])
        for w, e, m in zip(few, sents, smask): w["tgt_sents"], w["tgt_sents_mask"] = e, m
        return evaluate(model, few, tokenizer, text_enc, max_len=16)

    return dict(cfg=cfg, tokenizer=tok, inputs=outputs, evaluate=evaluate_)


def case_ae_gru():
    "AE-GRU: a tiny story model (32-px frames), its word vocabulary, and four random K+1 windows."
    from storylab.ae_gru import Config, evaluate
    from storylab.ae_gru_data import StorySamples, WordVocab, random_samples
    raw = random_samples(n=4, seed=1)
    tok = WordVocab.build([c for s in raw for c in s["context_captions"] + [s["target_caption"]]])
    batch = StorySamples(raw, tok, max_len=8)[:]

    def outputs(model):  # teacher forcing: next latent, next frame and caption logits, flattened into one tensor
        model.eval()
        with torch.no_grad():
            return torch.cat([t.flatten() for t in model(batch["context_images"], batch["context_ids"], batch["target_ids"])])

    return dict(cfg=Config(vocab_size=len(tok)), tokenizer=tok, inputs=outputs,   # java=False: no METEOR/SPICE start
                evaluate=lambda model, tokenizer: evaluate(model, StorySamples(raw, tokenizer, max_len=8), java=False))


def case_seq2seq():
    "The Keras seq2seq: a tiny text→text model of 1-digit expressions; no tokenizer (the characters are VOCAB)."
    from storylab import seq2seq as s2s
    cfg = s2s.Config(units=8)
    data = s2s.make_task("text2text", 0.6, digits=1, max_held_out=6)
    x = [data["x_held_out"], s2s.teacher_inputs(data["y_held_out"])]
    return {"cfg": cfg, "tokenizer": None,
            "inputs": lambda model: np.asarray(model.predict(x, verbose=0)["chars"]),
            "evaluate": lambda model, tokenizer: s2s.evaluate(model, data)}


def case_pref_align():
    "A tiny captioner on pooled StoryCLIP (smoke) embeddings of StoryWorld frames, with the domain's BPE tokenizer."
    from storylab.backbones import ImageEncoder, train_bpe_tokenizer
    from storylab.pref_align import Config, evaluate, heldout_frames, preference_items
    from storylab.pref_data import encode_captions, frame_features, special_ids, storyworld_records
    rec = storyworld_records("test", n_stories=10, seed=0, image_size=32)
    tok = train_bpe_tokenizer(rec["chosen"] + rec["rejected"], vocab_size=300, name="pref-align-test")
    emb = frame_features(rec["images"][:4], "storyclip", "smoke")   # N×384: what the captioner reads, and CLIPScore's image side
    cfg = Config(vocab_size=len(tok), feat_dim=emb.shape[1], special=special_ids(tok), max_len=48)
    feats = torch.from_numpy(emb[:3])
    ids, mask = encode_captions(tok, rec["chosen"][:3], cfg.max_len)

    def outputs(model):
        with torch.no_grad(): return model.caption_logp(feats, ids, mask)

    def evaluate_(model, tokenizer):
        enc = lambda caps: encode_captions(tokenizer, caps, cfg.max_len)
        held = heldout_frames(rec, emb, emb, preference_items(emb, enc(rec["chosen"][:4]), enc(rec["rejected"][:4])))
        text_encoder = ImageEncoder("storyclip", preset="smoke", progress=False).text_encoder
        return evaluate(model, tokenizer, held, text_encoder, bert_n=2, max_new_tokens=8)

    return dict(cfg=cfg, tokenizer=tok, inputs=outputs, evaluate=evaluate_)


def case_coconut():
    "Coconut: a tiny GPT-2 reading 8-d image features, a BPE of a few words with the latent tokens, three questions at stage 1."
    from storylab import coconut as cc
    from storylab.backbones import train_bpe_tokenizer
    words = "who holds the ball ? Choices: Tom, Ava, nobody, Mia. In image 2 Ava picks up the ball ###"
    tok = train_bpe_tokenizer([words] * 4, vocab_size=300, name="contract_coconut")
    cfg = cc.config_for(tok, 8, "coconut", dict(n_layer=1, n_embd=16, n_head=1, n_positions=128))   # adds the latent tokens to tok
    curriculum = cc.CurriculumConfig(mode="coconut", c_thought=1, max_latent_stage=1)
    g = torch.Generator().manual_seed(0)
    qs = [dict(question="who holds the ball ?", choices=["Tom", "Ava", "nobody", "Mia"], answer=a,
               steps=["In image 2 Ava picks up the ball."]) for a in range(3)]
    feats = [torch.randn(2, 8, generator=g) for _ in qs]

    def outputs(model):
        "Next-token logits on the three questions with their targets (one thought fed back each)."
        items = [cc.encode_example(q, f, tok, cfg.ids, "coconut", 1, 1, 1) for q, f in zip(qs, feats)]
        model.eval()
        with torch.no_grad(): return model(cc.collate_examples(items, cfg.ids))

    def evaluate(model, tokenizer):
        return cc.evaluate(model, qs, feats, tokenizer, curriculum, 1, max_new_tokens=8)

    return dict(cfg=cfg, tokenizer=tok, inputs=outputs, evaluate=evaluate)


CASES = {name: globals()[f"case_{name}"] for name in SYSTEMS}


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_system_follows_the_contract(name, tmp_path):
    mod = importlib.import_module(SYSTEMS[name])
    for attr in ("Config", "build", "save", "load", "evaluate", "evaluate_checkpoint"):
        assert hasattr(mod, attr), f"{SYSTEMS[name]} has no {attr}"
    assert dataclasses.is_dataclass(mod.Config)
    no_default = [f.name for f in dataclasses.fields(mod.Config)
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    assert not no_default, f"{name}: Config fields without a default: {no_default}"
    mod.build(mod.Config())                                     # the defaults give a model, offline

    case = CASES[name]()
    cfg, tok = case["cfg"], case["tokenizer"]
    torch.manual_seed(0)
    model = mod.build(cfg)
    if isinstance(model, torch.nn.Module): model.eval()            # `load` gives the model in eval mode (no dropout)
    path = mod.save(tmp_path / "model.pt", model, cfg, tok)
    back = mod.load(path)
    assert isinstance(back, Loaded) and back.cfg == cfg
    np.testing.assert_allclose(_array(case["inputs"](back.model)), _array(case["inputs"](model)), rtol=0, atol=1e-6)
    if tok is None: assert back.tokenizer is None
    else:
        text = "the red fox jumps over the fence"
        enc = (lambda t: t(text)["input_ids"]) if hasattr(tok, "backend_tokenizer") else (lambda t: t.encode(text, 12))
        assert enc(back.tokenizer) == enc(tok)
    field = next(f.name for f in dataclasses.fields(cfg) if type(getattr(cfg, f.name)) is int)   # another config: one size changed
    with pytest.raises(ConfigMismatchError, match=field):
        mod.load(path, expect=dataclasses.replace(cfg, **{field: getattr(cfg, field) + 1}))

    ev = case["evaluate"](back.model, back.tokenizer)
    assert isinstance(ev, Evaluation) and ev.metrics and all(np.isfinite(v) for v in ev.metrics.values())
    for metric, scores in ev.per_item.items():
        assert len(scores) == len(ev.predictions) or not ev.predictions, (metric, len(scores), len(ev.predictions))
    for row in ev.predictions: assert {"id", "references", "prediction"} <= set(row)


def test_another_systems_checkpoint_is_refused_by_name(tmp_path):
    sg, ae = (importlib.import_module(SYSTEMS[n]) for n in ("story_gan", "ae_gru"))
    path = sg.save(tmp_path / "gan.pt", sg.build(sg.Config()), sg.Config())
    with pytest.raises(CheckpointError, match=f"holds a {sg.Config.__name__} checkpoint, not a {ae.Config.__name__} one"):
        ae.load(path)
