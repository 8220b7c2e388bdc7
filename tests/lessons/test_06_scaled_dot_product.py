"""Lesson 06: the sqrt(d_k) experiments show the effects the lesson claims."""
import numpy as np
import pytest

import attention_course as ac
from attention_course.lessons import scaled_dot_product as scaling

D_KS = (1, 4, 16, 64, 256)


def test_unscaled_variance_grows_like_d_k_and_scaled_stays_near_one():
    r = scaling.score_variance(D_KS, n_samples=4000, seed=1)
    ratio = r["unscaled"] / np.array(D_KS)
    assert np.all(np.abs(ratio - 1) < 0.15), ratio          # Var(q.k) ~ d_k
    assert np.all(np.abs(r["scaled"] - 1) < 0.15), r["scaled"]
    assert r["unscaled"][-1] > 100 * r["unscaled"][0]       # grows, not a constant


def test_score_variance_is_seeded_and_matches_direct_samples():
    a = scaling.score_variance((8, 32), n_samples=500, seed=3)
    b = scaling.score_variance((8, 32), n_samples=500, seed=3)
    np.testing.assert_array_equal(a["unscaled"], b["unscaled"])
    # the running-sum shortcut equals computing each dot product directly
    q, k = scaling.random_queries_keys(500, 32, seed=3)
    direct = np.array([np.var(np.sum(q[:, :d] * k[:, :d], axis=1)) for d in (8, 32)])
    np.testing.assert_allclose(a["unscaled"], direct)


def test_score_samples_scaled_divides_by_sqrt_d_k():
    raw = scaling.score_samples(64, n_samples=100, seed=2)
    scaled = scaling.score_samples(64, n_samples=100, scaled=True, seed=2)
    np.testing.assert_allclose(scaled * 8, raw)


def test_softmax_jacobian_matches_autograd_through_package_softmax():
    pytest.importorskip("torch")
    scores = np.array([2.0, -1.0, 0.5, 3.0])
    w = ac.softmax(scores)
    np.testing.assert_allclose(scaling.softmax_jacobian(w), scaling.softmax_jacobian_autograd(scores), atol=1e-12)


def test_softmax_jacobian_is_zero_for_one_hot_and_positive_for_uniform():
    assert scaling.softmax_jacobian_norm(np.array([0.0, 1.0, 0.0])) == 0.0
    n = 16
    assert scaling.softmax_jacobian_norm(np.full(n, 1 / n)) == pytest.approx(np.sqrt(n - 1) / n)


def test_unscaled_softmax_saturates_and_its_gradient_collapses():
    r = scaling.saturation((4, 64, 512), n_keys=16, n_trials=300, seed=0)
    # unscaled: the largest weight heads toward 1, the gradient toward 0
    assert r["max_weight_unscaled"][-1] > 0.9
    assert np.all(np.diff(r["max_weight_unscaled"]) > 0)
    assert r["grad_norm_unscaled"][-1] < 0.01 * r["grad_norm_unscaled"][0]
    # scaled: both stay put
    assert np.ptp(r["max_weight_scaled"]) < 0.05
    assert r["grad_norm_scaled"][-1] > 0.5 * r["grad_norm_scaled"][0]
    assert r["grad_norm_scaled"][-1] > 100 * r["grad_norm_unscaled"][-1]
    for name in ("unscaled", "scaled"):
        assert np.all(r[f"grad_q25_{name}"] <= r[f"grad_norm_{name}"])
        assert np.all(r[f"grad_norm_{name}"] <= r[f"grad_q75_{name}"])


def test_saturation_uses_the_scale_it_claims():
    # at d_k = 1 scaling changes nothing, so both columns must agree exactly
    r = scaling.saturation((1,), n_keys=8, n_trials=50, seed=5)
    assert r["max_weight_unscaled"][0] == r["max_weight_scaled"][0]


def test_river_sentence_bank_attends_to_ground_and_water_words():
    tokens, q, k, v = scaling.river_sentence()
    assert q.shape == k.shape == v.shape == (len(tokens), 4)
    _, w = ac.scaled_dot_product_attention(q, k, v)
    bank = w[tokens.index("bank")]
    top3 = {tokens[j] for j in np.argsort(bank)[-3:]}
    assert top3 == {"river", "bank", "muddy"}


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_sizes_are_rejected_with_a_clear_message(bad):
    with pytest.raises(ValueError, match="d_k"):
        scaling.score_samples(bad)


def test_bad_d_ks_rejected():
    with pytest.raises(ValueError, match="d_ks"):
        scaling.score_variance([0, 4])
    with pytest.raises(ValueError, match="d_ks"):
        scaling.saturation([])


def test_quiz_answers_are_what_the_package_computes():
    from attention_course import quiz

    bank = quiz.load("06_scaled_dot_product")
    assert 3 <= len(bank) <= 5
    fb = bank.answer(0, 0)                                   # 'rows sum to 1' is the softmax's job
    assert bank.answer(0, 2).correct and not fb.correct and "softmax" in fb.explanation
    # q.k for d_k = 64: the sample standard deviation is close to the answer 8
    sd = float(np.sqrt(scaling.score_variance((64,), n_samples=20000, seed=0)["unscaled"][0]))
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


def test_score_spread_top_weight_grows_raw_but_not_scaled():
    data = scaling.ScoreSpread(d_k_max=256, n_samples=500, n_queries=300, seed=0)
    low, high = data.at(1), data.at(256)
    assert high["sorted_raw"][0] > 0.85 > low["sorted_raw"][0] + 0.4
    assert abs(high["sorted_scaled"][0] - low["sorted_scaled"][0]) < 0.1
    for r in (low, high):
        np.testing.assert_allclose(r["sorted_raw"].sum(), 1.0)
        assert np.all(np.diff(r["sorted_raw"]) <= 0)               # sorted largest first
    np.testing.assert_allclose(low["raw"], low["scaled"])          # d_k = 1: nothing to scale
    with pytest.raises(ValueError, match="d_k"):
        data.at(257)


def test_score_explorer_slider_extremes_stay_finite():
    pytest.importorskip("ipywidgets")
    explorer = scaling.score_explorer(d_k=64, d_k_max=128)
    assert "theory: d_k = 64" in explorer.text
    results = explorer.check_extremes()                        # d_k = 1 and d_k = 128, no nan/inf
    assert [r["values"]["d_k"] for r in results] == [1, 128]
    explorer.set(d_k=128)
    raw_var = float(explorer.text.split("Var(q . k) = ")[1].split(" ")[0])
    assert 100 < raw_var < 160
