#!/usr/bin/python3
"""plot.py: draw perf/results/latest.json (written by compare.py) as one
PNG: a row of latency panels and a row of throughput panels, one panel per
transport, bars per variant and message size on a log scale; a last row
for PUB/SUB fan-out and REQ/REP through a device.

    perf/plot.py [results.json [out.png]]

Needs matplotlib (Debian: python3-matplotlib).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

COLORS = {"femtomsg": "#d62728", "nanomsg": "#1f77b4", "nng": "#2ca02c", "zmq": "#9467bd",
          "raw": "#7f7f7f", "raw-batch": "#bcbcbc"}
SPARE = ["#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def color(name, names):
    if name in COLORS:
        return COLORS[name]
    extras = [n for n in names if n not in COLORS]
    return SPARE[extras.index(name) % len(SPARE)]


def size_label(s):
    return "%dM" % (s >> 20) if s >= 1 << 20 else "%dK" % (s >> 10) if s >= 1024 else "%dB" % s


def bars(ax, groups, names, value):
    """groups: [(label, {variant: entry})]; value(entry) -> number or None."""
    width = 0.8 / max(len(names), 1)
    drawn = 0
    for i, n in enumerate(names):
        xs, ys = [], []
        for g, (_, res) in enumerate(groups):
            v = value(res.get(n))
            if v:
                xs.append(g + (i - (len(names) - 1) / 2) * width)
                ys.append(v)
        ax.bar(xs, ys, width, label=n, color=color(n, names))
        drawn += len(ys)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([g[0] for g in groups])
    if not drawn:
        # Every run of the panel failed: a log scale has nothing to span.
        ax.text(0.5, 0.5, "no result", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
        return
    ax.set_yscale("log")
    ax.grid(axis="y", which="both", alpha=0.3)


def plot(json_path, png_path):
    with open(json_path) as f:
        data = json.load(f)
    cells = data["cells"]
    names = list(data["meta"]["variants"])
    transports = []
    for c in cells:
        if c["transport"] not in transports:
            transports.append(c["transport"])
    cols = max(len(transports), 2)
    fig, axes = plt.subplots(3, cols, figsize=(5 * cols, 12), squeeze=False)
    for row, (test, title, value) in enumerate((
            ("lat", "one-way latency [us], lower is better",
             lambda e: e.get("median") if e else None),
            ("thr", "throughput [MB/s], higher is better",
             lambda e: e.get("MBps") if e else None))):
        for col in range(cols):
            ax = axes[row][col]
            if col >= len(transports):
                ax.axis("off")
                continue
            tp = transports[col]
            groups = [(size_label(c["size"]), c["results"]) for c in cells
                      if c["test"] == test and c["transport"] == tp]
            bars(ax, groups, names, value)
            ax.set_title("%s: %s" % (tp, title), fontsize=10)
    multi = [n for n in names if not n.startswith("raw")]
    for col, (key, title) in enumerate((("fanout", "PUB/SUB 1:10 deliveries [msg/s], higher is better"),
                                        ("device", "REQ/REP via device, one-way [us], lower is better"))):
        ax = axes[2][col]
        groups = [("%s %s" % (c["transport"], size_label(c["size"])), c["results"])
                  for c in data.get(key, [])]
        if not groups:
            ax.axis("off")
            continue
        bars(ax, groups, multi, lambda e: e.get("median") if e else None)
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=8, rotation=30)
    for col in range(2, cols):
        axes[2][col].axis("off")
    fig.legend([Patch(color=color(n, names)) for n in names], names, loc="upper center",
               ncol=len(names), bbox_to_anchor=(0.5, 0.975))
    meta = data["meta"]
    fig.suptitle("femtomsg vs nanomsg, NNG, ZeroMQ and raw sockets - %s, %s CPUs, %s (%s)"
                 % (meta.get("cpu", "?"), meta.get("cpus", "?"), meta.get("date", ""),
                    meta.get("git", "")), y=0.995, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(png_path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "results", "latest.json")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.splitext(src)[0] + ".png"
    plot(src, dst)
