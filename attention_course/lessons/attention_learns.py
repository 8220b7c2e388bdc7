"""Lesson 12: attention learns — a tiny model trained live; its attention becomes the task's answer.

Two tasks whose solution *is* an attention pattern:

* ``reverse`` (by position): read 8 digits, write them backwards. Output i is input n-1-i, so
  the ideal weights are the anti-diagonal, the same for every input.
* ``recall`` (by content): "a3 c7 b1 e5 | c?" -> 7. The query item (the last one) must put its
  weight on the item with the same letter, wherever that item happens to be.

The model (:class:`TinyAttentionModel`): token embedding + a learned table of positions (or, to
compare, lesson 10's fixed sinusoidal codes) + one ``ac.MultiHeadAttention`` layer + a linear
read-out. No residual path and no MLP: the only way information moves from one position to
another is through the attention weights.

Everything is seeded (``torch.manual_seed`` for the parameters, a ``torch.Generator`` for the
data) and runs in float64 on one thread (restored afterwards), so a run repeats exactly on one
machine, and on another machine agrees to far more digits than the lesson prints. Every op it
uses is deterministic on a CPU; the tests run it under ``torch.use_deterministic_algorithms(True)``,
which would raise on one that is not. (The lesson does not set that flag itself, nor use
``torch.optim``: the first use of either imports torch's compiler, about a second of the
notebook's ten. :class:`Adam` is torch.optim.Adam's update written out, tested equal to it.)
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..experiments import one_thread, single_thread
from ..multihead import merge_heads, split_heads
from ..positional import sinusoidal_positional_encoding
from ..torch_module import MultiHeadAttention

LETTERS = "abcdefgh"
IGNORE = -100          # the target of a position where nothing is asked (F.cross_entropy skips it)
N_PROBES = 6           # held-out sequences whose attention the figures follow


# ---------------------------------------------------------------- the two tasks
@dataclass(frozen=True)
class Task:
    """A task and its training budget.

    ``n`` tokens per sequence; each token has ``len(vocab_sizes)`` parts (recall: a letter and a
    digit), part p drawn from ``vocab_sizes[p]`` ids; answers are one of ``n_classes`` digits.
    ``chance`` is the accuracy of guessing a digit at random.
    """
    name: str
    n: int
    vocab_sizes: tuple
    n_classes: int
    chance: float
    steps: int
    batch_size: int
    lr: float
    pattern: str           # what the ideal attention looks like, in words


REVERSE = Task("reverse", n=8, vocab_sizes=(10,), n_classes=10, chance=0.1, steps=60, batch_size=128,
               lr=5e-3, pattern="the anti-diagonal")
RECALL = Task("recall", n=5, vocab_sizes=(len(LETTERS), 11), n_classes=10, chance=0.1, steps=60,
              batch_size=128, lr=5e-3, pattern="the item with the query's letter")
TASKS = {t.name: t for t in (REVERSE, RECALL)}
QUERY_DIGIT = 10       # recall: the digit part of the query item, shown as "?"


def get_task(task) -> Task:
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS)}.")
    return TASKS[task]


@dataclass
class Batch:
    """``tokens`` (m, n, parts) int64 and ``targets`` (m, n) int64 (IGNORE where nothing is asked)."""
    tokens: torch.Tensor
    targets: torch.Tensor

    def __len__(self):
        return self.tokens.shape[0]

    def __getitem__(self, index):
        return Batch(self.tokens[index], self.targets[index])


def reverse_batch(m: int, generator: torch.Generator, n: int = 8, digits: int = 10) -> Batch:
    """``m`` random sequences of ``n`` digits; the target at position i is the digit at n-1-i."""
    x = torch.randint(0, digits, (m, n), generator=generator)       # (m, n)
    return Batch(x[..., None], x.flip(1))                             # tokens (m, n, 1), targets (m, n)


def recall_batch(m: int, generator: torch.Generator, pairs: int = 4, letters: int = len(LETTERS),
                 digits: int = 10) -> Batch:
    """``m`` sequences of ``pairs`` letter-digit items (distinct letters) and a query item.

    The query has one of the letters and the digit "?"; its target is that letter's digit.
    tokens (m, pairs + 1, 2): [..., 0] the letter, [..., 1] the digit; only the query has a target.
    """
    keys = torch.argsort(torch.rand(m, letters, generator=generator), dim=1)[:, :pairs]   # (m, pairs)
    values = torch.randint(0, digits, (m, pairs), generator=generator)                  # (m, pairs)
    asked = torch.randint(0, pairs, (m, 1), generator=generator)                         # (m, 1)
    letter = torch.cat([keys, keys.gather(1, asked)], dim=1)                             # (m, pairs + 1)
    digit = torch.cat([values, torch.full((m, 1), QUERY_DIGIT)], dim=1)                  # (m, pairs + 1)
    targets = torch.full((m, pairs + 1), IGNORE)
    targets[:, -1] = values.gather(1, asked)[:, 0]
    return Batch(torch.stack([letter, digit], dim=-1), targets)


def sample(task, m: int, generator: torch.Generator) -> Batch:
    task = get_task(task)
    if task.name == "reverse":
        return reverse_batch(m, generator, n=task.n, digits=task.vocab_sizes[0])
    return recall_batch(m, generator, pairs=task.n - 1, letters=task.vocab_sizes[0], digits=task.n_classes)


def token_labels(task, tokens) -> list[str]:
    """Readable labels for one sequence's tokens (n, parts): "3" (reverse), "c7" / "c?" (recall)."""
    task = get_task(task)
    tokens = np.asarray(tokens)
    if task.name == "reverse":
        return [str(int(t)) for t in tokens[:, 0]]
    return [LETTERS[int(a)] + ("?" if int(d) == QUERY_DIGIT else str(int(d))) for a, d in tokens]


def describe(task, batch: Batch, i: int = 0) -> str:
    """One sequence and its answer as text: "3 1 4 1 5 9 2 6 -> 6 2 9 5 1 4 1 3", "a3 c7 b1 e5 | c? -> 7"."""
    task = get_task(task)
    labels = token_labels(task, batch.tokens[i])
    if task.name == "reverse":
        return " ".join(labels) + "  ->  " + " ".join(str(int(t)) for t in batch.targets[i])
    return " ".join(labels[:-1]) + " | " + labels[-1] + "  ->  " + str(int(batch.targets[i, -1]))


def target_pattern(task, batch: Batch) -> np.ndarray:
    """The attention that solves the task, (m, n, n): row i is one-hot on the key that holds
    query i's answer; rows with nothing to answer (recall: the items) are all zeros."""
    task = get_task(task)
    m, n = batch.targets.shape
    pattern = np.zeros((m, n, n))
    if task.name == "reverse":
        pattern[:] = np.eye(n)[::-1]                                   # key n-1-i for query i
    else:
        letters = batch.tokens[..., 0].numpy()                         # (m, n)
        match = letters[:, :-1] == letters[:, -1:]                     # (m, n-1): the item with the query's letter
        pattern[:, -1, :-1] = match
    return pattern


# ---------------------------------------------------------------- the model
class TinyAttentionModel(nn.Module):
    """Embedding + positions -> one attention layer -> linear read-out.

    tokens (batch, n, parts) -> logits (batch, n, n_classes), weights (batch, heads, n, n).
    Each part of a token (recall: its letter and its digit) has its own embedding table; a
    token's vector is the sum of its parts' vectors. ``positions="learned"`` (the default): a
    table P (n, d_model) learned like the embeddings; ``"sinusoidal"``: lesson 10's fixed codes,
    where only W_Q and W_K can learn how to read them.
    """

    def __init__(self, vocab_sizes, n_positions: int, n_classes: int, d_model: int = 32, num_heads: int = 1,
                 positions: str = "learned"):
        super().__init__()
        if positions not in ("learned", "sinusoidal"):
            raise ValueError(f"TinyAttentionModel: positions must be 'learned' or 'sinusoidal', got {positions!r}.")
        self.embed = nn.ModuleList(nn.Embedding(v, d_model) for v in vocab_sizes)
        if positions == "learned":
            self.positions = nn.Parameter(torch.randn(n_positions, d_model))      # a learned table, N(0, 1)
        else:
            self.register_buffer("positions", torch.as_tensor(sinusoidal_positional_encoding(n_positions, d_model)))
        self.attn = MultiHeadAttention(d_model, num_heads)
        self.readout = nn.Linear(d_model, n_classes)

    def embed_tokens(self, tokens):
        """tokens (batch, n, parts) -> x (batch, n, d_model): the parts' embeddings + the positions."""
        x = sum(embed(tokens[..., p]) for p, embed in enumerate(self.embed))    # (batch, n, d_model)
        return x + self.positions[:tokens.shape[1]].to(x.dtype)                  # (batch, n, d_model)

    def forward(self, tokens):
        x = self.embed_tokens(tokens)                     # (batch, n, d_model)
        y, weights = self.attn(x, x, x)                   # (batch, n, d_model), (batch, heads, n, n)
        return self.readout(y), weights                   # (batch, n, n_classes)

    def mix(self, x, weights):
        """The attention layer's output for weights we choose (the ablation):
        x (batch, n, d_model), weights (batch, heads, n, n) -> merge(weights @ v) W_O + b_O."""
        a = self.attn
        v = split_heads(_affine(x, a.w_v, a.b_v), a.num_heads)          # (batch, heads, n, d_head)
        return _affine(merge_heads(weights @ v), a.w_o, a.b_o)           # (batch, n, d_model)

    def forward_with_weights(self, tokens, weights):
        """Logits when the attention weights are replaced by ``weights`` (batch, heads, n, n)."""
        return self.readout(self.mix(self.embed_tokens(tokens), weights))


def _affine(x, w, b):
    return x @ w if b is None else x @ w + b


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- reproducibility
@contextmanager
def reproducible(seed: int):
    """One thread (one summation order in every product: one result) and torch's global
    generator seeded with ``seed``; both restored on exit (the caller's thread count and random
    stream are left as they were)."""
    with single_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def new_model(task, seed: int = 0, d_model: int = 32, num_heads: int = 1,
              positions: str = "learned") -> TinyAttentionModel:
    """A freshly initialised float64 model for ``task``, its parameters drawn with ``seed``."""
    task = get_task(task)
    with reproducible(seed):
        model = TinyAttentionModel(task.vocab_sizes, task.n, task.n_classes, d_model, num_heads, positions)
    return model.double()


# ---------------------------------------------------------------- training
class Adam:
    """Adam, written out: the update ``torch.optim.Adam(params, lr)`` makes with its defaults
    (tests/lessons/test_12 checks they agree), with torch.optim's ``zero_grad()`` and ``step()``."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.lr, self.betas, self.eps, self.t = lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]       # running mean of the gradients
        self.v = [torch.zeros_like(p) for p in self.params]       # running mean of their squares

    def zero_grad(self, set_to_none: bool = True):
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self):
        self.t += 1
        b1, b2 = self.betas
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            m_hat, v_hat = m / (1 - b1 ** self.t), v / (1 - b2 ** self.t)   # bias-corrected
            p.sub_(self.lr * m_hat / (v_hat.sqrt() + self.eps))


def train_step(model, optimizer, batch: Batch) -> float:
    """One step of gradient descent on one batch; returns the batch's loss before the step."""
    optimizer.zero_grad()                                  # forget the last step's gradients
    logits, _ = model(batch.tokens)                        # (batch, n, n_classes)
    loss = F.cross_entropy(logits.flatten(0, 1),           # (batch * n, n_classes)
                           batch.targets.flatten())        # (batch * n,); IGNORE positions skipped
    loss.backward()                                        # d loss / d every parameter
    optimizer.step()                                       # move every parameter a little downhill
    return loss.item()


@dataclass
class Snapshot:
    """The model after ``step`` updates, measured on the held-out sequences.

    ``accuracy``: fraction of the asked positions answered right; ``target_weight``: the mean
    weight a query puts on the key that holds its answer (1.0 = the ideal pattern);
    ``weights`` (N_PROBES, n, n): head 0's attention on the first held-out sequences.
    """
    step: int
    accuracy: float
    target_weight: float
    weights: np.ndarray


@dataclass
class Run:
    """A finished (or running) training: the model, its snapshots and the data it was measured on."""
    task: Task
    model: TinyAttentionModel
    test: Batch
    snapshots: list = field(default_factory=list)
    losses: list = field(default_factory=list)       # training loss of every step
    steps: int = 0
    every: int = 5                                   # a snapshot at step 0 and every ``every`` steps
    seconds: float = 0.0
    removed: int = 0                                 # held-out sequences dropped because training saw them
    view: object = field(default=None, repr=False)   # train_live's TrainingView (None for train)

    @property
    def accuracy(self) -> float:
        return self.snapshots[-1].accuracy

    @property
    def probe(self) -> Batch:
        return self.test[:N_PROBES]

    def first_step_reaching(self, accuracy: float = 0.99):
        """The first snapshot step with held-out accuracy >= ``accuracy`` (None if never)."""
        return next((s.step for s in self.snapshots if s.accuracy >= accuracy), None)

    def snapshot_at(self, step: int) -> Snapshot:
        return min(self.snapshots, key=lambda s: (abs(s.step - step), s.step))

    def summary(self) -> str:
        """Stable text: accuracies as whole percents, steps at the snapshots."""
        first = self.first_step_reaching(0.99)
        reached = f"first >= 99% at step {first}" if first is not None else "never >= 99%"
        return (f"{self.task.name}: {self.steps} steps of {self.task.batch_size} sequences; "
                f"held-out accuracy {self.snapshots[0].accuracy:.0%} before, {self.accuracy:.0%} after "
                f"(chance {self.task.chance:.0%}); {reached}; measured on {len(self.test)} held-out "
                f"sequences, none of them seen in training")


def held_out(task, m: int, seed: int, seen: list) -> tuple[Batch, int]:
    """``m`` sequences from another random stream that none of the training batches contains;
    returns them and how many drawn sequences were dropped for being in the training data."""
    batch = sample(task, m + m // 10 + 10, torch.Generator().manual_seed(seed + 1_000_003))
    trained = {bytes(row) for b in seen for row in _rows(b)}
    keep = [i for i, row in enumerate(_rows(batch)) if bytes(row) not in trained][:m]
    if len(keep) < m:
        raise RuntimeError(f"held_out: only {len(keep)} of the drawn sequences are new; ask for fewer than {m}.")
    return batch[torch.tensor(keep)], keep[-1] + 1 - m


def _rows(batch: Batch) -> np.ndarray:
    flat = torch.cat([batch.tokens.flatten(1), batch.targets], dim=1)   # (m, n * parts + n)
    return flat.numpy().astype(np.int8)


@torch.no_grad()
def measure(model, batch: Batch, task, weights=None):
    """(accuracy, mean weight on the answer's key, head-0 weights) on ``batch``.
    ``weights`` (m, heads, n, n) replaces the model's own attention (ablation)."""
    task = get_task(task)
    if weights is None:
        logits, weights = model(batch.tokens)
    else:
        logits = model.forward_with_weights(batch.tokens, weights)
    asked = batch.targets != IGNORE                                      # (m, n)
    accuracy = (logits.argmax(-1) == batch.targets)[asked].double().mean().item()
    pattern = torch.as_tensor(target_pattern(task, batch))               # (m, n, n)
    on_target = (weights.mean(1) * pattern).sum(-1)                      # (m, n): weight on the answer's key
    return accuracy, on_target[asked].mean().item(), weights[:, 0].numpy()


def snapshot(model, step: int, run: Run) -> Snapshot:
    accuracy, target_weight, w = measure(model, run.test, run.task)
    return Snapshot(step, accuracy, target_weight, w[:N_PROBES].copy())


def train(task, steps: int | None = None, *, seed: int = 0, d_model: int = 32, num_heads: int = 1,
          positions: str = "learned", snapshot_every: int = 5, n_test: int = 500, on_snapshot=None) -> Run:
    """Train a fresh model on ``task`` for ``steps`` batches (the task's budget by default).

    Snapshots (held-out accuracy, weight on the answer's key, the probes' attention) at step 0
    and every ``snapshot_every`` steps; ``on_snapshot(run)`` is called after each one (the live
    view). ``run.seconds``: wall-clock time from the first batch drawn to the last snapshot shown.
    """
    task = get_task(task)
    steps = task.steps if steps is None else int(steps)
    if steps < 1 or snapshot_every < 1:
        raise ValueError(f"train: steps and snapshot_every must be >= 1, got {steps}, {snapshot_every}.")
    model = new_model(task, seed, d_model, num_heads, positions)
    with reproducible(seed):
        start = time.perf_counter()
        data = torch.Generator().manual_seed(seed)
        batches = [sample(task, task.batch_size, data) for _ in range(steps)]
        test, removed = held_out(task, n_test, seed, batches)
        run = Run(task, model, test, every=snapshot_every, removed=removed)
        optimizer = Adam(model.parameters(), lr=task.lr)
        run.snapshots.append(snapshot(model, 0, run))
        if on_snapshot is not None:
            on_snapshot(run)
        for step, batch in enumerate(batches, start=1):
            run.losses.append(train_step(model, optimizer, batch))
            run.steps = step
            if step % snapshot_every == 0 or step == steps:
                run.snapshots.append(snapshot(model, step, run))
                if on_snapshot is not None:
                    on_snapshot(run)
        run.seconds = time.perf_counter() - start
    return run


def pattern_report(run: Run) -> str:
    """Is the learned pattern the task's? On every held-out row that answers something: how often
    its strongest key is the answer's key, and the mean weight that key gets."""
    _, on_target, weights = measure(run.model, run.test, run.task)       # weights (m, n, n), head 0
    pattern = target_pattern(run.task, run.test)                         # (m, n, n)
    asked = (run.test.targets != IGNORE).numpy()                         # (m, n)
    found = (weights.argmax(-1) == pattern.argmax(-1))[asked].mean()
    return (f"{run.task.name}: in {found:.0%} of the {asked.sum()} held-out rows that answer something, the "
            f"strongest key is the answer's key ({run.task.pattern}); it gets {on_target:.2f} of the weight "
            f"on average")


def weight_split(run: Run) -> tuple[float, float, float]:
    """Reverse: where does a query's weight go, on average over the held-out rows?
    Returns (on the answer's key n-1-i, on its two neighbours together, on every other key)."""
    if run.task.name != "reverse":
        raise ValueError("weight_split: the split by distance from the answer's key is for the reverse task.")
    _, _, weights = measure(run.model, run.test, run.task)              # (m, n, n)
    n = weights.shape[-1]
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    distance = np.abs(j - (n - 1 - i))                                   # (n, n): 0 on the anti-diagonal
    mean = weights.mean(0)                                               # (n, n)
    rows = [(mean * (distance == 0)).sum(-1), (mean * (distance == 1)).sum(-1), (mean * (distance > 1)).sum(-1)]
    return tuple(float(r.mean()) for r in rows)


def neighbour_cosine(run_or_model) -> tuple[float, float]:
    """Mean cosine similarity between the position vectors P[i] and P[i+1], and P[i] and P[i+2],
    of a trained run's model or of any model (e.g. a fresh one: the table before training)."""
    model = run_or_model.model if isinstance(run_or_model, Run) else run_or_model
    p = model.positions.detach()
    return tuple(float(F.cosine_similarity(p[:-k], p[k:], dim=-1).mean()) for k in (1, 2))


def plot_positions(runs: dict):
    """Mean attention over the held-out sequences, one panel per run: {"title": run}."""
    from .. import viz

    fig, axes = viz.new_figure(len(runs), width=4.9 * len(runs), height=4.0)
    for ax, (title, run) in zip(np.atleast_1d(axes), runs.items()):
        mean = measure(run.model, run.test, run.task)[2].mean(0)
        viz.heatmap(mean, [str(i) for i in range(run.task.n)], [str(j) for j in range(run.task.n)], ax=ax,
                    title=title, xlabel="key position", ylabel="query: output position",
                    colorbar_label="mean attention weight")
        _outline(ax, target_pattern(run.task, run.test[:1])[0])
    return fig


# ---------------------------------------------------------------- ablation
@dataclass
class Ablation:
    """Held-out accuracy of one trained model with its attention weights replaced, and the
    baselines to read each replacement against.

    ``learned``: its own weights; ``swapped``: each sequence gets the weights the model computed
    for another sequence; ``uniform``: every weight 1/n. Baselines (no model): ``chance``, a
    random digit; ``random_key``, reading one key of the sequence at random (what sharp weights
    aimed at the wrong place give: the baseline for ``swapped``); ``blind``, the best guess of
    someone who knows which digits are in the sequence and how often, but not where (the
    commonest one): no more than an average over the positions keeps (the ceiling for ``uniform``).
    """
    task: str
    learned: float
    swapped: float
    uniform: float
    chance: float
    random_key: float
    blind: float


@one_thread(torch=True)      # tiny tensors: a second torch thread only spins against neighbours
def ablate(run: Run) -> Ablation:
    model, test, task = run.model, run.test, run.task
    with torch.no_grad():
        _, weights = model(test.tokens)                                  # (m, heads, n, n)
    uniform = torch.full_like(weights, 1.0 / weights.shape[-1])          # every key gets 1/n
    swapped = weights.roll(1, dims=0)                                    # sequence k gets k-1's weights
    return Ablation(task.name, measure(model, test, task)[0], measure(model, test, task, swapped)[0],
                    measure(model, test, task, uniform)[0], task.chance, random_key_accuracy(task, test),
                    blind_accuracy(task, test))


def _key_digits(task: Task, batch: Batch) -> torch.Tensor:
    """The digits a query could read, (m, k): reverse, every position's; recall, the items'."""
    return batch.tokens[..., 0] if task.name == "reverse" else batch.tokens[:, :-1, 1]


def random_key_accuracy(task, batch: Batch) -> float:
    """Expected accuracy of reading one key of the sequence at random (reverse: one of the n
    positions; recall: one of the items) and answering its digit. Recall: 1/4 for the right
    item, plus the chance that another item holds the same digit (about 3/4 x 1/10)."""
    task = get_task(task)
    digits = _key_digits(task, batch)                                                     # (m, k)
    asked = batch.targets != IGNORE                                                       # (m, n)
    same = digits[:, None, :] == batch.targets[:, :, None]                                # (m, n, k)
    return same.double().mean(-1)[asked].mean().item()


def blind_accuracy(task, batch: Batch) -> float:
    """Expected accuracy of guessing the commonest digit of the sequence (ties: one at random).

    It knows how often each digit occurs but not where, nor which letter holds which: no more
    than uniform weights (an average of every position) pass on, and the best guess from that."""
    task = get_task(task)
    digits = _key_digits(task, batch)                                                     # (m, k)
    counts = F.one_hot(digits, task.n_classes).sum(1)                                     # (m, classes)
    best = counts == counts.amax(-1, keepdim=True)                                        # (m, classes)
    asked = batch.targets != IGNORE                                                       # (m, n)
    hit = best.gather(1, batch.targets.clamp(min=0)).double() / best.sum(-1, keepdim=True)  # (m, n)
    return hit[asked].mean().item()


def ablation_table(ablations) -> str:
    """Whole percents: the trained model with three kinds of weights, then the baselines."""
    cols = [("own", 6), ("another input's", 17), ("uniform 1/n", 13), ("chance", 9), ("one key at random", 19),
            ("blind guess", 13)]
    head = "task    " + "".join(f"{name:>{w}}" for name, w in cols)
    group = f"{'':8}{'the trained model, with these weights':^36}{'baselines, without a model':^41}"
    rows = ["".join([f"{a.task:8}"] + [f"{v:>{w}.0%}" for v, (_, w) in
                                       zip((a.learned, a.swapped, a.uniform, a.chance, a.random_key, a.blind), cols)])
            for a in ablations]
    return "\n".join(line.rstrip() for line in [group, head, *rows])


# ---------------------------------------------------------------- figures
def _probe_rows(run: Run, weights: np.ndarray) -> np.ndarray:
    """What the heatmaps show: reverse, probe 0's full (n, n) pattern; recall, the query row of
    every probe (N_PROBES, n) — the rows that answer something."""
    return weights[0] if run.task.name == "reverse" else weights[:, -1, :]


def _probe_labels(run: Run):
    probe = run.probe
    if run.task.name == "reverse":
        labels = token_labels(run.task, probe.tokens[0])
        return ([f"{i}:{t}" for i, t in enumerate(labels)], [f"{j}:{t}" for j, t in enumerate(labels)],
                "key: position:digit read", "query: output position")
    return _recall_rows(probe), RECALL_KEYS, "key", "held-out sequence (its query row)"


RECALL_KEYS = ["item 1", "item 2", "item 3", "item 4", "query"]


def _recall_rows(batch: Batch) -> list[str]:
    """ "e5 a8 f7 b0 | a?" for each sequence of a recall batch."""
    labels = [token_labels(RECALL, batch.tokens[k]) for k in range(len(batch))]
    return [" ".join(t[:-1]) + " | " + t[-1] for t in labels]


def _probe_target(run: Run) -> np.ndarray:
    return _probe_rows(run, target_pattern(run.task, run.probe))


def _outline(ax, target: np.ndarray):
    """Outline the cells where the ideal pattern is 1. Animated like the heatmap's image, so the
    fast renderer draws them on top of it (a background artist would end up underneath); left
    out of the layout solver (they lie inside the axes, and 8 boxes a panel slow it down)."""
    from matplotlib.patches import Rectangle

    from .. import viz

    for i, j in zip(*np.nonzero(target)):
        box = ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor=viz.HIGHLIGHT,
                                     linewidth=1.8, zorder=5))
        box.set_animated(True)
        box.set_in_layout(False)


WEIGHT_LABEL = "attention weight"


def _heatmap(run: Run, ax, weights, title, annotate=True, colorbar=True, labels=True):
    from .. import viz

    rows, cols, xlabel, ylabel = _probe_labels(run)
    if not labels:                                       # a film strip's inner panels: no tick text to lay out
        rows, cols = [""] * len(rows), [""] * len(cols)
    hm = viz.heatmap(_probe_rows(run, weights), rows, cols, ax=ax, title=title, annotate=annotate,
                     xlabel=xlabel, ylabel=ylabel, colorbar=colorbar, colorbar_label=WEIGHT_LABEL)
    _outline(ax, _probe_target(run))
    return hm


def plot_targets(batches=None):
    """The two ideal patterns side by side, on one sequence of each task."""
    from .. import viz

    if batches is None:
        g = torch.Generator().manual_seed(12)
        batches = {"reverse": reverse_batch(N_PROBES, g), "recall": recall_batch(N_PROBES, g)}
    fig, (a, b) = viz.new_figure(2, width=10.0, height=3.9)
    rev, rec = batches["reverse"], batches["recall"]
    labels = token_labels(REVERSE, rev.tokens[0])
    viz.heatmap(target_pattern(REVERSE, rev)[0], [f"{i}:{t}" for i, t in enumerate(labels)],
                [f"{j}:{t}" for j, t in enumerate(labels)], ax=a, title="reverse: the ideal weights",
                xlabel="key: position:digit read", ylabel="query: output position", fmt="{:.0f}",
                colorbar_label="ideal " + WEIGHT_LABEL)
    viz.heatmap(target_pattern(RECALL, rec)[:, -1, :], _recall_rows(rec), RECALL_KEYS,
                ax=b, title="recall: the ideal weights of each query", xlabel="key",
                ylabel="sequence (its query row)", fmt="{:.0f}", colorbar_label="ideal " + WEIGHT_LABEL)
    return fig


FILM_STEPS = {"reverse": (0, 5, 10, 20, None), "recall": (0, 10, 20, 30, None)}


def plot_snapshots(run: Run, steps=None):
    """A film strip: the probes' attention at a few steps (None = the last step; default: the
    task's FILM_STEPS)."""
    from .. import viz

    steps = FILM_STEPS[run.task.name] if steps is None else steps
    shots = [run.snapshot_at(run.steps if s is None else s) for s in steps]
    width = 2.3 * len(shots) + (1.6 if run.task.name == "recall" else 0.9)
    fig, axes = viz.new_figure(len(shots), width=width, height=3.2 if run.task.name == "reverse" else 3.1)
    for k, (ax, shot) in enumerate(zip(axes, shots)):
        hm = _heatmap(run, ax, shot.weights, f"step {shot.step}", annotate=False, colorbar=k == len(shots) - 1,
                      labels=k == 0)
        ax.set_xlabel(f"keys\nheld-out accuracy {shot.accuracy:.0%}")
        ax.set_xticks([])
        if k:
            ax.set_ylabel("")
            ax.set_yticks([])
        hm.ax.tick_params(labelsize=7)
    return fig


REPLAY_MS = 250            # the replay button: one snapshot every REPLAY_MS milliseconds


def snapshot_explorer(run: Run, total_steps: int | None = None):
    """A step slider over the saved snapshots, with a ▶ button that replays them: the probes'
    attention at that step, and the learning curves (every snapshot so far) marked there.

    ``total_steps`` (default: the steps trained) fixes the slider's range, so the live view can
    build the explorer before training and fill the curves in as the snapshots arrive.
    ``.play`` is the replay button, an ``ipywidgets.Play`` linked to the slider in the browser
    (``.play_link``).
    """
    import ipywidgets as W

    from .. import viz, widgets

    total = run.steps if total_steps is None else int(total_steps)
    every = run.every
    span = max(total, 1)

    def setup(fig):
        ax_map, ax_curve = fig.subplots(1, 2, width_ratios=[1.25, 1])
        hm = _heatmap(run, ax_map, run.snapshots[-1].weights, f"{run.task.name}: attention during training")
        (accuracy,) = ax_curve.plot([], [], color="#3b75af", label="held-out accuracy")
        (on_key,) = ax_curve.plot([], [], color=viz.HIGHLIGHT, label="weight on the answer's key")
        ax_curve.axhline(run.task.chance, color="0.5", linestyle=":", linewidth=1,
                         label=f"chance ({run.task.chance:.0%})")
        ax_curve.set_xlim(-0.03 * span, 1.03 * span)
        ax_curve.set_ylim(0, 1.05)
        ax_curve.set_xlabel("training step")
        ax_curve.set_title("learning curves")
        ax_curve.legend(loc="center right", fontsize=8)
        marker = ax_curve.axvline(run.snapshots[-1].step, color="0.2", linewidth=1)
        return hm, accuracy, on_key, marker

    def update(state, step):
        hm, accuracy, on_key, marker = state
        shots = run.snapshots
        shot = run.snapshot_at(step)
        hm.update(_probe_rows(run, shot.weights))
        accuracy.set_data([s.step for s in shots], [s.accuracy for s in shots])
        on_key.set_data([s.step for s in shots], [s.target_weight for s in shots])
        marker.set_xdata([shot.step, shot.step])
        return (f"after {shot.step} steps: held-out accuracy {shot.accuracy:.0%}, "
                f"mean weight on the answer's key {shot.target_weight:.2f} (ideal pattern: 1.00)")

    size = (10.0, 3.9) if run.task.name == "reverse" else (10.5, 3.4)
    step = widgets.slider(0, span, every, min(run.snapshots[-1].step, span), "training step")
    explorer = widgets.Interactive(setup, update, figsize=size, step=step)
    play = W.Play(min=0, max=span, step=every, value=step.value, interval=REPLAY_MS, repeat=False,
                  show_repeat=False, description="replay", tooltip="replay the training, one snapshot at a time",
                  layout=W.Layout(width="auto"))
    explorer.play = play
    explorer.play_link = W.jslink((play, "value"), (step, "value"))   # in the browser, no kernel round trip
    explorer.widget = W.VBox([W.HBox([play, step]), explorer.image, explorer.summary])
    return explorer


BASELINE_GREY = "#b9b9b9"


def plot_ablation(ablations):
    """Held-out accuracy with the model's own weights, another input's, uniform ones, each
    ablation beside the baseline it is read against (grey: one key at random; the blind guess);
    chance dotted across."""
    from .. import viz

    blue = "#3b75af"
    labels = ["own\nweights", "another\ninput's", "one key at\nrandom", "uniform\n1/n", "blind\nguess"]
    fig, axes = viz.new_figure(len(ablations), width=4.6 * len(ablations), height=3.5)
    axes = np.atleast_1d(axes)
    for ax, a in zip(axes, ablations):
        viz.bars([a.learned, a.swapped, a.random_key, a.uniform, a.blind], labels, ax=ax,
                 title=f"{a.task}: held-out accuracy", ylim=(0, 1.12), fmt="{:.0%}",
                 color=[blue, blue, BASELINE_GREY, blue, BASELINE_GREY])
        ax.set_xlim(-0.5, 5.2)                                 # room on the right for chance's name
        viz.static(ax.axhline(a.chance, color="0.3", linestyle=":", linewidth=1))
        viz.static(ax.text(5.15, a.chance + 0.01, f"chance\n{a.chance:.0%}", ha="right", va="bottom", fontsize=8,
                           color="0.3"))
        ax.set_ylabel("held-out accuracy")
        ax.tick_params(axis="x", labelsize=8)
        for tick in ax.get_xticklabels()[2::2]:
            tick.set_color("0.35")                             # the baselines' names, in grey like their bars
    return fig


# ---------------------------------------------------------------- the live view
class _Shown:
    """A widget with a fixed text for viewers without a kernel (GitHub, nbval)."""

    def __init__(self, widget, text: str):
        self.widget, self.text = widget, text

    def _repr_mimebundle_(self, include=None, exclude=None):
        import html

        bundle = self.widget._repr_mimebundle_()
        bundle["text/plain"] = self.text
        bundle["text/html"] = f'<p style="color:#666;font-size:smaller">{html.escape(self.text)}</p>'
        return bundle


class TrainingView:
    """The live view of a training: a progress bar over the snapshot explorer's figure (the probes'
    attention, the learning curves), redrawn at most every ``refresh`` seconds while the model
    trains. When it is done (``finish()``), ``controls`` (the explorer's step slider and a ▶
    replay button) come alive; ``train_live`` shows them under the view.

    As a notebook output the view is the live widget, plus a static fallback for viewers without
    a kernel: the figure as a PNG and a fixed caption (the same at every step, so the stored
    notebook compares equal under nbval). The controls are a separate output that is never
    redrawn: JupyterLab redraws a display when it is updated, and a redrawn ``Play`` button stops
    after its first frame (two views of it answer each click)."""

    _hint = ("Static view: the attention and the learning curves at the end of training. Run the notebook "
             "to watch it learn, then step through it with the slider or replay it with the play button.")
    _controls_text = "The step slider and the replay button: run the notebook to use them."

    def __init__(self, run: Run, total_steps: int, refresh: float = 0.1):
        import ipywidgets as W

        self.run, self.refresh = run, refresh
        self.explorer = snapshot_explorer(run, total_steps)
        self.slider, self.play = self.explorer.controls["step"], self.explorer.play
        self.slider.disabled = self.play.disabled = True          # until training is over
        self.caption = (f"Training the {run.task.name} model for {total_steps} steps: its attention on held-out "
                        f"sequences and its learning curves, redrawn as it learns (outlined: {run.task.pattern}).")
        self.progress = W.IntProgress(value=0, min=0, max=total_steps, description="step 0",
                                      style={"description_width": "initial"})
        self.status = W.HTML()
        self.widget = W.VBox([W.HBox([self.progress, self.status]), self.explorer.image, self.explorer.summary])
        self.controls = _Shown(W.HBox([self.play, self.slider]), self._controls_text)
        self._drawn = time.perf_counter()                        # the explorer has just drawn step 0
        self.update()

    @property
    def png(self) -> bytes:
        return self.explorer.png

    def update(self, force: bool = False):
        """Move the bar; redraw the figure if ``refresh`` seconds passed (or ``force``)."""
        shot = self.run.snapshots[-1]
        self.progress.value = shot.step
        self.progress.description = f"step {shot.step}"
        self.status.value = f"&nbsp;held-out accuracy {shot.accuracy:.0%}"
        now = time.perf_counter()
        if force or now - self._drawn >= self.refresh:
            self.explorer.set(step=shot.step)
            self._drawn = now

    def finish(self):
        """Training is over: show the last snapshot and hand the slider and ▶ to the learner."""
        self.update(force=True)
        self.slider.disabled = self.play.disabled = False
        self.status.value += " &nbsp;· done: move the slider below, or press ▶ to replay"

    def _repr_mimebundle_(self, include=None, exclude=None):
        import base64
        import html

        bundle = self.widget._repr_mimebundle_()
        b64 = base64.b64encode(self.png).decode("ascii")
        bundle["text/html"] = (f'<div class="attention-course-widget"><img alt="{html.escape(self.caption)}" '
                               f'style="max-width:100%" src="data:image/png;base64,{b64}"/>'
                               f'<p>{html.escape(self.caption)}</p>'
                               f'<p style="color:#666;font-size:smaller">{html.escape(self._hint)}</p></div>')
        bundle["text/plain"] = self.caption
        return bundle


def train_live(task, steps: int | None = None, **kwargs) -> Run:
    """``train`` with a live view: a progress bar, the attention and the learning curves redrawn as
    the model learns; afterwards a step slider over the snapshots and ▶ replay, under the view.

    The view is displayed once and, when training ends, updated in place to the final pattern
    (its caption does not change, so the stored notebook compares equal under nbval); the
    controls are displayed then, once."""
    from IPython.display import display

    task = get_task(task)
    total = task.steps if steps is None else int(steps)
    state = {}

    def on_snapshot(run):
        if "view" not in state:
            state["view"] = TrainingView(run, total)
            state["handle"] = display(state["view"], display_id=True)
        else:
            state["view"].update()

    run = train(task, steps, on_snapshot=on_snapshot, **kwargs)
    view = run.view = state["view"]
    view.finish()
    if state["handle"] is not None:                 # None outside IPython: nothing to update
        state["handle"].update(view)
    display(view.controls)
    return run
