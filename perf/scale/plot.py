#!/usr/bin/python3
"""plot.py (scale): draw perf/results/scale.json (written by perf/scale.py)
as one PNG: deliveries/s and server CPU per delivery against the number of
subscribers, requests/s and p99 against the number of clients (log-log,
one line per library, solid for tcp and dashed for ws), and the idle
connections' memory and accept time as bars.

    perf/scale/plot.py [scale.json [out.png]]

Needs matplotlib (Debian: python3-matplotlib).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"femtomsg": "#d62728", "nanomsg": "#1f77b4", "nng": "#2ca02c", "zmq": "#9467bd"}
LABELS = {"femtomsg": "femtomsg", "nanomsg": "nanomsg", "nng": "NNG", "zmq": "ZeroMQ"}


def lines(ax, cells, kind, libs, value, title):
    for tp, style in (("tcp", "-"), ("ws", "--")):
        for lib in libs:
            pts = sorted((c["n"], value(c["results"][lib]["median"])) for c in cells
                         if c["kind"] == kind and c["transport"] == tp
                         and "median" in c["results"].get(lib, {}))
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker="o",
                        color=COLORS.get(lib, "#777777"), label="%s %s" % (LABELS.get(lib, lib), tp))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    ax.grid(which="both", alpha=0.3)


def bars(ax, cells, libs, value, title):
    groups = [c for c in cells if c["kind"] == "idle"]
    width = 0.8 / max(len(libs), 1)
    for i, lib in enumerate(libs):
        xs, ys = [], []
        for g, c in enumerate(groups):
            e = c["results"].get(lib, {})
            if "median" in e:
                xs.append(g + (i - (len(libs) - 1) / 2) * width)
                ys.append(value(e["median"]))
        ax.bar(xs, ys, width, color=COLORS.get(lib, "#777777"), label=LABELS.get(lib, lib))
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(["{:,} connections".format(c["n"]) for c in groups])
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def plot(json_path, png_path):
    with open(json_path) as f:
        data = json.load(f)
    cells = data["cells"]
    libs = list(data["meta"]["libs"])
    fig, ax = plt.subplots(2, 3, figsize=(16, 9.5), squeeze=False)
    lines(ax[0][0], cells, "pub", libs, lambda m: m["rate"],
          "PUB fan-out: deliveries/s vs subscribers (higher is better)")
    lines(ax[0][1], cells, "pub", libs, lambda m: m["server_cpu_ns_per_msg"] / 1e3,
          "PUB fan-out: server CPU us per delivery (lower is better)")
    bars(ax[0][2], cells, libs, lambda m: m["bytes_per_conn"] / 1e3,
         "idle: server RSS per connection [KB] (lower is better)")
    lines(ax[1][0], cells, "rep", libs, lambda m: m["rate"],
          "REP echo: requests/s vs clients (higher is better)")
    lines(ax[1][1], cells, "rep", libs, lambda m: m["p99_us"],
          "REP echo: p99 round trip [us] vs clients (lower is better)")
    bars(ax[1][2], cells, libs, lambda m: m["accept_s"],
         "idle: time to accept all [s] (lower is better)")
    for a in (ax[0][0], ax[0][1], ax[1][0], ax[1][1]):
        a.set_xlabel("connections")
    handles, labels = ax[0][0].get_legend_handles_labels()
    if not handles:
        handles, labels = ax[1][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=max(len(labels), 1),
               bbox_to_anchor=(0.5, 0.965), fontsize=9)
    meta = data["meta"]
    fig.suptitle("scale: femtomsg vs nanomsg, NNG, ZeroMQ - one server process, %d B messages - "
                 "%s, %s CPUs, load %.1f-%.1f, %s (%s)"
                 % (meta.get("msg_size", 64), meta.get("cpu", "?"), meta.get("cpus", "?"),
                    meta.get("loadavg_start", [0])[0], meta.get("loadavg_end", [0])[0],
                    meta.get("date", ""), meta.get("git", "")), y=0.995, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(png_path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "results", "scale.json")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.splitext(src)[0] + ".png"
    plot(src, dst)
