"""Lesson 09: the claims the notebook makes, asserted on the lesson module's functions."""
import json
from pathlib import Path

import numpy as np
import pytest

import attention_course as ac
from attention_course.lessons import masking as lesson


# --- causal -----------------------------------------------------------------------------------

def test_changing_the_future_leaves_earlier_outputs_bit_identical():
    test = lesson.future_independence(("a", "cat", "sat", "on", "the", "mat"), ("a", "cat", "sat", "under", "every", "tree"))
    assert test.i == 2
    assert test.identical == [True, True, True, False, False, False]


def test_without_the_mask_every_output_changes():
    assert not any(lesson.future_independence(causal=False).identical)


def test_the_jacobian_is_exactly_zero_above_the_diagonal_only_with_the_causal_mask():
    pytest.importorskip("torch")
    future = np.triu(np.ones((6, 6), dtype=bool), k=1)
    J = lesson.causal_jacobian(n=6, d_model=8, num_heads=2)
    assert J.shape == (6, 6)
    assert np.all(J[future] == 0) and np.all(J[~future] > 0.1)
    assert np.all(lesson.causal_jacobian(n=6, d_model=8, num_heads=2, causal=False)[future] > 0)


def test_future_independence_needs_sentences_of_one_length():
    with pytest.raises(ValueError, match="same length"):
        lesson.future_independence(("a", "b"), ("a",))


# --- padding ----------------------------------------------------------------------------------

def test_the_padding_mask_hides_the_padding_keys_in_every_head():
    batch = lesson.padded_batch()
    assert batch.tokens[2] == ["dogs", "bark"] + [lesson.PAD] * 4 and batch.lengths.tolist() == [4, 6, 2]
    mask = ac.padding_mask(batch.lengths, 6)
    _, weights = batch.attend(mask)
    assert weights.shape == (3, 2, 6, 6)
    assert lesson.weight_on_padding(batch, weights).tolist() == [0.0, 0.0, 0.0]
    assert lesson.real_rows_unchanged(batch, mask)
    np.testing.assert_array_equal(batch.attend(mask[:, None])[1], weights)  # (B, 1, 1, n) is the same


def test_padded_query_rows_are_computed():
    batch = lesson.padded_batch()
    out, weights = batch.attend(ac.padding_mask(batch.lengths, 6))
    np.testing.assert_allclose(weights[2, :, 2:].sum(axis=-1), 1.0)          # the <pad> rows of "dogs bark"
    assert np.all(np.abs(out[2, 2:]).sum(axis=-1) > 0)


def test_the_query_axis_bug_lets_real_tokens_read_the_padding():
    batch = lesson.padded_batch()
    wrong = lesson.query_axis_mask(batch.lengths, 6)
    assert wrong.shape == (3, 1, 6, 1)
    _, w = batch.attend(wrong)
    leak = lesson.weight_on_padding(batch, w)
    assert leak[1] == 0 and leak[0] > 0.98 and leak[2] > 0.98                 # "0.99" in the notebook
    assert round(float(leak[0]), 2) == round(float(leak[2]), 2) == 0.99
    assert not lesson.real_rows_unchanged(batch, wrong)
    pads = np.array([[t == lesson.PAD for t in row] for row in batch.tokens])
    assert np.all(w[pads[:, None, :].repeat(2, 1)] == 0)                       # padded rows emptied (zeros here)
    q = np.broadcast_to(batch.x[:, None], (3, 1, 6, 8))
    _, naive = lesson.naive_attention(q, q, q, wrong)
    assert int(np.isnan(naive).all(axis=-1).sum()) == pads.sum() == 6


# --- empty rows -------------------------------------------------------------------------------

def test_left_padding_and_the_causal_mask_leave_empty_rows_that_get_zeros():
    left = lesson.padded_batch(side="left")
    both = ac.causal_mask(6) & lesson.left_padding_mask(left.lengths, 6)
    empty = ~both.any(axis=-1)
    assert empty.sum(axis=-1).tolist() == [2, 0, 4]
    out, w = left.attend(both)
    assert np.all(w[2][:, empty[2]] == 0) and np.all(out[2][empty[2]] == 0)
    assert np.all(np.isfinite(out))


def test_what_each_implementation_returns_for_an_empty_row():
    torch = pytest.importorskip("torch")
    results = {r.who.rsplit(" ", 1)[-1] if r.who.startswith("torch") else r.who: r for r in lesson.empty_row_results()}
    assert all(r.who.startswith(f"torch {lesson.torch_release()}, cpu tensors,") for r in lesson.empty_row_results()
               if r.who.startswith("torch"))
    assert "+" not in lesson.torch_release()                                    # no wheel tag in a stored output
    assert (results["attention_course (ours)"].output, results["attention_course (ours)"].weights) == \
        ("all zeros", "all zeros")
    assert results["naive softmax(-inf)"].output == "NaN"
    assert results["nn.MultiheadAttention"].output == "NaN"
    if torch.__version__.startswith("2.13."):                                 # the version the notebook states
        assert results["F.scaled_dot_product_attention"].output == "all zeros"


def test_describe_row_names_the_cases():
    assert lesson.describe_row([np.nan, np.nan]) == "NaN"
    assert lesson.describe_row([0.0, 0.0]) == "all zeros"
    assert lesson.describe_row([0.25] * 4) == "uniform (1/4 each)"
    assert lesson.describe_row([0.1, 0.9]) == "finite, not zero"


# --- before or after the softmax --------------------------------------------------------------

def test_zeroing_after_the_softmax_breaks_the_row_sums_and_renormalising_fails_on_empty_rows():
    ba = lesson.before_vs_after()
    sums = ba.row_sums()
    sees = ba.mask.any(axis=-1)
    np.testing.assert_allclose(sums["before"], np.where(sees, 1.0, 0.0))
    hides = ~ba.mask.all(axis=-1) & sees
    assert np.all(sums["zeroed_after"][hides] < 1 - 1e-3)
    assert round(float(sums["zeroed_after"][0]), 2) == 0.32                  # "keeps 0.32" in the notebook
    np.testing.assert_allclose(ba.renormalised_after[sees], ba.before[sees])
    assert np.all(np.isnan(ba.renormalised_after[~sees]))


def test_finite_fills_and_float16():
    pytest.importorskip("torch")
    table = {(r.dtype, r.fill, r.how): r for r in lesson.fill_experiment() if r.how != "ac (ours)"}
    for key, r in table.items():
        if not r.error and key != ("float16", "-1e9", "added"):
            assert r.hidden_weight == 0                                         # rows that see something
        if key[1] == "-inf":
            assert r.empty_row == "NaN"
        elif not r.error and key != ("float16", "-1e9", "added"):
            assert r.empty_row == "uniform (1/5 each)"
    assert "cannot be converted" in table[("float16", "-1e9", "masked_fill")].error
    assert table[("float16", "-1e9", "added")].empty_row == "NaN"
    assert np.isnan(table[("float16", "-1e9", "added")].hidden_weight)          # NaN reaches the visible keys too
    assert "error" in lesson.fill_table(table.values())


def test_the_packages_masked_softmax_hides_keys_and_gives_empty_rows_zeros_in_float32_and_float16():
    pytest.importorskip("torch")
    ours = [r for r in lesson.fill_experiment() if r.how == "ac (ours)"]
    assert [r.dtype for r in ours] == ["float32", "float16"]
    assert all(r.hidden_weight == 0 and r.empty_row == "all zeros" and not r.error for r in ours)


def test_float32_cannot_add_a_small_score_to_minus_one_billion():
    assert np.float32(-1e9) + np.float32(3.0) == np.float32(-1e9)          # float32 numbers near 1e9 are 64 apart
    assert np.spacing(np.float32(1e9)) == 64
    with np.errstate(over="ignore"):
        assert np.isneginf(np.float16(-1e9))                                   # no such float16 number
    assert np.finfo(np.float16).max == 65504


# --- conventions ------------------------------------------------------------------------------

def test_the_three_conventions_convert_to_ours_and_give_the_same_attention():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    lengths = torch.tensor([4, 6, 2])
    ours = ac.padding_mask(lengths, 6, like=lengths)
    key_padding_mask = torch.arange(6)[None, :] >= lengths[:, None]
    attention_mask = (torch.arange(6)[None, :] < lengths[:, None]).long()
    assert torch.equal(ac.masks.from_key_padding_mask(key_padding_mask), ours)
    assert torch.equal(ac.masks.from_attention_mask(attention_mask), ours)
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 3, 2, 6, 4)
    expected, _ = ac.scaled_dot_product_attention(q, k, v, mask=ours[:, None])
    torch.testing.assert_close(F.scaled_dot_product_attention(q, k, v, attn_mask=ours[:, None]), expected)
    additive = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    torch.testing.assert_close(F.scaled_dot_product_attention(q, k, v, attn_mask=additive), expected)


# --- the mask editor --------------------------------------------------------------------------

def test_preset_masks():
    np.testing.assert_array_equal(lesson.preset_mask("none", 4), np.ones((4, 4), bool))
    np.testing.assert_array_equal(lesson.preset_mask("causal", 4), ac.causal_mask(4))
    assert lesson.preset_mask("padding", 4, length=2).tolist() == [[True, True, False, False]] * 4
    np.testing.assert_array_equal(lesson.preset_mask("sliding window", 4, width=1), np.eye(4, dtype=bool))
    with pytest.raises(ValueError, match="preset_mask"):
        lesson.preset_mask("diagonal", 4)


def test_the_editor_updates_weights_and_row_sums():
    editor = lesson.mask_editor(preset="causal")
    assert "row sums: 1.00 1.00 1.00 1.00 1.00 1.00" in editor.text
    editor.toggle(5, 0)
    assert not editor.mask[5, 0] and "1 toggled by hand" in editor.text
    assert editor.buttons[5][0].description == "·" and editor.buttons[0][0].description == "✓"
    editor.toggle(5, 0)
    assert editor.mask[5, 0]
    editor.set(preset="padding", length=0)
    assert "rows with nothing to attend to: a, cat, sat, on, the, mat" in editor.text
    assert "zero weights and a zero output, no 0 / 0" in editor.text
    editor.set(where=lesson.WHERE[2])
    assert "divides 0 by 0" in editor.text
    assert "row sums: 0/0 0/0 0/0 0/0 0/0 0/0" in editor.text                  # undefined, not a made-up 0.00
    assert editor.view.state["weights"].annotations.strings == ["NaN"] * 36
    assert editor.view.state["sums"].value_labels.strings == ["0/0"] * 6
    editor.set(where=lesson.WHERE[0])
    assert editor.view.state["weights"].annotations.strings == ["0.00"] * 36      # back to numbers
    assert "row sums: 0.00 0.00" in editor.text
    editor.set(preset="causal", where=lesson.WHERE[1])
    assert "no longer sum to 1" in editor.text
    editor.set(preset="sliding window", width=1, where=lesson.WHERE[0])
    np.testing.assert_allclose(lesson.apply_mask(editor.scores, editor.mask), np.eye(6))


def test_a_new_preset_clears_the_hand_edits():
    editor = lesson.mask_editor(preset="none")
    editor.toggle(0, 1)
    editor.set(preset="causal")
    assert editor.edits == set() and np.array_equal(editor.mask, ac.causal_mask(6))


def test_the_editor_at_its_extremes_and_its_static_view():
    editor = lesson.mask_editor()
    for where in lesson.WHERE[:2]:
        for preset in lesson.PRESETS:
            editor.set(preset=preset, where=where)
            editor.view.check_extremes()
    bundle = editor._repr_mimebundle_()
    assert "data:image/png;base64," in bundle["text/html"] and "mask editor" in bundle["text/html"]
    assert bundle["text/plain"].startswith("preset = ")
    with pytest.raises(IndexError, match="outside"):
        editor.toggle(6, 0)


# --- the quiz ---------------------------------------------------------------------------------

def test_the_quiz_agrees_with_the_lesson():
    quiz = json.loads((Path(ac.__file__).parent / "quizzes" / "09_masking.json").read_text())
    text = json.dumps(quiz)
    assert "0.32" in text and "0.99" in text                                   # measured above
    row = lesson.fill_experiment(fills=("-1e9",))[0]
    assert row.empty_row == "uniform (1/5 each)" and quiz["questions"][3]["answer"] == pytest.approx(1 / 5)
    q = ac.quiz.load("09_masking")
    assert q.answer(0, 0).correct and not q.answer(0, 1).correct
    assert q.answer(4, 0).correct and not q.answer(4, 1).correct
