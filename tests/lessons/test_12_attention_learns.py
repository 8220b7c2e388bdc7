"""Lesson 12: the tiny attention model learns both tasks, its attention becomes the task's pattern,
the ablations fall where the lesson says, and the runs repeat (and print only what is stable)."""
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import attention_course as ac
from attention_course.lessons import attention_learns as lesson

from .._threads import torch_at_two_threads, torch_thread_counts

ipywidgets = pytest.importorskip("ipywidgets")


@pytest.fixture(scope="module")
def runs():
    return {name: lesson.train(name) for name in ("reverse", "recall")}


@pytest.fixture(scope="module")
def fixed():
    return lesson.train("reverse", 100, positions="sinusoidal")


def position_line(run):
    """What the notebook prints for the learned-vs-sinusoidal comparison."""
    on, neighbours, rest = lesson.weight_split(run)
    return f"{on:.2f} {neighbours:.2f} {rest:.2f} " + " ".join(f"{c:.2f}" for c in lesson.neighbour_cosine(run))


# ------------------------------------------------------------------------------ the data
def test_reverse_targets_are_the_sequence_backwards():
    b = lesson.reverse_batch(50, torch.Generator().manual_seed(3))
    assert b.tokens.shape == (50, 8, 1) and b.targets.shape == (50, 8)
    assert torch.equal(b.targets, b.tokens[..., 0].flip(1))


def test_recall_target_is_the_digit_of_the_query_letter_and_only_the_query_is_asked():
    b = lesson.recall_batch(200, torch.Generator().manual_seed(4))
    letters, digits = b.tokens[..., 0], b.tokens[..., 1]
    assert b.tokens.shape == (200, 5, 2)
    assert all(len(set(row[:-1].tolist())) == 4 for row in letters)           # distinct letters
    assert torch.all(digits[:, -1] == lesson.QUERY_DIGIT) and torch.all(b.targets[:, :-1] == lesson.IGNORE)
    match = letters[:, :-1] == letters[:, -1:]
    assert torch.all(match.sum(1) == 1)                                          # exactly one item to find
    assert torch.equal(b.targets[:, -1], digits[:, :-1][match])


def test_describe_reads_like_the_lesson_example():
    b = lesson.Batch(torch.tensor([[[0, 3], [2, 7], [1, 1], [4, 5], [2, 10]]]),
                     torch.tensor([[lesson.IGNORE] * 4 + [7]]))
    assert lesson.describe("recall", b) == "a3 c7 b1 e5 | c?  ->  7"


def test_target_patterns_are_the_anti_diagonal_and_the_matching_item():
    rev = lesson.reverse_batch(2, torch.Generator().manual_seed(0))
    p = lesson.target_pattern("reverse", rev)
    assert np.array_equal(p[1], np.fliplr(np.eye(8)))
    rec = lesson.recall_batch(30, torch.Generator().manual_seed(0))
    p = lesson.target_pattern("recall", rec)
    assert np.all(p[:, :-1] == 0) and np.all(p[:, -1].sum(-1) == 1) and np.all(p[:, -1, -1] == 0)
    letters = rec.tokens[..., 0].numpy()
    assert np.all(letters[np.arange(30), p[:, -1].argmax(-1)] == letters[:, -1])


def test_held_out_sequences_never_appear_in_training(runs):
    run = runs["recall"]
    g = torch.Generator().manual_seed(0)                         # train() draws its batches from seed 0
    batches = [lesson.sample("recall", run.task.batch_size, g) for _ in range(run.steps)]
    trained = {bytes(r) for b in batches for r in lesson._rows(b)}
    assert len(run.test) == 500 and not any(bytes(r) in trained for r in lesson._rows(run.test))


def test_held_out_drops_a_sequence_that_training_saw():
    seen = lesson.sample("reverse", 5, torch.Generator().manual_seed(0 + 1_000_003))   # = the first 5 drawn
    test, removed = lesson.held_out("reverse", 20, 0, [seen])
    assert removed == 5 and len(test) == 20
    assert not {bytes(r) for r in lesson._rows(test)} & {bytes(r) for r in lesson._rows(seen)}


# ------------------------------------------------------------------------------ the model
def test_the_model_uses_the_package_attention_and_has_no_other_path_between_positions():
    model = lesson.new_model("reverse")
    assert isinstance(model.attn, ac.MultiHeadAttention) and model.attn.num_heads == 1
    tokens = lesson.reverse_batch(4, torch.Generator().manual_seed(1)).tokens
    logits, weights = model(tokens)
    assert logits.shape == (4, 8, 10) and weights.shape == (4, 1, 8, 8) and logits.dtype == torch.float64
    # changing token 5 changes output 2 only through the weights: with weights that ignore key 5, nothing moves
    other = tokens.clone()
    other[:, 5] = (other[:, 5] + 1) % 10
    _, w = model(tokens)
    w = w.clone()
    w[..., 5] = 0
    w = w / w.sum(-1, keepdim=True)
    a, b = model.forward_with_weights(tokens, w), model.forward_with_weights(other, w)
    assert torch.allclose(a[:, [0, 1, 2, 3, 4, 6, 7]], b[:, [0, 1, 2, 3, 4, 6, 7]])


def test_the_ablation_path_with_the_models_own_weights_is_the_model():
    model = lesson.new_model("recall", seed=2)
    tokens = lesson.recall_batch(6, torch.Generator().manual_seed(2)).tokens
    logits, weights = model(tokens)
    torch.testing.assert_close(model.forward_with_weights(tokens, weights), logits)


def test_sinusoidal_positions_are_lesson_10s_codes_and_fixed():
    model = lesson.new_model("reverse", positions="sinusoidal")
    np.testing.assert_allclose(model.positions.numpy(), ac.sinusoidal_positional_encoding(8, 32))
    assert "positions" not in dict(model.named_parameters())
    assert "positions" in dict(lesson.new_model("reverse").named_parameters())


# ------------------------------------------------------------------------------ training
@pytest.mark.parametrize("name", ["reverse", "recall"])
def test_both_tasks_reach_99_percent_on_held_out_sequences_within_the_step_budget(runs, name):
    run = runs[name]
    assert run.steps == run.task.steps == 60
    assert run.snapshots[0].accuracy < 0.2                      # untrained: about chance (10 %)
    assert run.accuracy >= 0.99
    assert run.first_step_reaching(0.99) is not None and run.first_step_reaching(0.99) <= run.steps


@pytest.mark.parametrize("name", ["reverse", "recall"])
def test_other_seeds_learn_too(name):
    run = lesson.train(name, seed=1)
    assert run.accuracy >= 0.99


def test_the_reverse_model_attends_along_the_anti_diagonal(runs):
    run = runs["reverse"]
    _, on_target, w = lesson.measure(run.model, run.test, "reverse")
    assert np.all(w.argmax(-1) == np.arange(7, -1, -1))            # every row, every held-out sequence
    assert on_target > 0.95
    assert f"in 100% of the {8 * len(run.test)} held-out rows" in lesson.pattern_report(run)


def test_the_recall_query_finds_the_item_with_its_letter(runs):
    run = runs["recall"]
    _, on_target, w = lesson.measure(run.model, run.test, "recall")
    letters = run.test.tokens[..., 0].numpy()
    looked_at = w[:, -1].argmax(-1)                                 # the query row's strongest key
    assert np.mean(letters[np.arange(len(letters)), looked_at] == letters[:, -1]) >= 0.99
    assert np.all(looked_at < 4)                                   # an item, never the query itself
    assert on_target > 0.9


def test_the_weight_on_the_answer_grows_with_training(runs):
    for run in runs.values():
        first, last = run.snapshots[0].target_weight, run.snapshots[-1].target_weight
        assert first < 0.3 and last > 0.9


# ------------------------------------------------------------------------------ ablation
def test_uniform_weights_fall_to_the_blind_guess_and_another_inputs_weights_break_only_recall(runs):
    rev, rec = lesson.ablate(runs["reverse"]), lesson.ablate(runs["recall"])
    for a in (rev, rec):
        assert a.learned >= 0.99
        assert a.uniform <= a.blind + 0.03                          # no better than knowing which digits occur
        assert a.uniform < 0.5 and a.chance == 0.1 and a.blind > a.chance
    assert rev.swapped >= 0.99                                      # the same pattern for every input
    # recall's borrowed weights read one item at random: the measured accuracy is that baseline's
    assert abs(rec.swapped - rec.random_key) < 0.03 and rec.swapped < rec.blind
    assert 0.3 < rec.random_key < 0.36                              # 1/4 + about 3/4 x 1/10
    table = lesson.ablation_table([rev, rec]).splitlines()
    assert len(table) == 4 and table[2].startswith("reverse") and table[3].startswith("recall")
    assert "one key at random" in table[1] and "blind guess" in table[1]


def test_one_key_at_random_counts_every_key_holding_the_answers_digit():
    # recall: items a1 b1 c2 d3, query "b?" -> 1; two of the four items hold a 1
    tokens = torch.tensor([[[0, 1], [1, 1], [2, 2], [3, 3], [1, lesson.QUERY_DIGIT]]])
    batch = lesson.Batch(tokens, torch.tensor([[lesson.IGNORE] * 4 + [1]]))
    assert lesson.random_key_accuracy("recall", batch) == pytest.approx(2 / 4)
    # reverse 1 1 2 3: targets 3 2 1 1 -> 1/4, 1/4, 2/4, 2/4 of the keys hold them
    rev = lesson.Batch(torch.tensor([[[1], [1], [2], [3]]]), torch.tensor([[3, 2, 1, 1]]))
    task = lesson.Task("reverse", 4, (10,), 10, 0.1, 1, 1, 1.0, "")
    assert lesson.random_key_accuracy(task, rev) == pytest.approx((1 + 1 + 2 + 2) / 16)


def test_blind_accuracy_guesses_the_commonest_digit_and_splits_ties():
    tokens = torch.tensor([[[1], [1], [2], [3]], [[4], [5], [6], [7]]])
    targets = tokens[..., 0].flip(1)
    batch = lesson.Batch(tokens, targets)
    # sequence 1: '1' is the commonest and is the target twice of 4; sequence 2: 4 tied digits, 1/4 each
    assert lesson.blind_accuracy(lesson.Task("reverse", 4, (10,), 10, 0.1, 1, 1, 1.0, ""), batch) == \
        pytest.approx((2 / 4 + 1 / 4) / 2)


# ------------------------------------------------------------------------------ positions
def test_fixed_sinusoidal_codes_learn_with_a_blurred_anti_diagonal(runs, fixed):
    assert fixed.accuracy >= 0.99
    assert fixed.first_step_reaching() > runs["reverse"].first_step_reaching()
    on, neighbours, rest = lesson.weight_split(fixed)
    learned_on, *_ = lesson.weight_split(runs["reverse"])
    assert on < 0.8 < learned_on and neighbours > 2 * rest           # the rest lands next door
    assert lesson.neighbour_cosine(fixed)[0] > 0.9                  # lesson 10's neighbouring codes: nearly parallel


def test_the_learned_table_is_nearly_orthogonal_before_and_after_training(runs):
    """What the notebook says: random N(0, 1) rows start nearly orthogonal and training keeps them so
    (it does not 'pull them apart'): the cosine is small at both ends and moves little."""
    before = lesson.neighbour_cosine(lesson.new_model("reverse", seed=0))
    after = lesson.neighbour_cosine(runs["reverse"])
    assert all(abs(c) < 0.2 for c in before + after)
    assert abs(after[0] - before[0]) < 0.1
    p0, p1 = lesson.new_model("reverse", seed=0).positions.detach(), runs["reverse"].model.positions.detach()
    assert (p1 - p0).norm() < 0.3 * p0.norm()                          # the table moved, but not much


# ------------------------------------------------------------------------------ reproducible
def test_a_seeded_run_repeats_exactly_and_another_seed_differs():
    a, b, c = lesson.train("recall", 20), lesson.train("recall", 20), lesson.train("recall", 20, seed=5)
    assert a.losses == b.losses and a.losses != c.losses
    for sa, sb in zip(a.snapshots, b.snapshots):
        assert sa.accuracy == sb.accuracy and np.array_equal(sa.weights, sb.weights)


def test_training_restores_the_thread_count_and_the_global_random_stream():
    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    lesson.train("reverse", 3)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), state)


def test_every_op_is_deterministic(runs):
    """The lesson does not set the flag (its first use costs a second of import); this shows it need not:
    under torch.use_deterministic_algorithms(True) a nondeterministic op would raise, and the run is the same."""
    torch.use_deterministic_algorithms(True)
    try:
        run = lesson.train("recall")
        lesson.ablate(run)
    finally:
        torch.use_deterministic_algorithms(False)
    assert run.losses == runs["recall"].losses


def test_the_written_out_adam_is_torch_adam():
    a, b = lesson.new_model("recall", seed=3), lesson.new_model("recall", seed=3)
    ours, theirs = lesson.Adam(a.parameters(), lr=0.01), torch.optim.Adam(b.parameters(), lr=0.01)
    batches = [lesson.recall_batch(32, torch.Generator().manual_seed(k)) for k in range(15)]
    for batch in batches:
        assert lesson.train_step(a, ours, batch) == pytest.approx(lesson.train_step(b, theirs, batch), rel=1e-12)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-9)        # rounding of the formula, after 15 steps


def test_the_printed_numbers_survive_a_tiny_perturbation(monkeypatch, runs, fixed):
    """What the notebook prints must not depend on the last bits of the arithmetic (another CPU rounds
    differently): nudge every initial parameter by about one part in a million (more than a float32
    rounding of the initial draw, far more than float64 rounding in training) and compare the text."""
    original = lesson.new_model

    def nudged(*args, **kwargs):
        model = original(*args, **kwargs)
        g = torch.Generator().manual_seed(7)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 + 1e-6 * torch.randn(p.shape, generator=g, dtype=p.dtype))
        return model

    monkeypatch.setattr(lesson, "new_model", nudged)
    for name, run in runs.items():
        other = lesson.train(name)
        assert other.losses != run.losses                            # the nudge did change the arithmetic
        assert other.summary() == run.summary()
        assert lesson.pattern_report(other) == lesson.pattern_report(run)
        assert lesson.ablation_table([lesson.ablate(other)]) == lesson.ablation_table([lesson.ablate(run)])
        texts = [e["text"] for e in lesson.snapshot_explorer(run).check_extremes()]
        assert texts == [e["text"] for e in lesson.snapshot_explorer(other).check_extremes()]
        for s, t in zip(run.snapshots, other.snapshots):
            assert f"{s.accuracy:.0%} {s.target_weight:.2f}" == f"{t.accuracy:.0%} {t.target_weight:.2f}"
        if name == "reverse":
            assert position_line(other) == position_line(run)
            before = [f"{c:.2f}" for c in lesson.neighbour_cosine(original("reverse", seed=0))]
            assert before == [f"{c:.2f}" for c in lesson.neighbour_cosine(nudged("reverse", seed=0))]
    other = lesson.train("reverse", 100, positions="sinusoidal")
    assert other.summary() == fixed.summary() and position_line(other) == position_line(fixed)


# ------------------------------------------------------------------------------ what the learner sees
def test_the_step_slider_goes_from_untrained_to_trained(runs):
    ex = lesson.snapshot_explorer(runs["reverse"])
    ends = ex.check_extremes()
    assert [e["values"]["step"] for e in ends] == [0, 60]
    accuracy = [int(re.search(r"held-out accuracy (\d+)%", e["text"]).group(1)) for e in ends]
    assert accuracy[0] < 20 and accuracy[1] >= 99
    assert ex.values == {"step": 60}                               # the stored view shows the end
    play = ex.play                                                  # the replay button covers the same steps
    assert (play.min, play.max, play.step, play.value) == (0, 60, 5, 60)
    assert ex.play_link.source == (play, "value") and ex.play_link.target == (ex.controls["step"], "value")
    assert play in ex.widget.children[0].children                  # shown beside the slider


def test_every_image_keeps_its_natural_size(runs):
    """A stretched ipywidgets.Image is blurry in JupyterLab: the live view must not stretch its figure."""
    view = lesson.TrainingView(runs["recall"], runs["recall"].steps)
    images, todo = [], [view.widget]
    while todo:
        w = todo.pop()
        todo.extend(getattr(w, "children", ()))
        images += [w] if isinstance(w, ipywidgets.Image) else []
    assert images and all(im.layout.align_self == "flex-start" for im in images)


def test_the_live_view_keeps_its_caption_so_the_stored_output_compares_equal(runs):
    run = runs["recall"]
    view = lesson.TrainingView(lesson.Run(run.task, run.model, run.test, run.snapshots[:1]), run.steps)
    start = view._repr_mimebundle_()
    assert view.slider.disabled and view.play.disabled                # nothing to step through yet
    view.run.snapshots = run.snapshots
    view.finish()
    end = view._repr_mimebundle_()
    assert view.progress.value == run.steps and "100%" in view.status.value
    assert not view.slider.disabled and not view.play.disabled       # training over: the learner's turn
    controls = view.controls._repr_mimebundle_()                    # a separate output, never redrawn
    assert view.controls.widget.children == (view.play, view.slider)
    assert controls["text/plain"] == view._controls_text and "application/vnd.jupyter.widget-view+json" in controls
    assert view.play not in view.widget.children and view.slider not in view.widget.children
    assert view.slider.value == run.steps and view.explorer.text.startswith(f"after {run.steps} steps")
    strip = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
    assert start["text/plain"] == end["text/plain"]
    assert strip.sub("PNG", start["text/html"]) == strip.sub("PNG", end["text/html"])
    assert start["text/html"] != end["text/html"]                    # but the picture did change
    assert "application/vnd.jupyter.widget-view+json" in end


def test_train_live_runs_outside_a_notebook():
    run = lesson.train_live("reverse", steps=5)
    assert run.steps == 5 and len(run.snapshots) == 2
    assert run.view.slider.max == 5 and run.view.slider.value == 5 and not run.view.slider.disabled


def test_the_live_view_draws_the_curves_so_far(runs):
    """While it trains, the learning curves hold the snapshots taken so far; the marker is at the last."""
    run = runs["reverse"]
    partial = lesson.Run(run.task, run.model, run.test, run.snapshots[:3])
    view = lesson.TrainingView(partial, run.steps)
    view.update(force=True)
    _, accuracy, on_key, marker = view.explorer.state
    assert list(accuracy.get_xdata()) == [0, 5, 10] and list(marker.get_xdata()) == [10, 10]
    assert list(on_key.get_ydata()) == [s.target_weight for s in run.snapshots[:3]]
    assert view.slider.max == run.steps                               # the range is the whole training


def test_the_figures_draw(runs):
    from attention_course import viz

    figs = [lesson.plot_targets(), lesson.plot_snapshots(runs["reverse"]), lesson.plot_snapshots(runs["recall"]),
            lesson.plot_ablation([lesson.ablate(r) for r in runs.values()]),
            lesson.plot_positions({"learned": runs["reverse"]})]
    for fig in figs:
        assert viz.to_png(fig)[:4] == b"\x89PNG"
    assert [ax.get_title() for ax in figs[1].axes if ax.get_title()] == \
        ["step 0", "step 5", "step 10", "step 20", "step 60"]
    for fig in figs:                                                # every colour bar says what it shows
        colorbars = [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]
        assert all("weight" in ax.get_ylabel() for ax in colorbars)
    outlines = [p for ax in figs[1].axes for p in ax.patches if not p.get_fill() and p.get_visible()]
    assert len(outlines) == 5 * 8 and not any(p.get_in_layout() for p in outlines)     # kept out of the solver
    a = lesson.ablate(runs["recall"])                               # recall: 3 ablations, 2 baselines beside them
    heights = [b.get_height() for b in figs[3].axes[1].patches]
    assert heights == pytest.approx([a.learned, a.swapped, a.random_key, a.uniform, a.blind])


# ------------------------------------------------------------------------------ bad input
def test_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown task 'copy'.*recall.*reverse"):
        lesson.train("copy")
    with pytest.raises(ValueError, match="positions must be 'learned' or 'sinusoidal'"):
        lesson.new_model("reverse", positions="rope")
    with pytest.raises(ValueError, match="steps and snapshot_every must be >= 1"):
        lesson.train("reverse", 0)
    with pytest.raises(ValueError, match="for the reverse task"):
        lesson.weight_split(lesson.train("recall", 1))


def test_the_ablation_runs_on_one_torch_thread_and_gives_the_callers_back(runs, monkeypatch):
    import torch
    from threadpoolctl import threadpool_limits

    seen, measure = [], lesson.measure

    def recording_measure(*args, **kwargs):
        seen.append(torch_thread_counts(torch))
        return measure(*args, **kwargs)
    monkeypatch.setattr(lesson, "measure", recording_measure)
    with torch_at_two_threads(torch), threadpool_limits(limits=2):     # threadpoolctl alone misses MKL here
        lesson.ablate(runs["reverse"])
        assert torch.get_num_threads() == 2
    assert [counts[0] for counts in seen] == [1, 1, 1] and {counts[1] for counts in seen} <= {1, None}
