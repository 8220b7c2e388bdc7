"""Lesson 05: queries, keys and values — the lookup module and the lesson's claims.

Expected numbers are computed here independently (plain Python loops and math.exp),
never copied from the package's output.
"""
import math

import numpy as np
import pytest

import attention_course as ac
from attention_course.lessons import queries_keys_values as L

# ---------------------------------------------------------------- hard vs soft lookup


def test_hard_lookup_returns_the_value_of_the_exactly_matching_key():
    for i, english in enumerate(L.ENGLISH):
        value, weights = L.hard_lookup(L.FRENCH_KEYS[i], L.FRENCH_KEYS, L.ENGLISH_VALUES)
        assert weights.tolist() == [1.0 if j == i else 0.0 for j in range(len(L.FRENCH))]
        assert L.nearest(value, L.ENGLISH_VALUES, L.ENGLISH) == english


def test_hard_lookup_fails_on_a_near_miss_like_a_dict():
    near_miss = L.FRENCH_KEYS[2] + 1e-9
    with pytest.raises(KeyError, match="no key equals"):
        L.hard_lookup(near_miss, L.FRENCH_KEYS, L.ENGLISH_VALUES)
    with pytest.raises(KeyError):
        L.hard_lookup(L.SOUS_QUERY, L.FRENCH_KEYS, L.ENGLISH_VALUES)


def test_sous_query_is_not_any_key_but_soft_lookup_lands_nearest_under():
    assert not any(np.array_equal(L.SOUS_QUERY, key) for key in L.FRENCH_KEYS)
    value, weights = L.soft_lookup(L.SOUS_QUERY, L.FRENCH_KEYS, L.ENGLISH_VALUES)
    # independent computation of the weights
    scores = [sum(qi * ki for qi, ki in zip(L.SOUS_QUERY, key)) for key in L.FRENCH_KEYS]
    exps = [math.exp(s) for s in scores]
    expected = [e / sum(exps) for e in exps]
    np.testing.assert_allclose(weights, expected, rtol=1e-12)
    assert int(np.argmax(weights)) == L.FRENCH.index("sous")
    assert weights[L.FRENCH.index("sous")] > 0.5            # most of the weight, not all of it
    assert np.all(weights > 0)
    distances = {e: math.dist(value, v) for e, v in zip(L.ENGLISH, L.ENGLISH_VALUES)}
    assert min(distances, key=distances.get) == "under"
    assert L.nearest(value, L.ENGLISH_VALUES, L.ENGLISH) == "under"
    assert distances["under"] > 0                            # a blend, not the stored value itself


def test_soft_lookup_approaches_the_hard_lookup_as_the_scale_grows():
    key = L.FRENCH_KEYS[2]
    hard_value, hard_weights = L.hard_lookup(key, L.FRENCH_KEYS, L.ENGLISH_VALUES)
    gaps = []
    for scale in (0.5, 1.0, 4.0, 20.0):
        value, weights = L.soft_lookup(key, L.FRENCH_KEYS, L.ENGLISH_VALUES, scale=scale)
        assert weights.sum() == pytest.approx(1.0)
        gaps.append(np.abs(weights - hard_weights).max())
    assert all(a > b for a, b in zip(gaps, gaps[1:]))
    assert gaps[-1] < 1e-6
    value, _ = L.soft_lookup(key, L.FRENCH_KEYS, L.ENGLISH_VALUES, scale=20.0)
    np.testing.assert_allclose(value, hard_value, atol=1e-5)


def test_soft_lookup_with_zero_scale_averages_all_values():
    value, weights = L.soft_lookup(L.SOUS_QUERY, L.FRENCH_KEYS, L.ENGLISH_VALUES, scale=0.0)
    np.testing.assert_allclose(weights, np.full(5, 0.2))
    np.testing.assert_allclose(value, L.ENGLISH_VALUES.mean(axis=0), atol=1e-12)


@pytest.mark.parametrize("func", [L.hard_lookup, L.soft_lookup])
def test_lookups_reject_mismatched_shapes_with_names(func):
    with pytest.raises(ValueError, match="query"):
        func(L.SOUS_QUERY[:3], L.FRENCH_KEYS, L.ENGLISH_VALUES)
    with pytest.raises(ValueError, match="values"):
        func(L.SOUS_QUERY, L.FRENCH_KEYS, L.ENGLISH_VALUES[:4])
    with pytest.raises(ValueError, match="keys"):
        func(L.SOUS_QUERY, L.FRENCH_KEYS[0], L.ENGLISH_VALUES)


def test_nearest_rejects_wrong_label_count():
    with pytest.raises(ValueError, match="labels"):
        L.nearest([0.0, 0.0], L.ENGLISH_VALUES, L.ENGLISH[:3])


# ---------------------------------------------------------------- Nadaraya–Watson


def test_gaussian_weights_match_a_hand_computation():
    x_query, x_train, h = [0.0, 1.3], [0.0, 0.5, 1.0, 2.0], 0.7
    weights = L.gaussian_kernel_weights(x_query, x_train, h)
    for i, xq in enumerate(x_query):
        kernel = [math.exp(-((xq - xj) ** 2) / (2 * h * h)) for xj in x_train]
        np.testing.assert_allclose(weights[i], [k / sum(kernel) for k in kernel], rtol=1e-12)


def test_nadaraya_watson_is_a_weighted_average_of_the_training_targets():
    x_train, y_train = L.regression_data(n_train=30, seed=1)
    grid = np.linspace(0, 5, 50)
    y_hat, weights = L.nadaraya_watson(grid, x_train, y_train, bandwidth=0.4)
    assert weights.shape == (50, 30) and y_hat.shape == (50,)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert np.all(y_hat <= y_train.max() + 1e-12) and np.all(y_hat >= y_train.min() - 1e-12)
    j = 7
    expected = sum(w * y for w, y in zip(weights[j], y_train))
    assert y_hat[j] == pytest.approx(expected)


def test_smaller_bandwidth_fits_the_training_points_more_closely():
    x_train, y_train = L.regression_data()
    errors = []
    for h in (3.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.01, 0.001):
        y_hat, _ = L.nadaraya_watson(x_train, x_train, y_train, h)
        errors.append(np.mean((y_hat - y_train) ** 2))
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.05 * errors[0]   # not 0: two training x's lie 0.0008 apart


def test_bandwidth_extremes_nearest_neighbour_and_global_mean():
    x_train, y_train = L.regression_data(n_train=20, seed=3)
    grid = np.linspace(0, 5, 41)
    y_tiny, w_tiny = L.nadaraya_watson(grid, x_train, y_train, 1e-3)
    nearest_index = np.argmin(np.abs(grid[:, None] - x_train[None, :]), axis=1)
    np.testing.assert_allclose(y_tiny, y_train[nearest_index], atol=1e-6)
    assert np.all(np.isfinite(w_tiny))
    y_huge, _ = L.nadaraya_watson(grid, x_train, y_train, 1e4)
    np.testing.assert_allclose(y_huge, y_train.mean(), atol=1e-6)


def test_a_middle_bandwidth_recovers_the_true_curve_best():
    """The lesson's claim: too small follows the noise, too large flattens the curve."""
    x_train, y_train = L.regression_data()
    grid = np.linspace(0, 5, 201)

    def curve_error(h):
        return np.mean((L.nadaraya_watson(grid, x_train, y_train, h)[0] - L.true_function(grid)) ** 2)

    assert curve_error(0.3) < curve_error(0.02)
    assert curve_error(0.3) < curve_error(3.0)


def test_nadaraya_watson_rejects_bad_input():
    with pytest.raises(ValueError, match="bandwidth"):
        L.nadaraya_watson([1.0], [1.0, 2.0], [0.0, 1.0], 0.0)
    with pytest.raises(ValueError, match="y_train"):
        L.nadaraya_watson([1.0], [1.0, 2.0], [0.0, 1.0, 2.0], 0.5)
    with pytest.raises(ValueError, match="x_train"):
        L.nadaraya_watson([1.0], [[1.0, 2.0]], [0.0, 1.0], 0.5)


def test_regression_data_is_seeded_and_sorted():
    a, b = L.regression_data(seed=5), L.regression_data(seed=5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert np.all(np.diff(a[0]) >= 0)
    assert not np.array_equal(a[1], L.regression_data(seed=6)[1])


# ---------------------------------------------------------------- why projections


def test_without_projections_scores_are_symmetric_and_each_word_matches_itself():
    x = L.PROJECTION_X
    plain = x @ x.T
    assert np.allclose(plain, plain.T)
    assert L.best_matches(plain, L.PROJECTION_TOKENS) == list(L.PROJECTION_TOKENS)


def test_projections_let_a_word_look_for_another_kind_of_word():
    q, k, _ = ac.project_qkv(L.PROJECTION_X, L.PROJECTION_W_Q, L.PROJECTION_W_K, np.eye(3))
    scores = q @ k.T
    the, cat, sat = (L.PROJECTION_TOKENS.index(t) for t in ("the", "cat", "sat"))
    assert L.best_matches(scores, L.PROJECTION_TOKENS) == ["cat", "sat", "cat"]
    assert scores[the, cat] > 10 * scores[cat, the]                       # no longer symmetric


def test_best_matches_reports_ties():
    assert L.best_matches([[1.0, 1.0, 0.0], [0.0, 2.0, 1.0]], ["a", "b", "c"]) == ["a|b", "b"]


# ---------------------------------------------------------------- projections and the worked example


def _matmul(a, b):
    return [[sum(a[i][t] * b[t][j] for t in range(len(b))) for j in range(len(b[0]))] for i in range(len(a))]


def _hand_worked_example(scaled=True):
    """The worked example by hand: lists and math.exp only."""
    x = L.WORKED_X.tolist()
    q, k, v = (_matmul(x, w.tolist()) for w in (L.WORKED_W_Q, L.WORKED_W_K, L.WORKED_W_V))
    d_k = len(q[0])
    factor = 1 / math.sqrt(d_k) if scaled else 1.0
    scores = [sum(a * b for a, b in zip(q[0], k[j])) * factor for j in range(3)]
    exps = [math.exp(s) for s in scores]
    weights = [e / sum(exps) for e in exps]
    output = [sum(weights[j] * v[j][c] for j in range(3)) for c in range(2)]
    return q, k, v, weights, output


def test_project_qkv_matches_hand_products_and_shapes():
    q, k, v = ac.project_qkv(L.WORKED_X, L.WORKED_W_Q, L.WORKED_W_K, L.WORKED_W_V)
    hq, hk, hv, _, _ = _hand_worked_example()
    np.testing.assert_allclose(q, hq)
    np.testing.assert_allclose(k, hk)
    np.testing.assert_allclose(v, hv)
    assert q.shape == k.shape == v.shape == (3, 2)
    # the published example's rows for "dog"
    np.testing.assert_allclose(q[0], [-0.10, 2.00], atol=1e-12)
    np.testing.assert_allclose(k[0], [0.90, 1.40], atol=1e-12)
    np.testing.assert_allclose(v[0], [1.0, 3.5], atol=1e-12)


def test_project_qkv_rejects_a_transposed_matrix():
    with pytest.raises(ValueError, match="w_q"):
        ac.project_qkv(L.WORKED_X, L.WORKED_W_Q.T, L.WORKED_W_K, L.WORKED_W_V)
    with pytest.raises(ValueError, match="d_k"):
        ac.project_qkv(L.WORKED_X, L.WORKED_W_Q, np.ones((3, 3)), L.WORKED_W_V)


def test_project_qkv_keeps_torch_as_torch():
    torch = pytest.importorskip("torch")
    x = torch.tensor(L.WORKED_X)
    q, k, v = ac.project_qkv(x, *(torch.tensor(w) for w in (L.WORKED_W_Q, L.WORKED_W_K, L.WORKED_W_V)))
    assert isinstance(q, torch.Tensor)
    np.testing.assert_allclose(q.numpy(), L.WORKED_X @ L.WORKED_W_Q)


def test_worked_example_dog_weights_and_output_with_the_package():
    q, k, v = ac.project_qkv(L.WORKED_X, L.WORKED_W_Q, L.WORKED_W_K, L.WORKED_W_V)
    output, weights = ac.scaled_dot_product_attention(q, k, v)
    _, _, _, hand_weights, hand_output = _hand_worked_example(scaled=True)
    np.testing.assert_allclose(weights[0], hand_weights, atol=1e-3)
    np.testing.assert_allclose(output[0], hand_output, atol=1e-3)
    # the published rounded numbers agree with the *scaled* computation to within 1e-3
    np.testing.assert_allclose(weights[0], L.PUBLISHED_DOG_WEIGHTS, atol=1e-3)
    np.testing.assert_allclose(output[0], L.PUBLISHED_DOG_OUTPUT, atol=1e-3)


def test_published_weights_are_the_scaled_ones_not_the_softmax_of_the_printed_scores():
    _, _, _, unscaled_weights, unscaled_output = _hand_worked_example(scaled=False)
    q, k, v = ac.project_qkv(L.WORKED_X, L.WORKED_W_Q, L.WORKED_W_K, L.WORKED_W_V)
    np.testing.assert_allclose(ac.softmax(q @ k.T)[0], unscaled_weights, rtol=1e-12)
    assert np.abs(np.array(unscaled_weights) - L.PUBLISHED_DOG_WEIGHTS).max() > 0.03
    assert np.abs(np.array(unscaled_output) - L.PUBLISHED_DOG_OUTPUT).max() > 0.02
    # the printed similarities are the unscaled scores, rounded to 2 decimals
    np.testing.assert_allclose((q @ k.T)[0], L.PUBLISHED_DOG_SCORES, atol=0.006)


def test_published_output_rounds_differently_from_the_exact_value():
    """The published 2.363 comes from multiplying already-rounded weights; exact rounds to 2.364."""
    _, _, v, weights, output = _hand_worked_example()
    assert f"{output[1]:.3f}" == "2.364"
    rounded = sum(round(w, 3) * v[j][1] for j, w in enumerate(weights))
    assert f"{rounded:.3f}" == "2.363"


# ---------------------------------------------------------------- the exercise checker


def _learner(scale="sqrt_d_k", axis=-1, swap=False, transpose=False, softmax=True, keys_first=False):
    """A learner's qkv_weights, written independently of the exercise module, with optional slips."""

    def qkv_weights(x, w_q, w_k, w_v):
        if swap:
            w_q, w_k = w_k, w_q
        if transpose:
            w_q, w_k, w_v = w_q.T, w_k.T, w_v.T
        q, k, v = x @ w_q, x @ w_k, x @ w_v
        d_k, d_model = q.shape[1], x.shape[1]
        divisor = {"sqrt_d_k": math.sqrt(d_k), "none": 1.0, "d_k": d_k, "sqrt_d_model": math.sqrt(d_model)}[scale]
        scores = (k @ q.T if keys_first else q @ k.T) / divisor
        if not softmax:
            return q, k, v, scores
        return q, k, v, ac.softmax(scores, axis=axis)

    return qkv_weights


def test_exercise_accepts_a_correct_solution_and_shows_the_reference():
    report = ac.exercises.check("qkv_weights", _learner())
    assert report.passed, report.text()
    assert "def qkv_weights" in ac.exercises.solution("qkv_weights").source


def test_exercise_stub_reports_not_done():
    def qkv_weights(x, w_q, w_k, w_v):
        raise NotImplementedError

    report = ac.exercises.check("qkv_weights", qkv_weights)
    assert report.status == "not done" and not report.passed


@pytest.mark.parametrize("slip, words", [
    (dict(scale="none"), "without the scaling"),
    (dict(scale="d_k"), "divided the scores by d_k"),
    (dict(scale="sqrt_d_model"), "sqrt(d_model)"),
    (dict(axis=0), "wrong axis"),
    (dict(softmax=False), "apply the softmax"),
    (dict(swap=True), "swapped"),
    (dict(transpose=True), "transposed matrix"),
    (dict(keys_first=True), "k @ q.T"),
])
def test_exercise_names_each_mistake(slip, words):
    report = ac.exercises.check("qkv_weights", _learner(**slip))
    assert not report.passed
    assert any(words in hint for hint in report.hints), report.text()


def test_exercise_names_two_mistakes_made_together():
    report = ac.exercises.check("qkv_weights", _learner(scale="none", axis=0))
    text = report.text()
    assert "without the scaling" in text and "wrong axis" in text, text


def test_exercise_sentence_is_in_the_cases_and_birds_attend_to_seeds():
    cases = ac.exercises.get("qkv_weights").get_cases()
    assert any(c.args[0] is L.EXERCISE_X or np.array_equal(c.args[0], L.EXERCISE_X) for c in cases)
    _, _, _, weights = _learner()(L.EXERCISE_X, L.EXERCISE_W_Q, L.EXERCISE_W_K, L.EXERCISE_W_V)
    assert L.EXERCISE_TOKENS[int(np.argmax(weights[0]))] == "seeds"


# ---------------------------------------------------------------- the lesson's figure and slider


def test_soft_lookup_figure_has_titles_and_labelled_axes():
    fig = L.plot_soft_lookup()
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def test_soft_lookup_labels_sit_on_the_far_side_from_their_link_lines():
    fig = L.plot_soft_lookup()
    value, _ = L.soft_lookup(L.SOUS_QUERY, L.FRENCH_KEYS, L.ENGLISH_VALUES)
    labels = {a.get_text(): a for a in fig.axes[1].texts}
    for word, point in zip(L.ENGLISH, L.ENGLISH_VALUES):
        offset = np.asarray(labels[word].xyann, dtype=float)          # points, relative to the value's dot
        assert offset @ (point - value) > 0, word                      # pointing away from the blend


def test_bandwidth_explorer_moves_the_curve_and_stays_finite_at_both_ends():
    import re

    explorer = L.bandwidth_explorer(bandwidth=0.3)
    results = explorer.check_extremes()            # raises if an end fails or shows nan/inf
    averaged = {}
    for r in results:
        h = r["values"]["bandwidth"]
        averaged[h] = float(re.search(r"averages about ([0-9.]+)", r["text"]).group(1))
    assert averaged[min(averaged)] < 1.5 < 30 < averaged[max(averaged)]
    assert all("lesson 04's e^H" in r["text"] for r in results)
    explorer.set(bandwidth=0.5)
    fit_line = explorer.state[0].fit
    x_train, y_train = L.regression_data()
    expected, _ = L.nadaraya_watson(fit_line.get_xdata(), x_train, y_train, 0.5)
    np.testing.assert_allclose(fit_line.get_ydata(), expected)


# ---------------------------------------------------------------- claims about other lessons, the quiz


def test_lesson_06_river_bank_gives_itself_its_biggest_weight_038():
    """Cell 'Why not use the word vectors themselves?' cites lesson 06's explorer (q = k there)."""
    from attention_course.lessons import scaled_dot_product as l06

    tokens, q, k, v = l06.river_sentence()
    np.testing.assert_allclose(q, k)
    _, weights = ac.scaled_dot_product_attention(q, k, v)
    bank = tokens.index("bank")
    assert int(np.argmax(weights[bank])) == bank
    assert f"{weights[bank, bank]:.2f}" == "0.38"


@pytest.mark.parametrize("func", [L.soft_lookup, L.gaussian_kernel_weights])
def test_shown_functions_read_as_the_formula(func):
    """The notebook prints these: one line of checks, then the maths with a shape comment per line."""
    import inspect

    source = inspect.getsource(func)
    body = source.split('"""')[2].strip().splitlines()
    assert "raise" not in "".join(body) and body[0].lstrip().startswith(("query, keys", "x_query, x_train"))
    maths = body[1:]
    assert 2 <= len(maths) <= 3 and all("# (" in line for line in maths), maths


def test_quiz_q4_counts_the_symmetry_without_projections():
    from attention_course import quiz

    bank = quiz.load("05_queries_keys_values")
    options = bank.questions[3].options
    right = [i for i, opt in enumerate(options) if opt.correct]
    symmetric = [i for i, opt in enumerate(options) if "Q = K = X" in opt.text]
    assert symmetric and symmetric[0] in right
    assert bank.answer(3, right).correct and not bank.answer(3, [i for i in right if i != symmetric[0]]).correct
    x = L.PROJECTION_X                                       # the claim itself, on the lesson's words
    assert np.allclose(x @ x.T, (x @ x.T).T)


def test_bandwidth_explorer_names_its_errors():
    text = L.bandwidth_explorer(bandwidth=0.3).text
    assert text.startswith("mean squared error: on the training points")
