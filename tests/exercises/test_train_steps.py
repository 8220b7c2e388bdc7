"""Exercise train_steps (lesson 12): the training loop. Each learner below is written the way a
learner might write it (not the catalogue's own buggy functions) and must get its own hint only."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from attention_course import exercises as ex

from ._helpers import assert_flags, assert_names, hints_of, named

torch = pytest.importorskip("torch")
F = torch.nn.functional

NAME = "train_steps"


# ------------------------------------------------------------ right, written differently ----

def test_correct_learners_pass():
    def transposed_logits(model, optimizer, batches):
        out = []
        for x, y in batches:
            optimizer.zero_grad(set_to_none=False)
            logits = model(x)[0]
            loss = F.cross_entropy(logits.transpose(1, 2), y)      # classes on axis 1: also right
            loss.backward()
            optimizer.step()
            out.append(float(loss))
        return np.asarray(out)

    def zero_grad_at_the_end(model, optimizer, batches):
        losses = np.zeros(len(batches))
        for i, (tokens, targets) in enumerate(batches):
            logits, _weights = model(tokens)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            loss.backward()
            optimizer.step()
            model.zero_grad()                                       # fresh gradients for the next batch
            losses[i] = loss.item()
        return losses

    def log_softmax_and_nll(model, optimizer, batches):
        losses = []
        for tokens, targets in batches:
            optimizer.zero_grad()
            log_p = model(tokens)[0].log_softmax(dim=-1)            # (batch, n, classes)
            loss = F.nll_loss(log_p.flatten(0, 1), targets.flatten())
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return np.array(losses)

    for learner in (transposed_logits, zero_grad_at_the_end, log_softmax_and_nll):
        report = ex.check(NAME, learner)
        assert report.passed, (learner.__name__, report)


# ------------------------------------------------------------------ one hint per mistake ----

def test_forgetting_zero_grad_is_named():
    def train_steps(model, optimizer, batches):
        losses = []
        for tokens, targets in batches:
            logits, _ = model(tokens)
            loss = F.cross_entropy(logits.transpose(1, 2), targets)
            loss.backward()                                         # adds to last step's gradients
            optimizer.step()
            losses.append(loss.item())
        return np.array(losses)
    assert_names(NAME, train_steps, "The gradients pile up")


@pytest.mark.parametrize("where", ["no step", "zero_grad between backward and step", "no backward"])
def test_a_loop_that_never_moves_the_parameters_is_named(where):
    def train_steps(model, optimizer, batches):
        losses = []
        for tokens, targets in batches:
            optimizer.zero_grad()
            logits = model(tokens)[0]
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            if where != "no backward":
                loss.backward()
            if where == "zero_grad between backward and step":
                optimizer.zero_grad()
            if where != "no step":
                optimizer.step()
            losses.append(loss.item())
        return np.array(losses)
    assert_names(NAME, train_steps, "The parameters never move")


def test_classes_on_the_wrong_axis_is_named():
    def train_steps(model, optimizer, batches):
        losses = []
        for tokens, targets in batches:
            optimizer.zero_grad()
            logits, _weights = model(tokens)
            loss = F.cross_entropy(logits, targets)                 # (batch, n, classes): n read as classes
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return np.array(losses)
    report = assert_names(NAME, train_steps, "softmax over the positions")
    # where n != classes torch raises: that error is reported too, explained by the named mistake
    assert any("RuntimeError" in h and "Expected target size" in h for h in report.hints), report


def test_the_target_size_error_gets_its_tip_when_no_mistake_explains_it():
    # wrong axis and no zero_grad: no catalogue function behaves like this, the error tip speaks
    def train_steps(model, optimizer, batches):
        losses = []
        for tokens, targets in batches:
            logits, _ = model(tokens)
            loss = F.cross_entropy(logits, targets)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return np.array(losses)
    report = hints_of(NAME, train_steps)
    assert not report.passed and named(NAME, report) == [], report
    assert any("Expected target size" in h and "classes on axis 1" in h for h in report.hints), report


def test_softmax_before_cross_entropy_is_named():
    def train_steps(model, optimizer, batches):
        losses = []
        for tokens, targets in batches:
            optimizer.zero_grad()
            probs = torch.softmax(model(tokens)[0], dim=2)
            loss = F.cross_entropy(probs.reshape(-1, probs.shape[2]), targets.reshape(-1))
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return np.array(losses)
    assert_names(NAME, train_steps, "Softmax applied twice")


def test_nll_loss_on_raw_logits_is_named():
    def train_steps(model, optimizer, batches):
        losses = []
        for tokens, targets in batches:
            optimizer.zero_grad()
            logits, _ = model(tokens)
            loss = F.nll_loss(logits.transpose(1, 2), targets)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return np.array(losses)
    assert_names(NAME, train_steps, "F.nll_loss expects log-probabilities")


def test_two_mistakes_at_once_name_neither_wrongly():
    # no zero_grad AND softmax first: matches neither catalogue function, so neither is named
    def train_steps(model, optimizer, batches):
        losses = []
        for tokens, targets in batches:
            logits, _ = model(tokens)
            loss = F.cross_entropy(logits.softmax(-1).flatten(0, 1), targets.flatten())
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return np.array(losses)
    report = hints_of(NAME, train_steps)
    assert not report.passed and named(NAME, report) == [], report


# ------------------------------------------------------------------------ generic problems ----

def test_losses_kept_as_tensors_get_the_item_tip():
    def train_steps(model, optimizer, batches):
        losses = []
        for tokens, targets in batches:
            optimizer.zero_grad()
            logits, _ = model(tokens)
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
            loss.backward()
            optimizer.step()
            losses.append(loss)
        return np.array(losses)
    report = assert_flags(NAME, train_steps, "loss.item()")
    assert named(NAME, report) == [], report


def test_a_list_instead_of_an_array_is_a_type_problem_only():
    def train_steps(model, optimizer, batches):
        return list(ex.get(NAME).reference(model, optimizer, batches))
    report = assert_flags(NAME, train_steps, "return a numpy array")
    assert named(NAME, report) == [] and len(report.hints) == 1, report


def test_the_stub_is_not_done_yet():
    def train_steps(model, optimizer, batches):
        losses = []
        for tokens, targets in batches:
            raise NotImplementedError
        return np.array(losses)
    report = ex.check(NAME, train_steps)
    assert report.status == "not done" and "solution('train_steps')" in report.hints[0]


def test_the_cases_tell_every_mistake_apart_on_the_first_losses():
    # the first loss of a batch is computed before its step: equal for all but the loss mistakes
    exercise = ex.get(NAME)
    case = exercise.get_cases()[0]
    reference = ex._core._run(exercise.reference, case).value
    for mistake in exercise.mistakes:
        got = ex._core._run(mistake.buggy, case).value
        assert not np.allclose(got, reference), mistake.hint
    assert np.all(np.isfinite(reference)) and reference.shape == (4,)


def test_the_lesson_module_is_not_imported_and_numpy_lessons_stay_light():
    code = ("import sys, attention_course as ac; ac.exercises.names(); "
            "assert 'torch' not in sys.modules, 'torch'; "
            "assert not any(m.startswith('attention_course.lessons.attention_learns') for m in sys.modules); "
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
