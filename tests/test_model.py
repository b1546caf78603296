"Tests for carl_nb.config and carl_nb.model on the tiny random encoder (fast, offline)."
import json, math

import pytest
import torch

from carl_nb.config import TrainConfig, BASELINES, PRESETS, baseline_config, preset
from carl_nb.core import l2_normalize
from carl_nb.encoders import tiny_encoder
from carl_nb.model import CarlModel
from carl_nb.saliency import token_saliency, special_mask
from carl_nb import losses as L

TEXTS = ["what a wonderful, happy day", "this is awful and sad", "the meeting is at noon", "I love this movie so much",
         "terrible service, never again", "an ordinary grey morning"]
VA = torch.tensor([[.8, .5], [-.7, .2], [0., -.3], [.9, .6], [-.8, .7], [-.1, -.5]])


def make_batch(ids=None):
    return dict(texts=list(TEXTS), va=VA.clone(), has_va=torch.tensor([[True, False]] * len(TEXTS)),
                ids=torch.arange(len(TEXTS)) if ids is None else ids, is_word=torch.zeros(len(TEXTS), dtype=torch.bool))


BASE = TrainConfig(encoder="tiny", batch_size=6, queue_size=32, max_length=24, perturb_ratio=0.3)


@pytest.fixture(scope="module")
def tok():
    return tiny_encoder()[0]


def build(cfg, tok, seed=0):
    torch.manual_seed(seed)
    return CarlModel(cfg, tokenizer=tok, encoder=tiny_encoder(seed=seed)[1])


# ---------------------------------------------------------------- config
def test_yaml_round_trip_and_hash(tmp_path):
    c = preset("cpu-quick", lr=3e-5, momentum=None, bandwidth=0.3)
    path = tmp_path / "config.yaml"
    c.to_yaml(path)
    back = TrainConfig.from_yaml(path)
    assert back == c and back.config_hash() == c.config_hash()
    assert TrainConfig.from_yaml(c.to_yaml()) == c
    assert c.replace(device="cuda", eval_every=3).config_hash() == c.config_hash()
    assert c.replace(self_weight=0.25).config_hash() != c.config_hash()
    assert TrainConfig.from_yaml("lr: 1e-4").lr == 1e-4          # YAML 1.1 reads 1e-4 as a string


@pytest.mark.parametrize("make, msg", [
    (lambda: TrainConfig().with_overrides(["w_contrastiv=1"]), "did you mean 'w_contrastive'"),
    (lambda: TrainConfig.from_yaml("w_fancy: 1.0"), "unknown config key 'w_fancy'"),
    (lambda: TrainConfig(cl_variant="infonce"), "cl_variant must be one of"),
    (lambda: TrainConfig().with_overrides(["w_ptd=-0.5"]), "w_ptd must be >= 0"),
    (lambda: preset("cpu-fast"), "unknown preset 'cpu-fast'"),
    (lambda: TrainConfig(w_consistency=1.0, queue_size=0), "queue_size=0"),
    (lambda: TrainConfig(va_dims="valence_arousal"), "word_fraction"),
    (lambda: TrainConfig(w_va=0.0), "saliency_objective='va_head'"),
    (lambda: TrainConfig(saliency_score="toward_label", saliency_objective="contrastive"),
     "needs saliency_objective='va_head'"),
    (lambda: TrainConfig().with_overrides(["steps=ten"]), "steps must be"),
    (lambda: TrainConfig(perturb="adversarial", saliency_layer=2), "needs saliency_layer=0"),
    (lambda: baseline_config("simclr"), "unknown baseline 'simclr'"),
])
def test_bad_configs_raise_naming_the_field(make, msg):
    with pytest.raises(ValueError, match=None) as e:
        make()
    assert msg in str(e.value), str(e.value)


def test_presets_and_baselines_are_valid():
    for name in PRESETS: preset(name)
    hashes = {baseline_config(n, preset("cpu-quick")).config_hash() for n in BASELINES}
    assert len(hashes) == len(BASELINES)


# ---------------------------------------------------------------- model
@pytest.mark.parametrize("name", list(BASELINES))
def test_every_baseline_computes_a_finite_loss_dict(name, tok):
    cfg = baseline_config(name, BASE)
    model = build(cfg, tok).train()
    out = model.losses(make_batch(), step=0)
    assert set(out.losses) == set(cfg.active_terms())
    assert all(torch.isfinite(v) and v.ndim == 0 for v in out.losses.values()), out.losses
    if out.losses:
        out.total(model.loss_weights(0)).backward()
    model.after_step(0, out)
    assert math.isfinite(out.logs["mean_cos"]) and math.isfinite(out.logs["uniformity"])


@pytest.mark.parametrize("extra", [dict(), dict(w_arccon=0.5, w_triplet=0.5, w_consistency=0.5, w_circumplex=0.5,
                                                 w_supcon=0.5, w_simcse=0.5), dict(perturb="adversarial"),
                                   dict(perturb="synonym_embedding", perturb_level="token"), dict(momentum=None),
                                   dict(saliency_objective="contrastive"), dict(perturbed_as_query=False),
                                   dict(projection_dim=16, pooling="cls")])
def test_terms_and_options_are_finite_over_steps(extra, tok):
    model = build(BASE.replace(**extra), tok).train()
    opt = torch.optim.AdamW(model.encoder_parameters() + model.head_parameters(), lr=1e-3)
    for step in range(3):                      # step 1+ uses the queue (own keys excluded)
        out = model.losses(make_batch(), step=step)
        assert all(torch.isfinite(v) for v in out.losses.values()), (step, out.losses)
        opt.zero_grad()
        out.total(model.loss_weights(step)).backward()
        opt.step()
        model.after_step(step, out)


def test_two_steps_reduce_the_total_loss(tok):
    model = build(BASE, tok).train()
    opt = torch.optim.AdamW([{"params": model.encoder_parameters(), "lr": 1e-3},
                             {"params": model.head_parameters(), "lr": 1e-2}])
    def total():
        torch.manual_seed(1)                   # same dropout masks; the perturbation is seeded by (seed, step)
        return model.losses(make_batch(), step=0).total(model.loss_weights(0))
    first = total()
    for _ in range(2):
        t = total()
        opt.zero_grad(); t.backward(); opt.step()
    assert float(total().detach()) < float(first.detach())


@pytest.mark.parametrize("objective, score", [("va_head", "grad_x_input"), ("va_mse", "grad_x_input"),
                                              ("va_head", "grad_norm"), ("va_mse", "grad_norm")])
def test_shared_backward_saliency_equals_token_saliency(objective, score, tok):
    cfg = BASE.replace(saliency_objective=objective, saliency_score=score, projection_dim=8)
    model = build(cfg, tok).eval()                         # eval: no dropout, both forwards see the same network
    batch = make_batch()
    out = model.losses(batch, step=0)
    enc = model.tokenize(TEXTS)
    def f(pooled):
        pred = model.va_head(l2_normalize(model.projection(pooled)))
        if objective == "va_head": return pred[:, 0].sum()
        return model._va_mse(pred, batch["va"], batch["has_va"])
    ref = token_saliency(model.encoder, enc, f, pooling="mean", tokenizer=tok,
                         method="grad" if score == "grad_norm" else "grad_x_input")
    torch.testing.assert_close(out.saliency, ref.scores, rtol=1e-5, atol=1e-6 * float(ref.scores.abs().max()))


def test_layer_saliency_equals_a_separate_forward_and_grad(tok):
    cfg = BASE.replace(saliency_layer=1, trainable_layers=1)
    model = build(cfg, tok).eval()
    out = model.losses(make_batch(), step=0)
    _, z, hs = model.tower(model.tokenize(TEXTS), capture_embeddings=True, capture_layer=1)
    assert hs.requires_grad and hs.grad_fn is None             # a leaf: the frozen block below builds no graph
    g, = torch.autograd.grad(model.va_head(l2_normalize(z))[:, 0].sum(), hs)
    sp = special_mask(model.tokenize(TEXTS))
    ref = (g * hs.detach()).sum(-1).masked_fill(sp, 0.0)
    torch.testing.assert_close(out.saliency, ref, rtol=1e-5, atol=1e-6 * float(ref.abs().max()))


def test_toward_label_keeps_only_tokens_pushing_toward_the_label(tok):
    cfg = BASE.replace(saliency_score="toward_label")
    out = build(cfg, tok).eval().losses(make_batch(), step=0)
    ref = build(BASE, tok).eval().losses(make_batch(), step=0).saliency    # grad_x_input, same weights
    sign = torch.sign(VA[:, :1])
    torch.testing.assert_close(out.saliency, (ref * sign).clamp_min(0))
    assert (out.saliency >= 0).all() and (out.saliency > 0).any()


def test_va_head_and_va_mse_select_the_same_words_on_valence_only_rows(tok):
    masks = [build(BASE.replace(saliency_objective=o), tok).eval().losses(make_batch(), step=0).perturbed_mask
             for o in ("va_head", "va_mse")]
    assert torch.equal(masks[0], masks[1])


def test_momentum_copy_gets_no_grad_and_follows_by_ema(tok):
    model = build(BASE.replace(momentum_schedule="constant", momentum=0.5), tok).train()
    assert model.momentum.key.training and model.encoder.training
    opt = torch.optim.SGD(model.encoder_parameters(), lr=0.1)
    out = model.losses(make_batch(), step=0)
    out.total(model.loss_weights(0)).backward()
    assert all(p.grad is None and not p.requires_grad for p in model.momentum.key.parameters())
    key_w = model.momentum.key.encoder.embeddings.word_embeddings.weight
    before = key_w.detach().clone()
    opt.step()
    assert torch.equal(key_w, before)                      # the optimizer does not touch it
    model.after_step(0, out)
    q_w = model.encoder.embeddings.word_embeddings.weight
    torch.testing.assert_close(key_w, 0.5 * before + 0.5 * q_w.detach())


def _loss_kw(cfg):
    kw = dict(temperature=cfg.temperature, kernel=cfg.kernel, bandwidth=cfg.bandwidth, variant=cfg.cl_variant)
    if cfg.cl_variant == "hybrid": kw["self_weight"] = cfg.self_weight
    return kw


def test_own_queued_key_is_excluded(tok):
    cfg = BASE.replace(momentum_schedule="constant", perturb="none", w_perturbed=0.0, w_ptd=0.0)
    model = build(cfg, tok).eval()                         # eval: deterministic keys, identical across steps
    out0 = model.losses(make_batch(), step=0)             # empty queue
    model.after_step(0, out0)                              # queue = this batch's keys, ids 0..5
    out1 = model.losses(make_batch(), step=1)
    assert out1.logs["own_keys_excluded"] == len(TEXTS)
    with torch.no_grad():
        z = model.tower(model.tokenize(TEXTS))[1]
    k, y, Q = out0.keys, out0.key_va, model.queue.get()
    # reference: anchor i's loss with the queue minus its own row, no exclusion mechanism involved
    def without(i):
        keep = torch.arange(len(Q)) != i
        return L.va_contrastive_loss(z, k, y, y, extra_keys=Q.feats[keep], extra_va=Q.va[keep], reduction="none",
                                     **_loss_kw(cfg))[i]
    ref = torch.stack([without(i) for i in range(len(TEXTS))]).mean()
    torch.testing.assert_close(out1.losses["contrastive"].detach(), ref, rtol=1e-5, atol=1e-6)
    # the same keys under unknown ids (-1 never matches) are all used
    out_unknown = model.losses(make_batch(ids=torch.full((len(TEXTS),), -1)), step=1)
    assert out_unknown.logs["own_keys_excluded"] == 0
    full = L.va_contrastive_loss(z, k, y, y, extra_keys=Q.feats, extra_va=Q.va, **_loss_kw(cfg))
    torch.testing.assert_close(out_unknown.losses["contrastive"].detach(), full, rtol=1e-5, atol=1e-6)
    assert abs(float(full) - float(ref)) > 1e-4             # the exclusion matters: 6x the tolerance above


def test_embed_is_unit_norm_and_in_input_order(tok):
    model = build(BASE, tok)
    e = model.embed(TEXTS, batch_size=4)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(len(TEXTS)))
    torch.testing.assert_close(model.embed(TEXTS[::-1], batch_size=2).flip(0), e, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="which"):
        model.embed(TEXTS, which="key")
    assert not model.training


def test_bad_batches_raise(tok):
    model = build(BASE, tok)
    with pytest.raises(ValueError, match=r"batch\['va'\] has shape"):
        model.losses(dict(texts=TEXTS, va=VA[:3]), step=0)
    with pytest.raises(ValueError, match="NaN"):
        model.losses(dict(texts=TEXTS, va=VA * float("nan")), step=0)
    with pytest.raises(ValueError, match="step must be"):
        model.losses(make_batch(), step=-1)


def test_export_writes_the_chosen_tower(tok, tmp_path):
    model = build(BASE, tok)
    path = model.export(tmp_path / "st", which="momentum")
    assert (path / "modules.json").is_file()
    info = json.loads((path / "carl_nb_export.json").read_text())
    assert info["which"] == "momentum" and info["config_hash"] == BASE.config_hash()
    with pytest.raises(ValueError, match="projection head"):
        build(BASE.replace(projection_dim=8), tok).export(tmp_path / "p")
