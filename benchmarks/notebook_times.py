"""How long each lesson takes top to bottom in a fresh kernel, idle and next to busy neighbours.

    python benchmarks/notebook_times.py                                  # every notebook in notebooks/
    python benchmarks/notebook_times.py notebooks/04_softmax.ipynb ...   # some of them
    python benchmarks/notebook_times.py --neighbours 2 --repeats 3       # best of 3 runs each

Targets (COURSE.md §5): <= 10 s idle and <= 20 s while two other kernels compute on the same
machine. Each run starts a fresh kernel from the notebooks/ folder, as nbval does, executes every
cell and shuts the kernel down; the time covers all of it. Nothing is written back: the stored
notebooks stay as they are (``tools/execute_notebooks.py`` stores outputs).

"Loaded" runs the same notebooks while ``--neighbours`` processes (default 2) multiply 384 x 384
numpy matrices in a loop, the way other learners' kernels on a shared hub would. The neighbours
use numpy's default thread count and are bounded three ways: each stops by itself after
``--neighbour-limit`` seconds (default 600) or as soon as this script has gone, and this script
stops them when it ends, an error, Ctrl-C or a plain ``kill`` included.

The kernels inherit this process's environment, thread settings included: run it without
``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS`` to see what a learner's kernel does. A notebook that
fails shows "error" in the table (and the exception under it); the others still run.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IDLE_TARGET_S, LOADED_TARGET_S = 10.0, 20.0

# A neighbour: numpy matrix products until the time limit, or until its parent has gone.
NEIGHBOUR = r"""
import os, sys, time
import numpy as np
limit, parent = float(sys.argv[1]), int(sys.argv[2])
a = np.random.default_rng(os.getpid()).standard_normal((384, 384))
end = time.monotonic() + limit
while time.monotonic() < end and os.getppid() == parent:
    for _ in range(20):
        b = a @ a
        a = b / np.linalg.norm(b)
"""


def start_neighbours(count: int, limit_s: float) -> list[subprocess.Popen]:
    """``count`` busy processes, each stopping by itself after ``limit_s`` seconds."""
    return [subprocess.Popen([sys.executable, "-c", NEIGHBOUR, str(limit_s), str(os.getpid())],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(count)]


def stop_neighbours(procs: list[subprocess.Popen]) -> None:
    """Terminate the neighbours this script started (by their process ids), then kill stragglers."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + 5.0
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_notebook(path: Path, timeout_s: float) -> float:
    """Seconds to execute ``path`` top to bottom in a fresh kernel (start and shutdown included)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout_s, kernel_name="python3", store_widget_state=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def time_all(paths: list[Path], repeats: int, timeout_s: float, errors: dict) -> dict:
    """Best of ``repeats`` seconds per notebook name, or None where a run failed."""
    best = {}
    for path in paths:
        times = []
        for _ in range(repeats):
            try:
                times.append(run_notebook(path, timeout_s))
            except Exception as exc:          # report it, keep timing the other notebooks
                errors.setdefault(path.name, f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:200]}")
                times = None
                break
        best[path.name] = min(times) if times else None
        print(f"  {path.name}: {'error' if best[path.name] is None else f'{best[path.name]:.1f} s'}",
              file=sys.stderr, flush=True)
    return best


def table(paths: list[Path], idle: dict, loaded: dict, neighbours: int, load_before) -> str:
    def cell(t, target):
        if t is None:
            return "error"
        return f"{t:.1f}" + ("" if t <= target else " (over)")

    rows = ["| notebook | idle s | loaded s |", "|---|---:|---:|"]
    rows += [f"| {p.stem} | {cell(idle.get(p.name), IDLE_TARGET_S) if p.name in idle else '-'} | "
             f"{cell(loaded.get(p.name), LOADED_TARGET_S) if p.name in loaded else '-'} |" for p in paths]
    threads = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
               if k in os.environ}
    rows.append("")
    rows.append(f"Fresh kernel per run, start and shutdown included; loaded = {neighbours} neighbour processes "
                f"doing numpy matrix products. Targets: <= {IDLE_TARGET_S:g} s idle, <= {LOADED_TARGET_S:g} s "
                f"loaded. {os.cpu_count()} CPUs, load average before the runs "
                f"{', '.join(f'{x:.2f}' for x in load_before)}; kernel thread settings: {threads or 'defaults'}.")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to time (default: notebooks/*.ipynb)")
    parser.add_argument("--neighbours", type=int, default=2, help="busy processes for the loaded runs (default 2)")
    parser.add_argument("--neighbour-limit", type=float, default=600.0,
                        help="seconds after which each neighbour stops by itself (default 600)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per notebook and condition; the best counts")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per cell (default 300)")
    parser.add_argument("--idle-only", action="store_true", help="skip the loaded runs")
    parser.add_argument("--loaded-only", action="store_true", help="skip the idle runs")
    args = parser.parse_args(argv)
    if args.neighbours < 0 or args.repeats < 1 or args.neighbour_limit <= 0:
        parser.error("need --neighbours >= 0, --repeats >= 1 and --neighbour-limit > 0")
    os.environ.setdefault("MPLBACKEND", "Agg")
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")

    # a plain `kill` (SIGTERM) unwinds like Ctrl-C, so the neighbours are stopped in `finally`
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    errors: dict = {}
    idle, loaded = {}, {}
    load_before = os.getloadavg()
    if not args.loaded_only:
        print("idle:", file=sys.stderr)
        idle = time_all(paths, args.repeats, args.timeout, errors)
    if not args.idle_only:
        print(f"loaded ({args.neighbours} neighbours):", file=sys.stderr)
        procs = []
        try:
            procs = start_neighbours(args.neighbours, args.neighbour_limit)
            time.sleep(1.0)                                    # let them get going
            loaded = time_all(paths, args.repeats, args.timeout, errors)
        finally:
            stop_neighbours(procs)
    print(table(paths, idle, loaded, args.neighbours, load_before))
    for name, message in errors.items():
        print(f"\n{name}: {message}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
