"""Lesson 11: the claims the additive-attention notebook makes, checked on the lesson's own functions."""
import numpy as np
import pytest

import attention_course as ac
from attention_course.lessons import additive_attention as lesson

from .._threads import torch_at_two_threads, torch_thread_counts

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def al():
    return lesson.toy_alignment(d_q=4, d_k=6, seed=0)


@pytest.fixture(scope="module")
def fits(al):
    return lesson.fit_hidden_sizes(al, hidden_sizes=range(1, 9), restarts=3)


# ---------------------------------------------------------------- the toy problem and the scores
def test_toy_alignment_crosses_and_has_different_widths(al):
    assert al.decoder.shape == (5, 4) and al.encoder.shape == (5, 6)
    assert [al.source[j] for j in al.target] == ["the", "Area", "Economic", "European", "."]
    np.testing.assert_array_equal(al.target_matrix.sum(1), 1)
    with pytest.raises(ValueError, match="same last dimension d_k"):
        ac.scaled_dot_product_attention(al.decoder, al.encoder, al.encoder)


def test_concatenated_network_equals_the_additive_score(al):
    rng = np.random.default_rng(1)
    w_q, w_k, w_v = rng.standard_normal((4, 3)), rng.standard_normal((6, 3)), rng.standard_normal(3)
    np.testing.assert_allclose(lesson.concatenated_scores(al.decoder, al.encoder, w_q, w_k, w_v),
                               ac.additive_scores(al.decoder, al.encoder, w_q, w_k, w_v), rtol=1e-12)


def test_multiplicative_score_bridges_to_the_dot_product():
    rng = np.random.default_rng(2)
    q, k = rng.standard_normal((3, 6)), rng.standard_normal((4, 6))
    np.testing.assert_allclose(lesson.multiplicative_scores(q, k, np.eye(6)), q @ k.T, rtol=1e-12)
    w_q, w_k = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    np.testing.assert_allclose(lesson.multiplicative_scores(q, k, w_q @ w_k.T), (q @ w_q) @ (k @ w_k).T, rtol=1e-12)
    np.testing.assert_allclose(lesson.multiplicative_scores(q[:, :4], k, rng.standard_normal((4, 6))).shape, (3, 4))
    with pytest.raises(ValueError, match=r"w \(d_q, d_k\)"):
        lesson.multiplicative_scores(q, k, np.eye(5))


# ---------------------------------------------------------------- fitting
def test_written_out_adam_equals_torch_adam():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4, 3, dtype=torch.float64, generator=g)
    target = torch.randn(3, dtype=torch.float64, generator=g)
    p1 = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    p2 = p1.detach().clone().requires_grad_()
    loss = lambda p: ((p @ a - target) ** 2).sum() + torch.tanh(p).sum()       # noqa: E731
    lesson.adam([p1], lambda: loss(p1), steps=25, lr=0.1)
    opt = torch.optim.Adam([p2], lr=0.1)
    for _ in range(25):
        opt.zero_grad()
        loss(p2).backward()
        opt.step()
    torch.testing.assert_close(p1, p2, rtol=1e-12, atol=1e-12)


def test_both_scorers_reach_the_crossing_alignment(al, fits):
    mult = lesson.fit(al, "multiplicative", seed=0)
    assert mult.n_params == 24 and mult.n_correct(al) == 5 and mult.loss < 0.1
    assert fits[3].n_params == 33 and fits[3].n_correct(al) == 5 and fits[3].loss < 0.05
    for h in range(3, 9):
        assert fits[h].n_correct(al) == 5, h
    assert mult.history[-1] < mult.history[0] and fits[3].history[-1] < fits[3].history[0]


def test_one_hidden_unit_ranks_the_keys_alike_and_cannot_fit(al, fits):
    assert lesson.same_ranking_for_every_query(fits[1].scores)
    assert fits[1].n_correct(al) <= 1 and fits[1].loss > 0.5
    assert not lesson.same_ranking_for_every_query(fits[3].scores)
    for seed in range(3):                                    # any h = 1 parameters, not just the fitted ones
        rng = np.random.default_rng(seed)
        s = ac.additive_scores(al.decoder, al.encoder, rng.standard_normal((4, 1)), rng.standard_normal((6, 1)),
                               rng.standard_normal(1))
        assert lesson.same_ranking_for_every_query(s)


def test_batched_fits_equal_fitting_each_size_alone(al, fits):
    for h in (1, 3, 5):
        alone = min((lesson.fit(al, "additive", hidden=h, seed=r) for r in range(3)), key=lambda f: f.loss)
        assert alone.loss == pytest.approx(fits[h].loss, rel=1e-6, abs=1e-9)
        np.testing.assert_allclose(alone.scores, fits[h].scores, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(ac.additive_scores(al.decoder, al.encoder, **fits[h].params), fits[h].scores,
                                   rtol=1e-10, atol=1e-12)


def test_scale_zero_gives_uniform_weights(fits):
    np.testing.assert_allclose(fits[3].weights(0.0), 0.2)


def test_fit_rejects_an_unknown_kind(al):
    with pytest.raises(ValueError, match="kind must be"):
        lesson.fit(al, "bilinear")


# ---------------------------------------------------------------- cost
def test_cost_counts():
    additive, mult, dot = lesson.score_costs(n_q=512, n_k=512, d=64, h=64)
    assert additive.largest == (512, 512, 64) and additive.tanh == 512 * 512 * 64
    assert 4 * additive.largest_elements / 1e6 == pytest.approx(67.1, abs=0.05)            # MB in float32
    assert dot.flops == 2 * 512 * 512 * 64 and dot.largest == mult.largest == (512, 512)
    assert additive.flops / dot.flops == pytest.approx(1.75)                                 # as the notebook says
    big_add, _, big_dot = lesson.score_costs(n_q=10**6, n_k=10**6, d=64, h=64)
    assert big_add.flops / big_dot.flops == pytest.approx(1.5, rel=1e-3)                    # long inputs


def test_timing_runs_and_agrees():
    t = lesson.time_scores(ns=(16, 32), d=8, h=8, repeats=1)
    assert t["agree"] and t["additive"].shape == t["dot"].shape == (2,) and np.all(t["additive"] > 0)


def test_the_hidden_tensor_is_what_the_quiz_says():
    # quiz: n_q = n_k = 1000, h = 128, float32 -> 512 MB
    quiz = ac.quiz.load("11_additive_attention")
    numeric = [i for i, q in enumerate(quiz.questions) if q.kind == "numeric"][0]
    (c, _, _) = lesson.score_costs(n_q=1000, n_k=1000, d=8, h=128)
    assert quiz.answer(numeric, 4 * c.largest_elements / 1e6).correct


# ---------------------------------------------------------------- figures and the widget
def test_figures_have_titles(al, fits):
    fig = lesson.plot_alignments(al, {"a": fits[3].weights(), "b": fits[1].weights()})
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["a", "b"]
    assert lesson.plot_timing(lesson.time_scores(ns=(8, 16), d=4, h=4, repeats=1)).axes[0].get_title()


def test_alignment_explorer_extremes(al, fits):
    explorer = lesson.alignment_explorer(al, fits, hidden=1, scale=1.0)
    assert "every query ranks the keys in the same order" in explorer.text
    results = {(r["values"]["hidden"], r["values"]["scale"]): r["text"] for r in explorer.check_extremes()}
    assert "all weights equal" in results[(1, 0.0)] and "all weights equal" in results[(8, 0.0)]
    assert "5 of 5 target words" in results[(8, 2.0)]
    assert "la -> the, zone -> Area, économique -> Economic, européenne -> European, . -> ." in results[(8, 2.0)]
    explorer.set(hidden=3, scale=1.0)
    np.testing.assert_allclose(explorer.state.values, fits[3].weights())
    with pytest.raises(ValueError, match="not one of the fitted sizes"):
        lesson.alignment_explorer(al, fits, hidden=9)


def _red_pixels(png):
    from io import BytesIO

    from PIL import Image

    rgb = np.asarray(Image.open(BytesIO(png)).convert("RGB")).astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(np.sum((r > 180) & (g < 80) & (b < 80)))


def test_the_stored_alignment_figure_shows_the_outlines(al, fits):
    from attention_course import viz

    with_boxes = lesson.plot_alignments(al, {"h = 3": fits[3].weights()})
    without, ax = viz.new_figure(1, width=4.4, height=3.8)
    viz.heatmap(fits[3].weights(), al.target_words, al.source, ax=ax, colorbar=False)
    assert _red_pixels(viz.to_png(with_boxes)) > 200 > _red_pixels(viz.to_png(without))     # five red frames


def test_scorer_diagram_names_every_shape():
    fig = lesson.plot_scorer(d_q=4, d_k=6, h=3)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    for fragment in ("q_i\n(4,)", "k_j\n(6,)", "@ W_q (4, 3)", "@ W_k (6, 3)", "tanh\n(3,)", "w_v (3,)", "(n_q, n_k, h)"):
        assert fragment in texts, fragment


def test_widget_colour_bar_says_attention_weight(al, fits):
    explorer = lesson.alignment_explorer(al, fits, hidden=3)
    assert any(ax.get_ylabel() == "attention weight" for ax in explorer.figure.axes)
    assert explorer.text.startswith("h = 3 hidden units") and "hidden = 3, scale = 1" in explorer._static_text()
    explorer.set(hidden=1)
    assert explorer.text.startswith("h = 1 hidden unit (")


def test_counted_ratio_falls_from_3_5_to_1_75_as_n_grows():
    ratios = [a.flops / d.flops for a, _, d in (lesson.score_costs(n, n, 64, 64) for n in (64, 128, 256, 512))]
    np.testing.assert_allclose(ratios, [3.5, 2.5, 2.0, 1.75])                                # 128 / n + 1.5


def test_the_fits_train_on_one_torch_thread_and_give_the_callers_back(al, monkeypatch):
    # tiny tensors: a second thread only spins against other kernels (measured 14.5 s instead of 0.3 s)
    import torch
    from threadpoolctl import threadpool_limits

    seen, adam = [], lesson.adam

    def recording_adam(*args, **kwargs):
        seen.append(torch_thread_counts(torch))
        return adam(*args, **kwargs)
    monkeypatch.setattr(lesson, "adam", recording_adam)
    with torch_at_two_threads(torch), threadpool_limits(limits=2):     # threadpoolctl alone misses MKL here
        lesson.fit(al, "multiplicative", steps=2)
        lesson.fit_hidden_sizes(al, hidden_sizes=(1, 2), restarts=1, steps=2)
        assert torch.get_num_threads() == 2
    assert [counts[0] for counts in seen] == [1, 1] and {counts[1] for counts in seen} <= {1, None}
