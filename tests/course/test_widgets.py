"""The widgets, driven from Python the way a learner drives them in the browser
(buttons clicked, slider values set), asserting what the output then shows."""
import base64
import configparser
import io
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ipywidgets")
PIL_Image = pytest.importorskip("PIL.Image")

import ipywidgets  # noqa: E402

import attention_course as ac  # noqa: E402
from attention_course import viz, widgets  # noqa: E402

TOKENS = "The cat sat on the mat because it was very tired .".split()      # 12 tokens
SANITIZE = Path(__file__).resolve().parent.parent / "nbval_sanitize.cfg"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(PIL_Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def attention(n=12, seed=0, temperature=1.0):
    scores = np.random.default_rng(seed).normal(size=(n, n)) * 2
    return ac.softmax(scores, temperature=temperature)


def embedded_png(html: str) -> bytes:
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert match, "no embedded PNG in the static HTML"
    return base64.b64decode(match.group(1))


def highlighted_row_in_image(ex) -> float:
    """Centre (pixel row) of the highlight-coloured pixels inside the heatmap's axes."""
    img = pixels(ex.png)
    height = img.shape[0]
    (x0, y0), (x1, y1) = ex.heatmap.ax.bbox.get_points()
    box = img[int(height - y1):int(height - y0), int(x0):int(x1)]
    target = np.array(viz.mpl.colors.to_rgb(viz.HIGHLIGHT)) * 255
    rows = np.nonzero(np.all(np.abs(box - target) < 40, axis=-1).sum(axis=1) > 20)[0]
    return (rows.min() + rows.max()) / 2 + int(height - y1)


def row_centre_in_image(ex, i) -> float:
    height = ex.figure.canvas.get_width_height()[1]
    return height - ex.heatmap.ax.transData.transform((0, i))[1]


# ------------------------------------------------------------------------------- explorer
def test_explorer_default_shows_the_first_query():
    w = attention()
    ex = widgets.AttentionExplorer(TOKENS, w)
    assert ex.selected == 0 and ex.heatmap.highlighted == 0
    assert ex.text.startswith("query 0 'The'")
    assert ex.png.startswith(b"\x89PNG") and ex.image.value == ex.png
    assert ex.buttons[0].button_style == "warning"
    assert [b.description for b in ex.buttons] == TOKENS


def test_clicking_a_token_highlights_its_row_draws_its_links_and_prints_its_weights():
    w = attention()
    ex = widgets.AttentionExplorer(TOKENS, w)
    before = ex.png
    ex.buttons[7].click()                                  # "it"
    assert ex.selected == 7 and ex.heatmap.highlighted == 7
    assert [b.button_style for b in ex.buttons] == ["warning" if i == 7 else "" for i in range(12)]
    # the summary prints every key with the weight from the matrix we passed in
    assert "query 7 'it'" in ex.text
    for token, weight in zip(TOKENS, w[7]):
        assert re.search(rf"^\s+{re.escape(token)}\s+{weight:.2f}\b", ex.text, re.MULTILINE), token
    strongest = TOKENS[int(np.argmax(w[7]))]
    assert f"strongest: {strongest!r} ({w[7].max():.2f})" in ex.text
    assert ex.summary.value.count("\n") >= 12              # the live widget shows the same text
    # the picture changed: the image widget got new bytes, the outline sits on row 7
    assert ex.png != before and ex.image.value == ex.png
    assert abs(highlighted_row_in_image(ex) - row_centre_in_image(ex, 7)) < 3
    # every line of the links view leaves query 7; the thickest goes to the strongest key
    segments = ex.links.lines.get_segments()
    assert {tuple(s[0]) for s in segments} == {(ex.links.X_QUERY, 7.0)}
    assert np.argmax(ex.links.lines.get_linewidths()) == np.argmax(w[7])


def test_select_from_python_is_the_same_as_clicking():
    w = attention()
    clicked, selected = widgets.AttentionExplorer(TOKENS, w), widgets.AttentionExplorer(TOKENS, w)
    clicked.buttons[3].click()
    selected.select(3)
    assert clicked.text == selected.text
    assert np.array_equal(pixels(clicked.png), pixels(selected.png))
    with pytest.raises(IndexError):
        selected.select(12)
    with pytest.raises(TypeError):
        selected.select("cat")


def test_explorer_blitted_image_matches_a_full_redraw():
    ex = widgets.AttentionExplorer(TOKENS, attention())
    for i in (5, 2, 11):
        ex.select(i)
    ex.figure._ac_renderer = None
    assert np.array_equal(pixels(ex.png), pixels(viz.to_png(ex.figure)))


def test_cached_layers_never_show_stale_pixels():
    """Clicks reuse a cached heatmap layer; new weights must invalidate it."""
    ex = widgets.AttentionExplorer(TOKENS, attention(seed=0))
    ex.select(3)
    ex.select(4)                                          # heatmap layer cached by now
    ex.update(attention(seed=1))                          # the heatmap itself changes
    ex.select(9)
    after_clicks = ex.png
    ex.figure._ac_renderer = None
    assert np.array_equal(pixels(after_clicks), pixels(viz.to_png(ex.figure)))
    fresh = widgets.AttentionExplorer(TOKENS, attention(seed=1), selected=9)
    assert np.array_equal(pixels(after_clicks), pixels(fresh.png))


def test_explorer_update_keeps_the_selection_and_shows_the_new_weights():
    ex = widgets.AttentionExplorer(TOKENS, attention(seed=0)).select(4)
    new = attention(seed=1)
    ex.update(new)
    assert ex.selected == 4
    assert f"{new[4].max():.2f}" in ex.text
    assert np.allclose(ex.heatmap.values, new) and np.allclose(ex.links.values, new)


def test_explorer_cross_attention_and_bad_shapes():
    w = ac.softmax(np.random.default_rng(0).normal(size=(3, 5)))
    ex = widgets.AttentionExplorer(["je", "suis", "là"], w, key_tokens=list("abcde"))
    assert len(ex.buttons) == 3 and "query 0 'je'" in ex.text
    with pytest.raises(ValueError, match="do not match"):
        widgets.AttentionExplorer(TOKENS, attention(5))


def test_explorer_display_bundle_has_live_view_and_static_fallback():
    w = attention()
    ex = widgets.AttentionExplorer(TOKENS, w).select(2)
    bundle = ex._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == ex.widget.model_id
    assert bundle["text/plain"] == ex.text
    html = bundle["text/html"]
    assert embedded_png(html) == ex.png
    assert f"{w[2, 0]:.2f}" in html and "query 2 &#x27;sat&#x27;" in html


# ------------------------------------------------------------------------------- Interactive
SCORES = np.random.default_rng(0).normal(size=(12, 12)) * 2


def temperature_widget(**kwargs):
    def setup(fig):
        return viz.heatmap(ac.softmax(SCORES), TOKENS, TOKENS, ax=fig.add_subplot(), title="softmax(S / T)")

    def update(hm, temperature):
        w = ac.softmax(SCORES, temperature=temperature)
        hm.update(w)
        return f"max weight {w.max():.3f}"

    return widgets.Interactive(setup, update, figsize=(6.5, 4.5),
                               temperature=widgets.slider(0.05, 10.0, 0.05, 1.0, "temperature T"), **kwargs)


def test_moving_the_slider_updates_figure_and_text():
    it = temperature_widget()
    assert it.text == f"max weight {ac.softmax(SCORES).max():.3f}"
    before = it.png
    it.controls["temperature"].value = 0.1                # what dragging the slider does
    assert it.text == f"max weight {ac.softmax(SCORES, temperature=0.1).max():.3f}"
    assert it.png != before and it.image.value == it.png
    assert "max weight" in it.summary.value
    assert it.figure.axes[0].images[0].get_array().max() == pytest.approx(ac.softmax(SCORES, temperature=0.1).max())


def test_set_is_the_same_as_moving_the_slider_and_clamps_like_the_browser():
    a, b = temperature_widget(), temperature_widget()
    a.controls["temperature"].value = 3.0
    b.set(temperature=3.0)
    assert a.text == b.text and np.array_equal(pixels(a.png), pixels(b.png))
    b.set(temperature=1e9)                                # beyond the end: the slider clamps
    assert b.values["temperature"] == 10.0
    with pytest.raises(ValueError, match="no control named"):
        b.set(temprature=1.0)


def test_the_slider_extremes_stay_finite():
    it = temperature_widget()
    results = it.check_extremes()
    assert [r["values"]["temperature"] for r in results] == [0.05, 10.0]
    sharp, flat = (float(r["text"].split()[-1]) for r in results)
    assert sharp > 0.99 and 1 / 12 <= flat < 0.2          # near one-hot, near uniform
    assert it.values["temperature"] == 1.0                # restored
    assert np.all(np.isfinite(it.figure.axes[0].images[0].get_array()))


def test_check_extremes_reports_nan_in_the_summary():
    def setup(fig):
        return fig.add_subplot().plot([0, 1], [0, 1])[0]

    def update(line, d_k):
        value = np.float64(1.0) / (d_k - 1)                # d_k = 1: inf, shown as nan
        return f"value {value if np.isfinite(value) else float('nan')}"

    with np.errstate(divide="ignore"):
        it = widgets.Interactive(setup, update, d_k=widgets.slider(1, 64, 1, 8, "d_k"))
        with pytest.raises(AssertionError, match="nan"):
            it.check_extremes()


def test_an_update_error_is_shown_not_raised_when_the_slider_moves():
    def setup(fig):
        return fig.add_subplot().plot([0, 1], [0, 1])[0]

    def update(line, x):
        if x > 5:
            raise ValueError("x too big for this demo")
        line.set_ydata([0, x])
        return f"x = {x}"

    it = widgets.Interactive(setup, update, x=widgets.slider(0, 10, 1, 1))
    it.controls["x"].value = 7                            # an observer: must not raise
    assert it.error == "ValueError: x too big for this demo"
    assert "x too big" in it.summary.value
    with pytest.raises(ValueError, match="too big"):      # from Python it raises
        it.set(x=8)
    it.set(x=2)
    assert it.error is None and it.text == "x = 2"


def test_plain_matplotlib_artists_are_blitted_and_drawn_correctly():
    def setup(fig):
        ax = fig.add_subplot()
        ax.set_xlim(0, 1)
        ax.set_ylim(-1, 1)
        ax.set_title("a sine")
        x = np.linspace(0, 1, 50)
        return ax.plot(x, np.sin(x))[0]

    def update(line, freq):
        x = line.get_xdata()
        line.set_ydata(np.sin(2 * np.pi * freq * x))
        return f"frequency {freq:.1f}"

    it = widgets.Interactive(setup, update, freq=(0.5, 5.0, 0.5, 1.0))    # a tuple makes a slider
    assert isinstance(it.controls["freq"], ipywidgets.FloatSlider)
    renderer = it.figure._ac_renderer
    for f in (2.0, 3.5, 5.0):
        it.set(freq=f)
    assert renderer.full_draws == 1                       # only the line was redrawn
    fast = it.png
    it.figure._ac_renderer = None
    assert np.array_equal(pixels(fast), pixels(viz.to_png(it.figure)))


def test_interactive_display_bundle_and_static_fallback():
    it = temperature_widget()
    it.set(temperature=0.5)
    bundle = it._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == it.widget.model_id
    expected = f"max weight {ac.softmax(SCORES, temperature=0.5).max():.3f}"
    assert bundle["text/plain"] == f"temperature = 0.5\n{expected}"
    assert embedded_png(bundle["text/html"]) == it.png
    assert expected in bundle["text/html"] and "temperature = 0.5" in bundle["text/html"]


def test_interactive_refuses_bad_controls():
    with pytest.raises(ValueError, match="at least one control"):
        widgets.Interactive(lambda fig: None, lambda s: "")
    with pytest.raises(TypeError, match="ipywidget"):
        widgets.Interactive(lambda fig: None, lambda s, x: "", x=3)
    with pytest.raises(TypeError, match="functions"):
        widgets.Interactive("setup", lambda s, x: "", x=(0, 1))


def test_other_widgets_work_as_controls():
    def setup(fig):
        return viz.bars([1.0, 2.0], ["a", "b"], ax=fig.add_subplot(), title="b")

    def update(b, scaled, d_k):
        v = np.array([1.0, 2.0]) / (np.sqrt(d_k) if scaled else 1.0)
        b.update(v)
        return f"largest {v.max():.3f}"

    it = widgets.Interactive(setup, update, scaled=ipywidgets.Checkbox(value=False), d_k=widgets.slider(1, 64, 1, 16))
    assert it.controls["scaled"].description == "scaled"        # named after the keyword
    it.controls["scaled"].value = True
    assert it.text == f"largest {2 / 4:.3f}"
    assert [r["values"]["d_k"] for r in it.check_extremes()] == [1, 64]


# ------------------------------------------------------------------------------- slider
def test_slider_kinds_and_validation():
    s = widgets.slider(1, 64, 1, 8, "d_k")
    assert isinstance(s, ipywidgets.IntSlider) and (s.min, s.max, s.value, s.description) == (1, 64, 8, "d_k")
    f = widgets.slider(0.0, 2.0, value=1.0)
    assert isinstance(f, ipywidgets.FloatSlider) and f.step == pytest.approx(0.02)
    assert widgets.slider(0, 5).value == 0
    for bad in [(1, 1), (0, 1, -0.1), (0, 1, 0.1, 2.0), (0, float("nan"))]:
        with pytest.raises(ValueError):
            widgets.slider(*bad)


# ------------------------------------------------------------------------------- nbval rule
def sanitize(text: str) -> str:
    """Apply tests/nbval_sanitize.cfg the way nbval does (each section's regex, in order)."""
    parser = configparser.ConfigParser()
    parser.read(SANITIZE)
    for section in parser.sections():
        text = re.sub(parser.get(section, "regex"), parser.get(section, "replace"), text)
    return text


def test_sanitize_rule_masks_the_png_and_keeps_the_numbers():
    a = temperature_widget()
    b = temperature_widget()
    b.state.image.set_cmap("magma")                        # same text, other image
    b.set(temperature=1.0)
    html_a, html_b = a._repr_mimebundle_()["text/html"], b._repr_mimebundle_()["text/html"]
    assert embedded_png(html_a) != embedded_png(html_b)
    assert sanitize(html_a) == sanitize(html_b)
    assert a.text in sanitize(html_a)
    c = temperature_widget().set(temperature=2.0)           # other numbers still differ
    assert sanitize(c._repr_mimebundle_()["text/html"]) != sanitize(html_a)


def test_reset_puts_every_control_back_to_its_default():
    it = temperature_widget(reset=True)
    start = it.text
    it.set(temperature=7.0)
    assert it.text != start
    it.reset_button.click()                                   # what pressing Reset does
    assert it.values["temperature"] == 1.0 and it.text == start
    it.defaults["temperature"] = 2.0                          # a lesson may move the defaults
    it.reset()
    assert it.values["temperature"] == 2.0
    assert it.reset_button in it.widget.children[0].children
    assert temperature_widget().reset_button is None          # no button unless asked for


def test_the_explorer_colour_bar_says_attention_weight():
    ex = widgets.AttentionExplorer(TOKENS, attention())
    assert ex.heatmap.colorbar.ax.get_ylabel() == "attention weight"
