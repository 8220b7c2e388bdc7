"""Lesson 03 (dot product): the package helpers and the claims the lesson makes."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from attention_course.lessons import dot_product as dp

finite = st.floats(-100, 100, allow_nan=False, allow_infinity=False)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 12).flatmap(lambda d: st.tuples(arrays(np.float64, d, elements=finite),
                                                        arrays(np.float64, d, elements=finite))))
def test_dot_is_the_sum_of_products(ab):
    a, b = ab
    assert dp.dot(a, b) == pytest.approx(float(np.sum(a * b)), rel=1e-9, abs=1e-9)


def test_dot_by_hand():
    # (1*4) + (2*5) + (3*6) worked out term by term
    assert dp.dot([1, 2, 3], [4, 5, 6]) == 4 + 10 + 18


@pytest.mark.parametrize("len_a,len_b,angle", [(1, 1, 0), (2, 3, 60), (1.5, 0.5, 90), (2, 2, 135), (1, 3, 180), (2.5, 1, 300)])
def test_algebra_agrees_with_geometry(len_a, len_b, angle):
    a, b = dp.vector_2d(len_a, 0.0), dp.vector_2d(len_b, angle)
    assert dp.norm(a) == pytest.approx(len_a) and dp.norm(b) == pytest.approx(len_b)
    assert dp.dot(a, b) == pytest.approx(dp.dot_from_geometry(len_a, len_b, angle), abs=1e-12)


def test_sign_follows_the_angle():
    a = dp.vector_2d(1, 0)
    assert dp.dot(a, dp.vector_2d(1, 45)) > 0
    assert dp.dot(a, dp.vector_2d(1, 90)) == pytest.approx(0, abs=1e-12)
    assert dp.dot(a, dp.vector_2d(1, 135)) < 0


def test_length_scales_dot_but_not_cosine():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(5), rng.standard_normal(5)
    assert dp.dot(a, 3 * b) == pytest.approx(3 * dp.dot(a, b))
    assert dp.cosine_similarity(a, 3 * b) == pytest.approx(dp.cosine_similarity(a, b))
    assert dp.cosine_similarity(a, -b) == pytest.approx(-dp.cosine_similarity(a, b))


def test_angle_between():
    assert dp.angle_between([1, 0], [0, 2]) == pytest.approx(90)
    assert dp.angle_between([1, 1], [2, 2]) == pytest.approx(0, abs=1e-6)
    assert dp.angle_between([1, 0], [-1, 0], degrees=False) == pytest.approx(math.pi)
    rng = np.random.default_rng(2)
    for _ in range(20):
        a, b = rng.standard_normal(4), rng.standard_normal(4)
        assert dp.angle_between(a, b, degrees=False) == pytest.approx(math.acos(dp.cosine_similarity(a, b)))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"a \(3,\) and b \(2,\)"):
        dp.dot([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="1-D"):
        dp.dot([[1, 2]], [[1, 2]])
    with pytest.raises(ValueError, match="zero vector"):
        dp.cosine_similarity([0, 0], [1, 0])
    with pytest.raises(ValueError, match="length"):
        dp.vector_2d(-1, 0)


def test_query_scores_is_one_dot_per_key():
    rng = np.random.default_rng(0)
    q, keys = rng.standard_normal(4), rng.standard_normal((6, 4))
    scores = dp.query_scores(q, keys)
    assert scores.shape == (6,)
    np.testing.assert_allclose(scores, [dp.dot(q, k) for k in keys])


def test_query_scores_shape_errors():
    with pytest.raises(ValueError, match=r"q is \(3,\).*keys is \(5, 4\)"):
        dp.query_scores(np.ones(3), np.ones((5, 4)))
    with pytest.raises(ValueError, match="matrix"):
        dp.query_scores(np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="query_scores: keys must be a list or array of numbers"):
        dp.query_scores([1, 2], [[1, "a"]])
    with pytest.raises(ValueError, match="angle_deg"):
        dp.vector_2d(1.0, float("nan"))


@pytest.mark.parametrize("ending,expected", [("tired", "animal"), ("wide", "street")])
def test_which_word_it_is_about(ending, expected):
    ex = dp.which_word_example(ending)
    assert ex.tokens[ex.query_index] == "it"
    assert ex.keys.shape == (len(ex.tokens), len(ex.features))
    assert ex.best == expected
    # the winner wins clearly, and grammar words score below zero
    top, second = np.sort(ex.scores)[::-1][:2]
    assert top - second >= 0.5
    assert ex.scores[ex.tokens.index("because")] < 0


def test_which_word_rejects_unknown_ending():
    with pytest.raises(ValueError, match="ending"):
        dp.which_word_example("happy")


def test_quiz_numbers_come_from_the_package():
    from attention_course import quiz

    bank = quiz.load("03_dot_product")
    assert bank.answer(0, dp.dot_from_geometry(2, 3, 60)).correct
    assert not bank.answer(0, 6.0).correct            # forgot the cosine
    # the Q K^T question: the right option gives the shape and the entry Q @ K.T really has
    rng = np.random.default_rng(5)
    Q, K = rng.standard_normal((4, 64)), rng.standard_normal((10, 64))
    S = Q @ K.T
    assert S[2, 7] == pytest.approx(dp.dot(Q[2], K[7]))
    np.testing.assert_allclose(S[2], dp.query_scores(Q[2], K))
    right = [opt.text for opt in bank.questions[2].options if opt.correct]
    assert right == [f"Shape {S.shape}; S[2, 7] is query 2 dotted with key 7"]
    assert (Q[:, None, :] * K[None, :, :]).shape == (4, 10, 64)          # option D's products before the sum
    # the "why animal" question: animal and street keys have equal length, as the explanation says
    ex = dp.which_word_example("tired")
    assert dp.norm(ex.keys[ex.tokens.index("animal")]) == dp.norm(ex.keys[ex.tokens.index("street")])


# ------------------------------------------------------------------ the query_scores exercise

def _learner_mistakes():
    """Learner-style wrong answers, written independently of the checker's buggy functions."""

    def no_sum(q, K):
        return np.array([[q[i] * row[i] for i in range(len(q))] for row in K])

    def over_keys(q, K):
        return np.einsum("ji,i->i", K, q)

    def transposed(q, K):
        return q @ K

    def cosine(q, K):
        return np.array([dp.cosine_similarity(q, row) for row in K])

    def total(q, K):
        return float(sum(dp.dot(q, row) for row in K))

    def first_key(q, K):
        out = []
        for _ in range(len(K)):
            out.append(dp.dot(q, K[0]))
        return np.array(out)

    def over_features(q, K):
        return np.array([dp.dot(q, K[j]) for j in range(len(q))])

    def scaled(q, K):
        return np.array([dp.dot(q, row) for row in K]) / np.sqrt(q.shape[0])

    def weights(q, K):
        s = K @ q
        return np.exp(s) / np.exp(s).sum()

    return {"did not add the products": no_sum, "COLUMNS of K": over_keys, "q @ K": transposed,
            "cosine similarity": cosine, "single number": total, "first key": first_key,
            "loop ran over the d_k features": over_features, "divided the scores by sqrt(d_k)": scaled,
            "into weights with a softmax": weights}


def test_query_scores_exercise_accepts_correct_solutions():
    import attention_course as ac

    assert ac.exercises.check("query_scores", lambda q, K: K @ q).passed
    assert ac.exercises.check("query_scores", lambda q, K: np.array([dp.dot(q, k) for k in K])).passed
    assert ac.exercises.check("query_scores", dp.query_scores).passed
    assert "K @ q" in ac.exercises.solution("query_scores").source


def test_query_scores_exercise_stub_is_not_done():
    import attention_course as ac

    def query_scores(q, K):
        raise NotImplementedError

    report = ac.exercises.check("query_scores", query_scores)
    assert not report.passed and report.status == "not done"


@pytest.mark.parametrize("fragment", list(_learner_mistakes()))
def test_query_scores_exercise_names_each_mistake(fragment):
    import attention_course as ac

    report = ac.exercises.check("query_scores", _learner_mistakes()[fragment])
    assert not report.passed
    assert any(fragment in h for h in report.hints), report.hints


def test_every_catalogue_mistake_is_reachable():
    from attention_course.exercises import query_scores as qs

    learner = _learner_mistakes()
    for mistake in qs.MISTAKES:
        assert any(fragment in mistake.hint for fragment in learner), mistake.hint


# ------------------------------------------------------------------ figures and the widget

def _numbers(text, label):
    import re

    line = next(ln for ln in text.splitlines() if ln.startswith(label))
    return float(re.findall(r"-?\d+\.\d+", line)[-1])


@pytest.mark.parametrize("angle,sign", [(0, "positive"), (60, "positive"), (90, "zero"), (135, "negative"),
                                        (180, "negative"), (270, "zero"), (330, "positive")])
def test_explorer_works_the_product_out_both_ways(angle, sign):
    w = dp.dot_product_explorer()
    w.set(angle=angle, length_a=2.0, length_b=1.5)
    by_sum, by_geometry = _numbers(w.text, "sum of products"), _numbers(w.text, "|a||b| cos")
    assert by_sum == pytest.approx(by_geometry, abs=0.011)
    assert by_sum == pytest.approx(3.0 * math.cos(math.radians(angle)), abs=0.006)
    assert f"sign: {sign}" in w.text


def test_explorer_extremes_stay_finite():
    w = dp.dot_product_explorer()
    results = w.check_extremes()          # raises if an update fails or shows nan/inf
    assert len(results) == 8
    w.set(length_a=0.0)
    assert "length 0" in w.text and _numbers(w.text, "sum of products") == 0
    assert "-0.00" not in dp.dot_product_explorer(angle=90).text


def test_explorer_moves_the_arrow_and_the_marker():
    w = dp.dot_product_explorer()
    w.set(angle=180, length_a=3.0, length_b=3.0)
    plane, shadow, drop, curve = w.state
    x, y = curve.dots[0].get_data()
    assert x[0] == 180 and y[0] == pytest.approx(-9.0)
    assert plane.quiver.U[1] == pytest.approx(-3.0)
    assert shadow.get_xdata()[1] == pytest.approx(-3.0)             # the shadow points left: negative
    assert min(curve.curves[0].get_ydata()) == pytest.approx(-9.0)


def test_static_figures_have_titles_and_labels():
    for fig in (dp.plot_sign_and_size(), dp.plot_query_scores(dp.which_word_example("tired"))):
        for ax in fig.axes:
            assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


# ------------------------------------------------------------------ all queries at once

@pytest.mark.parametrize("ending", ["tired", "wide"])
def test_all_queries_at_once_is_one_query_per_row(ending):
    ex = dp.all_queries_example(ending)
    n_q, n_k = len(ex.query_words), len(ex.tokens)
    assert ex.queries.shape == (n_q, ex.keys.shape[1]) and ex.scores.shape == (n_q, n_k)
    for i, q in enumerate(ex.queries):
        np.testing.assert_allclose(ex.scores[i], dp.query_scores(q, ex.keys))
    one = dp.which_word_example(ending)
    np.testing.assert_allclose(ex.scores[ex.query_words.index("it")], one.scores)


def test_the_other_queries_find_what_the_notebook_says():
    ex = dp.all_queries_example("tired")
    best = {w: ex.tokens[j] for w, j in zip(ex.query_words, ex.scores.argmax(axis=1))}
    assert best == {"didn't": "cross", "cross": "street", "it": "animal", "tired": "animal"}
    top_two = np.sort(ex.scores, axis=1)[:, -2:]
    assert np.all(top_two[:, 1] - top_two[:, 0] >= 0.4)             # no ties for the winner


def test_the_all_scores_heatmap_names_its_shape_and_its_colour_bar():
    hm = dp.plot_all_scores(dp.all_queries_example())
    assert hm.values.shape == (4, 11) and "4 queries x 11 keys" in hm.ax.get_title()
    assert hm.colorbar.ax.get_ylabel() == "score  q · k"
    assert hm.image.get_clim() == (-2, 2)                          # centred: white is a score of 0


def test_query_scores_reads_as_the_formula():
    import inspect

    body = [line for line in inspect.getsource(dp.query_scores).splitlines()
            if line.strip() and not line.strip().startswith(('"""', "Shapes", "def "))]
    assert len(body) <= 3 and any("keys @ q" in line for line in body)


def test_quiz_fixes():
    from attention_course import quiz

    bank = quiz.load("03_dot_product")
    ex = dp.which_word_example("tired")
    # Q5 option A is false: animal's key is not longer than street's
    a = bank.questions[4].options[0]
    assert not a.correct and "longer" in a.text
    c = bank.questions[4].options[2]                               # "nearest noun": street is nearer to it
    assert not c.correct and "'street' stands closer" in c.explain
    it = ex.tokens.index("it")
    assert it - ex.tokens.index("street") < it - ex.tokens.index("animal")
    assert dp.norm(ex.keys[ex.tokens.index("animal")]) == dp.norm(ex.keys[ex.tokens.index("street")])
    # Q4: a partly right answer does not say "Right" while saying "Not quite"
    fb = bank.answer(3, [1])
    assert not fb.correct and "Right" not in fb.explanation and "1 more correct option" in fb.explanation
    q, k = np.array([1.0, -2.0]), np.array([3.0, 1.0])               # q . k = 1 > 0; adding 1 lowers it
    assert dp.dot(q, k + 1) < dp.dot(q, k) and dp.dot(q, 2 * k) > dp.dot(q, k)
    assert bank.answer(3, [1, 3]).correct


def test_the_wind_picture_has_one_panel_per_wind():
    fig = dp.plot_wind()
    assert [ax.get_title() for ax in fig.axes] == [f"{name}: {effect}" for name, effect, _ in dp.WINDS]
    # each wind's direction has the sign its title gives: along, across, against the walk (+x)
    signs = [np.sign(head[0] - tail[0]) for _, _, (tail, head) in dp.WINDS]
    assert signs == [1, 0, -1]
