"""attention_course.experiments: the experiments lessons 04, 06 and 07 share.

Expected values are computed here another way (direct dot products, plain loops), never copied
from a run.
"""
import math

import numpy as np
import pytest

import attention_course as ac
from attention_course import experiments as ex

from .._threads import torch_at_two_threads, torch_thread_counts


# ---------------------------------------------------------------- random_qkv
def test_random_qkv_shapes_follow_the_arguments():
    q, k, v = ex.random_qkv(3, 5, 4, batch=(2, 6))
    assert q.shape == (2, 6, 3, 4) and k.shape == (2, 6, 5, 4) and v.shape == (2, 6, 5, 4)
    q, k, v = ex.random_qkv(3, 5, 4, d_v=7, batch=2)
    assert q.shape == (2, 3, 4) and k.shape == (2, 5, 4) and v.shape == (2, 5, 7)
    _, _, v = ex.random_qkv(1, 5, 4, d_v=0)
    assert v.shape == (5, 0)


def test_random_qkv_is_seeded_and_standard_normal():
    a, b = ex.random_qkv(200, 200, 50, seed=4), ex.random_qkv(200, 200, 50, seed=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], ex.random_qkv(200, 200, 50, seed=5)[0])
    for x in a:                                           # 10 000 draws each
        assert abs(x.mean()) < 0.05 and abs(x.std() - 1) < 0.05
    assert abs(np.corrcoef(a[0].ravel(), a[1].ravel())[0, 1]) < 0.05


@pytest.mark.parametrize("kwargs, name", [(dict(n_q=0), "n_q"), (dict(d_k=2.5), "d_k"), (dict(batch=(2, 0)), "batch"),
                                          (dict(d_v=-1), "d_v")])
def test_random_qkv_names_a_bad_size(kwargs, name):
    args = dict(n_q=2, n_k=3, d_k=4) | kwargs
    with pytest.raises(ValueError, match=name):
        ex.random_qkv(**args)


# ---------------------------------------------------------------- random_scores
def test_random_scores_are_dot_products_of_the_first_d_k_coordinates():
    d_ks = (1, 3, 8)
    scores = ex.random_scores(d_ks, n_trials=6, n_keys=4, seed=2)
    q, k, _ = ex.random_qkv(1, 4, 8, d_v=0, batch=(6,), seed=2)
    assert scores.raw.shape == (3, 6, 4)
    for i, d in enumerate(d_ks):
        direct = np.array([[sum(q[t, 0, c] * k[t, j, c] for c in range(d)) for j in range(4)] for t in range(6)])
        np.testing.assert_allclose(scores.raw[i], direct, atol=1e-12)
        np.testing.assert_allclose(scores.at(d), direct, atol=1e-12)
        np.testing.assert_allclose(scores.scaled[i], direct / math.sqrt(d), atol=1e-12)


def test_random_scores_variance_grows_like_d_k_and_scaled_stays_near_one():
    scores = ex.random_scores((1, 16, 256), n_trials=4000, seed=0)
    raw_var = scores.raw.var(axis=(1, 2))
    np.testing.assert_allclose(raw_var / scores.d_k, 1, atol=0.1)
    np.testing.assert_allclose(scores.scaled.var(axis=(1, 2)), 1, atol=0.1)


def test_random_scores_gives_every_trial_fresh_keys():
    scores = ex.random_scores((32,), n_trials=400, n_keys=8, seed=0).at(32)     # (400, 8)
    # with 8 keys shared by all 400 queries, key j's column would have a common direction; with
    # fresh keys the columns are independent: their correlations are sampling noise
    corr = np.corrcoef(scores.T)[np.triu_indices(8, 1)]
    assert np.abs(corr).max() < 0.2


def test_random_scores_at_an_unmeasured_d_k_says_what_was_measured():
    scores = ex.random_scores((4, 16), n_trials=3)
    with pytest.raises(ValueError, match=r"d_k = 8 was not measured; measured: 4, 16"):
        scores.at(8)


@pytest.mark.parametrize("d_ks", [[], [0, 4], [2.5], [[4]]])
def test_random_scores_rejects_bad_d_ks(d_ks):
    with pytest.raises(ValueError, match="d_ks"):
        ex.random_scores(d_ks, n_trials=3)


# ---------------------------------------------------------------- saturation
def test_jacobian_norm_is_zero_for_one_hot_and_known_for_uniform():
    assert ex.softmax_jacobian_norm(np.array([0.0, 1.0, 0.0])) == 0.0
    n = 16
    assert ex.softmax_jacobian_norm(np.full(n, 1 / n)) == pytest.approx(math.sqrt(n - 1) / n)
    np.testing.assert_allclose(ex.softmax_jacobian_norm(np.full((2, 3, 4), 0.25)), math.sqrt(3) / 4)


def test_saturation_measures_each_setting_from_its_own_rows():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((3, 50, 5)) * np.array([0.1, 1.0, 20.0])[:, None, None]
    sat = ex.saturation(scores, np.array([1, 2, 3]), label="demo")
    for i in range(3):
        w = np.array([[math.exp(s) for s in row] for row in scores[i]])
        w /= w.sum(axis=1, keepdims=True)
        jac = [np.diag(r) - np.outer(r, r) for r in w]
        norms = [math.sqrt(float((j ** 2).sum())) for j in jac]
        assert sat.max_weight[i] == pytest.approx(w.max(axis=1).mean())
        assert sat.grad_norm[i] == pytest.approx(float(np.median(norms)))
        assert sat.grad_q25[i] <= sat.grad_norm[i] <= sat.grad_q75[i]
    assert sat.label == "demo" and sat.n_trials == 50
    assert sat.max_weight[0] < sat.max_weight[1] < sat.max_weight[2]


def test_saturation_at_returns_one_settings_numbers():
    c = np.array([0.5, 1.0, 8.0])
    sat = ex.saturation(c[:, None] * np.array([2.0, 1.0, 0.1]), c)
    point = sat.at(8.0)
    assert point.x == 8.0 and point.max_weight == pytest.approx(float(ac.softmax(8 * np.array([2.0, 1.0, 0.1])).max()))
    with pytest.raises(ValueError, match="x = 2.0 was not measured"):
        sat.at(2.0)


def test_saturation_rejects_scores_that_do_not_fit_the_settings():
    with pytest.raises(ValueError, match=r"scores \(2, 4\) and x \(3,\)"):
        ex.saturation(np.zeros((2, 4)), [1, 2, 3])
    with pytest.raises(ValueError, match="n_keys >= 2"):
        ex.saturation(np.zeros((3, 1)), [1, 2, 3])


def test_plot_saturation_labels_both_panels_and_ticks_each_d_k():
    scores = ex.random_scores((1, 4, 64), n_trials=20, n_keys=4)
    raw, scaled = ex.saturation(scores.raw, scores.d_k, "raw"), ex.saturation(scores.scaled, scores.d_k, "scaled")
    fig = ex.plot_saturation(raw, scaled)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert ax.get_title() and ax.get_xlabel() == "d_k" and ax.get_ylabel()
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["raw", "scaled"]
        assert [int(t) for t in ax.get_xticks()] == [1, 4, 64]
    with pytest.raises(ValueError, match="at least one"):
        ex.plot_saturation()


# ---------------------------------------------------------------- threads
def test_experiments_run_on_one_thread_and_restore_the_setting():
    from threadpoolctl import threadpool_info

    seen = []

    @ex.one_thread
    def probe():
        seen.extend(info["num_threads"] for info in threadpool_info())
        return 7

    before = [info["num_threads"] for info in threadpool_info()]
    assert probe() == 7
    assert seen and set(seen) == {1}
    assert [info["num_threads"] for info in threadpool_info()] == before


def test_one_thread_holds_torch_and_its_mkl_after_torch_set_num_threads_and_gives_them_back():
    # torch.set_num_threads(2) also sets MKL, which threadpoolctl's limit alone leaves at 2
    torch = pytest.importorskip("torch")
    seen = []

    @ex.one_thread(torch=True)
    def probe():
        seen.append(torch_thread_counts(torch))

    with torch_at_two_threads(torch):
        probe()
        after = torch_thread_counts(torch)
    mkl = seen[0][1] is not None
    assert seen == [(1, 1 if mkl else None)]
    assert after == (2, 2 if mkl else None)


# ---------------------------------------------------------------- the row summary and the explorer
def test_strongest_names_one_key_or_says_there_is_a_tie():
    keys = ["The", "animal", "the", "street"]
    assert ex.strongest([0.1, 0.7, 0.1, 0.1], keys) == "strongest: 'animal' (0.70)"
    assert ex.strongest([0.4, 0.1, 0.4, 0.1], keys) == "strongest: a tie between 'The', 'the' (0.40 each)"
    close = ex.strongest([0.381, 0.379, 0.2, 0.04], keys)
    assert close == "strongest: 'The' (0.381), just ahead of 'animal' (0.379)"
    assert ex.strongest([1.0], ["only"]) == "strongest: 'only' (1.00)"


def test_attention_explorer_selects_a_query_and_toggles_the_pattern():
    pytest.importorskip("ipywidgets")
    tokens = ["a", "b", "c"]
    sharp = ac.softmax(np.array([[4.0, 0, 0], [0, 4, 0], [0, 0, 4]]))
    flat = ac.softmax(np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]]))
    explorer = ex.attention_explorer(tokens, {"sharp": sharp, "flat": flat}, selected=1, knob="scores")
    heatmap, links = explorer.state
    assert "query 1 'b' attends to" in explorer.text and f"({sharp[1, 1]:.2f})" in explorer.text
    assert heatmap.highlighted == 1 and links.query_index == 1
    assert heatmap.colorbar.ax.get_ylabel() == "attention weight"
    explorer.set(scores="flat", query=2)
    np.testing.assert_allclose(heatmap.values, flat)
    assert heatmap.highlighted == 2 and f"strongest: 'c' ({flat[2, 2]:.2f})" in explorer.text


def test_attention_explorer_says_when_two_keys_tie():
    pytest.importorskip("ipywidgets")
    w = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    explorer = ex.attention_explorer(["x", "y"], w, key_tokens=["p", "q", "r"])
    assert "a tie between 'p', 'q' (0.50 each)" in explorer.text
    assert "scores" not in explorer.controls                    # one pattern: no toggle


def test_attention_explorer_rejects_patterns_that_do_not_fit_the_tokens():
    pytest.importorskip("ipywidgets")
    with pytest.raises(ValueError, match=r"pattern 'b' has shape \(2, 2\).*3 query tokens"):
        ex.attention_explorer(["x", "y", "z"], {"a": np.full((3, 3), 1 / 3), "b": np.full((2, 2), 0.5)})


def test_attention_explorer_keeps_link_lines_off_the_token_labels():
    pytest.importorskip("ipywidgets")
    tokens = ["a", "b", "c", "d"]
    weights = np.zeros((4, 4))
    weights[3, 0] = 1.0                                           # the thickest line there is
    explorer = ex.attention_explorer(tokens, weights, selected=3)
    _, links = explorer.state
    fig = explorer.figure
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    label_boxes = [t.get_window_extent(renderer) for t in links.ax.texts if t.get_text() in tokens]
    for segment in links.lines.get_segments():
        ends = links.ax.transData.transform(segment)              # pixels
        cap = 0.5 * max(links.lines.get_linewidths()) * fig.dpi / 72
        for x, y in ends:
            for box in label_boxes:
                inside_y = box.y0 - cap <= y <= box.y1 + cap
                assert not (inside_y and box.x0 - cap <= x <= box.x1 + cap), (x, y, box)
