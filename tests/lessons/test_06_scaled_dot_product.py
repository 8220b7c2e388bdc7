"""Lesson 06: the sqrt(d_k) experiments show the effects the lesson claims."""
import numpy as np
import pytest

import attention_course as ac
from attention_course.lessons import scaled_dot_product as scaling

D_KS = (1, 4, 16, 64, 256)


def test_unscaled_variance_grows_like_d_k_and_scaled_stays_near_one():
    r = scaling.score_variance(D_KS, n_samples=4000, seed=1)
    ratio = r.raw / np.array(D_KS)
    assert np.all(np.abs(ratio - 1) < 0.15), ratio          # Var(q.k) ~ d_k
    assert np.all(np.abs(r.scaled - 1) < 0.15), r.scaled
    assert r.raw[-1] > 100 * r.raw[0]                       # grows, not a constant


def test_score_variance_is_seeded_and_matches_direct_samples():
    a = scaling.score_variance((8, 32), n_samples=500, seed=3)
    b = scaling.score_variance((8, 32), n_samples=500, seed=3)
    np.testing.assert_array_equal(a.raw, b.raw)
    # the running-sum shortcut equals computing each dot product directly
    q, k, _ = scaling.random_qkv(1, 1, 32, batch=(500,), d_v=0, seed=3)
    direct = np.array([np.var(np.sum(q[:, 0, :d] * k[:, 0, :d], axis=1)) for d in (8, 32)])
    np.testing.assert_allclose(a.raw, direct)


def test_lesson_06_uses_the_shared_experiments():
    from attention_course import experiments                # lesson 04 uses the same (its own test checks)

    for name in ("saturation", "plot_saturation", "random_scores", "random_qkv", "softmax_jacobian_norm",
                 "attention_explorer"):
        assert getattr(scaling, name) is getattr(experiments, name)
    from attention_course.softmax import softmax_jacobian          # the notebook reaches it as lesson.*

    assert scaling.softmax_jacobian is softmax_jacobian


def test_softmax_jacobian_matches_autograd_through_package_softmax():
    pytest.importorskip("torch")
    from attention_course.softmax import softmax_jacobian

    scores = np.array([2.0, -1.0, 0.5, 3.0])
    w = ac.softmax(scores)
    np.testing.assert_allclose(softmax_jacobian(w), scaling.softmax_jacobian_autograd(scores), atol=1e-12)


def test_unscaled_softmax_saturates_and_its_gradient_collapses():
    dot = scaling.random_scores((4, 64, 512), n_trials=300, n_keys=16, seed=0)
    raw, scaled = scaling.saturation(dot.raw, dot.d_k), scaling.saturation(dot.scaled, dot.d_k)
    # unscaled: the largest weight heads toward 1, the gradient toward 0
    assert raw.at(512).max_weight > 0.9
    assert np.all(np.diff(raw.max_weight) > 0)
    assert raw.at(512).grad_norm < 0.01 * raw.at(4).grad_norm
    # scaled: both stay put
    assert np.ptp(scaled.max_weight) < 0.05
    assert scaled.at(512).grad_norm > 0.5 * scaled.at(4).grad_norm
    assert scaled.at(512).grad_norm > 100 * raw.at(512).grad_norm


def test_scaling_changes_nothing_at_d_k_1():
    dot = scaling.random_scores((1,), n_trials=50, n_keys=8, seed=5)
    raw, scaled = scaling.saturation(dot.raw, dot.d_k), scaling.saturation(dot.scaled, dot.d_k)
    assert raw.at(1).max_weight == scaled.at(1).max_weight


def test_river_sentence_bank_attends_to_ground_and_water_words():
    tokens, q, k, v = scaling.river_sentence()
    assert q.shape == k.shape == v.shape == (len(tokens), 4)
    _, w = ac.scaled_dot_product_attention(q, k, v)
    bank = w[tokens.index("bank")]
    top3 = {tokens[j] for j in np.argsort(bank)[-3:]}
    assert top3 == {"river", "bank", "muddy"}


def test_unscaled_river_scores_sharpen_every_row():
    from attention_course.experiments import entropy

    tokens, q, k, v = scaling.river_sentence()
    _, scaled = ac.scaled_dot_product_attention(q, k, v)
    _, unscaled = ac.scaled_dot_product_attention(q, k, v, scale=1.0)
    assert np.all(entropy(unscaled) < entropy(scaled))                 # "every row gets sharper"
    bank, muddy = tokens.index("bank"), tokens.index("muddy")
    assert (round(scaled[bank, bank], 2), round(unscaled[bank, bank], 2)) == (0.38, 0.53)
    # "muddy" gives more to "bank" than to itself: bank's vector is longer and points its way
    assert scaled[muddy, bank] > scaled[muddy, muddy]
    assert np.linalg.norm(q[bank]) > np.linalg.norm(q[muddy])


def test_scaled_saturation_stays_near_its_d_k_4_values_at_the_notebook_settings():
    dot = scaling.random_scores(scaling.D_K_VALUES, n_trials=400, n_keys=16, seed=0)
    scaled = scaling.saturation(dot.scaled, dot.d_k)
    at4 = scaled.at(4)
    assert np.all(np.abs(scaled.max_weight - at4.max_weight) < 0.05)
    assert np.all(np.abs(scaled.grad_norm / at4.grad_norm - 1) < 0.15)


def test_river_explorer_toggles_scaled_and_unscaled_weights():
    pytest.importorskip("ipywidgets")
    tokens, q, k, v = scaling.river_sentence()
    explorer = scaling.river_explorer(selected="bank")
    heatmap, _ = explorer.state
    bank = tokens.index("bank")
    _, scaled = ac.scaled_dot_product_attention(q, k, v)
    _, unscaled = ac.scaled_dot_product_attention(q, k, v, scale=1.0)
    np.testing.assert_allclose(heatmap.values, scaled)
    assert f"strongest: 'bank' ({scaled[bank, bank]:.2f})" in explorer.text
    explorer.set(scores="unscaled")
    np.testing.assert_allclose(heatmap.values, unscaled)
    assert unscaled[bank, bank] > scaled[bank, bank]          # doubled scores: a sharper row
    explorer.set(query=tokens.index("the"))                    # "the", "was", "the" have equal vectors
    assert "a tie between 'the', 'was', 'the'" in explorer.text


def test_weights_by_rank_sorts_each_row_then_averages():
    scores = np.array([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]])
    w = ac.softmax(scores)
    expected = (np.sort(w[0])[::-1] + np.sort(w[1])[::-1]) / 2
    np.testing.assert_allclose(scaling.weights_by_rank(scores), expected)


def test_quiz_answers_are_what_the_package_computes():
    from attention_course import quiz

    bank = quiz.load("06_scaled_dot_product")
    assert 3 <= len(bank) <= 5
    fb = bank.answer(0, 0)                                   # 'rows sum to 1' is the softmax's job
    assert bank.answer(0, 2).correct and not fb.correct and "softmax" in fb.explanation
    # q.k for d_k = 64: the sample standard deviation is close to the answer 8
    sd = float(np.sqrt(scaling.score_variance((64,), n_samples=20000, seed=0).raw[0]))
    assert abs(sd - 8) < 0.3 and bank.answer(1, 8).correct
    fb = bank.answer(1, 64)
    assert not fb.correct and "variance" in fb.explanation
    assert bank.answer(2, [1, 3]).correct and not bank.answer(2, [1, 2, 3]).correct
    assert bank.answer(3, 1).correct and not bank.answer(3, 0).correct
    _, w = ac.scaled_dot_product_attention(np.array([[1.0, 1, 0, 0]]), np.array([[1.0, 1, 0, 0], [0, 0, 0, 0]]),
                                           np.eye(2))                       # raw scores [2, 0], d_k = 4
    assert bank.answer(4, float(w[0, 0])).correct
    fb = bank.answer(4, float(ac.softmax(np.array([2.0, 0.0]))[0]))     # forgot the scale
    assert not fb.correct and "unscaled" in fb.explanation


def test_hand_derived_query_gradient_matches_autograd():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    q, k, v = rng.standard_normal((3, 5)), rng.standard_normal((6, 5)), rng.standard_normal((6, 2))
    q_t = torch.tensor(q, requires_grad=True)
    _, w = ac.scaled_dot_product_attention(q_t, torch.tensor(k), torch.tensor(v))
    w[1, 4].backward()
    np.testing.assert_allclose(q_t.grad[1].numpy(), scaling.weight_gradient_wrt_query(q, k, 1, 4), atol=1e-12)
    assert torch.all(q_t.grad[[0, 2]] == 0)        # other queries do not affect weights[1, :]


def test_nudging_a_query_along_the_gradient_raises_its_weight():
    pytest.importorskip("torch")
    tokens, q, k, v = scaling.river_sentence()
    bank, river = tokens.index("bank"), tokens.index("river")
    history, q_new = scaling.nudge_query(q, k, v, bank, river, steps=5, lr=10.0)
    assert history.shape == (6,)
    assert np.all(np.diff(history) > 0) and history[-1] > 0.5 > history[0]
    changed = np.any(q_new != q, axis=1)
    assert changed.tolist() == [i == bank for i in range(len(tokens))]   # only the bank query moved


def test_score_explorer_top_weight_grows_raw_but_not_scaled():
    pytest.importorskip("ipywidgets")
    explorer = scaling.score_explorer(d_k=64, d_k_max=256)
    _, bars = explorer.state
    explorer.set(d_k=1)
    low = {name: b.values.copy() for name, b in bars.items()}
    np.testing.assert_allclose(low["raw"], low["scaled"])              # d_k = 1: nothing to scale
    explorer.set(d_k=256)
    high = {name: b.values.copy() for name, b in bars.items()}
    assert high["raw"][0] > 0.85 > low["raw"][0] + 0.4
    assert abs(high["scaled"][0] - low["scaled"][0]) < 0.1
    for w in (*low.values(), *high.values()):
        assert w.sum() == pytest.approx(1.0) and np.all(np.diff(w) <= 0)   # sorted largest first


def test_score_explorer_slider_extremes_stay_finite():
    pytest.importorskip("ipywidgets")
    explorer = scaling.score_explorer(d_k=64, d_k_max=128)
    assert "theory: d_k = 64" in explorer.text
    results = explorer.check_extremes()                        # d_k = 1 and d_k = 128, no nan/inf
    assert [r["values"]["d_k"] for r in results] == [1, 128]
    explorer.set(d_k=128)
    raw_var = float(explorer.text.split("Var(q . k) = ")[1].split(" ")[0])
    assert 100 < raw_var < 160
    with pytest.raises(ValueError, match="d_k_max"):
        scaling.score_explorer(d_k_max=0)


def test_score_variance_rejects_bad_d_ks_with_a_clear_message():
    with pytest.raises(ValueError, match="d_ks"):
        scaling.score_variance([0, 4])
    with pytest.raises(ValueError, match="n_trials"):
        scaling.score_variance((4,), n_samples=0)
