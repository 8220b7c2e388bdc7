"""Speed and memory of the package's numpy attention against PyTorch's, on the CPU (lesson 13).

    python benchmarks/attention_speed.py                     # n = 128 ... 4096: a few minutes
    python benchmarks/attention_speed.py --sizes 1024 2048 --rounds 3 --no-rss

Setting: batch 1, 8 heads, d_k = d_v = 64, float32, 2 threads for every backend.

Backends, each timed in its own worker process (numpy's BLAS threads and torch's OpenMP
threads spin against each other when they share one):

    efficient_attention   ac.efficient_attention(q, k, v) -> (output, weights)   numpy
    tiled_attention       ac.tiled_attention(q, k, v) -> output                  numpy
    tiled causal          ac.tiled_attention(q, k, v, causal=True)               numpy
    torch textbook        w = softmax(q @ k.mT * scale); (w @ v, w)              torch, returns the weights too
    torch SDPA            F.scaled_dot_product_attention(q, k, v)                torch, fused, output only
    torch SDPA causal     F.scaled_dot_product_attention(..., is_causal=True)

Timing: for every n, ``--rounds`` rounds; in each round every backend in turn (the order
rotates from round to round) runs about ``--seconds`` worth of calls, one timer per call,
after a short pause that lets the previous worker's threads go idle. The table gives the
median call; a ratio is a throughput ratio, PyTorch's median time / ours (> 1: ours is
faster), with the range of the per-round ratios beside it (how much the machine's load moved
it). The CPU-time ratio is the same ratio for CPU seconds per call (user + system, all
threads): less moved by other programs taking the cores, but blind to time spent waiting for
a core, and it counts threads that spin while they wait.

Peak memory: tracemalloc (exact bytes numpy allocates during one call; inputs excluded) and,
unless ``--no-rss``, the growth of the resident-set high-water mark during one call in a
fresh process (Linux; counts torch's allocations too). Times on a machine shared with other
work are noisy: the per-round range and the wall-against-CPU table say how noisy.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc

import numpy as np

BATCH, HEADS, D = 1, 8, 64
SIZES = (128, 256, 512, 1024, 2048, 4096)
THREADS = 2
BACKENDS = ("efficient_attention", "tiled_attention", "tiled causal", "torch textbook", "torch SDPA",
            "torch SDPA causal")
# (ours, PyTorch's, target ratio, from which n the target applies)
COMPARISONS = (
    ("efficient_attention", "torch textbook", 1.0, 1024),
    ("efficient_attention", "torch SDPA", None, None),
    ("tiled_attention", "torch SDPA", 0.5, 2048),
    ("tiled causal", "torch SDPA causal", None, None),
)
PEAK_TARGET = 16.0           # tiled_attention: at least this many times less peak memory than the naive version


def make_inputs(n, seed=0):
    """q, k, v as float32 numpy arrays of shape (BATCH, HEADS, n, D)."""
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal((BATCH, HEADS, n, D), dtype=np.float32) for _ in range(3))


# ----------------------------------------------------------------------------- the backends

def backend_function(name):
    """``(f, to_backend)``: f(q, k, v) runs the backend; to_backend turns numpy inputs into its arrays."""
    if name.startswith("torch"):
        import torch

        torch.set_num_threads(THREADS)
        F = torch.nn.functional
        scale = 1 / math.sqrt(D)

        def textbook(q, k, v):
            with torch.inference_mode():
                w = torch.softmax(q @ k.mT * scale, dim=-1)
                return w @ v, w

        def sdpa(q, k, v):
            with torch.inference_mode():
                return F.scaled_dot_product_attention(q, k, v)

        def sdpa_causal(q, k, v):
            with torch.inference_mode():
                return F.scaled_dot_product_attention(q, k, v, is_causal=True)

        f = {"torch textbook": textbook, "torch SDPA": sdpa, "torch SDPA causal": sdpa_causal}[name]
        return f, torch.from_numpy

    from threadpoolctl import threadpool_limits

    import attention_course as ac

    threadpool_limits(THREADS, user_api="blas")      # 2 BLAS threads (tiled_attention uses 1 per task)
    ac.efficient.THREADS = THREADS
    f = {"efficient_attention": ac.efficient_attention,
         "tiled_attention": ac.tiled_attention,
         "tiled causal": lambda q, k, v: ac.tiled_attention(q, k, v, causal=True),
         "naive": ac.scaled_dot_product_attention}[name]
    return f, lambda a: a


def output_of(result):
    return result[0] if isinstance(result, tuple) else result


def max_error(name, f, to_backend, n, rows=32):
    """Largest |difference| of head 0's first and last ``rows`` output rows from a float64 reference."""
    import attention_course as ac

    q, k, v = make_inputs(n)
    out = np.asarray(output_of(f(*(to_backend(a) for a in (q, k, v)))))[0, 0]          # (n, D)
    picked = np.r_[0:min(rows, n), max(0, n - rows):n]                                 # query rows
    q64, k64, v64 = (a[0, 0].astype(np.float64) for a in (q, k, v))
    mask = ac.causal_mask(n)[picked] if "causal" in name else None
    ref, _ = ac.scaled_dot_product_attention(q64[picked], k64, v64, mask=mask)
    return float(np.abs(out[picked] - ref).max())


def peak_tracemalloc(f, n):
    """Peak bytes numpy allocates during one call (inputs already allocated)."""
    q, k, v = make_inputs(n)
    f(q[..., :16, :], k[..., :16, :], v[..., :16, :])             # warm up outside the trace
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = f(q, k, v)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak - before


def phases(n):
    """Where efficient_attention's time goes at n: its block loop run on one thread, each step
    timed on its own (ms, summed over the blocks and heads)."""
    from threadpoolctl import threadpool_limits

    from attention_course import efficient

    q, k, v = make_inputs(n)
    factor = efficient.LOG2_E / math.sqrt(D)
    rows = efficient._rows_per_block(n)
    spent = dict.fromkeys(["first touch of the fresh (8, n, n) weights (page faults)", "q @ k^T",
                           "softmax (base 2, in place)", "weights @ v"], 0.0)
    names = list(spent)
    with threadpool_limits(1, user_api="blas"):
        t0 = time.perf_counter()
        weights = efficient.empty_weights((BATCH, HEADS, n, n), np.float32)
        weights.fill(0.0)
        spent[names[0]] = time.perf_counter() - t0
        output = np.empty((BATCH, HEADS, n, D), dtype=np.float32)
        for h in np.ndindex(BATCH, HEADS):
            for i in range(0, n, rows):
                w = weights[h][i:i + rows]
                t0 = time.perf_counter()
                np.matmul(q[h][i:i + rows] * factor, k[h].T, out=w)
                t1 = time.perf_counter()
                efficient._softmax_base2_inplace(w)
                t2 = time.perf_counter()
                np.matmul(w, v[h], out=output[h][i:i + rows])
                t3 = time.perf_counter()
                for name, dt in zip(names[1:], (t1 - t0, t2 - t1, t3 - t2)):
                    spent[name] += dt
    return {name: 1e3 * t for name, t in spent.items()}


def fresh_memory(n=4096, rounds=2):
    """Wall and system seconds to allocate and first touch the (8, n, n) float32 weights, with numpy's
    huge-page advice on and off (numpy madvises big arrays MADV_HUGEPAGE; whether that helps
    depends on the kernel and, in a VM, on the host). None where numpy has no such switch."""
    from attention_course import efficient

    switch = efficient._huge_page_switch()          # numpy's private switch, or None
    if switch is None:
        return None
    try:
        original = switch(True)                     # returns the setting it replaces
    except Exception:  # noqa: BLE001 - the private switch changed: nothing to compare
        return None
    if not isinstance(original, (bool, np.bool_)):
        return None
    out = {}
    try:
        for advice in (True, False) * rounds:
            switch(advice)
            before = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            w = np.empty((BATCH, HEADS, n, n), dtype=np.float32)
            w.fill(0.0)
            wall = time.perf_counter() - t0
            system = resource.getrusage(resource.RUSAGE_SELF).ru_stime - before.ru_stime
            del w
            out.setdefault("on" if advice else "off", []).append((wall, system))
    finally:
        switch(bool(original))
    return {key: [statistics.median(x) for x in zip(*pairs)] for key, pairs in out.items()}


def tile_phases(repeats=200):
    """tiled_attention's inner loop on one (256 queries, 512 keys) tile, d = 64, one thread:
    microseconds per step (the products against the online-softmax bookkeeping)."""
    from threadpoolctl import threadpool_limits

    from attention_course import efficient

    rng = np.random.default_rng(0)
    q = rng.standard_normal((256, D), dtype=np.float32) * np.float32(efficient.LOG2_E / math.sqrt(D))
    k, v = rng.standard_normal((2, 512, D), dtype=np.float32)
    scores = q @ k.T
    m = scores.max(axis=1, keepdims=True)
    shifted = scores - m                                           # realistic inputs for each step
    s = np.empty_like(scores)
    l, o = np.ones((256, 1), np.float32), np.zeros((256, D), np.float32)

    def rescale():
        m_new = np.maximum(m, scores.max(axis=1, keepdims=True))
        alpha = np.exp2(m - m_new)
        np.multiply(l, alpha, out=l)
        np.multiply(o, alpha, out=o)

    steps = {
        "q @ k^T (tile of scores)": lambda: np.matmul(q, k.T, out=s),
        "max, rescale l and o": rescale,
        "s -= m": lambda: np.subtract(scores, m, out=s),
        "exp2": lambda: np.exp2(shifted, out=s),
        "row sums": lambda: np.einsum("ij->i", shifted),
        "p @ v (tile of output)": lambda: shifted @ v,
    }
    spent = {}
    old = np.setbufsize(efficient._bufsize(512))
    try:
        with threadpool_limits(1, user_api="blas"):
            for name, step in steps.items():
                step()
                t0 = time.perf_counter()
                for _ in range(repeats):
                    step()
                spent[name] = (time.perf_counter() - t0) / repeats * 1e6
    finally:
        np.setbufsize(old)
    return spent


def matmul_gflops(library, rows=256, cols=512, threads=1):
    """GFLOP/s of one (rows, 64) @ (64, cols) float32 product into an existing array, on ``threads``
    threads: the products tiled_attention (256 x 512) and efficient_attention (256 x n) make."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((rows, D), dtype=np.float32), rng.standard_normal((D, cols), dtype=np.float32)
    c = np.empty((rows, cols), dtype=np.float32)
    if library == "torch":
        import torch

        torch.set_num_threads(threads)
        a, b, c = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        f = lambda: torch.matmul(a, b, out=c)
        limits = None
    else:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(threads, user_api="blas")
        f = lambda: np.matmul(a, b, out=c)
    f()
    repeats = max(5, int(0.2 / max(1e-6, _once(f))))
    times = [_once(f) for _ in range(repeats)]
    if limits is not None:
        limits.restore_original_limits()
    return 2 * rows * cols * D / statistics.median(times) / 1e9


def _once(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def worker(name):
    """A worker process: read one JSON request per line on stdin, answer one JSON line on stdout."""
    f, to_backend = (None, None) if name in ("numpy", "torch") else backend_function(name)
    inputs = {}
    for line in sys.stdin:
        req = json.loads(line)
        cmd = req["cmd"]
        if cmd == "time":
            n = req["n"]
            if n not in inputs:
                inputs.clear()
                inputs[n] = tuple(to_backend(a) for a in make_inputs(n))
                f(*inputs[n])                                          # warm-up
            args = inputs[n]
            times, cpu = [], []
            for _ in range(req["repeats"]):
                before = resource.getrusage(resource.RUSAGE_SELF)
                times.append(_once(lambda args=args: f(*args)))
                after = resource.getrusage(resource.RUSAGE_SELF)
                cpu.append((after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime))
            answer = {"times": times, "cpu": cpu}
        elif cmd == "error":
            inputs.clear()
            answer = {"error": max_error(name, f, to_backend, req["n"])}
        elif cmd == "peak":
            inputs.clear()
            answer = {"peak": peak_tracemalloc(f if req.get("of") is None else backend_function(req["of"])[0],
                                               req["n"])}
        elif cmd == "phases":
            answer = {"phases": phases(req["n"])}
        elif cmd == "gflops":
            answer = {"gflops": matmul_gflops(name, req["rows"], req["cols"], req["threads"])}
        elif cmd == "fresh_memory":
            answer = {"fresh": fresh_memory(req["n"])}
        elif cmd == "tile_phases":
            answer = {"phases": tile_phases()}
        else:
            answer = {"fail": f"unknown command {cmd!r}"}
        print(json.dumps(answer), flush=True)


class Worker:
    """The main process's handle on one worker process."""

    def __init__(self, name):
        self.name = name
        env = dict(os.environ, OMP_NUM_THREADS=str(THREADS))
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, **request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.name!r} stopped (exit code {self.proc.wait()})")
        answer = json.loads(line)
        if "fail" in answer:
            raise RuntimeError(f"worker {self.name!r}: {answer['fail']}")
        return answer

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# ----------------------------------------------------------------------------- peak RSS

def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def peak_rss_child(name, n):
    """(in a fresh process) growth of the resident-set high-water mark during one call, in bytes."""
    f, to_backend = backend_function(name)
    q, k, v = (to_backend(a) for a in make_inputs(n))
    f(q[..., :64, :], k[..., :64, :], v[..., :64, :])              # load libraries, start thread pools
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")                                           # reset VmHWM to the current RSS
    before = _status_kb("VmRSS")
    result = f(q, k, v)
    peak = _status_kb("VmHWM")
    del result
    return (peak - before) * 1024


def peak_rss(name, n):
    """``peak_rss_child`` in a fresh interpreter; None where it can't be measured (not Linux)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--peak-rss-child", name, str(n)]
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS))
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, check=False)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- the run

def time_all(workers, n, rounds, seconds, pause):
    """{backend: [seconds per call, ...]}, {backend: [median of each round]} and
    {backend: [(user, system) CPU seconds per call, ...]} at size n."""
    first = {name: w.ask(cmd="time", n=n, repeats=1)["times"][0] for name, w in workers.items()}
    repeats = {name: int(min(50, max(1, round(seconds / t)))) for name, t in first.items()}
    times = {name: [] for name in workers}
    per_round = {name: [] for name in workers}
    cpu = {name: [] for name in workers}
    names = list(workers)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:     # rotate the order
            time.sleep(pause)                                            # the previous worker's threads go idle
            answer = workers[name].ask(cmd="time", n=n, repeats=repeats[name])
            times[name].extend(answer["times"])
            cpu[name].extend(answer["cpu"])
            per_round[name].append(statistics.median(answer["times"]))
    return times, per_round, cpu


def _cpu_median(pairs):
    """Median user + system CPU seconds per call."""
    return statistics.median(u + s for u, s in pairs)


def ms(seconds):
    return f"{seconds * 1e3:,.1f}" if seconds >= 0.01 else f"{seconds * 1e3:.2f}"


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
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per size")
    parser.add_argument("--seconds", type=float, default=0.25, help="about this long per backend per round")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between two backends' runs")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--peak-rss-child", nargs=2, metavar=("BACKEND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker)
    if args.peak_rss_child:
        name, n = args.peak_rss_child
        print(json.dumps(peak_rss_child(name, int(n))))
        return None

    import torch

    import attention_course as ac

    start = time.perf_counter()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical CPUs; load average before: "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"attention_course {ac.__version__}, numpy {np.__version__}, torch {torch.__version__}, "
          f"Python {platform.python_version()}")
    print(f"batch {BATCH}, {HEADS} heads, d = {D}, float32; {THREADS} threads per backend "
          f"(numpy BLAS via threadpoolctl, torch.set_num_threads, tiled_attention's pool); "
          f"{args.rounds} alternating rounds of ~{args.seconds} s per backend and size\n")

    workers = {name: Worker(name) for name in BACKENDS}
    results = {}
    try:
        for n in args.sizes:
            times, per_round, cpu = time_all(workers, n, args.rounds, args.seconds, args.pause)
            errors = {name: w.ask(cmd="error", n=n)["error"] for name, w in workers.items()}
            peaks = {name: workers[name].ask(cmd="peak", n=n)["peak"]
                     for name in ("efficient_attention", "tiled_attention", "tiled causal")}
            peaks["naive"] = workers["efficient_attention"].ask(cmd="peak", n=n, of="naive")["peak"]
            results[n] = times, per_round, errors, peaks, cpu
            print(f"  n = {n}: timed in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        phase_ms = workers["efficient_attention"].ask(cmd="phases", n=2048)["phases"]
        tile_us = workers["tiled_attention"].ask(cmd="tile_phases")["phases"]
        fresh = workers["efficient_attention"].ask(cmd="fresh_memory", n=max(args.sizes))["fresh"]
    finally:
        for w in workers.values():
            w.close()
    blas = {}
    shapes = ((256, 512, 1), (256, 2048, 1), (256, 2048, 2))                # (rows, cols, threads)
    for library in ("numpy", "torch"):
        w = Worker(library)
        try:
            blas[library] = [w.ask(cmd="gflops", rows=r, cols=c, threads=t)["gflops"] for r, c, t in shapes]
        finally:
            w.close()
    rss = {}
    if not args.no_rss:
        for n in args.sizes:
            for name in ("naive", "tiled_attention", "torch textbook", "torch SDPA"):
                rss[name, n] = peak_rss(name, n)

    print("### Speed (median ms per call; ratio = throughput of ours / PyTorch's, range over rounds)\n")
    print("| n | ours | ms | PyTorch | ms | ratio | per-round range | CPU-time ratio | target "
          "| max abs error (ours, PyTorch) |")
    print("|---:|---|---:|---|---:|---:|---:|---:|---|---:|")
    verdicts = []
    for n, (times, per_round, errors, _, cpu) in results.items():
        for ours, theirs, target, from_n in COMPARISONS:
            t_ours, t_theirs = statistics.median(times[ours]), statistics.median(times[theirs])
            ratio = t_theirs / t_ours
            rounds = [b / a for a, b in zip(per_round[ours], per_round[theirs])]
            cpu_ratio = _cpu_median(cpu[theirs]) / _cpu_median(cpu[ours])
            applies = target is not None and n >= from_n
            goal = f"≥ {target:.1f}" if applies else ""
            if applies:
                verdicts.append((f"{ours} vs {theirs} at n = {n}", ratio, target, cpu_ratio))
            print(f"| {n} | {ours} | {ms(t_ours)} | {theirs} | {ms(t_theirs)} | {ratio:.2f} | "
                  f"{min(rounds):.2f}–{max(rounds):.2f} | {cpu_ratio:.2f} | {goal} "
                  f"| {errors[ours]:.1e}, {errors[theirs]:.1e} |")
    print("\n### Peak memory during one call (tracemalloc: bytes numpy allocates; inputs excluded)\n")
    header = "| n | (n, n) weights, 8 heads | scaled_dot_product_attention | efficient_attention | tiled_attention " \
             "| tiled causal | naive / tiled |"
    rule = "|---:|---:|---:|---:|---:|---:|---:|"
    if rss:
        header += " peak RSS: naive | tiled | torch textbook | torch SDPA |"
        rule += "---:|---:|---:|---:|"
    print(header)
    print(rule)
    for n, (_, _, _, peaks, _) in results.items():
        ratio = peaks["naive"] / peaks["tiled_attention"]
        row = (f"| {n} | {mib(BATCH * HEADS * n * n * 4)} | {mib(peaks['naive'])} | {mib(peaks['efficient_attention'])} "
               f"| {mib(peaks['tiled_attention'])} | {mib(peaks['tiled causal'])} | {ratio:.1f}× |")
        if rss:
            row += " " + " | ".join(mib(rss[name, n]) for name in
                                    ("naive", "tiled_attention", "torch textbook", "torch SDPA")) + " |"
        print(row)
        if n == 4096:
            verdicts.append(("tiled_attention peak memory, naive / tiled, at n = 4096", ratio, PEAK_TARGET, None))
    n_big = max(results)
    times, _, _, _, cpu = results[n_big]
    print(f"\n### Wall time against CPU time per call at n = {n_big} (medians; all threads of the process)\n")
    print("When the machine is shared, wall time exceeds CPU time / threads: the backend waited for a core. "
          "System time is the kernel's (page faults of fresh memory, compaction for huge pages).\n")
    print("| backend | wall ms | CPU ms (user + system) | of which system | wall x threads / CPU |")
    print("|---|---:|---:|---:|---:|")
    for name in BACKENDS:
        wall = statistics.median(times[name])
        user, system = (statistics.median(x) for x in zip(*cpu[name]))
        print(f"| {name} | {ms(wall)} | {ms(user + system)} | {ms(system)} | {wall * THREADS / (user + system):.1f} |")
    print("\n### What limits the ratios\n")
    total = sum(phase_ms.values())
    print("efficient_attention's steps at n = 2048, on one thread (its two threads share these blocks):")
    for name, t in phase_ms.items():
        print(f"- {name}: {t:.1f} ms ({100 * t / total:.0f} %)")
    if fresh:
        (on_wall, on_sys), (off_wall, off_sys) = fresh["on"], fresh["off"]
        print(f"\nFresh memory for the (8, n, n) weights at n = {max(args.sizes)} (np.empty + first touch): "
              f"{on_wall * 1e3:.0f} ms wall, {on_sys * 1e3:.0f} ms system with numpy's huge-page advice (its default), "
              f"{off_wall * 1e3:.0f} ms and {off_sys * 1e3:.0f} ms without it. efficient_attention pays this on every "
              "call (it returns a fresh weights array); it allocates without the advice (efficient.empty_weights).")
    total = sum(tile_us.values())
    print("\ntiled_attention's loop on one (256, 512) tile, one thread (µs per tile):")
    for name, t in tile_us.items():
        print(f"- {name}: {t:.0f} µs ({100 * t / total:.0f} %)")
    print("\nOne float32 product (rows, 64) @ (64, cols) into an existing array, GFLOP/s:")
    print("| rows x cols, threads | numpy (OpenBLAS) | torch |")
    print("|---|---:|---:|")
    for (r, c, t), g_np, g_t in zip(shapes, blas["numpy"], blas["torch"]):
        print(f"| {r} x {c}, {t} | {g_np:.0f} | {g_t:.0f} |")
    print("\n### Targets\n")
    for what, value, target, cpu_ratio in verdicts:
        cpu_note = "" if cpu_ratio is None else f"; CPU-time ratio {cpu_ratio:.2f}"
        print(f"- {what}: {value:.2f} (target ≥ {target:g}) {'met' if value >= target else 'NOT met'}{cpu_note}")
    print(f"\n(finished in {time.perf_counter() - start:.0f} s; load average after: "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())})")
    return None


if __name__ == "__main__":
    main()
