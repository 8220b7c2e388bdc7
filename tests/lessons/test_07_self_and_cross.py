"""Lesson 07: self- and cross-attention examples and the parallel-vs-loop claim."""
import numpy as np
import pytest

import attention_course as ac
from attention_course.lessons import self_and_cross as self_cross


def test_it_puts_most_weight_on_animal():
    tokens, x, w_q, w_k, w_v = self_cross.animal_sentence()
    out, w = ac.self_attention(x, w_q, w_k, w_v)
    it = tokens.index("it")
    assert w.shape == (11, 11) and out.shape == (11, 6)
    assert tokens[int(np.argmax(w[it]))] == "animal"
    assert w[it, tokens.index("animal")] > 0.5
    assert w[it, tokens.index("animal")] > 5 * w[it, tokens.index("street")]
    # with value = features, the output for "it" is now mostly "animate noun"
    assert np.argmax(out[it]) == 0


def test_tired_looks_at_animal_and_the_nouns_look_at_their_verb():
    tokens, x, w_q, w_k, w_v = self_cross.animal_sentence()
    _, w = ac.self_attention(x, w_q, w_k, w_v)
    strongest = {t: tokens[int(np.argmax(w[i]))] for i, t in enumerate(tokens)}
    assert strongest["tired"] == "animal"
    assert strongest["animal"] == strongest["street"] == "cross"
    assert w_q.shape[1] == len(self_cross.ANIMAL_KEY_AXES)       # the notebook prints the d_k = 4 key axes


def test_self_attention_is_attention_of_one_sequence_with_itself():
    tokens, x, w_q, w_k, w_v = self_cross.animal_sentence()
    a = ac.self_attention(x, w_q, w_k, w_v)
    b = ac.cross_attention(x, x, w_q, w_k, w_v)
    np.testing.assert_allclose(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1])


def test_translation_alignment_follows_word_meaning_and_order_swap():
    src, tgt, enc, dec, w_q, w_k, w_v = self_cross.translation_example()
    out, w = ac.cross_attention(dec, enc, w_q, w_k, w_v)
    assert w.shape == (len(tgt), len(src)) == (4, 5)       # n_q != n_k
    assert out.shape == (4, w_v.shape[1])
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    best = {tgt[i]: src[int(np.argmax(w[i]))] for i in range(len(tgt))}
    assert best["le"] == "the" and best["chat"] == "cat" and best["noir"] == "black"
    dort = w[tgt.index("dort")]
    assert dort[src.index("is")] + dort[src.index("sleeping")] > 0.8    # one word reads two


def test_cross_attention_matches_package_attention_on_projections():
    rng = np.random.default_rng(0)
    dec, enc = rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 7, 5))
    w_q, w_k, w_v = rng.standard_normal((5, 4)), rng.standard_normal((5, 4)), rng.standard_normal((5, 6))
    out, w = ac.cross_attention(dec, enc, w_q, w_k, w_v)
    ref_out, ref_w = ac.scaled_dot_product_attention(dec @ w_q, enc @ w_k, enc @ w_v)
    assert out.shape == (2, 3, 6) and w.shape == (2, 3, 7)
    np.testing.assert_allclose(out, ref_out)
    np.testing.assert_allclose(w, ref_w)


def test_cross_attention_bad_projection_shapes_named():
    dec, enc = np.zeros((3, 5)), np.zeros((4, 6))
    with pytest.raises(ValueError, match="w_k"):
        ac.cross_attention(dec, enc, np.zeros((5, 2)), np.zeros((5, 2)), np.zeros((6, 2)))
    with pytest.raises(ValueError, match="w_q and w_k"):
        ac.cross_attention(dec, enc, np.zeros((5, 2)), np.zeros((6, 3)), np.zeros((6, 2)))


@pytest.mark.parametrize("n_q, n_k", [(1, 1), (3, 9), (12, 4)])
def test_loop_and_matrix_versions_agree(n_q, n_k):
    rng = np.random.default_rng(n_q * 100 + n_k)
    q, k, v = rng.standard_normal((n_q, 8)), rng.standard_normal((n_k, 8)), rng.standard_normal((n_k, 3))
    out_loop, w_loop = self_cross.attention_loop(q, k, v)
    out, w = ac.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(out_loop, out, atol=1e-12)
    np.testing.assert_allclose(w_loop, w, atol=1e-12)


def test_attention_loop_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="attention_loop"):
        self_cross.attention_loop(np.zeros((2, 3)), np.zeros((4, 5)), np.zeros((4, 1)))


def test_timing_reports_agreement_and_positive_times():
    r = self_cross.time_parallel_vs_loop(ns=(8, 64), d_k=8, repeats=1)
    assert r.agree is True
    assert r.n.tolist() == [8, 64]
    assert np.all(r.loop > 0) and np.all(r.matrix > 0)
    np.testing.assert_allclose(r.speedup, r.loop / r.matrix)


def test_one_matrix_product_beats_the_loop():
    # cell 23 says the loop is the slower one at every n; the stored timing is not compared, so this holds it.
    # It is 5-14x slower here; a busy machine can only slow a call down, and the best of 5 is kept.
    r = self_cross.time_parallel_vs_loop(ns=(16, 128, 512), d_k=32, repeats=5)
    assert np.all(r.speedup > 1), r.speedup


def test_the_shown_loop_is_the_loop_and_still_checks_its_arguments():
    import inspect

    body = inspect.getsource(self_cross.attention_loop).split('"""')[-1]
    assert "raise" not in body and "for i in range" in body
    with pytest.raises(ValueError, match="attention_loop"):
        self_cross.attention_loop(np.zeros((2, 3, 4)), np.zeros((3, 4)), np.zeros((3, 2)))


def test_timing_runs_on_one_blas_thread():
    from threadpoolctl import threadpool_info

    seen = []
    original = self_cross.attention_loop

    def spy(q, k, v, scale=None):
        seen.extend(info["num_threads"] for info in threadpool_info())
        return original(q, k, v, scale)

    self_cross.attention_loop = spy
    try:
        self_cross.time_parallel_vs_loop(ns=(4,), d_k=4, repeats=1)
    finally:
        self_cross.attention_loop = original
    assert seen and set(seen) == {1}


def test_lesson_07_uses_the_shared_generator_and_explorer():
    from attention_course import experiments

    assert self_cross.random_qkv is experiments.random_qkv
    assert self_cross.attention_explorer is experiments.attention_explorer


def test_explorer_says_when_function_words_tie():
    pytest.importorskip("ipywidgets")
    tokens, x, w_q, w_k, w_v = self_cross.animal_sentence()
    _, w = ac.self_attention(x, w_q, w_k, w_v)
    explorer = self_cross.attention_explorer(tokens, w, selected=tokens.index("it"))
    assert "strongest: 'animal'" in explorer.text
    explorer.set(query=tokens.index("too"))
    row = w[tokens.index("too")]
    tied = [tokens[j] for j in np.flatnonzero(np.isclose(row, row.max()))]
    assert len(tied) > 1 and f"a tie between {', '.join(repr(t) for t in tied)}" in explorer.text


def test_quiz_answers_are_what_the_package_computes():
    from attention_course import quiz

    bank = quiz.load("07_self_and_cross")
    assert 3 <= len(bank) <= 5
    assert bank.answer(0, 2).correct and not bank.answer(0, 1).correct
    _, w = ac.cross_attention(np.ones((6, 3)), np.ones((9, 3)), np.eye(3), np.eye(3), np.eye(3))
    assert bank.answer(1, w.size).correct
    fb = bank.answer(1, 36)
    assert not fb.correct and "self-attention" in fb.explanation
    assert bank.answer(2, [1, 3]).correct and not bank.answer(2, [0, 1, 3]).correct
    # Q4: a sixth source token adds a column, takes a small share, and the old weights shrink
    src, tgt, enc, dec, w_q, w_k, w_v = self_cross.translation_example()
    out, w = ac.cross_attention(dec, enc, w_q, w_k, w_v)
    out6, w6 = ac.cross_attention(dec, np.vstack([enc, np.zeros(enc.shape[1])]), w_q, w_k, w_v)
    assert w6.shape == (4, 6) and out6.shape == out.shape
    assert np.all(w6[:, -1] > 0) and np.all(w6[:, :5] < w) and np.allclose(w6.sum(axis=1), 1)
    assert bank.answer(3, 2).correct
    for wrong, words in ((0, "decoder"), (1, "positive"), (3, "one row per query")):
        fb = bank.answer(3, wrong)
        assert not fb.correct and words in fb.explanation


# ---------------------------------------------------------------- the exercise
def _exercise():
    from attention_course import exercises
    from attention_course.exercises import cross_attention as module

    return exercises, module


def test_exercise_reference_passes_and_agrees_with_the_package():
    exercises, module = _exercise()
    assert exercises.check("cross_attention", module.cross_attention).passed
    assert exercises.check("cross_attention", lambda *a: ac.cross_attention(*a)).passed
    assert "decoder_states @ w_q" in exercises.solution("cross_attention").source


def test_exercise_cases_have_n_q_different_from_n_k():
    exercises, _ = _exercise()
    cases = exercises.get("cross_attention").get_cases()
    assert len(cases) >= 3
    assert all(c.args[0].shape[0] != c.args[1].shape[0] for c in cases)
    assert any(c.args[0].shape[0] > c.args[1].shape[0] for c in cases)


@pytest.mark.parametrize("buggy, words", [
    ("_self_attention_instead", "self-attention"),
    ("_queries_from_encoder", "roles are swapped"),
    ("_no_scaling", "without the scaling"),
    ("_scaled_by_d_model", "sqrt(d_model)"),
    ("_softmax_over_queries", "axis=-1"),
    ("_weights_transposed", "transposed"),
])
def test_each_exercise_mistake_is_named(buggy, words):
    exercises, module = _exercise()
    report = exercises.check("cross_attention", getattr(module, buggy))
    assert not report.passed
    named = [m.hint for m in exercises.get("cross_attention").mistakes if m.hint in report.hints]
    assert len(named) == 1 and words in named[0]


def test_exercise_handwritten_mistakes():
    exercises, _ = _exercise()

    def stub(decoder_states, encoder_states, w_q, w_k, w_v):
        raise NotImplementedError

    assert exercises.check("cross_attention", stub).status == "not done"

    def values_from_decoder(decoder_states, encoder_states, w_q, w_k, w_v):
        q, k, v = decoder_states @ w_q, encoder_states @ w_k, decoder_states @ w_v
        w = ac.softmax(q @ k.T / np.sqrt(q.shape[-1]))
        return w @ v, w                                  # (n_q, n_k) @ (n_q, d_v): fails when n_q != n_k

    report = exercises.check("cross_attention", values_from_decoder)
    assert not report.passed and any("ValueError" in h and "@" in h for h in report.hints)
