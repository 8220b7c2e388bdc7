"""Speed and memory: the package's numpy attention vs PyTorch's SDPA on the CPU.

    python benchmarks/attention_speed.py                 # n = 128 ... 4096, prints a markdown table
    python benchmarks/attention_speed.py --sizes 512 1024 --no-rss

Setting (COURSE.md section 5): batch 1, 8 heads, d_k = d_v = 64, float32, no mask.
- "numpy" is ``attention_course.scaled_dot_product_attention`` on numpy arrays; it
  returns the (1, 8, n, n) weights too, as the lessons need them.
- "torch SDPA" is ``torch.nn.functional.scaled_dot_product_attention`` on CPU tensors
  holding the same numbers (under ``torch.inference_mode``); it returns the output only.
- Times: every call is timed on its own, in runs of numpy calls and runs of torch calls
  (3 rounds); the table shows the median (and the best) of all the calls. Ratio = numpy throughput / torch throughput
  = torch time / numpy time (target: >= 0.5 for n = 1024 ... 4096).
- Peak memory, two ways:
  * numpy, tracemalloc: numpy reports its array allocations to tracemalloc, so this is
    the exact peak of bytes allocated during one call (inputs excluded);
  * both, peak RSS: in a fresh subprocess per measurement, after a small warm-up, the
    kernel's resident-set high-water mark (VmHWM) is reset (``/proc/self/clear_refs``),
    one call is made, and the growth of VmHWM over the resident size before the call is
    reported. It counts every byte that torch's or numpy's allocators touch (Linux only).
Run it on a quiet machine: other processes on the same cores inflate the times.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc

import numpy as np

BATCH, HEADS, D = 1, 8, 64
SIZES = (128, 256, 512, 1024, 2048, 4096)


def make_inputs(n, seed=0):
    """q, k, v as float32 numpy arrays of shape (BATCH, HEADS, n, D)."""
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal((BATCH, HEADS, n, D), dtype=np.float32) for _ in range(3))


def numpy_attention(q, k, v):
    import attention_course as ac

    return ac.scaled_dot_product_attention(q, k, v)


def torch_attention(q, k, v):
    import torch

    with torch.inference_mode():
        return torch.nn.functional.scaled_dot_product_attention(q, k, v)


def time_both(n, target_seconds, rounds=3):
    """Median and best seconds per call for numpy and torch, plus the largest output difference.

    Each round times a run of numpy calls, then a run of torch calls: alternating call by
    call would make each library's worker threads (still spinning after their last call)
    compete with the other's.
    """
    import torch

    q, k, v = make_inputs(n)
    tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
    out_np, _ = numpy_attention(q, k, v)                     # warm-up (and a correctness check)
    out_t = torch_attention(tq, tk, tv)
    diff = float(np.abs(out_np - out_t.numpy()).max())
    start = time.perf_counter()
    numpy_attention(q, k, v)
    torch_attention(tq, tk, tv)
    repeats = int(min(30, max(2, target_seconds / rounds / (time.perf_counter() - start))))
    times = {"numpy": [], "torch": []}
    for _ in range(rounds):
        for name, f, args in (("numpy", numpy_attention, (q, k, v)), ("torch", torch_attention, (tq, tk, tv))):
            time.sleep(0.2)                                  # let the other library's threads go idle
            for _ in range(repeats):
                t0 = time.perf_counter()
                f(*args)
                times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(ts), min(ts)) for name, ts in times.items()}, rounds * repeats, diff


def numpy_peak_tracemalloc(n):
    """Peak bytes numpy allocates during one call (inputs already allocated)."""
    q, k, v = make_inputs(n)
    numpy_attention(q[..., :8, :], k[..., :8, :], v[..., :8, :])   # import and warm up outside the trace
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = numpy_attention(q, k, v)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak - before


def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def peak_rss_child(backend, n):
    """(run in a fresh process) growth of the resident-set high-water mark during one call, in bytes."""
    q, k, v = make_inputs(n)
    if backend == "torch":
        import torch

        q, k, v = (torch.from_numpy(a) for a in (q, k, v))
        f = torch_attention
    else:
        f = numpy_attention
    f(q[..., :64, :], k[..., :64, :], v[..., :64, :])          # load libraries, start thread pools
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")                                       # reset VmHWM to the current RSS
    before = _status_kb("VmRSS")
    result = f(q, k, v)
    peak = _status_kb("VmHWM")
    del result
    return (peak - before) * 1024


def peak_rss(backend, n):
    """Run ``peak_rss_child`` in a fresh interpreter; None where it can't be measured."""
    cmd = [sys.executable, os.path.abspath(__file__), "--peak-rss-child", backend, str(n)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def blas_threads():
    """Threads numpy's OpenBLAS will use (found among the loaded libraries), or None."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return None
    libs = [p for p in paths if "openblas" in os.path.basename(p).lower() and ".so" in p]
    for path in libs:
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_", "openblas_get_num_threads"):
            if hasattr(lib, name):
                return int(getattr(lib, name)())
    return None


def mib(nbytes):
    return "n/a" if nbytes is None else f"{nbytes / 2**20:,.1f} MiB"


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES, help="sequence lengths n")
    parser.add_argument("--seconds", type=float, default=1.5, help="about this long timing each size")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    parser.add_argument("--peak-rss-child", nargs=2, metavar=("BACKEND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peak_rss_child:
        backend, n = args.peak_rss_child
        print(json.dumps(peak_rss_child(backend, int(n))))
        return

    import torch

    import attention_course as ac

    numpy_attention(*make_inputs(8))                            # loads OpenBLAS, so it can be asked
    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical CPUs; OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')}; torch threads: {torch.get_num_threads()}; "
          f"numpy BLAS threads: {blas_threads() or 'unknown'}")
    print(f"attention_course {ac.__version__}, numpy {np.__version__}, torch {torch.__version__}, "
          f"Python {platform.python_version()}")
    print(f"batch {BATCH}, {HEADS} heads, d = {D}, float32; times: median (best) of the repeats\n")
    print("| n | repeats | numpy ms | torch SDPA ms | numpy/torch throughput | numpy peak (tracemalloc) "
          "| numpy peak RSS | torch peak RSS | max abs diff |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        times, repeats, diff = time_both(n, args.seconds)
        (np_med, np_best), (t_med, t_best) = times["numpy"], times["torch"]
        traced = numpy_peak_tracemalloc(n)
        rss_np = None if args.no_rss else peak_rss("numpy", n)
        rss_t = None if args.no_rss else peak_rss("torch", n)
        print(f"| {n} | {repeats} | {np_med * 1e3:.1f} ({np_best * 1e3:.1f}) | {t_med * 1e3:.1f} ({t_best * 1e3:.1f}) "
              f"| {t_med / np_med:.2f} ({t_best / np_best:.2f}) | {mib(traced)} | {mib(rss_np)} | {mib(rss_t)} "
              f"| {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
