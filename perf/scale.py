#!/usr/bin/python3
"""scale.py: what femtomsg costs with many connections, side by side with
the stock libnanomsg, NNG's nanomsg-compatible API and ZeroMQ.

One server process under test (perf/scale/server.c, the same source built
against each library) and one load generator (perf/scale/loadgen.c, raw
sockets and epoll speaking SP over tcp or ws, or ZMTP 3.0 for ZeroMQ: no
messaging library, so only the server's library is measured), which opens
the connections, drives them and measures the server from /proc. Cells:
PUB fan-out to 1-1,000 subscribers, REP echo with 1-1,000 clients each with
one request in flight (both over tcp, and ws for the nanomsg-API
libraries), and 1,000 and 10,000 idle connections over tcp. The libraries
take turns cell by cell, each cell is run --reps times (rotating the
order) and the medians are kept. Writes perf/results/scale.json, scale.md
and scale.png.

    perf/scale.py              # the full run, about 8 minutes on 2 cores
    perf/scale.py --quick      # one short repetition, about 75 seconds
    perf/scale.py --help       # filters, build directories

Python 3 standard library only; the plot needs matplotlib (Debian:
python3-matplotlib) and is skipped with a warning without it. Run it as
root (or with a descriptor limit above 10,100): 10,000 connections need
that many descriptors on each side.
"""
import argparse
import datetime
import importlib.util
import json
import os
import platform
import random
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SRC = os.path.join(HERE, "scale")
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import compare  # noqa: E402  (its build, port and machine helpers)

MSG_SIZE = 64
LIBS = ["femtomsg", "nanomsg", "nng", "zmq"]
LABELS = {"femtomsg": "femtomsg", "nanomsg": "nanomsg 1.1.5", "nng": "NNG 1.5.2", "zmq": "ZeroMQ 4.3"}

# Cell kinds: the server's role, the load generator's mode, the connection
# counts and the transports. The ZeroMQ column speaks ZMTP over tcp only
# (Debian's libzmq has no ws).
KINDS = {
    "pub": {"role": "pub", "mode": "sub", "counts": [1, 10, 100, 1000], "transports": ["tcp", "ws"]},
    "rep": {"role": "rep", "mode": "req", "counts": [1, 10, 100, 1000], "transports": ["tcp", "ws"]},
    "idle": {"role": "idle", "mode": "idle", "counts": [1000, 10000], "transports": ["tcp"]},
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def server_builds(fm_build):
    fm_lib = os.path.realpath(fm_build)
    return {
        "femtomsg": {"cflags": ["-I" + os.path.join(ROOT, "include")],
                     "libs": ["-L" + fm_lib, "-Wl,-rpath," + fm_lib, "-lnanomsg"],
                     "lib": "^" + re.escape(fm_lib) + "/libnanomsg\\.so", "wires": ["sp", "ws"]},
        "nanomsg": {"cflags": ["-I/usr/include"], "libs": ["-lnanomsg"],
                    "lib": "^/usr/lib/.*/libnanomsg\\.so", "wires": ["sp", "ws"]},
        # NNG's compatibility constants differ from nanomsg's: its headers first.
        "nng": {"cflags": ["-I/usr/include/nng/compat"], "libs": ["-lnng"],
                "lib": "^/usr/lib/.*/libnng\\.so", "wires": ["sp", "ws"]},
        "zmq": {"cflags": ["-DSCALE_ZMQ"], "libs": ["-lzmq"],
                "lib": "^/usr/lib/.*/libzmq\\.so", "wires": ["zmtp"]},
    }


def cc(args):
    compare.sh([os.environ.get("CC", "cc"), "-O2", "-g", "-std=c11", "-D_GNU_SOURCE", "-Wall",
                "-Wextra"] + args)


# ------------------------------------------------------------------- run
class Server:
    """The server under test, in a process group of its own; ready once it
    has printed "ready" (bound)."""

    def __init__(self, exe, role, url, env=None, rate=0):
        extra = [str(rate)] if rate and role == "pub" else []
        self.p = subprocess.Popen([exe, role, url, str(MSG_SIZE)] + extra, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, start_new_session=True,
                                  env=env)
        deadline = time.monotonic() + 10
        line = ""
        while time.monotonic() < deadline and self.p.poll() is None:
            r, _, _ = select.select([self.p.stdout], [], [], 0.1)
            if r:
                line = self.p.stdout.readline()
                break
        if line.strip() != "ready":
            err = self.stop()
            raise RuntimeError("%s %s %s: not ready: %s" % (exe, role, url, err.strip()))

    def stop(self):
        """Kill it; its stderr."""
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except OSError:
            pass
        _, err = self.p.communicate()
        return err


class Runner:
    def __init__(self, bindir, loadgen, window, pub_rate):
        self.pub_rate = pub_rate
        self.bindir = bindir
        self.loadgen = loadgen
        self.window = window
        # Below the ephemeral range, where no connecting socket holds a port.
        self.port_lo, self.port_hi = 10000, compare.ephemeral_low() - 1
        self.port = random.randint(self.port_lo, self.port_hi)

    def next_port(self):
        self.port += 1
        if self.port > self.port_hi:
            self.port = self.port_lo
        return self.port

    def run(self, lib, kind, transport, n):
        """One run: a fresh server, the load generator against it. Returns
        the load generator's JSON."""
        port = self.next_port()
        wire = "zmtp" if lib == "zmq" else ("ws" if transport == "ws" else "sp")
        url = "%s://127.0.0.1:%d" % (transport, port)
        srv = Server(os.path.join(self.bindir, lib, "server"), KINDS[kind]["role"], url,
                     rate=self.pub_rate)
        try:
            r = subprocess.run([self.loadgen, KINDS[kind]["mode"], wire, "127.0.0.1:%d" % port,
                                str(n), str(self.window), str(srv.p.pid), str(MSG_SIZE)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=400)
        except subprocess.TimeoutExpired:
            raise RuntimeError("loadgen timed out")
        finally:
            err = srv.stop()
        lines = r.stdout.strip().splitlines()
        out = json.loads(lines[-1]) if lines else {"error": "no output: " + r.stderr.strip()}
        if "error" in out:
            raise RuntimeError(out["error"] + ("; server: " + err.strip() if err.strip() else ""))
        return out


def measure(runner, libs, kind, transport, n, reps):
    """Every library once per round, `reps` rounds in rotating order; the
    medians of every figure, and the samples."""
    samples, errors = {l: [] for l in libs}, {}
    for r in range(reps):
        order = libs[r % len(libs):] + libs[:r % len(libs)]
        for lib in order:
            if lib in errors:
                continue
            try:
                samples[lib].append(runner.run(lib, kind, transport, n))
            except Exception as e:  # noqa: BLE001 - a failing library is reported, not fatal
                errors[lib] = str(e)
                log("warning: %s %s %s %d: %s" % (lib, kind, transport, n, e))
    res = {}
    for lib in libs:
        if samples[lib]:
            keys = [k for k, v in samples[lib][0].items() if isinstance(v, (int, float))
                    and not isinstance(v, bool)]
            med = {k: statistics.median(s[k] for s in samples[lib]) for k in keys}
            res[lib] = {"median": med, "samples": samples[lib]}
            if lib in errors:
                res[lib]["error_later"] = errors[lib]
        else:
            res[lib] = {"error": errors.get(lib, "no run")}
    return res


# ------------------------------------------------------------------ table
def si(v):
    if v >= 1e6:
        return "%.2f M" % (v / 1e6) if v < 1e7 else "%.1f M" % (v / 1e6)
    if v >= 1e3:
        return "%.0f k" % (v / 1e3) if v >= 1e4 else "%.1f k" % (v / 1e3)
    return "%.0f" % v


def us(v):
    return "{:,.0f} us".format(v) if v >= 100 else "%.1f us" % v


def cpu_split(m):
    """CPUs' worth the server used in the window, and the share of it on
    the application's thread (the rest is the library's own threads)."""
    return "%.2f / %.0f%%" % (m["server_cpu_s"] / m["window_s"],
                              100.0 * m["server_cpu_main_s"] / max(m["server_cpu_s"], 1e-9))


# Rows: (kind, label, formatter of the medians). The label gets the
# transport and the connection count.
ROWS = {
    "pub": [("deliveries/s", lambda m: si(m["rate"])),
            ("share delivered per subscriber, min / median", lambda m: "%.0f / %.0f%%" % (
                m["share_min"], m["share_median"])),
            ("server CPU per delivered message",
             lambda m: "%.2f us" % (m["server_cpu_ns_per_msg"] / 1e3)),
            ("server CPU used / on the publishing thread", cpu_split)],
    "rep": [("requests/s", lambda m: si(m["rate"])),
            ("p50 round trip", lambda m: us(m["p50_us"])),
            ("p99 round trip", lambda m: us(m["p99_us"])),
            ("server CPU per request", lambda m: "%.1f us" % (m["server_cpu_ns_per_msg"] / 1e3)),
            ("server CPU used / on the echoing thread", cpu_split),
            ("slowest client's requests / mean", lambda m: "%.0f%%" % m["share_min"])],
    "idle": [("server RSS per connection", lambda m: "%.1f KB" % (m["bytes_per_conn"] / 1e3)),
             ("server threads", lambda m: "%d" % m["threads"]),
             ("time to accept all", lambda m: "%.2f s" % m["accept_s"]),
             ("time to close all", lambda m: "%.2f s" % m["close_s"])],
}
TITLES = {"pub": "PUB to {n:,} subscriber{s}, {tp}", "rep": "REP echo, {n:,} client{s}, {tp}",
          "idle": "{n:,} idle connections, {tp}"}


def table(results, libs):
    head = ["cell"] + [LABELS[l] for l in libs]
    rows = []
    for c in results["cells"]:
        title = TITLES[c["kind"]].format(n=c["n"], s="" if c["n"] == 1 else "s", tp=c["transport"])
        for label, fmt in ROWS[c["kind"]]:
            vals = []
            for l in libs:
                e = c["results"].get(l)
                vals.append("-" if not e else "FAIL" if "error" in e else fmt(e["median"]))
            rows.append(["%s: %s" % (title, label)] + vals)
    return head, rows


def reconnect_notes(results):
    """Cells where the server dropped connections before the window (the
    load generator made them again; see loadgen.c)."""
    notes = []
    for c in results["cells"]:
        for l, e in c["results"].items():
            n = sum(s.get("reconnects", 0) for s in e.get("samples", []))
            if n:
                notes.append("%s %s %d, %s: the server dropped %d connection(s) before the "
                             "window, made again" % (c["kind"], c["transport"], c["n"], l, n))
    return notes


def md_table(head, rows):
    out = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])


def text_table(head, rows):
    w = [max(len(x) for x in col) for col in zip(head, *rows)]
    line = lambda r: "  ".join(x.ljust(w[0]) if i == 0 else x.rjust(w[i]) for i, x in enumerate(r))
    return "\n".join([line(head), line(["-" * x for x in w])] + [line(r) for r in rows])


def plot(json_path, png_path):
    script = os.path.join(SRC, "plot.py")
    try:
        spec = importlib.util.spec_from_file_location("scale_plot", script)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.plot(json_path, png_path)
        return
    except ImportError as e:
        if "matplotlib" not in str(e):
            raise
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != \
            os.path.realpath("/usr/bin/python3"):
        if subprocess.run(["/usr/bin/python3", script, json_path, png_path]).returncode == 0:
            return
    log("warning: no matplotlib (Debian: apt-get install python3-matplotlib): no plot written")


# ------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one repetition of short runs")
    ap.add_argument("--reps", type=int, help="repetitions per cell (default 3, quick 1)")
    ap.add_argument("--window", type=float, help="seconds measured per run (default 2, quick 0.5)")
    ap.add_argument("--cells", help="comma-separated filters, each KIND[:TRANSPORT[:N]] with KIND "
                    "one of pub, rep, idle (e.g. pub:tcp:1000,idle); default all")
    ap.add_argument("--libs", help="comma-separated subset of: " + ",".join(LIBS))
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "perf-scale"),
                    help="where the servers and the load generator are built (default "
                    "build/perf-scale)")
    ap.add_argument("--fm-build", help="use this existing femtomsg build directory (holding "
                    "libnanomsg.so) instead of configuring one under --build-dir")
    ap.add_argument("--pub-rate", type=int, default=0, metavar="MSGS_PER_S",
                    help="publish at this offered rate instead of as fast as the library takes "
                    "messages (the fan-out cells then compare CPU per delivery at equal load)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results directory")
    a = ap.parse_args()
    reps = a.reps or (1 if a.quick else 3)
    window = a.window or (0.5 if a.quick else 2.0)
    libs = a.libs.split(",") if a.libs else list(LIBS)
    for l in libs:
        if l not in LIBS:
            sys.exit("unknown library %s" % l)
    filters = [f.split(":") for f in a.cells.split(",")] if a.cells else [[k] for k in KINDS]
    for f in filters:
        if f[0] not in KINDS or len(f) > 3:
            sys.exit("bad --cells entry %s" % ":".join(f))
    cells = [(k, tp, n) for k, spec in KINDS.items() for tp in spec["transports"]
             for n in spec["counts"]
             if any(f[0] == k and (len(f) < 2 or f[1] == tp) and (len(f) < 3 or f[2] == str(n))
                    for f in filters)]

    t_start = time.time()
    fm_build = a.fm_build or ("femtomsg" in libs and compare.build_femtomsg(a.build_dir)) or ""
    builds = server_builds(fm_build)
    bindir = os.path.join(a.build_dir, "bin")
    loadgen = os.path.join(bindir, "loadgen")
    os.makedirs(bindir, exist_ok=True)
    cc(["-o", loadgen, os.path.join(SRC, "loadgen.c")])
    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
            "cpu": compare.cpu_model(), "loadavg_start": os.getloadavg(), "reps": reps,
            "window_s": window, "msg_size": MSG_SIZE, "pub_rate": a.pub_rate, "quick": a.quick,
            "git": compare.git_rev(), "libs": {}}
    runner = Runner(bindir, loadgen, window, a.pub_rate)
    for l in libs:
        b = builds[l]
        exe = os.path.join(bindir, l, "server")
        os.makedirs(os.path.dirname(exe), exist_ok=True)
        cc(b["cflags"] + ["-o", exe, os.path.join(SRC, "server.c")] + b["libs"] + ["-lpthread"])
        # Prove which library it maps: the server prints it once bound.
        srv = Server(exe, "idle", "tcp://127.0.0.1:%d" % runner.next_port(),
                     env=dict(os.environ, PERF_PRINT_LIB="1"))
        loaded = [x[5:] for x in srv.stop().splitlines() if x.startswith("lib: ")]
        if len(loaded) != 1 or not re.search(b["lib"], loaded[0]):
            sys.exit("%s: server loads %s, expected %s" % (l, loaded or "no library", b["lib"]))
        meta["libs"][l] = {"loaded": loaded}
        log("built %-8s server, loads %s" % (l, loaded[0]))

    results = {"meta": meta, "cells": []}
    for kind, tp, n in cells:
        cell_libs = [l for l in libs if tp == "tcp" or "ws" in builds[l]["wires"]]
        if not cell_libs:
            continue
        res = measure(runner, cell_libs, kind, tp, n, reps)
        results["cells"].append({"kind": kind, "transport": tp, "n": n, "results": res,
                                 "loadavg_end": os.getloadavg()[0]})
        key = {"pub": "rate", "rep": "rate", "idle": "bytes_per_conn"}[kind]
        log("%-4s %-3s %5d  %s" % (kind, tp, n, "  ".join(
            "%s=%s" % (l, "%.4g" % res[l]["median"][key] if "median" in res[l] else "FAIL")
            for l in cell_libs)))
    meta["loadavg_end"] = os.getloadavg()
    meta["seconds"] = round(time.time() - t_start, 1)

    head, rows = table(results, libs)
    notes = reconnect_notes(results)
    print()
    print(text_table(head, rows))
    for n in notes:
        print(n)
    print("\nrun took %.0f s, load average %.2f at start, %.2f at end" %
          (meta["seconds"], meta["loadavg_start"][0], meta["loadavg_end"][0]))
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "scale.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(a.out, "scale.md"), "w") as f:
        f.write("Measured %s on %s (%d CPUs, %s), git %s; %d repetition(s) of %.1f s windows, "
                "medians; %d B messages; load average %.2f at start, %.2f at end.\n\n"
                % (meta["date"], meta["cpu"], meta["cpus"], meta["kernel"], meta["git"], reps,
                   window, MSG_SIZE, meta["loadavg_start"][0], meta["loadavg_end"][0]))
        f.write(md_table(head, rows) + "\n")
        if notes:
            f.write("\n" + "\n".join("- " + n for n in notes) + "\n")
    plot(os.path.join(a.out, "scale.json"), os.path.join(a.out, "scale.png"))
    log("wrote %s/scale.{json,md,png}" % a.out)


if __name__ == "__main__":
    main()
