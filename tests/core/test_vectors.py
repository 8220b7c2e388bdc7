"""vectors: dot, norm and cosine similarity (lessons 02-03), on known values and extreme scales."""
from __future__ import annotations

import math

import numpy as np
import pytest

import attention_course as ac


def test_dot_is_the_sum_of_matching_products():
    assert ac.dot([1, 2, 3], [4, -5, 6]) == 1 * 4 - 2 * 5 + 3 * 6


def test_norm_is_the_square_root_of_a_dot_a():
    assert ac.norm([3, 4]) == 5.0


@pytest.mark.parametrize("a, b, expected", [
    ([3, 4], [6, 8], 1.0), ([2, 0], [0, 5], 0.0), ([1, -2, 0.5], [-2, 4, -1], -1.0),
    ([1, 2, 2], [2, 0, 1], 4 / (3 * math.sqrt(5))),
])
def test_cosine_of_known_pairs(a, b, expected):
    assert ac.cosine_similarity(a, b) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("scale", [1e-200, 1e-100, 1e100, 1e200])
def test_cosine_does_not_depend_on_the_vectors_scale_even_at_extreme_lengths(scale):
    # a . a underflows to 0 at 1e-200 and overflows to inf at 1e200; the cosine must not care
    assert ac.cosine_similarity(np.array([1.0, 1.0]) * scale, [1, 1]) == pytest.approx(1.0)
    assert ac.cosine_similarity(np.array([1.0, 2.0]) * scale, [2, -1]) == pytest.approx(0.0, abs=1e-15)


def test_a_zero_vector_has_no_direction():
    with pytest.raises(ValueError, match="zero vector"):
        ac.cosine_similarity([0, 0], [1, 1])


def test_vectors_of_different_lengths_are_named():
    with pytest.raises(ValueError, match=r"a \(2,\) and b \(3,\)"):
        ac.dot([1, 2], [1, 2, 3])


def test_a_torch_tensor_is_refused_with_a_message():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="torch tensor"):
        ac.dot(torch.tensor([1.0, 2.0]), np.array([3.0, 4.0]))
