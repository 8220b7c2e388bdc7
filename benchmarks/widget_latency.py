"""How long one widget update takes for a 12-token sentence (target: median <= 50 ms).

    python benchmarks/widget_latency.py            # in process, then through a real kernel
    python benchmarks/widget_latency.py --quick    # in process only

Two widgets, the two interactions lessons use:
- explorer click: AttentionExplorer, a token button clicked -> row outline, links, summary.
- slider move:   Interactive with a temperature slider -> 144 new weights, heatmap colours,
                 144 printed numbers and links redrawn.
In process only, the heaviest lesson widget as well:
- gallery pick:  lesson 15's MistakeGallery, a mistake picked in the dropdown -> its two panels,
                 symptom and hint repainted on the one shared figure.

"In process" times compute + redraw + PNG encoding + setting the ipywidgets values.
"Through a kernel" starts an ipykernel and plays the front end: it sends the comm message a
browser sends (a button click, a slider value) and stops the clock when the kernel has
published the new image bytes on iopub — everything but the websocket and the browser's
<img> decode. Runs are interleaved with a warm-up; the machine's load shows in p90.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")

TARGET_MS = 50.0
N_UPDATES = 60

SETUP = r"""
import numpy as np
import attention_course as ac
from attention_course import viz, widgets

TOKENS = "The cat sat on the mat because it was very tired .".split()
rng = np.random.default_rng(0)
x = rng.normal(size=(12, 16))
w_q, w_k = rng.normal(size=(2, 16, 16)) / 4
SCORES = (x @ w_q) @ (x @ w_k).T / np.sqrt(16)

explorer = widgets.AttentionExplorer(TOKENS, ac.softmax(SCORES), title="Self-attention")

def setup(fig):
    ax_map, ax_links = fig.subplots(1, 2, width_ratios=[6.6, 2.6])
    w = ac.softmax(SCORES)
    return (viz.heatmap(w, TOKENS, TOKENS, ax=ax_map, title="softmax(scores / T)"),
            viz.token_links(w, TOKENS, TOKENS, 2, ax=ax_links))

def update(state, temperature):
    heatmap, links = state
    w = ac.softmax(SCORES, temperature=temperature)
    heatmap.update(w)
    links.update(w)
    return f"T = {temperature:.2f}: largest weight {w.max():.2f}, mean row max {w.max(axis=1).mean():.2f}"

slider_widget = widgets.Interactive(setup, update, figsize=(9.2, 4.4),
                                    temperature=widgets.slider(0.05, 5.0, 0.05, 1.0, "temperature"))
TEMPERATURES = [round(0.05 + 0.05 * k, 2) for k in range(100)]
"""


def summarize(times_s):
    ms = sorted(t * 1e3 for t in times_s)
    return statistics.median(ms), ms[min(len(ms) - 1, int(round(0.9 * (len(ms) - 1))))]


def in_process():
    ns: dict = {}
    exec(SETUP, ns)
    explorer, slider_widget, temps = ns["explorer"], ns["slider_widget"], ns["TEMPERATURES"]
    buttons = explorer.buttons
    control = slider_widget.controls["temperature"]

    def click(k):
        buttons[(k * 5 + 1) % len(buttons)].click()          # never the one already selected

    def move(k):
        control.value = temps[(k * 7) % len(temps)]

    from attention_course.lessons import review
    gallery = review.MistakeGallery()
    n_mistakes = len(gallery.symptoms)

    def pick(k):
        gallery.dropdown.value = (k * 5 + 1) % n_mistakes     # what choosing in the browser does

    results = {}
    for name, action in [("explorer click", click), ("slider move", move), ("gallery pick", pick)]:
        for k in range(5):                                   # warm-up: caches, first full draw
            action(k)
        times = []
        for k in range(N_UPDATES):
            start = time.perf_counter()
            action(k + 5)
            times.append(time.perf_counter() - start)
        results[name] = summarize(times)
    assert explorer.error is None and slider_widget.error is None
    return results


def through_kernel():
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", env={**os.environ})
    try:
        ids_code = SETUP + r"""
import json
print(json.dumps({"buttons": [b.model_id for b in explorer.buttons], "explorer_image": explorer.image.model_id,
                  "slider": slider_widget.controls["temperature"].model_id, "slider_image": slider_widget.image.model_id}))
"""
        reply = kc.execute_interactive(ids_code, timeout=120, output_hook=_collect(out := []))
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"setup failed in the kernel: {reply['content']}")
        ids = json.loads("".join(out).strip().splitlines()[-1])
        temps = [round(0.05 + 0.05 * k, 2) for k in range(100)]

        def click(k):
            comm = ids["buttons"][(k * 5 + 1) % len(ids["buttons"])]
            return _round_trip(kc, comm, {"method": "custom", "content": {"event": "click"}}, ids["explorer_image"])

        def move(k):
            state = {"value": temps[(k * 7) % len(temps)]}
            return _round_trip(kc, ids["slider"], {"method": "update", "state": state, "buffer_paths": []},
                               ids["slider_image"])

        results = {}
        for name, action in [("explorer click", click), ("slider move", move)]:
            for k in range(5):
                action(k)
            results[name] = summarize([action(k + 5) for k in range(N_UPDATES)])
        return results
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _collect(sink):
    def hook(msg):
        if msg["msg_type"] == "stream":
            sink.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            sink.append("\n".join(msg["content"]["traceback"]))
    return hook


def _round_trip(kc, comm_id, data, image_id, timeout=30.0):
    """Send a front-end comm message; seconds until the image widget's new value is published."""
    msg = kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
    start = time.perf_counter()
    kc.shell_channel.send(msg)
    got_image = None
    while True:
        reply = kc.get_iopub_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
            continue
        kind, content = reply["msg_type"], reply["content"]
        if kind == "comm_msg" and content["comm_id"] == image_id and ["value"] in content["data"].get("buffer_paths", []):
            got_image = time.perf_counter() - start          # the PNG bytes travel as a buffer
        elif kind == "error" or (kind == "stream" and content.get("name") == "stderr"):
            raise RuntimeError(f"kernel reported: {content}")
        elif kind == "status" and content["execution_state"] == "idle":
            if got_image is None:
                raise RuntimeError("the kernel went idle without sending a new image")
            return got_image


def report(title, results):
    print(title)
    ok = True
    for name, (median, p90) in results.items():
        flag = "ok" if median <= TARGET_MS else "OVER TARGET"
        ok &= median <= TARGET_MS
        print(f"  {name:<15} median {median:6.1f} ms   p90 {p90:6.1f} ms   {flag}")
    return ok


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="in process only (no kernel)")
    args = parser.parse_args(argv)
    print(f"widget latency, 12-token sentence, {N_UPDATES} updates each (target: median <= {TARGET_MS:.0f} ms)")
    if hasattr(os, "getloadavg"):
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (timings grow with load)")
    ok = report("in process (compute + redraw + PNG + widget values):", in_process())
    if not args.quick:
        ok &= report("through a kernel (front-end comm message in -> new image bytes out on iopub):", through_kernel())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
