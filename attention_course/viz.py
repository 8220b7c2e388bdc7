"""The course's plotting helpers: heatmap, token links, bars, lines, arrows, a labelled scatter — all fast to update.

    from attention_course import viz
    hm = viz.heatmap(weights, tokens, tokens, title="Attention weights")   # weights (n_q, n_k)
    hm.update(new_weights)                                                 # same shape, in place
    viz.show(hm.fig)                                                       # a PNG in a static cell

Every helper draws on a plain ``matplotlib.figure.Figure`` (no pyplot: nothing is shown
twice, nothing leaks between cells) and keeps its changing artists *animated*. ``to_png``
then redraws only those on top of a cached background, which is what keeps a widget update
(``attention_course.widgets``) well under 50 ms. Numbers printed in cells are stamped from
small cached bitmaps instead of being laid out as 144 ``Text`` artists on every redraw.

The only rule for code that builds on this: change artists in place (``set_data``,
``set_height``, ``update``…); anything that is not animated (a title, an axis limit) makes
the next ``to_png`` redraw the whole figure, which is correct but slower.
"""
from __future__ import annotations

import io
import math

import matplotlib as mpl
import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle

__all__ = ["heatmap", "token_links", "bars", "lines", "arrows", "scatter", "place_labels", "new_figure", "show",
           "to_png", "static", "Heatmap", "TokenLinks", "Bars", "Lines", "Arrows", "Scatter"]

DPI = 90                       # modest: a 12-token explorer is ~850x380 px, cheap to encode
CMAP = "viridis"
HIGHLIGHT = "#ff7f0e"          # the colour of "the selected query" everywhere in the course
_STYLE = {
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.facecolor": "white",
}


# ---------------------------------------------------------------------------------------------
# figures and rendering
# ---------------------------------------------------------------------------------------------
def new_figure(ncols: int = 1, width: float | None = None, height: float | None = None, *,
               nrows: int = 1):
    """A course-style figure and its axes: ``fig, ax = new_figure()``, ``fig, (a, b) = new_figure(2)``.

    ``width``/``height`` are inches (default 4.8 + 4.2 per extra column, by 3.6 per row).
    Returns ``(fig, ax)`` for one panel, else ``(fig, axes)`` with axes an array of shape
    (ncols,) or (nrows, ncols). ``ncols=0`` returns an empty figure and ``None``.
    """
    if not (isinstance(ncols, (int, np.integer)) and ncols >= 0 and isinstance(nrows, (int, np.integer))
            and nrows >= 1):
        raise ValueError(f"new_figure: ncols must be an int >= 0 and nrows an int >= 1, got {ncols!r}, {nrows!r}.")
    width = 4.8 + 4.2 * (max(ncols, 1) - 1) if width is None else float(width)
    height = 3.6 * nrows if height is None else float(height)
    if not (width > 0 and height > 0):
        raise ValueError(f"new_figure: width and height must be > 0 inches, got {width}, {height}.")
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols) if ncols else None
    return fig, axes


def _axes_or_new(ax, width=None, height=None):
    if ax is None:
        fig, ax = new_figure(width=width, height=height)
        return fig, ax
    if not isinstance(ax, mpl.axes.Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}.")
    return ax.get_figure(root=True), ax


class _FastRenderer:
    """Renders one figure to PNG bytes, redrawing as little as it can.

    Three layers. The *background*: a full draw of every non-animated artist (axes, ticks,
    labels, colour bars), redone only when matplotlib marks the figure stale (changing a
    non-animated artist does that; animated artists do not propagate staleness). The
    *middle*: the background plus the animated artists, in z-order, up to the first one that
    changed since it was last drawn (e.g. an explorer's heatmap and its 144 numbers when only
    the selected row moves). The *top*: the changed artists and everything above them.
    """

    def __init__(self, fig):
        self.fig = fig
        self._background = None
        self._middle, self._middle_k = None, 0
        self._animated = []
        self._size = None
        self.full_draws = 0                           # how often the slow path ran (tests)

    def _full_draw(self, canvas):
        engine = self.fig.get_layout_engine()
        if engine is not None and engine.__class__.__name__ != "PlaceHolderLayoutEngine":
            # Solve the layout once, then freeze it: later full draws skip the solver, and
            # switching engines after the draw would mark the figure stale again.
            try:
                engine.execute(self.fig)
            except ValueError:                        # matplotlib does the same on odd sizes
                pass
            self.fig.set_layout_engine("none")
        _animate_what_lies_above_animated(self.fig)
        # Before the draw: walking the tree creates tick objects, which marks the figure stale.
        found = self.fig.findobj(lambda a: a is not self.fig and a.get_animated())
        self._animated = sorted(found, key=lambda a: a.get_zorder())
        canvas.draw()                                 # static artists only
        self._background = canvas.copy_from_bbox(self.fig.bbox)
        self._middle, self._middle_k = None, 0
        self._size = canvas.get_width_height()
        self.full_draws += 1

    def rgba(self) -> np.ndarray:
        """The figure as an (height, width, 4) uint8 array (a view of the canvas buffer)."""
        canvas = self.fig.canvas
        if not isinstance(canvas, FigureCanvasAgg):
            canvas = FigureCanvasAgg(self.fig)
        full = self._background is None or self.fig.stale or canvas.get_width_height() != self._size
        if full:
            self._full_draw(canvas)
        animated = self._animated
        changed = next((j for j, a in enumerate(animated) if a.stale), len(animated))
        renderer = canvas.get_renderer()
        if self._middle is not None and changed >= self._middle_k:
            canvas.restore_region(self._middle)       # nothing below _middle_k changed
            start = self._middle_k
        else:
            if not full:
                canvas.restore_region(self._background)
            self._draw(animated[:changed], renderer)
            self._middle = canvas.copy_from_bbox(self.fig.bbox) if changed else self._background
            self._middle_k = start = changed
        self._draw(animated[start:], renderer)
        return np.asarray(canvas.buffer_rgba())

    @staticmethod
    def _draw(artists, renderer):
        for artist in artists:
            artist.draw(renderer)                     # an invisible artist draws nothing
            artist.stale = False                      # drawn as it is now (no propagation: animated)

    def png(self) -> bytes:
        return encode_png(self.rgba())


def _animate_what_lies_above_animated(fig):
    """A static artist drawn above an animated one in the same Axes (an outline over a heatmap)
    would be painted into the background and then covered by the animated layer: make it
    animated too, so every artist is drawn in its z-order. Artists marked ``static`` stay in the
    background (token labels kept clear of the links, so a redraw need not repaint them)."""
    for ax in fig.axes:
        data = [*ax.images, *ax.collections, *ax.lines, *ax.patches, *ax.texts, *ax.artists]
        lowest = min((a.get_zorder() for a in data if a.get_animated()), default=None)
        if lowest is None:
            continue
        for artist in data:
            # viz.static(...) says "background on purpose" (labels placed clear of the data)
            if not artist.get_animated() and artist.get_zorder() > lowest and not getattr(artist, "_ac_static", False):
                artist.set_animated(True)


def encode_png(rgba: np.ndarray) -> bytes:
    """PNG bytes of an (h, w, 4) uint8 image, with an adaptive 256-colour palette.

    Plots have few colours, so the palette is visually lossless here, and it is both faster
    (one byte per pixel to compress) and ~2.5x smaller than RGB: measured 4 ms and 30 kB vs
    7 ms and 77 kB for the 12-token explorer. Smaller matters for notebooks stored with
    outputs and for remote kernels (Colab, Binder) sending every update over the network.
    """
    from PIL import Image

    h, w = rgba.shape[:2]
    # "RGBX": read 4 bytes a pixel, keep 3 (the figure is opaque); 10x faster than a numpy slice copy
    image = Image.frombytes("RGB", (w, h), np.ascontiguousarray(rgba), "raw", "RGBX")
    out = io.BytesIO()
    image.quantize(256, method=Image.Quantize.FASTOCTREE).save(out, format="png", compress_level=1)
    return out.getvalue()


def to_png(fig) -> bytes:
    """The figure as PNG bytes (animated artists included); repeated calls are fast."""
    renderer = getattr(fig, "_ac_renderer", None)
    if renderer is None:
        renderer = fig._ac_renderer = _FastRenderer(fig)
    return renderer.png()


def show(fig):
    """Display ``fig`` (a Figure or any helper object with ``.fig``) as a PNG in a notebook cell."""
    from IPython.display import display

    fig = getattr(fig, "fig", fig)
    if not isinstance(fig, Figure):
        raise TypeError(f"show: expected a matplotlib Figure or a viz helper, got {type(fig).__name__}.")
    display({"image/png": to_png(fig), "text/plain": _figure_text(fig)}, raw=True)


def _figure_text(fig) -> str:
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    return f"<Figure: {'; '.join(titles)}>" if titles else repr(fig)


def static(*artists):
    """Mark artists as fixed background (token labels…): ``widgets.Interactive`` then leaves
    them out of the per-update redraw. Returns the first artist."""
    for artist in artists:
        artist._ac_static = True
    return artists[0] if artists else None


class _View:
    """Shared by the helpers: ``.fig``, ``.ax``, displays as a PNG when it is a cell's last line."""

    fig: Figure
    ax: "mpl.axes.Axes"

    def png(self) -> bytes:
        return to_png(self.fig)

    def _repr_png_(self):
        return self.png()

    def __repr__(self):
        return f"<{type(self).__name__}: {self.ax.get_title() or 'untitled'}>"


# ---------------------------------------------------------------------------------------------
# numbers stamped from cached bitmaps
# ---------------------------------------------------------------------------------------------
_STAMPS: dict = {}
_COLORED: dict = {}
_STAMP_CACHE_LIMIT = 8192


def _text_alpha(s: str, size: float, weight: str, dpi: float) -> np.ndarray:
    """Coverage (h, w) uint8 of ``s`` rendered by Agg at ``size`` points, cropped tight-ish."""
    key = (s, size, weight, dpi)
    alpha = _STAMPS.get(key)
    if alpha is None:
        if len(_STAMPS) > _STAMP_CACHE_LIMIT:
            _STAMPS.clear()
        prop = FontProperties(size=size, weight=weight)
        probe = RendererAgg(1, 1, dpi)
        w, h, d = probe.get_text_width_height_descent(s, prop, ismath=False)
        pad = 2
        width, height = int(math.ceil(w)) + 2 * pad, int(math.ceil(h)) + 2 * pad
        r = RendererAgg(width, height, dpi)
        gc = r.new_gc()
        gc.set_foreground((0, 0, 0, 1))
        r.draw_text(gc, pad, pad + h - d, s, prop, 0)   # (x, baseline) measured from the top
        gc.restore()
        # draw_image wants rows bottom-up (y grows upwards), the buffer is top-down
        alpha = np.ascontiguousarray(np.asarray(r.buffer_rgba())[::-1, :, 3])
        _STAMPS[key] = alpha
    return alpha


def _stamp(s: str, color, size: float, weight: str, dpi: float, background=None) -> np.ndarray:
    """RGBA (h, w, 4) uint8, rows bottom-up (as ``draw_image`` wants), cached.

    ``background`` (a colour, optional) fills the stamp's box behind the text, so the string
    stays readable over lines drawn beneath it."""
    key = (s, color, size, weight, dpi, background)
    out = _COLORED.get(key)
    if out is None:
        if len(_COLORED) > _STAMP_CACHE_LIMIT:
            _COLORED.clear()
        alpha = _text_alpha(s, size, weight, dpi)
        rgb = (np.array(mpl.colors.to_rgb(color)) * 255).round().astype(np.uint8)
        out = np.empty(alpha.shape + (4,), np.uint8)
        if background is None:
            out[..., :3] = rgb
            out[..., 3] = alpha
        else:                                          # text composited over an opaque patch
            bg = np.array(mpl.colors.to_rgb(background)) * 255
            a = alpha[..., None] / 255.0
            out[..., :3] = (a * rgb + (1 - a) * bg).round().astype(np.uint8)
            out[..., 3] = 255
        _COLORED[key] = out
    return out


class _StampText(Artist):
    """Many short strings at data positions, drawn as cached bitmaps (fast, animated).

    ``strings`` (m,), ``xy`` (m, 2) in data coordinates, ``colors`` one per string,
    ``offset`` (dx, dy) in points. ``ha`` in {left, center, right}, ``va`` in {bottom, center, top}.
    ``set_items`` may give ``va``, ``offset`` and ``ha`` per string instead (e.g. bar labels above a
    positive bar's tip and below a negative one's). ``background`` (a colour) puts each string on
    an opaque patch, so lines drawn below it (lower zorder) never run through its letters.
    ``fits`` (optional) is called with the renderer and the stamps' largest (w, h) in pixels and
    returns False to skip drawing (e.g. numbers that would not fit their heatmap cells).
    """

    def __init__(self, ax, size=8.0, weight="normal", ha="center", va="center", offset=(0, 0), fits=None,
                 background=None):
        super().__init__()
        self.size, self.weight, self.ha, self.va, self.offset, self.fits = size, weight, ha, va, offset, fits
        self.background = background
        self.strings, self.xy, self.colors = [], np.zeros((0, 2)), []
        self.vas, self.offsets, self.has = None, None, None    # per-string overrides of va, offset, ha
        self.set_transform(ax.transData)
        self.set_animated(True)
        self.set_clip_on(False)
        ax.add_artist(self)

    def set_items(self, strings, xy, colors, va=None, offset=None, ha=None):
        """New strings at ``xy`` (m, 2); ``va`` (m,), ``offset`` (m, 2) and ``ha`` (m,) optionally per string."""
        self.strings, self.xy, self.colors = list(strings), np.asarray(xy, float).reshape(-1, 2), list(colors)
        self.vas = None if va is None else [str(a) for a in va]
        self.offsets = None if offset is None else np.asarray(offset, float).reshape(-1, 2)
        self.has = None if ha is None else [str(a) for a in ha]
        self.stale = True

    def draw(self, renderer):
        if not self.get_visible() or not self.strings:
            return
        dpi = renderer.dpi
        stamps = [_stamp(s, c, self.size, self.weight, dpi, self.background)
                  for s, c in zip(self.strings, self.colors)]
        if self.fits is not None:
            biggest = (max(s.shape[1] for s in stamps) - 4, max(s.shape[0] for s in stamps) - 4)
            if not self.fits(renderer, biggest):
                return
        offset = self.offset if self.offsets is None else self.offsets
        pts = self.get_transform().transform(self.xy) + np.asarray(offset, float) * dpi / 72.0
        sizes = np.array([im.shape[:2] for im in stamps])            # (m, 2): h, w
        h, w = sizes[:, 0], sizes[:, 1]
        if self.has is None:
            dx = {"left": np.full(len(w), 2.0), "center": w / 2, "right": w - 2.0}[self.ha]
        else:
            dx = np.array([{"left": 2.0, "center": wi / 2, "right": wi - 2.0}[ha] for ha, wi in zip(self.has, w)])
        if self.vas is None:
            dy = {"bottom": np.full(len(h), 2.0), "center": h / 2, "top": h - 2.0}[self.va]
        else:
            dy = np.array([{"bottom": 2.0, "center": hi / 2, "top": hi - 2.0}[va] for va, hi in zip(self.vas, h)])
        keep = np.all(np.isfinite(pts), axis=1)
        if not keep.any():
            return
        left = np.round(np.nan_to_num(pts[:, 0] - dx)).astype(int)
        bottom = np.round(np.nan_to_num(pts[:, 1] - dy)).astype(int)
        # One overlay image for all strings: one draw_image call instead of one per string.
        x0, y0 = left[keep].min(), bottom[keep].min()
        x1, y1 = (left + w)[keep].max(), (bottom + h)[keep].max()
        overlay = np.zeros((y1 - y0, x1 - x0, 4), np.uint8)
        for im, l, b, ok in zip(stamps, left - x0, bottom - y0, keep):
            if ok:
                region = overlay[b:b + im.shape[0], l:l + im.shape[1]]
                np.copyto(region, im, where=im[..., 3:] > region[..., 3:])   # padding never hides ink
        gc = renderer.new_gc()
        self._set_gc_clip(gc)
        renderer.draw_image(gc, int(x0), int(y0), overlay)
        gc.restore()
        self.stale = False


def _fmt(values, fmt):
    # "+ 0.0" turns -0.0 into 0.0 so nothing prints as "-0.00"
    return [fmt.format(v + 0.0) for v in np.asarray(values, float).ravel()]


def _check_matrix(name, weights, shape=None):
    try:
        w = np.asarray(weights.detach().cpu().numpy() if hasattr(weights, "detach") else weights, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: weights must be a 2-D array of numbers, got {type(weights).__name__}.") from exc
    if w.ndim != 2 or 0 in w.shape:
        raise ValueError(f"{name}: weights must be a non-empty 2-D array (n_q, n_k), got shape {w.shape}.")
    if shape is not None and w.shape != shape:
        raise ValueError(f"{name}: update needs the same shape as before, {shape}, got {w.shape}.")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name}: weights contain NaN or inf at {np.argwhere(~np.isfinite(w))[:3].tolist()}… "
                         "(an overflow upstream? softmax without max-subtraction?)")
    return w


def _labels(name, labels, n, what):
    if labels is None:
        return [str(i) for i in range(n)]
    labels = [str(t) for t in labels]
    if len(labels) != n:
        raise ValueError(f"{name}: got {len(labels)} {what} labels for {n} {what}s.")
    return labels


# ---------------------------------------------------------------------------------------------
# heatmap
# ---------------------------------------------------------------------------------------------
class Heatmap(_View):
    """A labelled heatmap of an (n_rows, n_cols) matrix; see :func:`heatmap`.

    Attributes: ``fig``, ``ax``, ``image`` (AxesImage), ``colorbar``, ``values`` (the matrix shown).
    ``update(weights)`` changes colours and printed numbers in place; ``highlight_row(i)``
    outlines row ``i`` (``None`` removes the outline).
    """

    def __init__(self, weights, row_labels=None, col_labels=None, ax=None, title=None, annotate=True,
                 vmin=0, vmax=1, *, cmap=CMAP, fmt="{:.2f}", xlabel="key (attended to)",
                 ylabel="query (attending)", colorbar=True, colorbar_label=None):
        w = _check_matrix("heatmap", weights)
        n_rows, n_cols = w.shape
        self.row_labels = _labels("heatmap", row_labels, n_rows, "row")
        self.col_labels = _labels("heatmap", col_labels, n_cols, "column")
        self.fig, self.ax = _axes_or_new(ax, width=max(3.6, 1.6 + 0.36 * n_cols), height=max(3.0, 1.2 + 0.3 * n_rows))
        self._auto = (vmin is None, vmax is None)
        self.fmt = fmt
        ax = self.ax
        self.image = ax.imshow(w, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest", aspect="auto")
        if None in (vmin, vmax):
            self.image.set_clim(*_auto_limits(w, vmin, vmax))
        self.image.set_animated(True)
        ax.set_xticks(range(n_cols), self.col_labels, rotation=45 if n_cols > 6 else 0,
                      ha="right" if n_cols > 6 else "center", rotation_mode="anchor")
        ax.set_yticks(range(n_rows), self.row_labels)
        if n_cols > 40:
            ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(12, integer=True))
        if n_rows > 40:
            ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(12, integer=True))
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_xlabel(xlabel or "")
        ax.set_ylabel(ylabel or "")
        if title:
            ax.set_title(title)
        self.colorbar = self.fig.colorbar(self.image, ax=ax, shrink=0.9, pad=0.02) if colorbar else None
        if self.colorbar is not None:
            self.colorbar.outline.set_visible(False)
            if colorbar_label:
                self.colorbar.set_label(colorbar_label)
        self.annotations = _StampText(ax, size=7.5 if max(n_rows, n_cols) > 8 else 8.5, fits=self._fits)
        self.annotations.set_visible(bool(annotate))
        self.outline = Rectangle((-0.5, -0.5), n_cols, 1, fill=False, edgecolor=HIGHLIGHT, linewidth=2.5,
                                 clip_on=False, visible=False, animated=True, zorder=5)
        ax.add_patch(self.outline)
        self.highlighted = None
        self._grid = np.stack(np.meshgrid(np.arange(n_cols), np.arange(n_rows)), -1).reshape(-1, 2)
        self.values = None
        self.update(w)

    @property
    def shape(self):
        return self.values.shape

    def update(self, weights):
        """Show new ``weights`` of the same shape (n_rows, n_cols); returns self."""
        w = _check_matrix("Heatmap.update", weights, None if self.values is None else self.values.shape)
        self.values = w
        self.image.set_data(w)
        if any(self._auto):
            lo, hi = _auto_limits(w, *(None if auto else lim for auto, lim in zip(self._auto, self.image.get_clim())))
            if (lo, hi) != tuple(self.image.get_clim()):
                self.image.set_clim(lo, hi)            # the colour bar changes: next render is a full one
        self.annotations.set_items(_fmt(w, self.fmt), self._grid, self._text_colors(w))
        return self

    def _text_colors(self, w):
        rgba = self.image.cmap(self.image.norm(w.ravel()))
        luminance = rgba[:, :3] @ np.array([0.2126, 0.7152, 0.0722])
        return np.where(luminance < 0.5, "white", "black")

    def _fits(self, renderer, biggest):
        (x0, y0), (x1, y1) = self.ax.transData.transform([(0, 0), (1, 1)])
        return biggest[0] <= 0.95 * abs(x1 - x0) and biggest[1] <= 0.95 * abs(y1 - y0)

    def highlight_row(self, i):
        """Outline row ``i`` (an int, or None for no outline); returns self."""
        if i is None:
            self.outline.set_visible(False)
        else:
            i = _index("highlight_row", i, self.values.shape[0])
            self.outline.set_y(i - 0.5)
            self.outline.set_visible(True)
        self.highlighted = i
        return self


def _auto_limits(w, vmin, vmax):
    lo = float(w.min()) if vmin is None else float(vmin)
    hi = float(w.max()) if vmax is None else float(vmax)
    return (lo, hi) if hi > lo else (lo - 0.5, lo + 0.5)


def _index(name, i, n):
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
        raise TypeError(f"{name}: index must be an int, got {type(i).__name__}.")
    if not 0 <= i < n:
        raise IndexError(f"{name}: index {i} is out of range for {n} rows (0…{n - 1}).")
    return int(i)


def heatmap(weights, row_labels, col_labels, ax=None, title=None, annotate=True, vmin=0, vmax=1, **kwargs):
    """Draw ``weights`` (n_rows, n_cols) as a labelled heatmap with one colour bar.

    Values are printed in the cells when ``annotate`` and the numbers fit (text white on
    dark cells, black on light ones). ``vmin``/``vmax``: colour range (``None`` = data range).
    Extra keywords: ``cmap``, ``fmt`` ("{:.2f}"), ``xlabel``, ``ylabel``, ``colorbar``,
    ``colorbar_label`` (what the colours mean, e.g. "attention weight": label every colour bar).
    Returns a :class:`Heatmap` (``.fig``, ``.ax``, ``.update(weights)``, ``.highlight_row(i)``).
    """
    return Heatmap(weights, row_labels, col_labels, ax=ax, title=title, annotate=annotate,
                   vmin=vmin, vmax=vmax, **kwargs)


# ---------------------------------------------------------------------------------------------
# token links ("head view")
# ---------------------------------------------------------------------------------------------
class TokenLinks(_View):
    """Queries on the left, keys on the right, a line from the selected query to every key.

    Line width and opacity grow with the weight. ``update(weights, query_index)``.
    """

    X_QUERY, X_KEY = 0.0, 1.0
    LABEL_GAP = 0.1            # data units between a line's end and its label (lines end flat, "butt")

    def __init__(self, weights, query_labels, key_labels, query_index=0, ax=None, title=None):
        w = _check_matrix("token_links", weights)
        n_q, n_k = w.shape
        self.query_labels = _labels("token_links", query_labels, n_q, "query")
        self.key_labels = _labels("token_links", key_labels, n_k, "key")
        n = max(n_q, n_k)
        self.fig, self.ax = _axes_or_new(ax, width=3.2, height=max(3.0, 1.0 + 0.28 * n))
        ax = self.ax
        ax.set_xlim(-0.9, 1.9)
        ax.set_ylim(n - 0.4, -0.8)
        ax.set_axis_off()
        ax.set_title(title if title is not None else "Links (width = weight)")
        static(ax.text(self.X_QUERY, -0.75, "query", ha="right", va="center", style="italic", color="0.4"),
               ax.text(self.X_KEY, -0.75, "key", ha="left", va="center", style="italic", color="0.4"))
        self._yq, self._yk = self._rows(n_q, n), self._rows(n_k, n)
        gap = self.LABEL_GAP
        labels = [ax.text(self.X_QUERY - gap, y, t, ha="right", va="center") for y, t in zip(self._yq, self.query_labels)]
        labels += [ax.text(self.X_KEY + gap, y, t, ha="left", va="center") for y, t in zip(self._yk, self.key_labels)]
        static(*labels)
        self.marker = Rectangle((-0.88, 0), 0.88, 0.86, facecolor=HIGHLIGHT, alpha=0.3, edgecolor="none",
                                animated=True, zorder=1)
        ax.add_patch(self.marker)
        self.lines = LineCollection([], capstyle="butt", animated=True, zorder=3)   # flat ends stay off the labels
        ax.add_collection(self.lines, autolim=False)
        self.values = None
        self.query_index = None
        self.update(w, query_index)

    @staticmethod
    def _rows(m, n):
        """Spread m tokens over the n rows of the taller column (centred)."""
        return np.arange(m) + (n - m) / 2

    def update(self, weights=None, query_index=None):
        """New ``weights`` (same shape; None keeps them) and/or a new ``query_index``; returns self."""
        if weights is not None:
            self.values = _check_matrix("TokenLinks.update", weights, None if self.values is None else self.values.shape)
        if query_index is not None:
            self.query_index = _index("token_links", query_index, self.values.shape[0])
        i = self.query_index
        row = np.clip(self.values[i], 0.0, 1.0)
        yq = self._yq[i]
        self.lines.set_segments([[(self.X_QUERY, yq), (self.X_KEY, yk)] for yk in self._yk])
        self.lines.set_linewidths(0.3 + 7.0 * row)
        colors = np.tile(mpl.colors.to_rgba(HIGHLIGHT), (len(row), 1))
        colors[:, 3] = 0.08 + 0.92 * row
        self.lines.set_colors(colors)
        self.marker.set_y(yq - 0.43)
        return self


def token_links(weights, query_labels, key_labels, query_index, ax=None, title=None):
    """Lines from query ``query_index`` to each key; thickness/opacity = weight (weights (n_q, n_k))."""
    return TokenLinks(weights, query_labels, key_labels, query_index, ax=ax, title=title)


# ---------------------------------------------------------------------------------------------
# bars
# ---------------------------------------------------------------------------------------------
class Bars(_View):
    """A bar chart with the values printed on the bars; ``update(values)`` in place.

    A positive value is printed just above its bar's tip, a negative one just below it (so
    neighbouring negative labels do not run together on the zero line); more than 12 bars
    get a smaller font.
    """

    def __init__(self, values, labels=None, ax=None, title=None, ylim=None, *, ylabel=None, fmt="{:.2f}",
                 color="#3b75af"):
        v = self._check(values)
        self.labels = _labels("bars", labels, len(v), "bar")
        self.fig, self.ax = _axes_or_new(ax, width=max(3.6, 1.2 + 0.45 * len(v)), height=3.2)
        ax = self.ax
        self.fmt = fmt
        self.patches = ax.bar(range(len(v)), np.zeros(len(v)), color=color, width=0.7).patches
        for p in self.patches:
            p.set_animated(True)
        ax.set_xticks(range(len(v)), self.labels, rotation=45 if len(v) > 8 else 0,
                      ha="right" if len(v) > 8 else "center", rotation_mode="anchor")
        static(ax.axhline(0, color="0.3", linewidth=0.8))
        if title:
            ax.set_title(title)
        if ylabel:
            ax.set_ylabel(ylabel)
        self._fixed_ylim = ylim is not None
        if ylim is not None:
            ax.set_ylim(*ylim)
        self.value_labels = _StampText(ax, size=8 if len(v) <= 12 else 6.5, va="bottom", offset=(0, 1))
        self._ylim_set = False
        self.values = None
        self.update(v)

    def _check(self, values, n=None):
        v = np.asarray(values.detach().cpu().numpy() if hasattr(values, "detach") else values, dtype=float)
        if v.ndim != 1 or v.size == 0:
            raise ValueError(f"bars: values must be a non-empty 1-D array, got shape {v.shape}.")
        if n is not None and v.size != n:
            raise ValueError(f"Bars.update: expected {n} values, got {v.size}.")
        if not np.all(np.isfinite(v)):
            raise ValueError("bars: values contain NaN or inf.")
        return v

    def update(self, values):
        """Show new ``values`` (same length); returns self. Without a fixed ``ylim`` the axis only grows."""
        v = self._check(values, None if self.values is None else self.values.size)
        self.values = v
        for p, h in zip(self.patches, v):
            p.set_height(h)
        if not self._fixed_ylim:
            # room beyond each tip for its printed value (above positives, below negatives)
            lo_v, hi_v = min(0.0, v.min()), max(0.0, v.max())
            pad = 0.15 * (hi_v - lo_v)
            need_lo, need_hi = (lo_v - pad if lo_v < 0 else 0.0), (hi_v + pad if hi_v > 0 else 0.0)
            if need_hi == need_lo:
                need_hi = need_lo + 1.0
            lo, hi = self.ax.get_ylim() if self._ylim_set else (need_lo, need_hi)
            if not self._ylim_set or need_lo < lo or need_hi > hi:
                self.ax.set_ylim(min(lo, need_lo), max(hi, need_hi))     # static: next render is full
                self._ylim_set = True
        below = v < 0                                  # label a negative bar under its tip
        tip = v
        if self._fixed_ylim:                           # a bar cut off by a fixed ylim: label inside the edge
            lo, hi = sorted(self.ax.get_ylim())
            tip = np.clip(v, lo, hi)
            below = np.where(v < lo, False, np.where(v > hi, True, below))
        self.value_labels.set_items(_fmt(v, self.fmt), np.column_stack([np.arange(v.size), tip]),
                                    ["0.15"] * v.size, va=np.where(below, "top", "bottom"),
                                    offset=np.column_stack([np.zeros(v.size), np.where(below, -1.0, 1.0)]))
        return self


def bars(values, labels, ax=None, title=None, ylim=None, **kwargs):
    """A bar per value (values (n,)), labelled, values printed; returns :class:`Bars` (``.update(values)``)."""
    return Bars(values, labels, ax=ax, title=title, ylim=ylim, **kwargs)


# ---------------------------------------------------------------------------------------------
# lines: curves on one x axis, with a movable dot per curve
# ---------------------------------------------------------------------------------------------
def _as_curves(name, ys, n_x=None):
    y = np.asarray(ys.detach().cpu().numpy() if hasattr(ys, "detach") else ys, dtype=float)
    if y.ndim == 1:
        y = y[None, :]
    if y.ndim != 2 or 0 in y.shape:
        raise ValueError(f"{name}: ys must be (n_x,) or (n_curves, n_x), got shape {y.shape}.")
    if n_x is not None and y.shape[1] != n_x:
        raise ValueError(f"{name}: each curve needs {n_x} values (one per x), got shape {y.shape}.")
    return y


class Lines(_View):
    """Curves y(x) sharing one x axis, a legend, and optionally one movable dot per curve.

    ``x`` (n_x,); ``ys`` (n_curves, n_x) or (n_x,); ``labels`` one per curve (the legend);
    ``styles`` a matplotlib format per curve ("o-", "--", ":"); ``colors`` one per curve.
    ``update(ys)`` redraws the curves in place (same shape); ``mark(x, ys)`` moves curve i's dot
    to ``(x, ys[i])`` (``dots=True``), a value that need not lie on the curve's grid.
    ``legend``: a matplotlib ``loc``, "outside" (right of the axes) or None.
    """

    def __init__(self, x, ys, labels=None, ax=None, title=None, *, xlabel=None, ylabel=None, ylim=None,
                 styles=None, colors=None, dots=False, legend="best", logx=False, xticks=None, linewidth=1.5):
        self.x = np.asarray(x, dtype=float).ravel()
        y = _as_curves("lines", ys, self.x.size)
        n = y.shape[0]
        self.labels = None if labels is None else _labels("lines", labels, n, "curve")
        styles = ["-"] * n if styles is None else list(styles)
        colors = [None] * n if colors is None else list(colors)
        if len(styles) != n or len(colors) != n:
            raise ValueError(f"lines: give one style and one colour per curve ({n}), got {len(styles)} and {len(colors)}.")
        self.fig, self.ax = _axes_or_new(ax, width=5.2, height=3.4)
        ax = self.ax
        self.curves = []
        for i, (row, style, color) in enumerate(zip(y, styles, colors)):
            (line,) = ax.plot(self.x, row, style, color=color, linewidth=linewidth, markersize=3.5,
                              label=None if self.labels is None else self.labels[i])
            line.set_animated(True)
            self.curves.append(line)
        self.dots = []
        if dots:
            for line in self.curves:
                (dot,) = ax.plot([np.nan], [np.nan], "o", color=line.get_color(), markersize=9, alpha=0.75,
                                 zorder=4, animated=True)
                self.dots.append(dot)
        if logx:
            ax.set_xscale("log", base=2)
        if xticks is not None:
            ax.set_xticks(list(xticks), [f"{t:g}" for t in xticks])
        if ylim is not None:
            ax.set_ylim(*ylim)
        for setter, text in ((ax.set_xlabel, xlabel), (ax.set_ylabel, ylabel), (ax.set_title, title)):
            if text:
                setter(text)
        if legend and self.labels is not None:
            if legend == "outside":
                ax.legend(fontsize=7.5, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
            else:
                ax.legend(fontsize=7.5, loc=legend, frameon=False)
        self.values = y

    def update(self, ys):
        """New y values for every curve (same shape as before); returns self."""
        y = _as_curves("Lines.update", ys, self.x.size)
        if y.shape != self.values.shape:
            raise ValueError(f"Lines.update: expected {self.values.shape[0]} curves of {self.x.size} values, "
                             f"got shape {y.shape}.")
        for line, row in zip(self.curves, y):
            line.set_ydata(row)
        self.values = y
        return self

    def mark(self, x, ys):
        """Put curve i's dot at ``(x, ys[i])`` (``ys`` one value per curve); returns self."""
        if not self.dots:
            raise ValueError("Lines.mark: this chart was made without dots (lines(..., dots=True)).")
        ys = np.atleast_1d(np.asarray(ys, dtype=float))
        if ys.shape != (len(self.dots),):
            raise ValueError(f"Lines.mark: give one value per curve ({len(self.dots)}), got shape {ys.shape}.")
        for dot, y in zip(self.dots, ys):
            dot.set_data([float(x)], [float(y)])
        return self


def lines(x, ys, labels=None, ax=None, title=None, **kwargs):
    """Curves ``ys`` (n_curves, n_x) over ``x`` (n_x,); returns :class:`Lines` (``.update(ys)``, ``.mark(x, ys)``).

    Keywords: ``xlabel``, ``ylabel``, ``ylim``, ``styles``, ``colors``, ``dots``, ``legend``, ``logx``, ``xticks``."""
    return Lines(x, ys, labels, ax=ax, title=title, **kwargs)


# ---------------------------------------------------------------------------------------------
# arrows: 2-D vectors drawn from the origin
# ---------------------------------------------------------------------------------------------
class Arrows(_View):
    """Arrows from the origin in the plane, each labelled just beyond its tip.

    ``vectors`` (m, 2); ``labels`` (m,) (may hold newlines; kept inside the axes); ``colors`` (m,). ``limit`` shows
    [-limit, limit] on both axes (default: room for the arrows), or give ``xlim``/``ylim``.
    ``update(vectors, labels=None)`` moves the arrows (and relabels them) in place.
    """

    def __init__(self, vectors, labels=None, ax=None, title=None, *, colors=None, limit=None, xlim=None,
                 ylim=None, xlabel="x", ylabel="y", fontsize=9):
        v = self._check(vectors)
        m = v.shape[0]
        self.labels = _labels("arrows", labels, m, "arrow") if labels is not None else [""] * m
        colors = ["black"] * m if colors is None else list(colors)
        if len(colors) != m:
            raise ValueError(f"arrows: give one colour per arrow ({m}), got {len(colors)}.")
        self.colors = colors
        self.fig, self.ax = _axes_or_new(ax, width=4.0, height=4.0)
        ax = self.ax
        if limit is None and (xlim is None or ylim is None):
            limit = 1.25 * max(float(np.abs(v).max()), 1e-9)
        ax.set_xlim(*(xlim if xlim is not None else (-limit, limit)))
        ax.set_ylim(*(ylim if ylim is not None else (-limit, limit)))
        ax.set_aspect("equal")
        static(ax.axhline(0, color="0.85", lw=0.8, zorder=0), ax.axvline(0, color="0.85", lw=0.8, zorder=0))
        self.quiver = ax.quiver(np.zeros(m), np.zeros(m), v[:, 0], v[:, 1], color=colors, angles="xy",
                                scale_units="xy", scale=1, width=0.015, zorder=3, animated=True)
        self.texts = [ax.text(0, 0, "", color=c, ha="center", va="center", fontsize=fontsize, animated=True,
                              zorder=4) for c in colors]
        for setter, text in ((ax.set_xlabel, xlabel), (ax.set_ylabel, ylabel), (ax.set_title, title)):
            if text:
                setter(text)
        self.vectors = None
        self.update(v, self.labels)

    @staticmethod
    def _check(vectors, m=None):
        v = np.asarray(vectors, dtype=float)
        if v.ndim != 2 or v.shape[1] != 2 or v.shape[0] == 0:
            raise ValueError(f"arrows: vectors must be (m, 2), one 2-D vector per row, got shape {v.shape}.")
        if m is not None and v.shape[0] != m:
            raise ValueError(f"Arrows.update: expected {m} vectors, got {v.shape[0]}.")
        if not np.all(np.isfinite(v)):
            raise ValueError("arrows: vectors contain NaN or inf.")
        return v

    def update(self, vectors, labels=None):
        """Move the arrows to ``vectors`` (m, 2); new ``labels`` optional; returns self."""
        v = self._check(vectors, None if self.vectors is None else self.vectors.shape[0])
        if labels is not None:
            self.labels = _labels("Arrows.update", labels, v.shape[0], "arrow")
        self.vectors = v
        self.quiver.set_UVC(v[:, 0], v[:, 1])
        (x0, x1), (y0, y1) = self.ax.get_xlim(), self.ax.get_ylim()
        pad = 0.07 * max(x1 - x0, y1 - y0)
        for text, vec, label in zip(self.texts, v, self.labels):
            length = float(np.hypot(*vec))
            direction = vec / length if length > 0 else np.array([0.0, -1.0])
            x, y = vec + pad * direction
            text.set_position((min(max(x, x0 + pad / 2), x1 - pad / 2), min(max(y, y0 + pad / 2), y1 - pad / 2)))
            text.set_text(label)
        return self


def arrows(vectors, labels=None, ax=None, title=None, **kwargs):
    """Arrows from the origin for ``vectors`` (m, 2), labelled at their tips; returns :class:`Arrows`
    (``.update(vectors)``). Keywords: ``colors``, ``limit``, ``xlim``, ``ylim``, ``xlabel``, ``ylabel``."""
    return Arrows(vectors, labels, ax=ax, title=title, **kwargs)


# ---------------------------------------------------------------------------------------------
# scatter: labelled points, one movable highlighted point and its links
# ---------------------------------------------------------------------------------------------
_SPOTS = [(1, 1, 0), (1, -1, 0), (-1, 1, 0), (-1, -1, 0), (1, 0, 0), (-1, 0, 0),
          (0, 1, 0), (0, -1, 0), (1, 1, 1), (1, -1, 1)]


def place_labels(ax, labels, coords, fontsize=8):
    """Where to write each label next to its point so that labels do not overlap.

    Deterministic and greedy, in the order given: each label takes the first of a few spots
    around its point (right-above, right-below, left-above, left-below, right, left, above,
    below, then one line further up or down) whose box, estimated in pixels from the axes'
    current limits and size, overlaps no label already placed and no other point; if every
    spot is taken, the one with the least overlap. Labels of points on the same spot (king,
    queen) end up one above the other. Set the axes limits before calling this.
    Returns ``(offsets (n, 2) in points, ha (n,), va (n,))``.
    """
    from matplotlib.textpath import TextPath

    coords = np.asarray(coords, dtype=float).reshape(-1, 2)
    px = ax.get_figure(root=True).dpi / 72.0                  # pixels per point
    points = ax.transData.transform(coords)
    gap, height, dot = 2.5, fontsize * 1.2, 2.5                # points; dot: half a plotted point
    boxes, offsets, has, vas = [], [], [], []

    def overlap(box, others):
        x0, y0, x1, y1 = box
        return sum(max(0.0, min(x1, b[2]) - max(x0, b[0])) * max(0.0, min(y1, b[3]) - max(y0, b[1]))
                   for b in others)

    for i, label in enumerate(labels):
        width = TextPath((0, 0), str(label), size=fontsize).get_extents().width + 1.0
        obstacles = boxes + [(qx - dot * px, qy - dot * px, qx + dot * px, qy + dot * px)
                             for j, (qx, qy) in enumerate(points) if j != i]
        best = None
        for side, updown, extra in _SPOTS:
            dx = side * (gap + (1.0 if updown == 0 else 0.0))
            dy = updown * (gap + extra * height)
            x0 = points[i, 0] + (dx - width * (1 - side) / 2) * px
            y0 = points[i, 1] + (dy - height * (1 - updown) / 2) * px
            box = (x0, y0, x0 + width * px, y0 + height * px)
            cost = overlap(box, obstacles)
            if best is None or cost < best[0]:
                best = (cost, box, dx, dy, side, updown)
            if cost == 0:
                break
        _, box, dx, dy, side, updown = best
        boxes.append(box)
        offsets.append((dx, dy))
        has.append({1: "left", 0: "center", -1: "right"}[side])
        vas.append({1: "bottom", 0: "center", -1: "top"}[updown])
    return np.array(offsets, dtype=float).reshape(-1, 2), has, vas


class Scatter(_View):
    """Labelled points on a 2-D map, plus one movable highlighted point linked to some of them.

    ``coords`` (n, 2), ``labels`` (n,). Labels sit next to their points, nudged apart where
    points crowd (:func:`place_labels`), each on a white patch drawn *above* the links, so a
    link line never runs through a word. ``move(xy, label, origin=None)`` puts the highlighted
    point at ``xy`` with its label (and a ring at ``origin``); ``link(indices)`` draws a line
    from it to each of those points (``link([])`` removes them). Give ``xlim``/``ylim`` before
    the labels are placed if the moving point must stay on the map.
    """

    def __init__(self, coords, labels=None, ax=None, title=None, *, xlabel=None, ylabel=None, xlim=None,
                 ylim=None, color="#3b75af", size=22, fontsize=8, label_color="0.15"):
        c = np.asarray(coords, dtype=float)
        if c.ndim != 2 or c.shape[1] != 2 or c.shape[0] == 0 or not np.all(np.isfinite(c)):
            raise ValueError(f"scatter: coords must be a finite (n, 2) array, got shape {c.shape}.")
        self.coords = c
        self.labels = _labels("scatter", labels, c.shape[0], "point")
        self.fig, self.ax = _axes_or_new(ax, width=6.0, height=4.6)
        ax = self.ax
        self.points = static(ax.scatter(c[:, 0], c[:, 1], s=size, color=color, zorder=2))
        if xlim is not None:
            ax.set_xlim(*xlim)
        if ylim is not None:
            ax.set_ylim(*ylim)
        if xlim is None or ylim is None:
            ax.margins(0.15)
            ax.autoscale_view()                   # fix the limits first: placement measures in pixels
        for setter, text in ((ax.set_xlabel, xlabel), (ax.set_ylabel, ylabel), (ax.set_title, title)):
            if text:
                setter(text)
        self.links = LineCollection([], colors=[HIGHLIGHT], linewidths=1.2, alpha=0.7, animated=True, zorder=3)
        ax.add_collection(self.links, autolim=False)
        offsets, has, vas = place_labels(ax, self.labels, c, fontsize=fontsize)
        self.label_offsets = offsets
        self.texts = _StampText(ax, size=fontsize, background="white")
        self.texts.set_zorder(4)
        self.texts.set_items(self.labels, c, [label_color] * len(self.labels), va=vas, offset=offsets, ha=has)
        (self.ring,) = ax.plot([], [], "o", markersize=11, markerfacecolor="none", markeredgecolor="0.2",
                               zorder=5, animated=True)
        (self.marker,) = ax.plot([], [], "o", markersize=8, color=HIGHLIGHT, zorder=5, animated=True)
        self.marker_label = _StampText(ax, size=fontsize + 1, weight="bold", va="bottom", offset=(0, 6),
                                       background="white")
        self.marker_label.set_zorder(6)
        self.position = None
        self.linked = []

    def move(self, xy, label="", origin=None):
        """The highlighted point at ``xy`` (2,), labelled ``label``; a ring at ``origin`` (or none)."""
        xy = np.asarray(xy, dtype=float).reshape(2)
        self.position = xy
        self.marker.set_data([xy[0]], [xy[1]])
        self.ring.set_data(([], []) if origin is None else ([float(origin[0])], [float(origin[1])]))
        self.marker_label.set_items([str(label)] if label else [], [xy], [HIGHLIGHT])
        self.link(self.linked)
        return self

    def link(self, indices):
        """Lines from the highlighted point to the points ``indices``; returns self."""
        self.linked = [_index("Scatter.link", int(j), len(self.labels)) for j in indices]
        if self.position is None or not self.linked:
            self.links.set_segments([])
        else:
            self.links.set_segments([[tuple(self.position), tuple(self.coords[j])] for j in self.linked])
        return self


def scatter(coords, labels=None, ax=None, title=None, **kwargs):
    """Points ``coords`` (n, 2) with their ``labels`` kept apart; returns :class:`Scatter`
    (``.move(xy, label, origin)``, ``.link(indices)``). Keywords: ``xlabel``, ``ylabel``, ``xlim``,
    ``ylim``, ``color``, ``size``, ``fontsize``, ``label_color``."""
    return Scatter(coords, labels, ax=ax, title=title, **kwargs)


def log_log(x, curves, *, xlabel, ylabel, title, width=5.6, height=3.6):
    """A figure of curves against ``x`` on log-log axes, x ticked at its own values (powers of 2:
    d_k = 1 ... 512, n = 128 ... 2048), for measurements that grow like a power of x (slope = power).

    ``curves``: a list of ``(y, label, style, color)``, ``style`` a matplotlib format such as
    ``"o-"`` (measured) or ``"--"`` (a theory line). Returns the Figure.
    """
    x = np.asarray(x)
    fig, ax = new_figure(width=width, height=height)
    for y, label, style, color in curves:
        ax.loglog(x, np.broadcast_to(np.asarray(y, dtype=float), x.shape), style, color=color, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(x, [f"{v:g}" for v in x])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig
