"""The per-row reductions of na64reco.reco.rows give numpy's results bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from na64reco.reco.rows import count_per_row, row_max, row_min, row_sum


@pytest.mark.parametrize("k", range(1, 8))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_rows_equal_numpy(k, dtype):
    rng = np.random.default_rng(k)
    scale = rng.choice([1e-3, 1.0, 1e3], (20000, k))
    a = (rng.standard_normal((20000, k)) * scale).astype(dtype)
    for ours, theirs in ((row_sum, np.sum), (row_min, np.min), (row_max, np.max)):
        got, want = ours(a), theirs(a, axis=1)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_integer_and_bool_sums_any_width():
    rng = np.random.default_rng(1)
    for a in (rng.random((500, 12)) > 0.5, rng.integers(0, 9, (500, 3, 4), dtype=np.int32)):
        want = a.reshape(len(a), -1).sum(axis=1)
        got = row_sum(a)
        assert got.dtype == want.dtype == np.int64
        np.testing.assert_array_equal(got, want)


def test_nan_propagates_like_numpy():
    a = np.array([[np.nan, 1.0], [2.0, np.nan], [3.0, 4.0]], dtype=np.float32)
    np.testing.assert_array_equal(row_min(a), a.min(axis=1))
    np.testing.assert_array_equal(row_max(a), a.max(axis=1))
    np.testing.assert_array_equal(row_sum(a), a.sum(axis=1))


def test_count_per_row_of_a_sparse_mask():
    rng = np.random.default_rng(2)
    mask = rng.random((3000, 2, 6, 6)) > 0.995
    mask[-1] = False  # trailing rows without any
    np.testing.assert_array_equal(count_per_row(mask), mask.reshape(3000, -1).sum(axis=1))


def test_refuses_what_it_cannot_reproduce():
    with pytest.raises(ValueError, match="at most 7 floats"):
        row_sum(np.zeros((4, 8), dtype=np.float32))  # numpy's pairwise order from 8 terms
    with pytest.raises(ValueError, match=r"\(n, k, \.\.\.\)"):
        row_min(np.zeros(4))
    with pytest.raises(ValueError, match="without values"):
        row_max(np.zeros((4, 0)))


def test_empty_chunks_and_rows():
    for shape in ((0, 3), (0, 2, 3), (5, 0)):
        a = np.zeros(shape, dtype=np.float32)
        want = a.reshape(shape[0], int(np.prod(shape[1:]))).sum(axis=1)
        np.testing.assert_array_equal(row_sum(a), want)
        assert row_sum(a).dtype == np.float32
    assert row_min(np.zeros((0, 3))).shape == (0,)
    assert count_per_row(np.zeros((0, 72), dtype=bool)).shape == (0,)
