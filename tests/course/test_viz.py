"""The plotting helpers: what they draw, that in-place updates show the same pixels as a
fresh full redraw, and that bad input is refused with a clear message."""
import io
import subprocess
import sys

import numpy as np
import pytest

mpl = pytest.importorskip("matplotlib")
PIL_Image = pytest.importorskip("PIL.Image")

from attention_course import softmax, viz  # noqa: E402

TOKENS = "the cat sat on the mat".split()


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(PIL_Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def full_redraw_png(fig) -> bytes:
    """Pixels as a from-scratch draw gives them (no cached background)."""
    fig._ac_renderer = None
    return viz.to_png(fig)


def weights(n=6, seed=0, scale=2.0):
    return softmax(np.random.default_rng(seed).normal(size=(n, n)) * scale)


# ------------------------------------------------------------------------------- heatmap
def test_heatmap_has_labels_one_colour_bar_and_the_values_as_text():
    w = weights()
    hm = viz.heatmap(w, TOKENS, TOKENS, title="Attention weights")
    assert [t.get_text() for t in hm.ax.get_xticklabels()] == TOKENS
    assert [t.get_text() for t in hm.ax.get_yticklabels()] == TOKENS
    assert len(hm.fig.axes) == 2                         # the heatmap and one colour bar
    assert hm.ax.get_title() == "Attention weights"
    assert hm.ax.get_xlabel() and hm.ax.get_ylabel()
    assert hm.annotations.strings == [f"{x:.2f}" for x in w.ravel()]


def test_numbers_are_printed_in_the_cells_and_only_where_they_fit():
    w = weights()
    with_numbers = pixels(viz.heatmap(w, TOKENS, TOKENS).png())
    without = pixels(viz.heatmap(w, TOKENS, TOKENS, annotate=False).png())
    assert (with_numbers != without).any(axis=-1).sum() > 500       # the digits are real pixels
    # 60 x 60 cells in a small figure: numbers would not fit, so none are drawn
    big = softmax(np.random.default_rng(1).normal(size=(60, 60)))
    fig, ax = viz.new_figure()
    a = pixels(viz.heatmap(big, None, None, ax=ax).png())
    fig2, ax2 = viz.new_figure()
    b = pixels(viz.heatmap(big, None, None, ax=ax2, annotate=False).png())
    assert np.array_equal(a, b)


def test_text_colour_follows_the_cell_background():
    w = np.array([[0.0, 1.0], [1.0, 0.0]])
    hm = viz.heatmap(w, ["a", "b"], ["a", "b"])            # viridis: 0 is dark purple, 1 is yellow
    assert list(hm.annotations.colors) == ["white", "black", "black", "white"]


def test_stamped_numbers_look_like_matplotlib_text():
    """The cached bitmaps must land where, and the way up, ``ax.text`` would put them."""
    def render(draw):
        fig, ax = viz.new_figure(width=2, height=1)
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        draw(ax)
        fig._ac_renderer = None
        img = pixels(viz.to_png(fig)).sum(-1) < 400          # dark pixels
        ys, xs = np.nonzero(img)
        return img, (ys.min(), ys.max(), xs.min(), xs.max())

    def stamp(ax):
        s = viz._StampText(ax, size=12)
        s.set_items(["0.72"], [(0.5, 0.5)], ["black"])

    ours, box_ours = render(stamp)
    ref, box_ref = render(lambda ax: ax.text(0.5, 0.5, "0.72", size=12, ha="center", va="center"))
    assert np.allclose(box_ours, box_ref, atol=2), (box_ours, box_ref)
    # same glyphs the same way up: align the boxes and compare the ink
    a = ours[box_ours[0]:box_ours[0] + 12, box_ours[2]:box_ours[2] + 25]
    b = ref[box_ref[0]:box_ref[0] + 12, box_ref[2]:box_ref[2] + 25]
    assert (a == b).mean() > 0.9
    assert (a == b[::-1]).mean() < (a == b).mean()             # upside down would match worse


def test_update_changes_artists_in_place_and_matches_a_full_redraw():
    hm = viz.heatmap(weights(seed=0), TOKENS, TOKENS, title="w")
    first = hm.png()
    image, n_children, n_axes = hm.image, len(hm.ax.get_children()), len(hm.fig.axes)
    hm.update(weights(seed=1))
    fast = hm.png()
    assert hm.image is image and len(hm.ax.get_children()) == n_children and len(hm.fig.axes) == n_axes
    assert fast != first
    assert np.array_equal(pixels(fast), pixels(full_redraw_png(hm.fig)))
    assert np.allclose(hm.image.get_array(), weights(seed=1))


def test_updates_redraw_only_the_changed_artists():
    """After the first render, updating data must not redraw the whole figure (that is the
    slow path: ticks, labels, colour bar); changing a title must."""
    hm = viz.heatmap(weights(seed=0), TOKENS, TOKENS, title="w")
    hm.png()
    renderer = hm.fig._ac_renderer
    assert renderer.full_draws == 1
    for seed in range(1, 4):
        hm.update(weights(seed=seed)).highlight_row(seed)
        hm.png()
    assert renderer.full_draws == 1
    hm.ax.set_title("new title")
    hm.png()
    assert renderer.full_draws == 2


def test_a_changed_title_is_drawn_too():
    hm = viz.heatmap(weights(), TOKENS, TOKENS, title="before")
    hm.png()
    hm.ax.set_title("after, and much longer")                 # static artist: needs a full redraw
    assert np.array_equal(pixels(hm.png()), pixels(full_redraw_png(hm.fig)))


def test_automatic_colour_range_follows_the_data():
    hm = viz.heatmap(np.array([[-2.0, 1.0], [0.0, 3.0]]), None, None, vmin=None, vmax=None)
    assert hm.image.get_clim() == (-2.0, 3.0)
    hm.update(np.array([[0.0, 10.0], [5.0, 5.0]]))
    assert hm.image.get_clim() == (0.0, 10.0)
    assert np.array_equal(pixels(hm.png()), pixels(full_redraw_png(hm.fig)))


def test_highlight_row_outlines_that_row():
    hm = viz.heatmap(weights(), TOKENS, TOKENS)
    assert not hm.outline.get_visible()
    hm.highlight_row(4)
    assert hm.outline.get_visible() and hm.outline.get_y() == pytest.approx(3.5)
    img = pixels(hm.png())
    orange = np.all(np.abs(img - np.array(mpl.colors.to_rgb(viz.HIGHLIGHT)) * 255) < 40, axis=-1)
    rows = np.nonzero(orange.any(axis=1))[0]
    # the outline's pixel rows sit around row 4's centre (y grows downwards in the image)
    height = hm.fig.canvas.get_width_height()[1]
    centre = height - hm.ax.transData.transform((0, 4))[1]
    assert abs((rows.min() + rows.max()) / 2 - centre) < 3
    hm.highlight_row(None)
    assert not hm.outline.get_visible()
    with pytest.raises(IndexError, match="out of range"):
        hm.highlight_row(6)


def test_heatmap_refuses_bad_input():
    w = weights()
    with pytest.raises(ValueError, match="labels"):
        viz.heatmap(w, TOKENS[:3], TOKENS)
    with pytest.raises(ValueError, match="2-D"):
        viz.heatmap(w[0], TOKENS, TOKENS)
    bad = w.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        viz.heatmap(bad, TOKENS, TOKENS)
    hm = viz.heatmap(w, TOKENS, TOKENS)
    with pytest.raises(ValueError, match="same shape"):
        hm.update(w[:3])
    with pytest.raises(TypeError, match="Axes"):
        viz.heatmap(w, TOKENS, TOKENS, ax="left")


def test_heatmap_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    w = weights()
    hm = viz.heatmap(torch.tensor(w), TOKENS, TOKENS)
    assert np.allclose(hm.values, w)


# ------------------------------------------------------------------------------- links
def test_token_links_width_and_opacity_grow_with_the_weight():
    w = weights()
    links = viz.token_links(w, TOKENS, TOKENS, 2)
    widths = links.lines.get_linewidths()
    alphas = links.lines.get_colors()[:, 3]
    assert len(widths) == len(TOKENS)
    order = np.argsort(w[2])
    assert np.all(np.diff(np.asarray(widths)[order]) >= 0)
    assert np.all(np.diff(alphas[order]) >= 0)
    starts = {tuple(seg[0]) for seg in links.lines.get_segments()}
    assert starts == {(links.X_QUERY, 2.0)}                      # every line leaves query 2


def test_token_links_update_moves_to_the_new_query():
    links = viz.token_links(weights(), TOKENS, TOKENS, 0)
    before = links.png()
    links.update(query_index=5)
    assert {tuple(seg[0]) for seg in links.lines.get_segments()} == {(links.X_QUERY, 5.0)}
    assert links.marker.get_y() == pytest.approx(5 - 0.43)
    after = links.png()
    assert after != before
    assert np.array_equal(pixels(after), pixels(full_redraw_png(links.fig)))
    with pytest.raises(IndexError):
        links.update(query_index=6)


def test_token_links_cross_attention_shapes():
    w = softmax(np.random.default_rng(0).normal(size=(2, 5)))
    links = viz.token_links(w, ["je", "suis"], list("abcde"), 1)
    assert len(links.lines.get_segments()) == 5


# ------------------------------------------------------------------------------- bars
def test_bars_show_the_values_and_update_in_place():
    v = np.array([0.1, 0.5, 0.2, -0.3])
    b = viz.bars(v, list("abcd"), title="values")
    assert [p.get_height() for p in b.patches] == pytest.approx(v)
    assert b.value_labels.strings == ["0.10", "0.50", "0.20", "-0.30"]
    lo, hi = b.ax.get_ylim()
    assert lo <= -0.3 and hi >= 0.5
    first = b.png()
    b.update([0.0, 2.0, 0.1, 0.1])                       # outgrows the axis: the axis grows
    assert b.ax.get_ylim()[1] >= 2.0
    assert b.png() != first
    assert np.array_equal(pixels(b.png()), pixels(full_redraw_png(b.fig)))
    assert b.value_labels.strings[0] == "0.00"          # never "-0.00"
    with pytest.raises(ValueError, match="expected 4"):
        b.update([1.0, 2.0])


def test_a_negative_bars_value_is_printed_below_its_tip():
    """Negative labels on the zero line ran together ("-0.37-0.28-0.12"): each now hangs
    under its own bar, positives sit on top of theirs."""
    v = np.array([0.5, -0.5])
    b = viz.bars(v, ["up", "down"], ylim=(-1, 1))
    assert b.value_labels.vas == ["bottom", "top"]
    assert b.value_labels.xy[:, 1] == pytest.approx(v)            # anchored at the tips
    b.png()
    with_labels = b.fig._ac_renderer.rgba().copy()        # raw pixels: no palette to shift
    b.value_labels.set_visible(False)
    b.png()
    ink = (b.fig._ac_renderer.rgba() != with_labels).any(axis=-1)
    height = b.fig.canvas.get_width_height()[1]
    to_row = lambda y: height - b.ax.transData.transform((0, y))[1]      # image rows grow downwards
    for i, (tip, below) in enumerate([(0.5, False), (-0.5, True)]):
        x0, x1 = (b.ax.transData.transform([(i - 0.35, 0), (i + 0.35, 0)])[:, 0]).round().astype(int)
        rows = np.nonzero(ink[:, x0:x1].any(axis=1))[0]
        assert rows.size, f"no label drawn over bar {i}"
        if below:
            assert rows.min() > to_row(tip) and rows.max() > to_row(0)  # under the tip, not at zero
        else:
            assert rows.max() < to_row(tip)


def test_a_bar_beyond_a_fixed_ylim_keeps_its_label_inside_the_axis():
    b = viz.bars([-3.0, 3.0], ["low", "high"], ylim=(-1, 1))
    assert b.value_labels.strings == ["-3.00", "3.00"]
    assert b.value_labels.xy[:, 1] == pytest.approx([-1, 1])
    assert b.value_labels.vas == ["bottom", "top"]


def test_many_bars_get_a_smaller_font_and_nothing_leaves_the_axis():
    v = np.linspace(-0.9, 0.9, 15)
    b = viz.bars(v, None)
    assert b.value_labels.size < viz.bars(v[:12], None).value_labels.size
    lo, hi = b.ax.get_ylim()
    assert lo < -0.9 - 0.1 and hi > 0.9 + 0.1                     # room for the printed values
    assert np.array_equal(pixels(b.png()), pixels(full_redraw_png(b.fig)))


def test_bars_with_a_fixed_ylim_keep_it():
    b = viz.bars([0.2, 0.3], ["a", "b"], ylim=(0, 1))
    b.update([0.9, 0.1])
    assert b.ax.get_ylim() == (0, 1)


# ------------------------------------------------------------------------------- figures
def test_new_figure_panels_and_errors():
    fig, ax = viz.new_figure()
    assert isinstance(ax, mpl.axes.Axes)
    fig, axes = viz.new_figure(3, width=9, height=3)
    assert len(axes) == 3 and tuple(fig.get_size_inches()) == (9, 3)
    with pytest.raises(ValueError):
        viz.new_figure(-1)
    with pytest.raises(ValueError):
        viz.new_figure(width=0)


def test_show_displays_a_png(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))
    hm = viz.heatmap(weights(), TOKENS, TOKENS, title="shown")
    viz.show(hm)
    assert shown[0]["image/png"].startswith(b"\x89PNG") and "shown" in shown[0]["text/plain"]
    with pytest.raises(TypeError):
        viz.show("not a figure")


def test_heatmap_displays_itself_as_png():
    hm = viz.heatmap(weights(), TOKENS, TOKENS, title="t")
    assert hm._repr_png_().startswith(b"\x89PNG")
    assert "0x" not in repr(hm)                      # no memory address in notebook output


def test_importing_the_package_stays_light():
    code = ("import sys, attention_course as ac\n"
            "assert 'matplotlib' not in sys.modules and 'ipywidgets' not in sys.modules\n"
            "ac.viz; ac.widgets\n"
            "assert 'matplotlib' in sys.modules and 'ipywidgets' in sys.modules\n"
            "assert 'matplotlib.pyplot' not in sys.modules and 'torch' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------- colour bars, link ends
def test_a_heatmap_colour_bar_can_say_what_the_colours_mean():
    hm = viz.heatmap(weights(), TOKENS, TOKENS, colorbar_label="attention weight")
    assert hm.colorbar.ax.get_ylabel() == "attention weight"
    assert viz.heatmap(weights(), TOKENS, TOKENS).colorbar.ax.get_ylabel() == ""


def test_link_lines_end_flat_before_the_labels():
    links = viz.token_links(np.eye(6), TOKENS, TOKENS, 0)         # one full-width line, 0 -> 0
    assert links.lines.get_capstyle() == "butt"
    renderer = links.fig.canvas.get_renderer()
    key_label = next(t for t in links.ax.texts if t.get_text() == TOKENS[0] and t.get_position()[0] > 0.5)
    label_left = key_label.get_window_extent(renderer).x0
    line_end = links.ax.transData.transform((links.X_KEY, 0))[0]
    assert line_end < label_left


# ------------------------------------------------------------------------------- lines
def test_lines_update_and_mark_in_place_and_match_a_full_redraw():
    x = np.array([1, 2, 4, 8])
    chart = viz.lines(x, [[1, 1, 0.5, 0.2], [1, 1, 1, 1]], ["fixed", "attention"], styles=["o-", "--"],
                      dots=True, logx=True, ylim=(0, 1.05), title="t", xlabel="n", ylabel="y")
    assert [t.get_text() for t in chart.ax.get_legend().get_texts()] == ["fixed", "attention"]
    first = chart.png()
    chart.update([[1, 0.9, 0.4, 0.1], [1, 1, 1, 0.9]]).mark(3, [0.6, 1.0])
    assert list(chart.curves[0].get_ydata()) == [1, 0.9, 0.4, 0.1]
    assert chart.dots[1].get_data() == ([3.0], [1.0])
    png = chart.png()
    assert png != first and np.array_equal(pixels(png), pixels(full_redraw_png(chart.fig)))


def test_lines_refuse_bad_shapes():
    chart = viz.lines([0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="3 values"):
        chart.update([0, 1])
    with pytest.raises(ValueError, match="without dots"):
        chart.mark(1, [0.5])
    with pytest.raises(ValueError, match="one style"):
        viz.lines([0, 1], [[0, 1], [1, 0]], styles=["-"])


# ------------------------------------------------------------------------------- arrows
def test_arrows_follow_their_vectors_and_label_their_tips():
    a = viz.arrows([[2.0, 0.0], [0.0, 1.0]], ["a", "b"], colors=["black", "blue"], limit=3)
    a.update([[1.0, 1.0], [-2.0, 0.0]])
    assert list(a.quiver.U) == [1.0, -2.0] and list(a.quiver.V) == [1.0, 0.0]
    x, y = a.texts[1].get_position()
    assert x < -2.0 and y == pytest.approx(0.0)                  # just beyond b's tip, outward
    assert a.ax.get_xlim() == (-3, 3)
    a.update([[0.0, 0.0], [1.0, 0.0]], labels=["zero", "b"])     # a zero arrow keeps a readable label
    assert a.texts[0].get_text() == "zero" and np.all(np.isfinite(a.texts[0].get_position()))
    with pytest.raises(ValueError, match=r"\(m, 2\)"):
        a.update([[1.0, 2.0, 3.0]])


# ------------------------------------------------------------------------------- scatter
def test_scatter_labels_do_not_overlap_even_for_points_on_the_same_spot():
    coords = np.array([[0.0, 0.0], [0.0, 0.0], [0.05, 0.02], [1.0, 1.0]])
    sc = viz.scatter(coords, ["king", "queen", "crown", "far"])
    sc.png()
    px = sc.fig.dpi / 72
    points = sc.ax.transData.transform(coords)
    boxes = []
    for (x, y), (dx, dy), stamp in zip(points, sc.label_offsets, sc.texts.strings):
        boxes.append((x + dx * px, y + dy * px))
    assert len({(round(x), round(y)) for x, y in boxes}) == 4     # four different label spots


def test_scatter_links_run_under_the_labels():
    coords = np.array([[0.0, 0.0], [1.0, -0.8]])
    charts = [viz.scatter(coords, ["origin", "other"], xlim=(-0.5, 1.5), ylim=(-1, 1)) for _ in range(2)]
    for sc in charts:
        sc.move((1.2, 0.6), "")                  # up and to the right: the link to 'origin' crosses its label
    charts[1].link([0])
    plain, linked = (pixels(sc.png()) for sc in charts)
    assert (plain != linked).any()                                 # the link is drawn ...
    sc = charts[1]
    assert sc.texts.has[0] == "left" and sc.texts.vas[0] == "bottom"
    px = sc.fig.dpi / 72
    x, y = sc.ax.transData.transform(coords[0]) + sc.label_offsets[0] * px
    h, w = viz._stamp("origin", "0.15", sc.texts.size, "normal", sc.fig.dpi, "white").shape[:2]
    height = plain.shape[0]
    box = (slice(int(height - y - h + 4), int(height - y - 2)), slice(int(x + 1), int(x + w - 3)))
    assert np.array_equal(plain[box], linked[box])                 # ... but not over the label's patch,
    for chart in charts:                                           # where it would run without the labels
        chart.texts.set_visible(False)
    plain, linked = (pixels(full_redraw_png(chart.fig)) for chart in charts)
    assert not np.array_equal(plain[box], linked[box])


def test_scatter_moves_its_highlighted_point_and_refuses_bad_input():
    sc = viz.scatter([[0.0, 0.0], [1.0, 1.0]], ["a", "b"])
    sc.move((0.5, 0.5), "m", origin=(0.0, 0.0)).link([1])
    assert sc.marker.get_data() == ([0.5], [0.5]) and sc.ring.get_data() == ([0.0], [0.0])
    assert [list(map(tuple, seg)) for seg in sc.links.get_segments()] == [[(0.5, 0.5), (1.0, 1.0)]]
    sc.move((0.2, 0.1))                                          # links follow the point
    assert tuple(sc.links.get_segments()[0][0]) == (0.2, 0.1)
    assert sc.marker_label.strings == []
    with pytest.raises(IndexError):
        sc.link([2])
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        viz.scatter([[0.0, 0.0, 1.0]], ["a"])


def test_arrow_labels_stay_inside_the_axes():
    a = viz.arrows([[3.0, 0.0], [0.0, -3.0]], ["a", "b"], limit=3.1)
    for text in a.texts:
        x, y = text.get_position()
        assert -3.1 < x < 3.1 and -3.1 < y < 3.1


def test_a_static_outline_drawn_over_a_heatmap_stays_visible():
    import matplotlib.patches as mpatches

    hm = viz.heatmap(np.full((3, 3), 0.5), list("abc"), list("xyz"), annotate=False)
    ax = hm.ax
    ax.add_patch(mpatches.Rectangle((0.5, 0.5), 1, 1, fill=False, edgecolor=(0, 1, 0), linewidth=4, zorder=5))
    rgba = viz._FastRenderer(ax.figure).rgba()
    green = (rgba[..., 1] > 200) & (rgba[..., 0] < 60) & (rgba[..., 2] < 60)
    assert green.sum() > 50, "the outline was covered by the heatmap"


def test_labels_marked_static_stay_in_the_background_of_token_links():
    links = viz.token_links(np.full((3, 3), 1 / 3), list("abc"), list("xyz"), 0)
    viz._FastRenderer(links.ax.figure).rgba()
    labels = [t for t in links.ax.texts if getattr(t, "_ac_static", False)]
    assert labels and not any(t.get_animated() for t in labels)


def test_log_log_draws_each_curve_on_log_axes_ticked_at_x():
    x = np.array([1, 2, 4, 8])
    fig = viz.log_log(x, [(x ** 2, "n^2", "o-", "red"), (3.0, "constant", "--", "0.6")],
                      xlabel="n", ylabel="time", title="growth")
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4", "8"]
    (quad, const) = ax.lines
    np.testing.assert_array_equal(quad.get_ydata(), [1, 4, 16, 64])
    np.testing.assert_array_equal(const.get_ydata(), [3, 3, 3, 3])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["n^2", "constant"]
