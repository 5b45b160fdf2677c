#!/usr/bin/python3
"""compare.py: femtomsg side by side with the stock libnanomsg, NNG's
nanomsg-compatible API, ZeroMQ and the raw sockets underneath them all.

It builds every variant as its own set of binaries (checking that each one
really loads the library it names), runs the matrix
{latency, throughput} x transports x message sizes, interleaving the
variants cell by cell so that noise on a shared machine hits all alike,
repeats each run and keeps the median, then adds PUB/SUB fan-out and
REQ/REP through a device (and, asked for with --tests reqlat, REQ/REP
round trips of 3 MiB with Nagle left on, as a program that sets nothing
has it). It prints a table with femtomsg's speed ratio to
the best of nanomsg and NNG, to ZeroMQ and to the raw baseline, and writes
perf/results/latest.json, latest.md and latest.png.

    perf/compare.py            # the full run, about 8 minutes on 2 cores
    perf/compare.py --quick    # about a minute, one repetition
    perf/compare.py --help     # everything else (filters, build dirs)
    perf/compare.py --variants femtomsg --transports tls+tcp,wss
                               # the TLS transports; wss runs only when named

Python 3 standard library only; the plot needs matplotlib (Debian:
python3-matplotlib) and is skipped with a warning without it.
"""
import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

POINT_TOOLS = ["local_lat", "remote_lat", "local_thr", "remote_thr", "inproc_lat", "inproc_thr"]
MULTI_TOOLS = ["pubsub_fanout", "reqrep_device"]
# Written against the nanomsg API only (femtomsg, nanomsg, NNG).
NN_ONLY_TOOLS = ["reqrep_lat"]

# Transports, data-driven: "inproc" runs the single-process tools, "pair"
# a bound local_* and a connecting remote_* process. {port} and {path} are
# filled per run. Adding a transport (ws, tls+tcp) is one entry here plus
# its name in the "transports" list of the variants that have it. "tls":
# the tools need certificates (made per run by tests/tls_certs.sh, they
# reach the tools via PERF_TLS_DIR). "default": False leaves it out of the
# matrix unless --transports names it.
TRANSPORTS = {
    "inproc": {"kind": "inproc", "url": "inproc://perf-{n}"},
    "ipc": {"kind": "pair", "url": "ipc://{path}"},
    "tcp": {"kind": "pair", "url": "tcp://127.0.0.1:{port}"},
    # femtomsg only (NNG's compat API has no TLS).
    "tls+tcp": {"kind": "pair", "url": "tls+tcp://127.0.0.1:{port}", "tls": True},
    # The three nanomsg-API libraries; Debian's ZeroMQ is built without ws.
    "ws": {"kind": "pair", "url": "ws://127.0.0.1:{port}"},
    # ws inside TLS: femtomsg only, as tls+tcp. Opt-in, so that the default
    # matrix (and its time) stays the one docs/PERFORMANCE.md describes.
    "wss": {"kind": "pair", "url": "wss://127.0.0.1:{port}", "tls": True, "default": False},
}

SIZES = [64, 1024, 65536, 1048576]


def variants(fm_build):
    """Every implementation: how to build it, what it must load, what it
    can run. 'lib' is a regular expression one mapped library path must
    match (None: no messaging library at all)."""
    fm_lib = os.path.realpath(fm_build)
    nn = os.path.join(HERE, "nn")
    return {
        "femtomsg": {
            "src": nn, "tools": POINT_TOOLS + MULTI_TOOLS + NN_ONLY_TOOLS,
            "cflags": ["-I" + os.path.join(ROOT, "include")],
            "libs": ["-L" + fm_lib, "-Wl,-rpath," + fm_lib, "-lnanomsg"],
            "lib": "^" + re.escape(fm_lib) + "/libnanomsg\\.so",
            "transports": ["inproc", "ipc", "tcp", "ws", "tls+tcp", "wss"],
            "tests": ["lat", "thr", "fanout", "device", "reqlat"],
        },
        "nanomsg": {
            "src": nn, "tools": POINT_TOOLS + MULTI_TOOLS + NN_ONLY_TOOLS,
            "cflags": ["-I/usr/include"],
            "libs": ["-lnanomsg"],
            "lib": "^/usr/lib/.*/libnanomsg\\.so",
            "transports": ["inproc", "ipc", "tcp", "ws"],
            "tests": ["lat", "thr", "fanout", "device", "reqlat"],
        },
        "nng": {
            # NNG's compatibility constants differ from nanomsg's: its own
            # headers must come first.
            "src": nn, "tools": POINT_TOOLS + MULTI_TOOLS + NN_ONLY_TOOLS,
            "cflags": ["-I/usr/include/nng/compat"],
            "libs": ["-lnng"],
            "lib": "^/usr/lib/.*/libnng\\.so",
            "transports": ["inproc", "ipc", "tcp", "ws"],
            "tests": ["lat", "thr", "fanout", "device", "reqlat"],
        },
        "zmq": {
            "src": os.path.join(HERE, "zmq"), "tools": POINT_TOOLS + MULTI_TOOLS,
            "cflags": [], "libs": ["-lzmq"],
            "lib": "^/usr/lib/.*/libzmq\\.so",
            "transports": ["inproc", "ipc", "tcp"],
            "tests": ["lat", "thr", "fanout", "device"],
        },
        "raw": {
            "src": os.path.join(HERE, "raw"), "tools": POINT_TOOLS,
            "cflags": [], "libs": [], "lib": None,
            "transports": ["inproc", "ipc", "tcp"],
            "tests": ["lat", "thr"],
        },
        "raw-batch": {
            # Only the sender differs (it gathers small messages into large
            # writes); there is nothing to batch in a latency test or in
            # memcpy between threads.
            "src": os.path.join(HERE, "raw"), "tools": POINT_TOOLS,
            "cflags": ["-DRAW_BATCH"], "libs": [], "lib": None,
            "transports": ["ipc", "tcp"],
            "tests": ["thr"],
        },
    }


PEERS = ["nanomsg", "nng"]

# Message counts: a first guess per test and size for the pilot run of each
# variant; the measured runs then scale it so that one run lasts about
# --target seconds whatever the implementation's speed.
PILOT = {
    "lat": {64: 300, 1024: 300, 65536: 100, 1048576: 20},
    "thr": {64: 20000, 1024: 10000, 65536: 500, 1048576: 40},
}
MIN_COUNT = {"lat": 20, "thr": 50}
FANOUT_SIZES = [64, 1024]
DEVICE_SIZES = [64, 1024]
# Several ws frames and several writes per message: what Nagle can stall.
REQLAT_SIZES = [3 << 20]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ build
def sh(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode != 0:
        log(" ".join(cmd))
        log(r.stdout)
        sys.exit("build failed")
    return r.stdout


def build_femtomsg(build_dir):
    """A Release build of the library alone, in a directory of its own."""
    d = os.path.join(build_dir, "femtomsg")
    # Warnings do not stop a measurement (the tree may be mid-change).
    sh(["cmake", "-S", ROOT, "-B", d, "-DCMAKE_BUILD_TYPE=Release", "-DFM_TESTS=OFF",
        "-DFM_WERROR=OFF"])
    sh(["cmake", "--build", d, "--target", "nanomsg", "-j2"])
    return d


def build_variant(name, v, out):
    os.makedirs(out, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    for tool in v["tools"]:
        src = os.path.join(v["src"], tool + ".c")
        exe = os.path.join(out, tool)
        sh([cc, "-O2", "-g", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra"] + v["cflags"]
           + ["-o", exe, src] + v["libs"] + ["-lpthread"])


def loaded_libs(exe):
    """The messaging libraries a binary maps at run time (from its own
    /proc/self/maps, see perf_print_lib in common.h)."""
    env = dict(os.environ, PERF_PRINT_LIB="1")
    r = subprocess.run([exe, "64", "10"], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    if r.returncode != 0:
        sys.exit("%s failed: %s" % (exe, r.stderr))
    return [l[5:] for l in r.stderr.splitlines() if l.startswith("lib: ")]


def check_variant(name, v, out):
    exe = os.path.join(out, "inproc_lat")
    libs = loaded_libs(exe)
    ldd = subprocess.run(["ldd", exe], stdout=subprocess.PIPE, text=True).stdout
    if v["lib"] is None:
        ok = not libs
    else:
        ok = len(libs) == 1 and re.search(v["lib"], libs[0]) is not None
    if not ok:
        sys.exit("%s: loads %s, expected %s" % (name, libs or "no library", v["lib"] or "none"))
    return {"loaded": libs, "ldd": [l.strip() for l in ldd.splitlines()
                                    if re.search("nanomsg|nng|zmq", l)]}


# -------------------------------------------------------------------- run
def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return max(int(f.read().split()[0]), 11000)
    except (OSError, ValueError, IndexError):
        return 32768


def kill_group(p):
    try:
        os.killpg(p.pid, 9)
    except OSError:
        pass
    p.communicate()


class Runner:
    def __init__(self, bindirs, tmp, timeout):
        self.bindirs = bindirs
        self.tmp = tmp
        self.timeout = timeout
        # Below Linux's ephemeral range (32768-60999 by default), where any
        # connecting socket on the machine may hold a port we would bind.
        self.port_lo, self.port_hi = 10000, ephemeral_low() - 1
        self.port = random.randint(self.port_lo, self.port_hi)
        self.n = 0

    def url(self, transport):
        self.n += 1
        self.port += 1
        if self.port > self.port_hi:
            self.port = self.port_lo
        return TRANSPORTS[transport]["url"].format(
            port=self.port, n=self.n, path=os.path.join(self.tmp, "p%d.ipc" % self.n))

    def exe(self, variant, tool):
        return os.path.join(self.bindirs[variant], tool)

    def run_one(self, cmd):
        """Run a tool in a process group of its own, so that the parts it
        forked go with it when it has to be killed."""
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        try:
            out, err = p.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            kill_group(p)
            raise RuntimeError("%s: timed out" % " ".join(cmd))
        if p.returncode != 0:
            kill_group(p)
            raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode, err.strip()))
        return out

    def run_pair(self, local, remote, reporter):
        """Start the binding side, then the connecting one; the reporter's
        output is the result. Either side failing ends the run at once; once
        the reporter is done, the other gets a short grace period and is
        then killed (a lost goodbye must not cost a second)."""
        lp = subprocess.Popen(local, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
        rp = subprocess.Popen(remote, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
        rep, other = (rp, lp) if reporter == "remote" else (lp, rp)
        deadline = time.monotonic() + self.timeout
        while rep.poll() is None:
            if other.poll() not in (None, 0) or time.monotonic() > deadline:
                why = "timed out" if other.returncode in (None, 0) else \
                    "exit %d: %s" % (other.returncode, other.stderr.read().strip())
                for p in (lp, rp):
                    kill_group(p)
                raise RuntimeError("%s: %s" % (" ".join(local), why))
            time.sleep(0.002)
        out, err = rep.communicate()
        try:
            other.communicate(timeout=2)
        except subprocess.TimeoutExpired:
            kill_group(other)
        if rep.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(local), rep.returncode, err.strip()))
        return out

    def point(self, variant, test, transport, size, count):
        """One latency or throughput run. Returns (value, seconds): one-way
        latency in us, or throughput in msg/s, and the measured time."""
        kind = TRANSPORTS[transport]["kind"]
        if kind == "inproc":
            out = self.run_one([self.exe(variant, "inproc_" + test), str(size), str(count)])
        else:
            url = self.url(transport)
            # Throughput of raw-batch: only its sender differs.
            local_variant = "raw" if variant == "raw-batch" else variant
            out = self.run_pair([self.exe(local_variant, "local_" + test), url, str(size), str(count)],
                                [self.exe(variant, "remote_" + test), url, str(size), str(count)],
                                "remote" if test == "lat" else "local")
        if test == "lat":
            us = float(re.search(r"average latency: ([0-9.]+)", out).group(1))
            return us, us * 2 * count / 1e6
        msgs = float(re.search(r"throughput: ([0-9.]+) \[msg/s\]", out).group(1))
        return msgs, count / max(msgs, 1e-9)

    def fanout(self, variant, transport, size, count, subs):
        """Deliveries per second across all subscribers, the run's length,
        and the share delivered and the publisher's rate."""
        out = self.run_one([self.exe(variant, "pubsub_fanout"), self.url(transport), str(size),
                            str(count), str(subs)])
        msgs = float(re.search(r"throughput: ([0-9.]+) \[msg/s\]", out).group(1))
        delivered = float(re.search(r"delivered: ([0-9.]+)", out).group(1))
        publish = float(re.search(r"publish rate: ([0-9.]+)", out).group(1))
        secs = max(count / max(publish, 1e-9), count * subs * delivered / 100 / max(msgs, 1e-9))
        return msgs, secs, {"delivered": delivered, "publish": publish}

    def reqlat(self, variant, transport, size, count):
        out = self.run_one([self.exe(variant, "reqrep_lat"), self.url(transport), str(size),
                            str(count)])
        us = float(re.search(r"average latency: ([0-9.]+)", out).group(1))
        slow = int(re.search(r"roundtrips over 5 ms: ([0-9]+)", out).group(1))
        return us, us * 2 * count / 1e6, {"over_5ms": slow, "roundtrips": count}

    def device(self, variant, transport, size, count):
        out = self.run_one([self.exe(variant, "reqrep_device"), self.url(transport),
                            self.url(transport), str(size), str(count)])
        us = float(re.search(r"average latency: ([0-9.]+)", out).group(1))
        return us, us * 2 * count / 1e6


def scaled(count, seconds, target, least):
    if seconds <= 0:
        return count * 10
    return max(least, min(int(count * target / seconds), count * 200))


def measure_cell(names, run, pilot, least, reps, target):
    """Pilot every variant, then `reps` measured rounds in which the
    variants take turns, in a rotating order. run(variant, count) returns
    (value, seconds, extra); the pilot's count is scaled so that each run
    lasts about `target` seconds whatever the implementation's speed."""
    counts, samples, errors = {}, {n: [] for n in names}, {}
    for n in names:
        try:
            _, secs, _ = run(n, pilot)
            counts[n] = scaled(pilot, secs, target, least)
        except Exception as e:  # noqa: BLE001 - a failing variant is reported, not fatal
            errors[n] = str(e)
            log("warning: %s: %s" % (n, e))
    live = [n for n in names if n in counts]
    for r in range(reps):
        order = live[r % len(live):] + live[:r % len(live)] if live else []
        for n in order:
            if n in errors:
                continue
            try:
                value, secs, extra = run(n, counts[n])
                samples[n].append((value, extra))
                counts[n] = scaled(counts[n], secs, target, least)
            except Exception as e:  # noqa: BLE001
                errors[n] = str(e)
    res = {}
    for n in names:
        if samples[n]:
            values = [v for v, _ in samples[n]]
            entry = {"median": statistics.median(values), "samples": values, "count": counts[n]}
            for key in samples[n][0][1]:
                entry[key] = statistics.median(x[key] for _, x in samples[n])
            if n in errors:
                entry["error_later"] = errors[n]  # kept: the runs before it
                log("warning: %s: %s" % (n, errors[n]))
            res[n] = entry
        elif n in errors:
            res[n] = {"error": errors[n]}
    return res


def point_cell(runner, names, test, transport, size, reps, target):
    def run(n, count):
        value, secs = runner.point(n, test, transport, size, count)
        return value, secs, {}
    res = measure_cell(names, run, PILOT[test][size], MIN_COUNT[test], reps, target)
    for e in res.values():
        if "median" in e:
            if test == "thr":
                e["msgs_per_s"] = e["median"]
                e["MBps"] = e["median"] * size / 1e6
            else:
                e["us"] = e["median"]
    return res


def speed(test, entry):
    """Bigger is better: msg/s, or 1/latency."""
    if not entry or "median" not in entry:
        return None
    return entry["median"] if test == "thr" else 1.0 / entry["median"]


def ratios(test, res):
    fm = speed(test, res.get("femtomsg"))
    out = {}
    if fm is None:
        return out
    peers = [speed(test, res.get(p)) for p in PEERS]
    peers = [p for p in peers if p]
    if peers:
        out["vs_best_peer"] = fm / max(peers)
    for key, other in (("vs_zmq", "zmq"), ("vs_raw", "raw"), ("vs_raw_batch", "raw-batch")):
        o = speed(test, res.get(other))
        if o:
            out[key] = fm / o
    return out


# ------------------------------------------------------------------ table
def fmt_size(s):
    return "%d MiB" % (s >> 20) if s >= 1 << 20 else "%d KiB" % (s >> 10) if s >= 1024 else "%d B" % s


def fmt_val(test, e):
    if not e:
        return "-"
    if "error" in e:
        return "FAIL"
    if test == "thr":
        mb = e["MBps"]
        return "%.0f" % mb if mb >= 100 else "%.1f" % mb if mb >= 1 else "%.2f" % mb
    return "%.1f" % e["median"] if e["median"] < 1000 else "%.0f" % e["median"]


def fmt_ratio(r):
    return "-" if r is None else "%.2f" % r


def table_rows(results, names):
    head = ["test", "transport", "size"] + names + ["fm msg/s", "fm/peer", "fm/zmq", "fm/raw",
                                                    "fm/batch"]
    rows = []
    for c in results["cells"]:
        res = c["results"]
        fm = res.get("femtomsg", {})
        r = c["ratios"]
        rows.append([("latency [us]" if c["test"] == "lat" else "thr [MB/s]"), c["transport"],
                     fmt_size(c["size"])]
                    + [fmt_val(c["test"], res.get(n)) for n in names]
                    + ["%.3gM" % (fm["msgs_per_s"] / 1e6) if "msgs_per_s" in fm else "-"]
                    + [fmt_ratio(r.get(k)) for k in ("vs_best_peer", "vs_zmq", "vs_raw",
                                                     "vs_raw_batch")])
    return head, rows


def multi_rows(results, names):
    head = ["test", "transport", "size"] + names + ["fm/peer", "fm/zmq"]
    rows = []
    for key, label in (("fanout", "fan-out 1:10 [kmsg/s]"), ("device", "req/rep device [us]"),
                       ("reqlat", "req/rep, Nagle on [us]")):
        for c in results.get(key, []):
            res = c["results"]
            vals = []
            for n in names:
                e = res.get(n)
                if not e:
                    vals.append("-")
                elif "error" in e:
                    vals.append("FAIL")
                elif key == "fanout":
                    vals.append("%.0f (%.0f%%)" % (e["median"] / 1e3, e["delivered"]))
                elif key == "reqlat":
                    vals.append("%.1f (%d of %d > 5 ms)" % (e["median"], e["over_5ms"], e["roundtrips"]))
                else:
                    vals.append("%.1f" % e["median"])
            r = c["ratios"]
            rows.append([label, c["transport"], fmt_size(c["size"])] + vals
                        + [fmt_ratio(r.get("vs_best_peer")), fmt_ratio(r.get("vs_zmq"))])
    return head, rows


def text_table(head, rows):
    w = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda r: "  ".join(str(x).rjust(w[i]) if i >= 3 else str(x).ljust(w[i])
                               for i, x in enumerate(r))
    return "\n".join([line(head), line(["-" * x for x in w])] + [line(r) for r in rows])


def md_table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|"]
    out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(out)


# ------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one repetition, short runs (~1 minute)")
    ap.add_argument("--reps", type=int, help="measured repetitions per cell (default 5, quick 1)")
    ap.add_argument("--target", type=float, help="seconds per run (default 0.25, quick 0.06)")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build", "perf-compare"),
                    help="where the variants are built (default build/perf-compare)")
    ap.add_argument("--fm-build", help="use this existing femtomsg build directory (holding "
                    "libnanomsg.so) instead of configuring one under --build-dir")
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=BUILD_DIR",
                    help="also run another femtomsg build (a patched tree, say) as variant NAME; "
                    "repeatable")
    ap.add_argument("--variants", help="comma-separated subset of: " + ",".join(variants(".")))
    ap.add_argument("--transports", help="comma-separated subset of: " + ",".join(TRANSPORTS)
                    + " (default: all but " + ",".join(
                        t for t, d in TRANSPORTS.items() if not d.get("default", True)) + ")")
    ap.add_argument("--sizes", help="comma-separated message sizes in bytes")
    ap.add_argument("--tests", default="lat,thr,fanout,device", help="default: %(default)s")
    ap.add_argument("--subscribers", type=int, default=10)
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results directory")
    ap.add_argument("--timeout", type=float, default=60, help="seconds before a run is failed")
    a = ap.parse_args()
    reps = a.reps or (1 if a.quick else 5)
    target = a.target or (0.06 if a.quick else 0.25)

    t_start = time.time()
    fm_build = a.fm_build or build_femtomsg(a.build_dir)
    vs = variants(fm_build)
    extras = []
    for spec in a.extra:
        name, _, d = spec.partition("=")
        if not name or not d or name in vs:
            sys.exit("--extra wants NAME=BUILD_DIR with a new name, not %r" % spec)
        lib = os.path.realpath(d)
        vs[name] = dict(vs["femtomsg"], libs=["-L" + lib, "-Wl,-rpath," + lib, "-lnanomsg"],
                        lib="^" + re.escape(lib) + "/libnanomsg\\.so")
        extras.append(name)
    default = ["femtomsg"] + extras + [n for n in vs if n != "femtomsg" and n not in extras]
    names = [n for n in (a.variants.split(",") if a.variants else default) if n]
    for n in names:
        if n not in vs:
            sys.exit("unknown variant %s" % n)
    if "raw-batch" in names and "raw" not in names:
        names.append("raw")  # its receiver
    transports = a.transports.split(",") if a.transports else \
        [t for t, d in TRANSPORTS.items() if d.get("default", True)]
    for tp in transports:
        if tp not in TRANSPORTS:
            sys.exit("unknown transport %s" % tp)
    sizes = [int(s) for s in a.sizes.split(",")] if a.sizes else SIZES
    tests = a.tests.split(",")

    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
            "cpu": cpu_model(), "loadavg_start": os.getloadavg(), "reps": reps,
            "target_s": target, "quick": a.quick, "git": git_rev(), "variants": {}}
    bindirs = {}
    for n in names:
        out = os.path.join(a.build_dir, "bin", n)
        log("build %-10s -> %s" % (n, out))
        build_variant(n, vs[n], out)
        meta["variants"][n] = check_variant(n, vs[n], out)
        bindirs[n] = out
        log("      loads %s" % (meta["variants"][n]["loaded"] or ["no messaging library"]))

    tmp = tempfile.mkdtemp(prefix="fmperf-")
    if any(TRANSPORTS[tp].get("tls") for tp in transports):
        tls_dir = os.path.join(tmp, "tls")
        sh(["sh", os.path.join(ROOT, "tests", "tls_certs.sh"), tls_dir])
        os.environ["PERF_TLS_DIR"] = tls_dir
    runner = Runner(bindirs, tmp, a.timeout)
    results = {"meta": meta, "cells": [], "fanout": [], "device": [], "reqlat": []}
    try:
        for test in [t for t in ("lat", "thr") if t in tests]:
            for tp in transports:
                for size in sizes:
                    cell_names = [n for n in names if test in vs[n]["tests"]
                                  and tp in vs[n]["transports"]]
                    if not cell_names:
                        continue
                    res = point_cell(runner, cell_names, test, tp, size, reps, target)
                    cell = {"test": test, "transport": tp, "size": size, "results": res,
                            "ratios": ratios(test, res)}
                    results["cells"].append(cell)
                    log("%s %-6s %7s  %s" % (test, tp, fmt_size(size), "  ".join(
                        "%s=%s" % (n, fmt_val(test, res.get(n))) for n in cell_names)))
        multi(runner, vs, names, transports, tests, reps, a, target, results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    meta["loadavg_end"] = os.getloadavg()
    meta["seconds"] = round(time.time() - t_start, 1)

    shown = [n for n in names]
    head, rows = table_rows(results, shown)
    mhead, mrows = multi_rows(results, [n for n in shown if not n.startswith("raw")])
    if rows:
        print()
        print(text_table(head, rows))
    if mrows:
        print()
        print(text_table(mhead, mrows))
    print("\nratios: femtomsg's speed over the other's (>1: femtomsg faster; for latency "
          "the inverse ratio of latencies). peer = best of nanomsg and NNG; batch = raw-batch.")
    print("run took %.0f s, load average %.2f at start, %.2f at end" %
          (meta["seconds"], meta["loadavg_start"][0], meta["loadavg_end"][0]))

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "latest.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(a.out, "latest.md"), "w") as f:
        f.write("Measured %s on %s (%d CPUs, %s), %d repetition(s), medians.\n\n"
                % (meta["date"], meta["cpu"], meta["cpus"], meta["kernel"], reps))
        if rows:
            f.write(md_table(head, rows) + "\n")
        if mrows:
            f.write("\n" + md_table(mhead, mrows) + "\n")
    plot(os.path.join(a.out, "latest.json"), os.path.join(a.out, "latest.png"))
    log("wrote %s/latest.{json,md,png}" % a.out)


def multi(runner, vs, names, transports, tests, reps, a, target, results):
    """Fan-out and device cells, measured like the others. Their runs also
    spawn the parts (threads or processes), a fixed cost the count scaling
    does not see, so they get a longer target."""
    for key, sizes in (("fanout", FANOUT_SIZES), ("device", DEVICE_SIZES), ("reqlat", REQLAT_SIZES)):
        if key not in tests:
            continue
        for tp in transports:
            for size in sizes:
                cell_names = [n for n in names if key in vs[n]["tests"] and tp in vs[n]["transports"]]
                if not cell_names:
                    continue
                if key == "fanout":
                    def run(n, count, tp=tp, size=size):
                        return runner.fanout(n, tp, size, count, a.subscribers)
                    res = measure_cell(cell_names, run, 1000, 200, reps, target * 2)
                elif key == "reqlat":
                    def run(n, count, tp=tp, size=size):
                        return runner.reqlat(n, tp, size, count)
                    res = measure_cell(cell_names, run, 20, 50, reps, target * 4)
                else:
                    def run(n, count, tp=tp, size=size):
                        us, secs = runner.device(n, tp, size, count)
                        return us, secs, {}
                    res = measure_cell(cell_names, run, 200, 50, reps, target * 2)
                test = "thr" if key == "fanout" else "lat"
                results[key].append({"test": key, "transport": tp, "size": size, "results": res,
                                     "ratios": ratios(test, res)})
                log("%s %-6s %7s  %s" % (key, tp, fmt_size(size), "  ".join(
                    "%s=%s" % (n, "%.4g" % res[n]["median"] if "median" in res.get(n, {}) else "FAIL")
                    for n in cell_names)))


def plot(json_path, png_path):
    try:
        sys.path.insert(0, HERE)
        sys.dont_write_bytecode = True  # no __pycache__ in the source tree
        import plot as plotmod
        plotmod.plot(json_path, png_path)
        return
    except ImportError as e:
        if "matplotlib" not in str(e):
            raise
    # This interpreter lacks matplotlib; Debian's may have it.
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != \
            os.path.realpath("/usr/bin/python3"):
        r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "plot.py"), json_path, png_path])
        if r.returncode == 0:
            return
    log("warning: no matplotlib (Debian: apt-get install python3-matplotlib): no plot written")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def git_rev():
    try:
        r = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return r.stdout.strip()
    except OSError:
        return ""


if __name__ == "__main__":
    main()
