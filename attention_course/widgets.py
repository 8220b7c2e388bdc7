"""Interactive widgets for the lessons: the attention explorer and the one slider helper.

    ex = widgets.AttentionExplorer(tokens, weights)          # weights (n_q, n_k); click a token
    ex.select(3); ex.text                                     # the same from Python

    def setup(fig):                                           # draw once
        return viz.heatmap(w0, toks, toks, ax=fig.add_subplot(), title="softmax(scores / T)")
    def update(hm, temperature):                              # change artists in place, return numbers
        w = ac.softmax(scores, temperature=temperature); hm.update(w)
        return f"max weight {w.max():.2f}"
    widgets.Interactive(setup, update, temperature=widgets.slider(0.05, 5.0, 0.05, 1.0, "T"))

Each widget is a live ipywidgets view in JupyterLab/VS Code/Colab and, in the same display
bundle, a static fallback (the figure as an embedded PNG plus the text summary) for
GitHub, nbviewer and nbval. The figure reaches the browser as PNG bytes in an
``ipywidgets.Image``; only the changed artists are redrawn (see ``attention_course.viz``).
"""
from __future__ import annotations

import base64
import builtins
import html
import itertools
import math
import re
from functools import partial

import ipywidgets as W
import matplotlib as mpl
import numpy as np

from . import viz

__all__ = ["AttentionExplorer", "Interactive", "slider"]

_NOT_FINITE = re.compile(r"\b(nan|inf)\b", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# shared: live view + static fallback in one display bundle
# ---------------------------------------------------------------------------------------------
class _LiveFigureWidget:
    """A figure shown through an ``ipywidgets.Image``, a text summary under it, a static fallback."""

    widget: W.Widget
    figure: mpl.figure.Figure
    text: str = ""
    error: str | None = None
    _hint = "Run the notebook to use the live widget."

    def _init_view(self):
        # natural size (no blurry stretching to the output's width), shrunk on narrow screens
        self.image = W.Image(format="png", layout=W.Layout(align_self="flex-start", max_width="100%", height="auto"))
        self.summary = W.HTML()
        self.png = b""

    def _show(self, text: str):
        """Render the figure (only what changed) and push image + summary to the front end."""
        self.png = viz.to_png(self.figure)
        self.text = text
        self.error = None
        self.image.value = self.png
        self.summary.value = _pre(text)

    def _show_error(self, exc: Exception):
        self.error = f"{type(exc).__name__}: {exc}"
        self.summary.value = _pre(f"Could not update: {self.error}", color="#b00020")

    def _static_text(self) -> str:
        return self.text

    def static_html(self) -> str:
        """The no-kernel view: the current figure as an embedded PNG, then the text summary."""
        b64 = base64.b64encode(self.png).decode("ascii")
        title = html.escape(_figure_title(self.figure), quote=True)
        return (f'<div class="attention-course-widget">'
                f'<img alt="{title}" style="max-width:100%" src="data:image/png;base64,{b64}"/>'
                f"{_pre(self._static_text())}"
                f'<p style="color:#666;font-size:smaller">{html.escape(self._hint)}</p></div>')

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget._repr_mimebundle_()
        bundle["text/html"] = self.static_html()
        bundle["text/plain"] = self._static_text()
        return bundle

    def __repr__(self):
        return f"<{type(self).__name__}: {self.text.splitlines()[0] if self.text else ''}>"


def _pre(text: str, color: str | None = None) -> str:
    style = "margin:0.3em 0;white-space:pre-wrap" + (f";color:{color}" if color else "")
    return f'<pre style="{style}">{html.escape(text)}</pre>'


def _figure_title(fig) -> str:
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    return "; ".join(titles) or "figure"


def _new_blank_figure(width: float, height: float, **subplots):
    fig, _ = viz.new_figure(0, width=width, height=height)
    if subplots:
        with mpl.rc_context(viz._STYLE):
            return fig, fig.subplots(**subplots)
    return fig, None


# ---------------------------------------------------------------------------------------------
# attention explorer
# ---------------------------------------------------------------------------------------------
class AttentionExplorer(_LiveFigureWidget):
    """Click a query token: its heatmap row is outlined, its links drawn, its weights printed.

    ``tokens`` (n_q,) label the queries; ``weights`` (n_q, n_k) is one attention pattern;
    ``key_tokens`` (n_k,) label the keys (default: the same tokens, self-attention).
    ``.select(i)`` does what clicking query ``i`` does; ``.text`` is the printed summary;
    ``.update(weights)`` shows a new pattern of the same shape, keeping the selection.
    """

    _hint = "Static view of the attention explorer: run the notebook to click the tokens."

    def __init__(self, tokens, weights, title=None, *, key_tokens=None, selected=0):
        self.tokens = [str(t) for t in tokens]
        self.key_tokens = self.tokens if key_tokens is None else [str(t) for t in key_tokens]
        w = viz._check_matrix("AttentionExplorer", weights)
        if w.shape != (len(self.tokens), len(self.key_tokens)):
            raise ValueError(f"AttentionExplorer: weights of shape {w.shape} do not match "
                             f"{len(self.tokens)} query tokens x {len(self.key_tokens)} key tokens.")
        n_q, n_k = w.shape
        n = max(n_q, n_k)
        # inches: heatmap (+ colour bar) and links; long sentences are capped (numbers then hide)
        map_width, links_width = min(1.6 + 0.42 * n_k, 9.0), 2.6
        height = min(max(3.2, 1.4 + 0.25 * n), 8.0)
        self.figure, (ax_map, ax_links) = _new_blank_figure(
            map_width + links_width, height, ncols=2, width_ratios=[map_width, links_width])
        self.heatmap = viz.heatmap(w, self.tokens, self.key_tokens, ax=ax_map,
                                   title=title or "Attention weights", colorbar_label="attention weight")
        self.links = viz.token_links(w, self.tokens, self.key_tokens, 0, ax=ax_links)
        self.buttons = [W.Button(description=t, tooltip=f"query {i}: {t}", layout=W.Layout(width="auto"))
                        for i, t in enumerate(self.tokens)]
        for i, button in enumerate(self.buttons):
            button.on_click(partial(self._on_click, i))
        self._init_view()
        self.widget = W.VBox([
            W.HTML("<b>Click a query token</b> to see where it looks:"),
            W.HBox(self.buttons, layout=W.Layout(flex_flow="row wrap")),
            self.image, self.summary])
        self.selected = None
        self.select(selected)

    @property
    def weights(self) -> np.ndarray:
        return self.heatmap.values

    def _on_click(self, i, _button=None):
        try:
            self.select(i)
        except Exception as exc:                     # never raise into the front end's event loop
            self._show_error(exc)

    def select(self, i):
        """Select query ``i`` (0 ≤ i < n_q): outline its row, draw its links, print its weights."""
        i = viz._index("AttentionExplorer.select", i, len(self.tokens))
        if self.selected is not None:
            self.buttons[self.selected].button_style = ""       # restyle two buttons, not all
        self.buttons[i].button_style = "warning"
        self.selected = i
        self.heatmap.highlight_row(i)
        self.links.update(query_index=i)
        self._show(self._summary())
        return self

    def update(self, weights):
        """Show a new attention pattern (same shape), keeping the selected query."""
        self.heatmap.update(weights)
        self.links.update(weights=self.heatmap.values)
        self._show(self._summary())
        return self

    def _summary(self) -> str:
        i, row = self.selected, self.weights[self.selected]
        width = max(len(t) for t in self.key_tokens)
        lines = [f"query {i} {self.tokens[i]!r} attends to:"]
        lines += [f"  {t:<{width}}  {w:.2f}  {'█' * int(round(20 * min(max(w, 0.0), 1.0)))}"
                  for t, w in zip(self.key_tokens, row)]
        top = int(np.argmax(row))
        lines.append(f"strongest: {self.key_tokens[top]!r} ({row[top]:.2f}); the weights sum to {row.sum():.2f}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the slider helper
# ---------------------------------------------------------------------------------------------
def slider(min, max, step=None, value=None, description="", *, continuous_update=True, readout_format=None):
    """A slider for one lesson knob: an ``IntSlider`` when min, max, step and value are all ints,
    else a ``FloatSlider``. ``value`` defaults to ``min``; ``step`` to 1 (ints) or (max-min)/100."""
    bounds = (min, max) + tuple(x for x in (step, value) if x is not None)
    if not all(isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)
               and math.isfinite(x) for x in bounds):
        raise ValueError(f"slider: min, max, step and value must be finite numbers, got {bounds}.")
    if not min < max:
        raise ValueError(f"slider: need min < max, got min={min}, max={max}.")
    if step is not None and step <= 0:
        raise ValueError(f"slider: step must be > 0, got {step}.")
    value = min if value is None else value
    if not min <= value <= max:
        raise ValueError(f"slider: value {value} is outside [{min}, {max}].")
    style = {"description_width": "initial"}
    common = dict(description=description, continuous_update=continuous_update, style=style,
                  layout=W.Layout(width="420px"))
    if all(isinstance(x, (int, np.integer)) for x in bounds):
        return W.IntSlider(min=int(min), max=int(max), step=int(step or 1), value=int(value), **common)
    step = float(step) if step is not None else (max - min) / 100
    digits = builtins.max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return W.FloatSlider(min=float(min), max=float(max), step=step, value=float(value),
                         readout_format=readout_format or f".{digits}f", **common)


class Interactive(_LiveFigureWidget):
    """A figure driven by lesson knobs: ``Interactive(setup, update, **controls)``.

    - ``setup(fig) -> state`` draws the initial artists once on ``fig``, an empty course-style
      figure (add axes with ``fig.add_subplot()`` or ``fig.subplots(1, 2)``).
    - ``update(state, **values) -> str`` changes those artists in place (``set_data``,
      ``Heatmap.update``, …) and returns a short text summary (numbers) shown under the figure.
    - ``controls``: ipywidgets with a ``.value`` (``widgets.slider(...)``, ``FloatSlider``,
      ``Checkbox``, ``Dropdown``…) or a tuple ``(min, max[, step[, value]])`` for a slider.
    - ``figsize=(w, h)`` (keyword, inches) sizes the figure.
    - ``reset=True`` (keyword) adds a *Reset* button: ``.reset()`` puts every control back to
      ``.defaults`` (the starting values; a lesson may change them, e.g. to a newly picked word's).

    ``.controls`` (dict), ``.set(**values)`` (what moving the sliders does; raises on error),
    ``.text``, ``.figure``, ``.png``; ``.check_extremes()`` tries every slider at its ends.
    Artists drawn in ``setup`` are made *animated*, so an update redraws only them (mark fixed
    labels with ``viz.static(artist)`` to keep them in the background); changing a title or
    axis limits in ``update`` still works but redraws the whole figure (slower).
    """

    _hint = "Static view: run the notebook to move the sliders."

    def __init__(self, setup, update, *, figsize=(6.0, 3.6), reset=False, **controls):
        if not callable(setup) or not callable(update):
            raise TypeError("Interactive(setup, update, **controls): setup and update must be functions.")
        if not controls:
            raise ValueError("Interactive: give at least one control, e.g. temperature=widgets.slider(0.1, 5, 0.1, 1).")
        self.controls = {name: _as_control(name, c) for name, c in controls.items()}
        self.defaults = {name: c.value for name, c in self.controls.items()}
        self._update = update
        self._holding = False
        self.figure, _ = _new_blank_figure(*figsize)
        self.state = setup(self.figure)
        _animate_data_artists(self.figure)
        self._init_view()
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        knobs = list(self.controls.values())
        self.reset_button = None
        if reset:
            self.reset_button = W.Button(description="Reset", icon="undo", tooltip="back to the starting values",
                                         layout=W.Layout(width="auto"))
            self.reset_button.on_click(self._on_reset)
            knobs.append(self.reset_button)
        self.widget = W.VBox([W.VBox(knobs), self.image, self.summary])
        self._refresh(raise_errors=True)

    def reset(self):
        """Put every control back to ``self.defaults`` and update once (what *Reset* does); returns self."""
        return self.set(**self.defaults)

    def _on_reset(self, _button=None):
        try:
            self.reset()
        except Exception as exc:                     # never raise into the front end's event loop
            self._show_error(exc)

    @property
    def values(self) -> dict:
        return {name: c.value for name, c in self.controls.items()}

    def set(self, **values):
        """Set control values (as if the sliders moved), then update once; returns self.
        Sliders clamp to their range, like in the browser."""
        unknown = set(values) - set(self.controls)
        if unknown:
            raise ValueError(f"Interactive.set: no control named {sorted(unknown)}; controls: {sorted(self.controls)}.")
        self._holding = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._holding = False
        self._refresh(raise_errors=True)
        return self

    def _on_change(self, _change):
        if not self._holding:
            self._refresh(raise_errors=False)

    def _refresh(self, raise_errors: bool):
        try:
            text = self._update(self.state, **self.values)
            self._show("" if text is None else str(text))
        except Exception as exc:
            if raise_errors:
                raise
            self._show_error(exc)

    def _static_text(self) -> str:
        knobs = ", ".join(f"{name} = {_fmt_value(v)}" for name, v in self.values.items())
        return f"{knobs}\n{self.text}" if self.text else knobs

    def check_extremes(self) -> list[dict]:
        """Set every numeric slider to each end (all combinations), check that nothing fails
        and that no summary shows nan/inf; restores the values. Returns [{values, text}, ...]."""
        start = self.values
        ranges = {name: (c.min, c.max) for name, c in self.controls.items() if hasattr(c, "min") and hasattr(c, "max")}
        results = []
        try:
            for corner in itertools.product(*ranges.values()):
                values = dict(zip(ranges, corner))
                try:
                    self.set(**values)
                except Exception as exc:
                    raise AssertionError(f"Interactive: update failed at {values}: {type(exc).__name__}: {exc}") from exc
                if _NOT_FINITE.search(self.text):
                    raise AssertionError(f"Interactive: summary shows nan/inf at {values}: {self.text!r}")
                results.append({"values": values, "text": self.text})
        finally:
            self.set(**start)
        return results


def _as_control(name, control):
    if isinstance(control, tuple):
        if not 2 <= len(control) <= 4:
            raise ValueError(f"Interactive: control {name!r} as a tuple must be (min, max[, step[, value]]).")
        control = slider(*control)
    if not (isinstance(control, W.ValueWidget) or (isinstance(control, W.Widget) and control.has_trait("value"))):
        raise TypeError(f"Interactive: control {name!r} must be an ipywidget with a .value (e.g. widgets.slider(...)),"
                        f" got {type(control).__name__}.")
    if hasattr(control, "description") and not control.description:
        control.description = name
    return control


def _fmt_value(v):
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _animate_data_artists(fig):
    """Mark the data artists of every (non-colour-bar) Axes animated, so updates can blit them."""
    for ax in fig.axes:
        if getattr(ax, "_colorbar", None) is not None:
            continue
        for artist in itertools.chain(ax.lines, ax.patches, ax.collections, ax.images, ax.texts, ax.artists):
            if not getattr(artist, "_ac_static", False):       # viz.static(...) labels stay background
                artist.set_animated(True)
