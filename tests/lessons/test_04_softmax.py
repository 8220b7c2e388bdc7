"""Lesson 04 (softmax): the lesson's helpers and the effects it claims."""
import math

import numpy as np
import pytest

import attention_course as ac
from attention_course.lessons import softmax as sl


def test_naive_softmax_agrees_for_small_scores():
    x = np.array([[2.0, 1.0, 0.1], [-3.0, 0.0, 4.0]])
    np.testing.assert_allclose(sl.naive_softmax(x), ac.softmax(x), rtol=1e-12)
    np.testing.assert_allclose(sl.naive_softmax(x.T, axis=0), ac.softmax(x.T, axis=0), rtol=1e-12)


def test_naive_softmax_overflows_but_stable_one_does_not():
    x = np.array([1000.0, 999.0, 0.0])
    with np.errstate(over="ignore", invalid="ignore"):
        naive = sl.naive_softmax(x)
    assert np.isnan(naive[:2]).all()
    stable = ac.softmax(x)
    assert np.isfinite(stable).all() and stable.sum() == pytest.approx(1)
    # shifting every score by the same amount changes nothing for the stable version
    np.testing.assert_allclose(stable, ac.softmax(x - 1000.0))


def test_naive_softmax_warns_without_errstate():
    with pytest.warns(RuntimeWarning, match="overflow"):
        with np.errstate(over="warn", invalid="ignore"):
            sl.naive_softmax([1000.0, 0.0])


def test_float32_overflows_much_sooner():
    x32 = np.array([100.0, 99.0], dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(sl.naive_softmax(x32)).all()
        assert np.isfinite(sl.naive_softmax(x32.astype(np.float64))).all()
    assert ac.softmax(x32).dtype == np.float32 and np.isfinite(ac.softmax(x32)).all()


def test_published_example_is_wrong():
    claimed = np.array([0.71, 0.26, 0.03])
    actual = ac.softmax(np.array([2.0, 1.0, 0.1]))
    assert not np.allclose(actual, claimed, atol=0.005)
    # the claimed weights imply a gap of ~3.2 between the first and last score, not 1.9
    assert sl.logit_gaps(claimed)[2] < -3.0
    np.testing.assert_allclose(sl.logit_gaps(actual), [0.0, -1.0, -1.9], atol=1e-12)


def test_no_temperature_explains_the_published_example():
    gaps = sl.logit_gaps([0.71, 0.26, 0.03])
    # a temperature T divides every gap by the same T, so the two gap ratios would match
    assert gaps[2] / gaps[1] == pytest.approx(3.16, abs=0.02)
    assert (0.1 - 2.0) / (1.0 - 2.0) == pytest.approx(1.9)


def test_logit_gaps_round_trip():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(7) * 3
    np.testing.assert_allclose(sl.logit_gaps(ac.softmax(x)), x - x.max(), atol=1e-10)
    with pytest.raises(ValueError, match="> 0"):
        sl.logit_gaps([0.5, 0.5, 0.0])


def test_entropy_and_effective_choices():
    assert sl.entropy([0.25] * 4) == pytest.approx(math.log(4))
    assert sl.entropy([0.0, 1.0, 0.0]) == 0
    assert sl.effective_choices([0.2] * 5) == pytest.approx(5)
    np.testing.assert_allclose(sl.entropy(np.array([[1.0, 0.0], [0.5, 0.5]])), [0, math.log(2)])
    with pytest.raises(ValueError):
        sl.entropy([-0.1, 1.1])


def test_temperature_is_a_sharpness_knob():
    scores = np.array([2.0, 1.0, 0.1, -0.5])
    temps = [0.05, 0.2, 0.5, 1.0, 2.0, 5.0, 50.0]
    h = [float(sl.entropy(ac.softmax(scores, temperature=t))) for t in temps]
    assert all(a < b for a, b in zip(h, h[1:]))            # hotter -> flatter
    assert h[0] < 1e-3 and h[-1] > math.log(4) - 0.01     # near one-hot / near uniform
    # the ranking never changes with temperature
    for t in temps:
        assert np.argmax(ac.softmax(scores, temperature=t)) == 0


def test_softmax_jacobian_matches_finite_differences():
    from attention_course.softmax import softmax_jacobian

    x = np.array([0.3, -1.2, 2.0, 0.5])
    jac = softmax_jacobian(ac.softmax(x))
    eps = 1e-6
    numeric = np.stack([(ac.softmax(x + eps * e) - ac.softmax(x - eps * e)) / (2 * eps) for e in np.eye(4)], axis=1)
    np.testing.assert_allclose(jac, numeric, atol=1e-8)


def test_saturation_as_scores_grow():
    scales = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    base = np.array([2.0, 1.0, 0.1])
    sat = sl.saturation(scales[:, None] * base, scales)
    assert sat.max_weight.shape == sat.grad_norm.shape == (6,) and sat.n_trials == 1
    np.testing.assert_allclose(sat.max_weight, [ac.softmax(c * base).max() for c in scales])
    assert np.all(np.diff(sat.max_weight) > 0) and sat.max_weight[-1] > 0.999
    assert np.all(np.diff(sat.grad_norm) < 0) and sat.grad_norm[-1] < 1e-6 < sat.grad_norm[0]
    assert sat.at(4.0).max_weight == pytest.approx(float(ac.softmax(4 * base).max()))


def test_the_saturation_experiment_and_plot_are_the_shared_ones():
    from attention_course import experiments              # lesson 06 uses the same (its own test checks)

    for name in ("saturation", "plot_saturation", "random_scores", "softmax_jacobian_norm"):
        assert getattr(sl, name) is getattr(experiments, name)


def test_it_scores_are_lesson_03s_scores_of_it():
    from attention_course.lessons.dot_product import which_word_example

    ex = which_word_example("tired")
    tokens, scores = sl.it_scores()
    assert tokens == list(ex.tokens)
    np.testing.assert_allclose(scores, ex.scores, atol=1e-12)
    scores[0] = 99.0                                        # a fresh copy every call
    assert sl.it_scores()[1][0] == -0.5


def test_dot_products_spread_like_sqrt_dk_and_scaling_fixes_it():
    dims = [4, 16, 64, 256]
    dot = sl.random_scores(dims, n_trials=300, n_keys=8, seed=0)
    ratio = np.array([dot.at(d).std() for d in dims]) / np.sqrt(dims)
    assert np.all((ratio > 0.8) & (ratio < 1.2))
    raw, scaled = sl.saturation(dot.raw, dot.d_k), sl.saturation(dot.scaled, dot.d_k)
    assert np.all(np.diff(raw.max_weight) > 0) and raw.max_weight[-1] > 0.9
    assert np.ptp(scaled.max_weight) < 0.1 and scaled.max_weight.max() < 0.5


def test_every_query_gets_its_own_keys():
    dot = sl.random_scores([16], n_trials=50, n_keys=8, seed=0)
    rows = dot.at(16)                                       # (50, 8)
    # shared keys would make the 50 rows correlated column by column; fresh keys leave them unrelated
    assert len({tuple(np.round(r, 9)) for r in rows}) == 50
    corr = np.corrcoef(rows.T)[np.triu_indices(8, 1)]
    assert np.abs(corr).max() < 0.5


def test_random_scores_rejects_bad_sizes():
    with pytest.raises(ValueError, match="d_ks"):
        sl.random_scores([0, 4], n_trials=10)


def test_quiz_numbers_come_from_the_package():
    from attention_course import quiz

    bank = quiz.load("04_softmax")
    assert bank.answer(0, float(ac.softmax(np.array([2.0, 1.0, 0.1]))[0])).correct
    fb = bank.answer(0, 0.71)
    assert not fb.correct and "published" in fb.explanation
    assert bank.answer(1, float(ac.softmax(np.array([0.0, math.log(3)]))[0])).correct
    assert not bank.answer(1, 1 / 3).correct
    right = [i for i, opt in enumerate(bank.questions[4].options) if opt.correct]
    assert len(right) == 2 and bank.answer(4, right).correct and not bank.answer(4, right[:1]).correct


# ------------------------------------------------------------------ figures and the widget

def test_temperature_widget_sharpens_and_flattens():
    tokens, scores = sl.it_scores()
    w = sl.temperature_explorer(scores, tokens)
    results = w.check_extremes()          # raises if an update fails or shows nan/inf
    cold, hot = results[0]["text"], results[1]["text"]
    assert "largest weight 1.00 on 'animal'" in cold
    assert "among 1.0 of 11" in cold and "among 10.8 of 11" in hot
    assert all("same order as the scores: True" in r["text"] for r in results)
    w.set(temperature=1.0)
    np.testing.assert_allclose([p.get_height() for p in w.state.patches], ac.softmax(scores))
    w_1 = ac.softmax(scores)
    assert f"1/sum w^2 = {1 / np.sum(w_1 ** 2):.1f}" in w.text


def test_temperature_widget_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="3 scores but 2 tokens"):
        sl.temperature_explorer([1.0, 2.0, 3.0], ["a", "b"])


def test_inverse_sum_of_squares_never_exceeds_effective_choices():
    rng = np.random.default_rng(3)
    for _ in range(50):
        w = ac.softmax(rng.standard_normal(6) * 3)
        assert 1 / np.sum(w ** 2) <= float(sl.effective_choices(w)) + 1e-12


def test_saturation_figure_has_titles_and_labels():
    c = np.array([0.5, 1, 2, 4])
    fig = sl.plot_saturation(sl.saturation(c[:, None] * np.array([2.0, 1.0, 0.1]), c, label="softmax(c s)"),
                             xlabel="scale factor c")
    for ax in fig.axes:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def test_scores_and_weights_figure_shows_both_rows():
    tokens, scores = sl.it_scores()
    fig = sl.plot_scores_and_weights(scores, tokens)
    ax_s, ax_w = fig.axes[:2]
    heights = lambda ax: np.array([p.get_height() for p in ax.patches])  # noqa: E731
    np.testing.assert_allclose(heights(ax_s), scores)
    np.testing.assert_allclose(heights(ax_w), ac.softmax(scores))
    assert (heights(ax_s) < 0).any() and (heights(ax_w) > 0).all()       # negative scores, positive weights
    assert "sum = 1" in ax_w.get_title()
    for ax in (ax_s, ax_w):
        assert ax.get_xlabel() and ax.get_ylabel()
    with pytest.raises(ValueError, match="3 scores but 2 tokens"):
        sl.plot_scores_and_weights([1.0, 2.0, 3.0], ["a", "b"])


def test_uniform_share_is_marked_only_between_the_bars():
    """The 1/n marks sit in the gaps, so they never cross a bar's printed value."""
    tokens, scores = sl.it_scores()
    w = sl.temperature_explorer(scores, tokens)
    w.set(temperature=5.0)                                   # every bar near 1/11: the crowded case
    ax = w.figure.axes[0]
    (marks,) = [c for c in ax.collections if c.get_label().startswith("uniform share")]
    segments = marks.get_segments()
    assert len(segments) == len(tokens) + 1
    bars = [(p.get_x(), p.get_x() + p.get_width()) for p in ax.patches]
    for seg in segments:
        (x0, y0), (x1, y1) = seg
        assert y0 == y1 == pytest.approx(1 / len(tokens))
        assert all(x1 <= left or x0 >= right for left, right in bars)
