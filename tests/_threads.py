"""Thread counts for the tests that pin "small work runs on one thread": numpy's BLAS and
OpenMP pools, torch, and torch's MKL (which ``torch.set_num_threads`` sets and threadpoolctl's
limit alone does not reach)."""
from __future__ import annotations

import contextlib
import re


def pool_thread_counts() -> set:
    """The thread counts of every pool threadpoolctl sees (BLAS, OpenMP)."""
    from threadpoolctl import threadpool_info

    return {pool["num_threads"] for pool in threadpool_info()}


def torch_thread_counts(torch) -> tuple:
    """(torch's intra-op threads, MKL's threads or None where torch has no MKL)."""
    mkl = re.search(r"mkl_get_max_threads\(\) : (\d+)", torch.__config__.parallel_info())
    return torch.get_num_threads(), mkl and int(mkl.group(1))


@contextlib.contextmanager
def torch_at_two_threads(torch):
    """torch (and its MKL) on 2 threads, as lesson 12's training leaves it; the count is put back after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
