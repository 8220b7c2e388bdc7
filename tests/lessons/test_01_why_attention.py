"""Lesson 01 (why attention): the bottleneck experiment shows what the lesson claims."""
import numpy as np
import pytest

import attention_course as ac
from attention_course.lessons import why_attention as lesson

D_TOKEN = lesson.DEFAULT_D_TOKEN
CHANCE = 1 / lesson.DEFAULT_VOCAB_SIZE


def test_fast_encoder_equals_the_recurrence():
    encoder = lesson.FixedContextEncoder.random(d_token=D_TOKEN, vector_size=24, seed=3)
    tokens = np.random.default_rng(0).standard_normal((7, 11, D_TOKEN))
    np.testing.assert_allclose(encoder.encode(tokens), encoder.encode_step_by_step(tokens), atol=1e-10)


def test_recurrence_is_orthogonal_so_nothing_fades():
    encoder = lesson.FixedContextEncoder.random(d_token=D_TOKEN, vector_size=16, seed=1)
    r = encoder.rotation
    np.testing.assert_allclose(r @ r.T, np.eye(16), atol=1e-12)
    state = np.random.default_rng(2).standard_normal(16)
    assert np.linalg.norm(state @ r) == pytest.approx(np.linalg.norm(state))


def test_fixed_state_is_perfect_while_the_input_fits():
    # length * d_token <= vector_size: the linear map is invertible, so the read-out is exact
    for vector_size in (16, 32):
        for length in range(1, vector_size // D_TOKEN + 1):
            assert lesson.fixed_context_recovery(length, vector_size, n_train=600, n_test=300) == 1.0


def test_fixed_state_degrades_toward_chance_as_sequences_grow():
    accuracy = [lesson.fixed_context_recovery(n, 32, n_train=1000, n_test=600) for n in (4, 8, 16, 64)]
    assert accuracy[0] == 1.0
    assert accuracy[0] > accuracy[1] > accuracy[2] > accuracy[3]
    assert accuracy[3] < 3 * CHANCE          # near guessing
    assert accuracy[1] < 0.95                # already broken at twice the budget


def test_bigger_vector_helps_the_fixed_state():
    short = [lesson.fixed_context_recovery(16, size, n_train=1500, n_test=600) for size in (16, 32, 64, 128)]
    assert all(a <= b for a, b in zip(short, short[1:]))
    assert short[-1] == 1.0 and short[0] < 0.5


def test_attention_does_not_degrade_with_length():
    for key_size in (16, 32):
        for length in (1, 8, 32, 64, 128):
            assert lesson.attention_recovery(length, key_size, n_test=400) == 1.0


def test_attention_weights_focus_on_the_asked_position():
    _, weights = lesson.attention_recovery(32, 32, position=5, n_test=50, return_weights=True)
    assert weights.shape == (32,)
    assert weights.sum() == pytest.approx(1.0)
    assert weights.argmax() == 5 and weights[5] > 0.9


def test_blunt_query_makes_attention_blur():
    # with sharpness near 0 the weights are uniform: the context is an average, like the fixed state
    acc = lesson.attention_recovery(64, 32, sharpness=0.01, n_test=600)
    assert acc < 3 * CHANCE


def test_any_position_can_be_asked_for():
    for position in (0, 7, 15):
        assert lesson.attention_recovery(16, 32, position=position, n_test=200) == 1.0


def test_recovery_table_matches_single_runs_and_shapes():
    table = lesson.recovery_table([2, 16], [16, 32], n_train=500, n_test=300)
    assert table.fixed.shape == (2, 2) and table.attention.shape == (2,)      # attention has no fixed vector
    assert table.chance == pytest.approx(CHANCE) and table.key_size == lesson.DEFAULT_KEY_SIZE
    assert table.at(16, 16)[0] == lesson.fixed_context_recovery(16, 16, n_train=500, n_test=300)
    assert table.at(16, 16)[1] == lesson.attention_recovery(16, n_test=300)
    assert table.at(2, 32) == (1.0, 1.0)
    fixed = table.row(16)
    assert fixed[1] < fixed[0]
    with pytest.raises(ValueError, match="vector_size"):
        table.row(64)


def test_both_decoders_are_scored_on_the_same_sequences():
    _, test_a = lesson.experiment_sequences(12, 50, 40)
    _, test_b = lesson.experiment_sequences(12, 1, 40)
    train, _ = lesson.experiment_sequences(12, 50, 40)
    np.testing.assert_array_equal(test_a, test_b)          # the test set does not depend on n_train ...
    assert train.shape == (50, 12)
    with pytest.raises(ValueError, match="length"):
        lesson.experiment_sequences(0)


def test_the_notebooks_three_line_versions_are_the_experiments():
    vocab, encoder = lesson.token_vectors(), lesson.FixedContextEncoder.random(D_TOKEN, 32)
    train, test = lesson.experiment_sequences(12, 800, 300)
    w = lesson.fit_linear_readout(encoder.encode(vocab[train]), vocab[train[:, 0]])
    guess = lesson.apply_readout(encoder.encode(vocab[test]), w)
    assert np.mean(lesson.nearest_token(guess, vocab) == test[:, 0]) == lesson.fixed_context_recovery(12, 32, n_train=800,
                                                                                               n_test=300)
    keys = lesson.position_keys(12)
    weights = ac.softmax(lesson.DEFAULT_SHARPNESS * keys @ keys[0])
    context = weights @ vocab[test]
    assert context.shape == (300, D_TOKEN)
    assert np.mean(lesson.nearest_token(context, vocab) == test[:, 0]) == lesson.attention_recovery(12, n_test=300)


def test_experiments_run_on_one_blas_thread_and_restore_the_setting():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    with lesson.one_blas_thread():
        inside = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    after = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    assert inside and set(inside) == {1}
    assert after == before


def test_results_are_seeded():
    assert lesson.fixed_context_recovery(12, 32, seed=4) == lesson.fixed_context_recovery(12, 32, seed=4)


def test_linear_readout_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    states = rng.standard_normal((200, 5))
    w_true = rng.standard_normal((6, 3))
    targets = lesson.apply_readout(states, w_true)
    np.testing.assert_allclose(lesson.fit_linear_readout(states, targets), w_true, atol=1e-10)


def test_nearest_token_picks_the_closest_row():
    vectors = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_array_equal(lesson.nearest_token(np.array([[0.9, 0.2], [0.1, 0.1], [0.2, 0.7]]), vectors), [1, 0, 2])


@pytest.mark.parametrize("call, match", [
    (lambda: lesson.fixed_context_recovery(0, 32), "length"),
    (lambda: lesson.fixed_context_recovery(4, 0), "vector_size"),
    (lambda: lesson.attention_recovery(4, 8, position=4), "position"),
    (lambda: lesson.fixed_context_recovery(4, 8, position=-1), "position"),
    (lambda: lesson.FixedContextEncoder.random(8, 16).encode(np.zeros((2, 3, 5))), "d_token=8"),
    (lambda: lesson.fit_linear_readout(np.zeros((4, 2)), np.zeros((5, 2))), "states"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_toy_alignment_is_not_a_diagonal():
    source, target, keys, queries = lesson.toy_alignment()
    assert keys.shape == (len(source), len(lesson.ALIGNMENT_FEATURES))
    assert queries.shape == (len(target), len(lesson.ALIGNMENT_FEATURES))
    weights = ac.softmax(3.0 * queries @ keys.T)          # the notebook's plain version ...
    _, package = ac.scaled_dot_product_attention(queries, keys, keys, scale=3.0)
    np.testing.assert_allclose(weights, package)          # ... is the package's attention with scale 3
    picks = [source[j] for j in weights.argmax(axis=1)]
    assert picks == ["the", "cat", "black", "drinks", "milk", "milk"]
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    # each step's context differs: that is the point of the picture
    assert len({tuple(np.round(row, 6)) for row in weights}) == len(target)


def test_quiz_numbers_come_from_the_experiment():
    from attention_course import quiz
    bank = quiz.load("01_why_attention")
    # Q1: perfect up to 4 tokens of 8 numbers in 32, not beyond
    assert lesson.fixed_context_recovery(4, 32) == 1.0 and lesson.fixed_context_recovery(5, 32) < 1.0
    assert bank.answer(0, 32 // D_TOKEN).correct and not bank.answer(0, 32).correct
    # Q2: attention still perfect at 64
    assert lesson.attention_recovery(64, 32) == 1.0 and bank.answer(1, 0).correct
    # Q3: doubling the vector doubles the perfect length
    def first_below_90(size):
        return next(n for n in range(1, 64) if lesson.fixed_context_recovery(n, size) < 0.9)
    assert [first_below_90(s) for s in (16, 32, 64, 128)] == [4, 7, 13, 26]
    assert "4 to 7, 13 and 26" in bank.questions[2].options[2].explain
    assert bank.answer(2, [0, 1, 2]).correct and not bank.answer(2, [0, 1, 2, 3]).correct
    # Q4: 'noir' looks mostly at 'black'
    source, target, keys, queries = lesson.toy_alignment()
    weights = ac.softmax(3.0 * queries @ keys.T)
    assert source[weights[target.index("noir")].argmax()] == "black" and bank.answer(3, 0).correct
    # Q5: the weighted sum of values
    context = np.array([0.1, 0.7, 0.2]) @ np.array([[1, 0], [0, 1], [1, 1]])
    assert bank.answer(4, float(context[0])).correct and not bank.answer(4, 0.1).correct


# ---------------------------------------------------------------- the exercise

def test_context_exercise_passes_a_correct_solution():
    from attention_course import exercises
    report = exercises.check("context_vector", lambda weights, values: weights @ values)
    assert report.passed, report.hints


@pytest.mark.parametrize("learner, phrase", [
    (lambda w, v: v.mean(axis=0), "averaged the values equally"),
    (lambda w, v: v[np.argmax(w)], "largest weight"),
    (lambda w, v: w @ v / len(w), "divided the weighted sum by n"),
    (lambda w, v: (w[:, None] * v).sum(axis=1), "across the positions"),
    (lambda w, v: v[-1], "last value"),
])
def test_context_exercise_names_each_mistake(learner, phrase):
    from attention_course import exercises
    report = exercises.check("context_vector", learner)
    assert not report.passed
    assert any(phrase in hint for hint in report.hints), report.hints


def test_context_exercise_stub_and_solution():
    from attention_course import exercises

    def learner(weights, values):
        raise NotImplementedError
    assert exercises.check("context_vector", learner).status == "not done"
    assert "def context_vector" in str(exercises.solution("context_vector"))


# ---------------------------------------------------------------- the widget

def test_explorer_follows_both_knobs_to_their_ends():
    table = lesson.recovery_table([1, 4, 16, 64], [8, 32, 128], n_train=600, n_test=300)
    explorer = lesson.recovery_explorer(table, length=16, vector_size=32)
    assert "16 tokens" in explorer.text and "d_h = 32" in explorer.text
    for length in (1, 64):
        for size in (8, 128):
            explorer.set(length=length, vector_size=size)
            assert f"d_h = {size}" in explorer.text and "nan" not in explorer.text.lower()
            chart, budget = explorer.state
            assert list(chart.curves[0].get_ydata()) == list(table.row(size))
            assert budget.get_xdata()[0] == size / D_TOKEN
            fixed_dot, attention_dot = (d.get_data() for d in chart.dots)
            assert fixed_dot[0] == [length] and attention_dot[1] == [1.0]
    explorer.set(length=64, vector_size=8)
    assert "fixed vector 100%" not in explorer.text and "attention 100%" in explorer.text
    assert f"64 x (8 + {lesson.DEFAULT_KEY_SIZE})" in explorer.text
    explorer.set(length=1, vector_size=8)
    assert "fixed vector 100%" in explorer.text and "1 token x" in explorer.text
    assert "1 token vector and 1 key:" in explorer.text
    assert explorer.check_extremes()


def test_explorer_rejects_a_size_not_in_the_table():
    table = lesson.recovery_table([1, 2], [8], n_train=100, n_test=50)
    with pytest.raises(ValueError, match="vector_size"):
        lesson.recovery_explorer(table, vector_size=32)


def test_the_claims_the_notebook_makes_about_its_table():
    table = lesson.recovery_table([4, 5, 64], [32, 128])
    assert table.at(4, 32)[0] == 1.0 and table.at(5, 32)[0] < 1.0         # for d_h = 32: perfect while n x 8 <= d_h
    assert table.at(64, 128)[0] < 1 / 3                                     # "less than a third of the time"
    assert np.all(table.attention == 1.0)
    assert lesson.attention_recovery(64, sharpness=0.01) < 2 * CHANCE          # a blunt query: about chance


def test_plot_recovery_has_one_attention_line_in_black_matching_its_legend():
    table = lesson.recovery_table([1, 8], [8, 16], n_train=200, n_test=100)
    fig = lesson.plot_recovery(table)
    ax = fig.axes[0]
    handles, labels = ax.get_legend_handles_labels()
    attention = [h for h, label in zip(handles, labels) if label.startswith("attention")]
    assert len(attention) == 1 and attention[0].get_color() == lesson.ATTENTION_COLOR
    assert attention[0].get_linestyle() == "--"
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert dashed == attention                                              # no other dashed line, no other colour


def test_perfect_recovery_lasts_while_the_input_fits_and_at_most_one_token_more():
    # cell 17 and the summary: exact while n x 8 <= d_h; d_h = 64 still perfect at n = 9 (72 numbers in 64)
    def longest_perfect(size):
        return next(n for n in range(1, 40) if lesson.fixed_context_recovery(n + 1, size) < 1.0)
    limits = {size: longest_perfect(size) for size in (8, 16, 32, 64, 128)}
    assert all(size // D_TOKEN <= n <= size // D_TOKEN + 1 for size, n in limits.items()), limits
    assert limits[64] == 9 and lesson.fixed_context_recovery(9, 64) == 1.0


def test_the_widget_shows_a_perfect_fixed_vector_that_does_not_fit():
    table = lesson.recovery_table([1, 8, 16], [64], n_train=2000, n_test=1000)
    explorer = lesson.recovery_explorer(table, length=9, vector_size=64)
    assert "does not fit" in explorer.text and "fixed vector 100%" in explorer.text


def test_the_sharpness_claims():
    keys = lesson.position_keys(64)
    scores = keys @ keys[0]
    assert scores[0] == pytest.approx(1.0) and np.all(np.abs(scores[1:]) < 0.6)      # "about -0.6 to 0.6"
    printed = {}
    for beta in (0.01, 1.0, 3.0, 5.0, 10.0):
        accuracy, w = lesson.attention_recovery(64, sharpness=beta, return_weights=True)
        printed[beta] = (round(float(w[0]), 2), accuracy)
    assert printed[10.0] == (0.96, 1.0)                                              # "0.96 of the weight"
    assert abs(lesson.attention_recovery(64, sharpness=0.01, return_weights=True)[1][0] - 1 / 64) < 0.001
    accuracies = [a for _, a in printed.values()]
    assert accuracies == sorted(accuracies) and accuracies[0] < 2 * CHANCE


def test_the_weights_are_printed_and_labelled_with_three_decimals():
    # one number, one rounding: the printed array, the sentence and the bar labels all say 0.995
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).resolve().parents[2] / "notebooks" / "01_why_attention.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    text = "".join("".join(o.get("text", "")) for c in code for o in c.get("outputs", []))
    _, weights = lesson.attention_recovery(16, return_weights=True)
    assert f"[{weights[0]:.3f} " in text and f"weight on position 1: {weights[0]:.3f}" in text
    bars = next("".join(c["source"]) for c in code if "viz.bars(weights" in "".join(c["source"]))
    assert 'fmt="{:.3f}"' in bars
