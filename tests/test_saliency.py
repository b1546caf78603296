"Tests for carl_nb.saliency and carl_nb.perturb better outside notebooks: randomised texts, unicode offsets, HTML escaping, plain-dict batches."
import html
import random

import pytest
import torch
import torch.nn.functional as F

from carl_nb.encoders import tiny_encoder
from carl_nb.saliency import encode, token_saliency, model_inputs, special_mask, word_ids_from_offsets, SaliencyResult
from carl_nb.perturb import perturb, select_tokens, STRATEGIES, ptd_loss, PerturbedTokenDetector, dynamic_perturbation
from carl_nb.testing.saliency import ToyBagOfEmbeddings, ref_ptd_loss

WORDS = ["unhappy", "antidisestablishmentarianism", "joy", "don't", "café", "naïve", "<script>", "&amp;", "wow!!",
         "heartbreaking", "\"quoted\"", "x", "ok", "😀", "déjà-vu", "unbelievably", "well-being", "3.14"]


@pytest.fixture(scope="module")
def tiny():
    return tiny_encoder(seed=0)


@pytest.fixture(scope="module")
def toy(tiny):
    tok, _ = tiny
    return ToyBagOfEmbeddings(vocab_size=tok.vocab_size, dim=8, seed=1)


def _random_texts(seed, n=6):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9))) for _ in range(n)]


def _objective(z):
    return z.pow(2).sum()


@pytest.mark.parametrize("seed", range(4))
def test_word_ids_match_fast_tokenizer(tiny, seed):
    tok, _ = tiny
    texts = _random_texts(seed)
    batch = encode(tok, texts)
    wid = word_ids_from_offsets(batch["offset_mapping"], special_mask(batch), texts)
    for b in range(len(texts)):
        assert wid[b].tolist() == [-1 if w is None else w for w in batch.word_ids(b)], texts[b]


@pytest.mark.parametrize("seed", range(4))
def test_offsets_round_trip_unicode(tiny, toy, seed):
    tok, _ = tiny
    texts = _random_texts(seed)
    res = token_saliency(toy, encode(tok, texts), _objective, texts=texts, tokenizer=tok)
    words = res.word_scores()
    for row in words.itertuples():
        # every word is a contiguous slice of the original text, never empty
        assert texts[row.sentence][row.start:row.end] == row.word and row.word


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("level", ["token", "word"])
@pytest.mark.parametrize("select", ["salient", "random"])
def test_budget_special_and_words(tiny, toy, seed, level, select):
    tok, _ = tiny
    texts = _random_texts(seed)
    batch = encode(tok, texts)
    sal = token_saliency(toy, batch, _objective, texts=texts, tokenizer=tok)
    ratio = [0.1, 0.15, 0.5, 1.0][seed]
    new, recs = perturb(batch, sal, ratio, "random", tok, level=level, select=select, seed=seed)
    n = (~sal.special_mask).sum(1)
    assert (new["perturbed_mask"].sum(1) <= torch.ceil(n * ratio - 1e-9)).all()
    assert torch.equal(new["input_ids"][sal.special_mask], batch["input_ids"][sal.special_mask])
    if level == "word":
        wid = sal.word_ids
        for b in range(len(texts)):
            for w in range(int(wid[b].max()) + 1):
                part = new["perturbed_mask"][b][wid[b] == w]
                assert part.all() or not part.any()
    for r, t in zip(recs, texts):
        assert r.text == t and len(r.positions) == len(r.spans) == len(r.new_tokens)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_runs_through_bert(tiny, strategy):
    tok, bert = tiny
    texts = _random_texts(7)
    batch = encode(tok, texts)
    sal = token_saliency(bert, batch, _objective, texts=texts, tokenizer=tok)
    new, recs = perturb(batch, sal, 0.3, strategy, tok, model=bert, seed=1)
    inputs = model_inputs(new)
    assert not {"offset_mapping", "special_tokens_mask", "perturbed_mask"} & set(inputs)
    with torch.no_grad():
        h = bert(**inputs).last_hidden_state
    assert torch.isfinite(h).all() and h.shape[0] == len(texts)
    for r in recs:
        assert "<script>" not in r._repr_html_()


def test_plain_dict_batch_uses_tokenizer(tiny, toy):
    tok, _ = tiny
    texts = ["a <b>bold</b> move", "fine"]
    batch = dict(encode(tok, texts))  # no BatchEncoding: tokens come from the tokenizer
    res = token_saliency(toy, batch, _objective, texts=texts, tokenizer=tok)
    assert res.tokens[0][0] == "[CLS]"
    page = res._repr_html_()
    assert "<b>bold" not in page and "&lt;" in page
    assert 'title="&lt;' in page  # tooltips are escaped too


def test_html_escapes_quotes_in_tooltips(toy):
    res = SaliencyResult(torch.tensor([[1, 2]]), [['"><img src=x onerror=alert(1)>', "ok"]], None,
                         torch.tensor([[1.0, -1.0]]), torch.tensor([[False, False]]), "grad_x_input")
    page = res._repr_html_()
    assert "<img" not in page and "&quot;&gt;&lt;img" in page


def test_ptd_loss_matches_reference_randomised():
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        B, T = torch.randint(1, 6, (2,), generator=g).tolist()
        logits = torch.randn(B, T, generator=g, dtype=torch.float64) * 5
        r = torch.rand(B, T, generator=g) < 0.4
        sp = torch.rand(B, T, generator=g) < 0.3
        assert torch.allclose(ptd_loss(logits, r, sp), ref_ptd_loss(logits, r, sp), atol=1e-10)


def test_dynamic_step_leaves_no_parameter_grad(tiny):
    tok, bert = tiny
    texts = ["so happy", "so sad"]
    step = dynamic_perturbation(bert, encode(tok, texts), _objective, ratio=0.5, tokenizer=tok, texts=texts)
    assert all(p.grad is None for p in bert.parameters())  # saliency alone does not touch .grad
    assert step.objective.requires_grad and step.embeddings.requires_grad
    det = PerturbedTokenDetector(64)
    loss = step.objective + ptd_loss(det(bert(**model_inputs(step.batch)).last_hidden_state),
                                     step.batch["perturbed_mask"], special_mask(step.batch))
    loss.backward()  # the retained clean graph is reused, no error on a second backward through it
    assert bert.encoder.layer[0].attention.self.query.weight.grad is not None
    bert.zero_grad(set_to_none=True)


def test_left_padding(tiny, toy):
    tok, _ = tiny
    tok_left = tok.__class__.from_pretrained(tok.name_or_path, padding_side="left")
    texts = ["short", "a somewhat longer sentence here"]
    bl, br = encode(tok_left, texts), encode(tok, texts)
    sl = token_saliency(toy, bl, _objective, texts=texts, tokenizer=tok_left)
    sr = token_saliency(toy, br, _objective, texts=texts, tokenizer=tok)
    assert torch.allclose(sl.scores[0][~sl.special_mask[0]], sr.scores[0][~sr.special_mask[0]], atol=1e-6)
    new, _ = perturb(bl, sl, 0.5, "delete", tok_left)
    assert (new["attention_mask"].sum(1) == bl["attention_mask"].sum(1) - torch.tensor([1, 3])).all()
