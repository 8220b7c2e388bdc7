"""Execute notebooks in place and store clean outputs, so strict nbval passes.

    python tools/execute_notebooks.py notebooks/04_softmax.ipynb   # one lesson
    python tools/execute_notebooks.py                              # every notebook

Runs each notebook top to bottom in a fresh kernel from the notebooks/ folder
(as nbval does), then stores it with execution counts 1..N, no widget state
(the live widgets need a kernel anyway; their static fallback is in the output)
and no timing metadata. Fails loudly if a cell raises or writes to stderr.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        count += 1
        cell.execution_count = count
        for out in cell.get("outputs", []):
            if "execution_count" in out:
                out["execution_count"] = count
            if out.get("output_type") == "error" or (out.get("output_type") == "stream" and out.get("name") == "stderr"):
                raise SystemExit(f"{path}: cell {count} wrote an error or stderr:\n{out}")
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, path)
    return elapsed


def main(argv):
    paths = [Path(p) for p in argv] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        print(f"{path.name}: executed in {execute(path.resolve()):.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
