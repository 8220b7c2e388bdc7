"""Exercise (lesson 12): the training loop.

The learner writes ``train_steps(model, optimizer, batches) -> losses (n_batches,)``: one step of
gradient descent per ``(tokens, targets)`` batch — zero the gradients, run the model, take the
cross-entropy between its logits (batch, n, classes) and the targets (batch, n), backpropagate,
step — and return the loss of every batch (before its step) as a numpy array.

The cases are small attention models (embedding + positions + ``MultiHeadAttention`` + read-out,
float64) with plain SGD. Only the returned losses are compared, but they reveal how the
parameters moved: a loop that never updates, or that lets gradients pile up, gives other losses
from the second batch on. torch is imported only when the cases are built (``check`` runs). The
optimizer is a written-out SGD with torch.optim's ``zero_grad()``/``step()``: the first
torch.optim optimizer of a session imports torch's compiler (about a second) for nothing here.
"""
from __future__ import annotations

import functools

import numpy as np

from ._core import Case, Exercise, Mistake, register


def train_steps(model, optimizer, batches):
    """Reference solution: one optimisation step per batch; returns the losses (n_batches,)."""
    import torch.nn.functional as F

    losses = []
    for tokens, targets in batches:
        optimizer.zero_grad()                                  # forget the previous step's gradients
        logits, _ = model(tokens)                              # (batch, n, classes); weights unused
        loss = F.cross_entropy(logits.flatten(0, 1),           # (batch * n, classes)
                               targets.flatten())              # (batch * n,)
        loss.backward()                                        # gradients of every parameter
        optimizer.step()                                       # move the parameters
        losses.append(loss.item())
    return np.array(losses)


# ---------------------------------------------------------------- the mistakes the checker names

def _no_zero_grad(model, optimizer, batches):
    import torch.nn.functional as F

    losses = []
    for tokens, targets in batches:
        logits, _ = model(tokens)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return np.array(losses)


def _never_updates(model, optimizer, batches):
    """backward() without step() (or zero_grad() between them): the parameters never move."""
    import torch.nn.functional as F

    losses = []
    for tokens, targets in batches:
        optimizer.zero_grad()
        logits, _ = model(tokens)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        loss.backward()
        losses.append(loss.item())
    return np.array(losses)


def _positions_as_classes(model, optimizer, batches):
    """F.cross_entropy(logits, targets) on (batch, n, classes): axis 1 (the positions) taken as
    the classes. Runs only when n == classes; otherwise torch raises about the target size."""
    import torch.nn.functional as F

    losses = []
    for tokens, targets in batches:
        optimizer.zero_grad()
        logits, _ = model(tokens)
        loss = F.cross_entropy(logits, targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return np.array(losses)


def _softmax_first(model, optimizer, batches):
    import torch.nn.functional as F

    losses = []
    for tokens, targets in batches:
        optimizer.zero_grad()
        logits, _ = model(tokens)
        loss = F.cross_entropy(logits.softmax(-1).flatten(0, 1), targets.flatten())
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return np.array(losses)


def _nll_of_logits(model, optimizer, batches):
    import torch.nn.functional as F

    losses = []
    for tokens, targets in batches:
        optimizer.zero_grad()
        logits, _ = model(tokens)
        loss = F.nll_loss(logits.flatten(0, 1), targets.flatten())
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return np.array(losses)


MISTAKES = [
    Mistake("The gradients pile up: without optimizer.zero_grad() at the start of each step, loss.backward() "
            "adds the new gradients to the old ones, so every step after the first follows the sum of all the "
            "gradients so far. Call optimizer.zero_grad() before loss.backward().", _no_zero_grad),
    Mistake("The parameters never move: your losses are those of the untouched model. loss.backward() only "
            "computes the gradients; optimizer.step() must come after it (with no zero_grad() in between) to "
            "change the parameters.", _never_updates),
    Mistake("The loss takes the softmax over the positions: F.cross_entropy wants the classes on axis 1, so on "
            "logits shaped (batch, n, classes) it reads the n positions as the classes. Flatten first: "
            "F.cross_entropy(logits.flatten(0, 1), targets.flatten()) (or logits.transpose(1, 2)). With n equal "
            "to the number of classes it even runs, silently wrong.", _positions_as_classes),
    Mistake("Softmax applied twice: F.cross_entropy takes the raw logits and applies log-softmax itself. Passing "
            "logits.softmax(-1) squashes every score into [0, 1], so the loss can never fall below "
            "log(classes - 1 + e) - 1 (1.46 for 10 classes) and learning crawls. Give it the logits.", _softmax_first),
    Mistake("F.nll_loss expects log-probabilities, but it got raw logits: it just returns minus the target's "
            "logit, which can fall forever without the model learning. Use F.cross_entropy(logits, ...) or "
            "F.nll_loss(logits.log_softmax(-1), ...).", _nll_of_logits),
]


# ---------------------------------------------------------------- the cases

@functools.cache
def _model_class():
    """A tiny attention model like lesson 12's (built here: exercises never import lessons)."""
    import torch
    from torch import nn

    from ..torch_module import MultiHeadAttention

    class TinyModel(nn.Module):
        def __init__(self, vocab, n, classes, d_model):
            super().__init__()
            self.embed = nn.Embedding(vocab, d_model)
            self.positions = nn.Parameter(torch.randn(n, d_model))
            self.attn = MultiHeadAttention(d_model, 1)
            self.readout = nn.Linear(d_model, classes)

        def forward(self, tokens):                             # tokens (batch, n) int64
            x = self.embed(tokens) + self.positions            # (batch, n, d_model)
            y, weights = self.attn(x, x, x)                    # (batch, n, d_model), (batch, 1, n, n)
            return self.readout(y), weights                    # (batch, n, classes)

    return TinyModel


class SGD:
    """p <- p - lr * p.grad, with torch.optim.SGD's zero_grad() and step()."""

    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def step(self):
        import torch

        with torch.no_grad():
            for p in self.params:
                if p.grad is not None:
                    p.sub_(self.lr * p.grad)


def _case(seed, n, classes, n_batches, lr, label):
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _model_class()(classes, n, classes, 8).double()
    opt = SGD(model.parameters(), lr=lr)
    batches = []
    for _ in range(n_batches):
        tokens = torch.randint(0, classes, (4, n), generator=g)
        batches.append((tokens, tokens.flip(1)))               # the reverse task: targets (batch, n)
    return Case((model, opt, batches), label=label, rtol=1e-7, atol=1e-9)


def cases():
    return [_case(0, 5, 5, 4, 0.5, "reverse 5 digits of 5, 4 batches"),
            _case(1, 6, 10, 4, 1.0, "reverse 6 digits of 10, 4 batches"),
            _case(2, 4, 4, 3, 0.3, "reverse 4 digits of 4, 3 batches"),
            _case(3, 3, 7, 3, 0.5, "reverse 3 digits of 7, 3 batches")]


register(Exercise(
    lesson="12_attention_learns",
    name="train_steps",
    reference=train_steps,
    cases=cases,
    mistakes=MISTAKES,
    signature="train_steps(model, optimizer, batches) -> np.array of the batches' losses (n_batches,)",
    tips={r"Expected target size": "F.cross_entropy wants the classes on axis 1: flatten the logits to "
                                   "(batch * n, classes) and the targets to (batch * n,).",
          r"numpy\(\) on Tensor that requires grad": "Append loss.item() (a plain float), not the loss tensor: "
                                                     "a kept tensor also keeps its whole graph alive."},
))
