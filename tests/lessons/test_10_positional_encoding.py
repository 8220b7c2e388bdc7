"""Lesson 10: the claims the positional-encoding notebook makes, checked on the lesson's own functions."""
import math

import numpy as np
import pytest

import attention_course as ac
from attention_course.lessons import positional_encoding as lesson


# ---------------------------------------------------------------- order-blindness
def test_without_positions_both_word_orders_give_the_same_set_of_outputs():
    r = lesson.compare_orders("dog bites man", "man bites dog")
    assert r.same_set_of_outputs and r.sentence_gap < 1e-12
    order = [r.tokens_a.index(t) for t in r.tokens_b]                 # B's rows are A's rows, reordered
    np.testing.assert_allclose(r.outputs_b, r.outputs_a[order], atol=1e-12)
    assert not np.allclose(r.outputs_a, r.outputs_b)                  # ... but not in the same order


def test_adding_positions_changes_every_words_output_and_the_summary():
    r = lesson.compare_orders("dog bites man", "man bites dog", with_positions=True)
    assert not r.same_set_of_outputs
    assert min(r.word_gap.values()) > 0.05 and r.sentence_gap > 0.05     # "bites" too, though it did not move


@pytest.mark.parametrize("seed", range(5))
def test_attention_is_permutation_equivariant_until_positions_are_added(seed):
    assert lesson.permutation_gap(n=7, d=8, seed=seed) < 1e-12
    assert lesson.permutation_gap(n=7, d=8, seed=seed, with_positions=True) > 0.1


def test_compare_orders_needs_the_same_distinct_words():
    with pytest.raises(ValueError, match="reorder the same distinct words"):
        lesson.compare_orders("dog bites man", "man bites cat")


# ---------------------------------------------------------------- sinusoidal codes
def test_wavelengths_run_from_2_pi_towards_10000_times_2_pi():
    lam = lesson.wavelengths(16)
    assert lam[0] == pytest.approx(2 * math.pi)
    np.testing.assert_allclose(lam[1:] / lam[:-1], 10000 ** (2 / 16))            # geometric
    assert lam[-1] == pytest.approx(2 * math.pi * 10000 ** (14 / 16)) and lam[-1] < 10000 * 2 * math.pi
    omega = lesson.frequencies(16)
    np.testing.assert_allclose(omega * lam, 2 * math.pi)                          # one full turn per wavelength


def test_dot_product_of_codes_depends_only_on_the_offset_and_is_symmetric():
    prof = lesson.dot_profile(n_positions=64, d_model=32)
    assert prof.spread.max() < 1e-12
    np.testing.assert_allclose(prof.values, prof.formula, atol=1e-12)
    np.testing.assert_allclose(prof.values, prof.values[::-1], atol=1e-12)        # offset k and -k alike
    assert prof.values[63] == pytest.approx(16.0) and prof.values.argmax() == 63   # largest at offset 0


@pytest.mark.parametrize("d_model", [2, 8, 16])
@pytest.mark.parametrize("k", [0, 1, 3, 17, 250])
def test_one_shift_matrix_moves_every_position_by_k(d_model, k):
    m = lesson.shift_matrix(k, d_model)
    pe = ac.sinusoidal_positional_encoding(600 + k, d_model)
    np.testing.assert_allclose(pe[:600] @ m.T, pe[k:], atol=1e-12)                 # the same M_k for every p
    np.testing.assert_allclose(m.T @ m, np.eye(d_model), atol=1e-12)               # a rotation


def test_shift_matrix_is_block_diagonal_and_shifts_compose():
    m = lesson.shift_matrix(5, 8)
    blocks = np.kron(np.eye(4), np.ones((2, 2))).astype(bool)
    assert np.all(m[~blocks] == 0)
    np.testing.assert_allclose(lesson.shift_matrix(2, 8) @ lesson.shift_matrix(3, 8), m, atol=1e-12)
    np.testing.assert_allclose(lesson.shift_matrix(-5, 8), m.T, atol=1e-12)
    with pytest.raises(ValueError, match="d_model must be even"):
        lesson.shift_matrix(1, 5)


def test_shift_errors_are_rounding_only():
    assert max(lesson.shift_errors(offsets=(1, 5, 20, 100), d_model=16, n_positions=1000).values()) < 1e-12


# ---------------------------------------------------------------- learned table
def test_learned_table_has_a_row_per_position_and_fails_past_its_last_row():
    torch = pytest.importorskip("torch")
    table = lesson.learned_position_table(max_len=8, d_model=4)
    assert table(torch.arange(8)).shape == (8, 4)
    with pytest.raises(IndexError):
        table(torch.arange(10))
    assert ac.sinusoidal_positional_encoding(5000, 8).shape == (5000, 8)          # a formula has no last row


# ---------------------------------------------------------------- RoPE
def test_rope_scores_depend_only_on_the_offset_added_codes_do_not():
    rope, added, none = (lesson.score_grid(kind, n_positions=48, d=16, seed=0) for kind in ("rope", "added", "none"))
    assert rope.worst_spread < 1e-12
    assert added.worst_spread > 1.0
    assert np.ptp(none.scores) < 1e-12                                             # no positions: one number
    assert np.ptp(rope.profile.values) > 1.0                                       # and the offset matters


def test_rope_can_tell_before_from_after():
    prof = lesson.score_grid("rope", n_positions=48, d=16, seed=0).profile
    before, after = prof.values[47 + 3], prof.values[47 - 3]                      # m - n = +3 and -3
    assert abs(before - after) > 0.1


def test_relative_property_holds_for_many_random_far_pairs():
    assert lesson.relative_check(n_pairs=2000, max_position=4096, d=32, seed=3) < 1e-9


def test_rope_by_complex_numbers_equals_the_package_and_a_hand_rotation():
    rng = np.random.default_rng(0)
    x, positions = rng.standard_normal((2, 5, 8)), np.array([0, 3, 7, 100, 4000])
    np.testing.assert_allclose(lesson.rope_by_complex_numbers(x, positions), ac.apply_rope(x, positions),
                               rtol=1e-10, atol=1e-12)
    a = lesson.rope_by_complex_numbers(np.array([[1.0, 0.0]]), [math.pi / 2])      # a quarter turn of (1, 0)
    np.testing.assert_allclose(a, [[0.0, 1.0]], atol=1e-15)


def test_query_keeps_its_length_at_every_position():
    q, _ = lesson.query_key(d=16, seed=0)
    np.testing.assert_allclose(np.linalg.norm(ac.apply_rope(np.tile(q, (5, 1))), axis=-1), np.linalg.norm(q))


# ---------------------------------------------------------------- the quiz's number
def test_quiz_number_is_the_packages_dot_product():
    pe = ac.sinusoidal_positional_encoding(8, 4)
    quiz = ac.quiz.load("10_positional_encoding")
    numeric = [i for i, q in enumerate(quiz.questions) if q.kind == "numeric"]
    assert len(numeric) == 1
    assert quiz.answer(numeric[0], round(float(pe[3] @ pe[7]), 3)).correct
    assert not quiz.answer(numeric[0], float(pe[3] @ pe[3])).correct


# ---------------------------------------------------------------- figures and the widget
def test_figures_have_titles():
    figs = [lesson.plot_encoding(16, 8), lesson.plot_clocks((0, 1), 8), lesson.plot_shift_matrix(3),
            lesson.plot_dot_profile(lesson.dot_profile(16, 8), 8),
            lesson.plot_score_grids({"rope": lesson.score_grid("rope", 8, 4)})]
    for fig in figs:
        assert any(ax.get_title() for ax in fig.axes)


def test_clock_hands_point_up_at_position_zero_and_turn_clockwise():
    from attention_course import viz

    fig, ax = viz.new_figure()
    clocks = lesson.Clocks(ax, [(0.0, 0.0)])
    pe = ac.sinusoidal_positional_encoding(2, 2)
    clocks.update(pe[:1])
    tip = clocks.hands[0].get_segments()[0][1]
    assert tip[0] == pytest.approx(0.0) and tip[1] > 0                  # 12 o'clock
    clocks.update(pe[1:])
    tip = clocks.hands[0].get_segments()[0][1]
    assert tip[0] > 0                                                   # one radian clockwise: to the right


def test_position_explorer_at_every_extreme_shows_the_shift_is_exact():
    explorer = lesson.position_explorer(d_model=16, position=3, offset=2)
    assert "equals PE[p + k] (to 1e-12): True" in explorer.text
    for result in explorer.check_extremes():
        assert "equals PE[p + k] (to 1e-12): True" in result["text"], result
    explorer.set(position=100, offset=50)
    assert explorer.state["bars"].values.tolist() == ac.sinusoidal_positional_encoding(101, 16)[100].tolist()
    assert "p = 100, k = 50" in explorer.text
    explorer.set(position=0, offset=0)
    assert "M_k turns pair 0 by 0.0 degrees" in explorer.text
    explorer.set(position=0, offset=7)                                  # 7 radians = 401.1 degrees = 41.1 + 360
    assert "pair 0 by 401.1 degrees (41.1 after whole turns)" in explorer.text


def test_order_figure_labels_each_row_with_its_word():
    blind = lesson.compare_orders()
    fig = lesson.plot_orders(blind, "without positions")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ['"dog bites man"', '"man bites dog"']
    for ax, tokens in zip(panels, (blind.tokens_a, blind.tokens_b)):
        assert [t.get_text() for t in ax.get_yticklabels()] == tokens
    assert any(ax.get_ylabel() == "output value" for ax in fig.axes)              # the colour bar says what it shows


def test_every_colour_bar_is_labelled():
    figs = [lesson.plot_encoding(16, 8), lesson.plot_shift_matrix(3),
            lesson.plot_dot_profile(lesson.dot_profile(16, 8), 8),
            lesson.plot_score_grids({"rope": lesson.score_grid("rope", 8, 4)})]
    for fig in figs:
        bars = [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]
        assert bars and all(ax.get_ylabel() for ax in bars), fig


def test_rope_profile_tells_before_from_after_the_sinusoidal_dot_product_does_not():
    rope = lesson.score_grid("rope", n_positions=48, d=16, seed=0)
    prof = lesson.dot_profile(64, 32)
    assert abs(rope.at(3) - rope.at(-3)) > 0.5                                     # the notebook prints both
    assert prof.at(3) == pytest.approx(prof.at(-3), abs=1e-12)
    assert rope.at(0) == pytest.approx(float(np.dot(*lesson.query_key(16, 0))))    # no turn at offset 0
    with pytest.raises(ValueError, match="offset must be"):
        rope.at(48)


def test_the_widgets_matrix_has_a_visible_frame():
    from io import BytesIO

    from PIL import Image

    explorer = lesson.position_explorer(d_model=16, position=3, offset=2)
    ax_m = next(ax for ax in explorer.figure.axes if ax.get_title().startswith("M_k"))
    image = np.asarray(Image.open(BytesIO(explorer.png)).convert("RGB")).astype(int)
    x0, y0 = ax_m.get_window_extent().extents[:2]                                 # display pixels, origin bottom-left
    bottom = round(image.shape[0] - y0)
    # the frame's grey on the matrix's bottom edge, below the lower-left (white, zero) corner
    row = image[bottom - 2:bottom + 2, int(x0) + 5:int(x0) + 40]
    grey = (np.abs(row - row.mean(-1, keepdims=True)).max(-1) < 12) & (row.mean(-1) < 200)
    assert grey.any(), "no frame below the zero cells of M_k"
