"""Tests for carl_nb.saliency and carl_nb.perturb better outside notebooks.

Randomised texts, unicode offsets, HTML escaping, plain-dict batches, closed-form gradients, CJK text."""
import html
import random
import unicodedata

import pytest
import torch
import torch.nn.functional as F

from carl_nb.encoders import tiny_encoder
from carl_nb.saliency import (encode, token_saliency, model_inputs, special_mask, word_ids_from_offsets, SaliencyResult,
                              embedding_forward, input_gradient, saliency_from_gradient)
from carl_nb.perturb import (perturb, select_tokens, STRATEGIES, ptd_loss, PerturbedTokenDetector, dynamic_perturbation,
                             blocked_ids)
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


def _plain(text):
    "What the uncased MiniLM tokenizer makes of `text`: lower case, accents stripped."
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")


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
def test_word_spans_match_fast_tokenizer(tiny, toy, seed):
    tok, _ = tiny
    texts = _random_texts(seed)
    batch = encode(tok, texts)
    res = token_saliency(toy, batch, _objective, texts=texts, tokenizer=tok)
    words = res.word_scores()
    for b in range(len(texts)):  # the character span of every word is the tokenizer's own word_to_chars
        want = [tuple(batch.word_to_chars(b, w)) for w in sorted({w for w in batch.word_ids(b) if w is not None})]
        got = [(r.start, r.end) for r in words[words.sentence == b].itertuples()]
        assert got == want, texts[b]


@pytest.mark.parametrize("seed", range(3))
def test_grad_closed_form_on_linear_toy(tiny, seed):
    # identity toy, F = sum_b w . mean_t e_bt  =>  dF/de_bt = w / n_b, so every real token of row b scores |w| / n_b
    tok, _ = tiny
    lin = ToyBagOfEmbeddings(vocab_size=tok.vocab_size, dim=8, seed=seed, activation="identity")
    w = torch.randn(8, generator=torch.Generator().manual_seed(seed))
    texts = _random_texts(seed)
    batch = encode(tok, texts)
    res = token_saliency(lin, batch, lambda z: (z @ w).sum(), tokenizer=tok)
    n = batch["attention_mask"].sum(1, keepdim=True).float()
    want = (w.norm() / n).expand_as(res.scores).masked_fill(res.special_mask, 0.0)
    torch.testing.assert_close(res.scores, want, rtol=1e-6, atol=0)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("level", ["token", "word"])
@pytest.mark.parametrize("select", ["salient", "random"])
def test_budget_special_and_words(tiny, toy, seed, level, select):
    tok, _ = tiny
    texts = _random_texts(seed)
    batch = encode(tok, texts)
    sal = token_saliency(toy, batch, _objective, texts=texts, tokenizer=tok)
    ratio = [0.1, 0.15, 0.5, 1.0][seed]
    new, recs = perturb(batch, sal, ratio=ratio, strategy="random", tokenizer=tok, level=level, select=select,
                        seed=seed)
    n = (~sal.special_mask).sum(1)
    pm = new["perturbed_mask"]
    assert (pm.sum(1) <= torch.ceil(n * ratio - 1e-9)).all()
    assert torch.equal(new["input_ids"][sal.special_mask], batch["input_ids"][sal.special_mask])
    assert torch.equal(new["input_ids"] != batch["input_ids"], pm)  # exactly the selected tokens changed
    if level == "token" and select == "salient":  # the k largest scores, by a plain sort per sentence
        for b in range(len(texts)):
            real = [t for t in range(pm.shape[1]) if not sal.special_mask[b, t]]
            k = -(-len(real) * round(ratio * 100) // 100)  # ceil(ratio * n) in integers
            top = sorted(real, key=lambda t: (-float(sal.scores[b, t]), t))[:k]
            assert sorted(top) == pm[b].nonzero().flatten().tolist()
    if level == "word":
        wid = sal.word_ids
        for b in range(len(texts)):
            for w in range(int(wid[b].max()) + 1):
                part = new["perturbed_mask"][b][wid[b] == w]
                assert part.all() or not part.any()
    for b, (r, t) in enumerate(zip(recs, texts)):
        assert list(r.positions) == pm[b].nonzero().flatten().tolist()  # right padding: padded = original positions
        pairs = [(_plain(t[s:e]), o.removeprefix("##")) for (s, e), o in zip(r.spans, r.old_tokens) if o != "[UNK]"]
        assert all(a == b for a, b in pairs), pairs
        assert list(r.new_tokens) == tok.convert_ids_to_tokens(new["input_ids"][b][pm[b]].tolist())


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_runs_through_bert(tiny, strategy):
    tok, bert = tiny
    texts = _random_texts(7)
    batch = encode(tok, texts)
    sal = token_saliency(bert, batch, _objective, texts=texts, tokenizer=tok)
    new, recs = perturb(batch, sal, ratio=0.3, strategy=strategy, tokenizer=tok, model=bert, seed=1)
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
        torch.testing.assert_close(ptd_loss(logits, r, sp), ref_ptd_loss(logits, r, sp), rtol=1e-9, atol=1e-12)


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
    new, recs = perturb(bl, sl, ratio=0.5, strategy="delete", tokenizer=tok_left)
    assert (new["attention_mask"].sum(1) == bl["attention_mask"].sum(1) - torch.tensor([1, 3])).all()
    _, masked = perturb(bl, sl, ratio=0.5, strategy="mask", tokenizer=tok_left)
    for r in masked:  # positions index original_ids (padding dropped), also with left padding
        assert [r.new_ids[p] for p in r.positions] == [tok.mask_token_id] * len(r)
        assert [tok.convert_ids_to_tokens(r.original_ids[p]) for p in r.positions] == list(r.old_tokens)


# ---------------------------------------------------------------- issue 10: perturbation bookkeeping
@pytest.mark.parametrize("strategy", ["mask", "random", "synonym_embedding", "delete"])
def test_perturb_carries_pre_perturbation_special_mask(tiny, strategy):
    tok, bert = tiny
    texts = ["I am so unbelievably unhappy today", "what a day"]
    plain = {k: v for k, v in encode(tok, texts).items() if k != "special_tokens_mask"}
    sal = token_saliency(bert, plain, _objective, texts=texts, tokenizer=tok)
    new, recs = perturb(plain, sal, ratio=0.5, strategy=strategy, tokenizer=tok, model=bert)
    pm, sp = new["perturbed_mask"], special_mask(new, tok)
    if strategy == "delete":
        ends = torch.isin(new["input_ids"], torch.tensor([tok.cls_token_id, tok.sep_token_id]))
        assert torch.equal(sp, ends | (new["attention_mask"] == 0))
        assert int((~sp).sum()) == int((~sal.special_mask).sum()) - sum(len(r) for r in recs)
    else:
        assert torch.equal(sp, sal.special_mask)
        counted = ~ptd_loss(torch.zeros(pm.shape), pm, sp, reduction="none").isnan()
        assert int((counted & pm).sum()) == int(pm.sum()) > 0  # every perturbed token is a counted positive


def test_perturbed_text_is_none_without_offsets(tiny):
    tok, bert = tiny
    texts = ["a happy day", "so very sad"]
    batch = {k: v for k, v in encode(tok, texts).items() if k != "offset_mapping"}
    sal = token_saliency(bert, batch, _objective, texts=texts, tokenizer=tok)
    for strategy in ["mask", "random", "delete"]:
        _, recs = perturb(batch, sal, ratio=0.5, strategy=strategy, tokenizer=tok)
        for r, t in zip(recs, texts):
            assert len(r) > 0 and r.perturbed_text is None and r.text == t
    _, with_off = perturb(encode(tok, texts), token_saliency(bert, encode(tok, texts), _objective, texts=texts,
                                                             tokenizer=tok), ratio=0.5, strategy="mask", tokenizer=tok)
    assert all(r.perturbed_text != r.text and "[MASK]" in r.perturbed_text for r in with_off)


def test_word_level_without_spaces(tiny):
    tok, bert = tiny
    ja, zh = "ありがとうございます", "我今天很开心"
    batch = encode(tok, [ja, zh, "I am so happy today"])
    sal = token_saliency(bert, batch, _objective, texts=[ja, zh, "I am so happy today"], tokenizer=tok)
    with pytest.warns(UserWarning, match="fall back to token level"):
        sel = select_tokens(sal, ratio=0.15, level="word")
    assert sel.sum(1).tolist() == sal.budget(ratio=0.15).tolist() == [2, 1, 1]
    assert torch.equal(sel[0], select_tokens(sal, ratio=0.15)[0])
    zw = word_ids_from_offsets(batch["offset_mapping"], special_mask(batch), [ja, zh, "I am so happy today"])
    assert zw[1].tolist() == [-1 if w is None else w for w in batch.word_ids(1)]  # one word per ideograph
    with pytest.raises(ValueError, match="texts has 2 entries but offsets has 3 rows"):
        word_ids_from_offsets(batch["offset_mapping"], special_mask(batch), [ja, zh])
    with pytest.raises(ValueError, match="texts has 1 entries"):
        dynamic_perturbation(bert, batch, _objective, tokenizer=tok, texts=[ja], level="word")


def test_replacements_are_never_special_or_placeholders(tiny):
    tok, bert = tiny
    blocked = torch.tensor(blocked_ids(tok))
    unused = [i for t, i in tok.get_vocab().items() if t.startswith("[unused")]
    assert len(unused) == 994 and set(unused) | set(tok.all_special_ids) <= set(blocked.tolist())
    texts = _random_texts(11, n=8)
    batch = encode(tok, texts)
    sal = token_saliency(bert, batch, _objective, texts=texts, tokenizer=tok)
    def draw(seed):
        return perturb(batch, sal, ratio=1.0, strategy="random", tokenizer=tok, seed=seed)[0]["input_ids"]
    drawn = torch.cat([draw(s)[~sal.special_mask] for s in range(20)])
    assert drawn.numel() > 1000 and not torch.isin(drawn, blocked).any()  # ~3% of the vocabulary is [unused*]
    # plant exact copies of the selected tokens' embeddings in [unused*] rows: they must still not be chosen
    toy = ToyBagOfEmbeddings(vocab_size=tok.vocab_size, dim=8, seed=3)
    s_toy = token_saliency(toy, batch, _objective, texts=texts, tokenizer=tok)
    sel = select_tokens(s_toy, ratio=0.3)
    with torch.no_grad():
        for j, i in enumerate(batch["input_ids"][sel].unique().tolist()[:len(unused)]):
            toy.embeddings.weight[unused[j]] = toy.embeddings.weight[i] * 2
    new, _ = perturb(batch, s_toy, ratio=0.3, strategy="synonym_embedding", tokenizer=tok, model=toy)
    assert not torch.isin(new["input_ids"][sel], blocked).any()


# ---------------------------------------------------------------- issue 11 prep: one forward for saliency and step
def test_shared_forward_saliency_and_parameter_grads(tiny):
    tok, bert = tiny
    bert.eval()
    texts = _random_texts(5)
    batch = encode(tok, texts)
    fwd = embedding_forward(bert, batch)
    loss = _objective(fwd.z)
    shared = saliency_from_gradient(batch, input_gradient(loss, fwd.embeddings), texts=texts, tokenizer=tok)
    alone = token_saliency(bert, batch, _objective, texts=texts, tokenizer=tok)
    torch.testing.assert_close(shared.scores, alone.scores, rtol=1e-5, atol=1e-7)
    assert all(p.grad is None for p in bert.parameters())
    loss.backward()
    grads = {n: p.grad.clone() for n, p in bert.named_parameters()}
    bert.zero_grad(set_to_none=True)
    _objective(embedding_forward(bert, batch).z).backward()
    for n, p in bert.named_parameters():
        torch.testing.assert_close(grads[n], p.grad, rtol=1e-5, atol=1e-7, msg=n)
    bert.zero_grad(set_to_none=True)
