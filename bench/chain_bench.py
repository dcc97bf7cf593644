#!/usr/bin/python3
"""Data objects and chains (docs/chains.md): what handing a function's output to the next
function costs, against copying it between two processes, and what a chain costs against
calling its functions one by one, with the goals of the issue checked.

- hand-over: one message from a producer function to a consumer function, 1 KiB to 1 GiB
  (powers of 4), measured from the producer's return to the consumer's entry. The
  producer (bench/chain_fns.c, ROLE=producer) fills a cit_output() buffer of the size
  asked and, last thing before it returns, writes CLOCK_MONOTONIC into its first 8 bytes;
  the consumer (ROLE=consumer) reads the clock first thing and answers entry - stamp. They
  are the chain `handover` (producer, consumer), called through the local API by
  bench/chain_client.c. Beside it, in the same run, size by size in alternating rounds:
  two plain processes copying the same bytes through a pipe (1 MiB, the largest the
  system allows) and through loopback TCP (bench/copy_peer.c: the writer fills its buffer,
  stamps, writes; the reader's time ends when the last byte is in its buffer).
- sealing: what the runtime does to the producer's buffer after the handler returns
  (munmap, then F_ADD_SEALS and fstat; src/zygote/trustlet.c), timed on its own by
  bench/copy_peer.c seal, per size; reported per MiB, and subtracted from the hand-over
  (hand-over minus sealing). Beside it, apart: the close that frees an object's pages.
- sealing aside: the same chain with a sparse output (only its first page written, so that
  unmapping and sealing it cost one page's worth, the rest of the path unchanged), at every
  size, and at 4 KiB and 1 GiB in alternating batches for the goal.
- the monitor's loop: CPU time of its main thread per call (se.sum_exec_runtime), which
  shows work it does per byte (freeing an object's pages at its last close).
- chains: chains of 1, 2, 4, 8 and 16 steps of one function (ROLE=hop: a cit_output()
  buffer of its 16 KiB input's size, the input copied into it), each called with 16 KiB,
  against one warm invocation of the same function with the same 16 KiB, from the same
  client on one connection (bench/chain_client.c); chain(n) against n warm invocations.

Goals (the issue), each reported met or not: the hand-over, sealing aside, flat in size (at
most 2x between 4 KiB and 1 GiB); at least 27x lower than loopback TCP at 16 MiB, sealing
included; a 16-step chain within 16 warm invocations plus 10%.

Medians, and the ratios of medians, of one run; the processes are free to run on either
CPU, as users get them. Writes bench/results/chains.json and chains.png (with
matplotlib). As root; about 3 minutes (--quick: about 1.5).
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from python_bench import Monitor as BenchMonitor  # this directory is on sys.path when run as a script
from sandbox_bench import save_results

# The monitor measured here serves no HTTP.
os.environ["CITADEL_LISTEN"] = "none"

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUILD = Path(os.environ.get("CITADEL_BUILD", ROOT / "build"))
CITADEL = BUILD / "citadel"
RESULTS = BENCH / "results"

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
SIZES = [KIB << (2 * i) for i in range(11)]  # 1 KiB, 4 KiB, ... 1 GiB
HOPS = [1, 2, 4, 8, 16]
HOP_BYTES = 16 * KIB
QUIET_S = 0.2  # before each batch of calls: what the one before left running in the background settles
GOALS = {"flat_ratio_max": 2.0, "tcp_ratio_min": 27.0, "chain16_over_16_invokes_max": 1.10}
# The function's resources: room for a 1 GiB output, held by the monitor while it is handed on.
BIG = ["--memory", "3G", "--output-limit", "1G", "--object-quota", "2G", "--timeout", "60s"]


def size_name(n):
    return f"{n // GIB}G" if n >= GIB else f"{n // MIB}M" if n >= MIB else f"{n // KIB}K"


def reps_of(size, quick):
    """(rounds, repetitions per round) at a size: fewer for big sizes, each of which
    fills, copies and frees up to 2 GiB."""
    if quick:
        return (1, 3)
    return (3, 15) if size <= 256 * KIB else (3, 10) if size <= 4 * MIB else (3, 7) if size <= 16 * MIB \
        else (3, 4) if size <= 64 * MIB else (2, 3)


def run(cmd, timeout):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {r.stderr.strip()}")
    return r.stdout


def compile_tools(work):
    """bench/chain_fns.c as a function, chain_client and copy_peer as programs, in work."""
    out = {"fns": Path(work) / "chain_fns.so", "client": Path(work) / "chain_client",
           "peer": Path(work) / "copy_peer"}
    run(["gcc", "-shared", "-fPIC", "-O2", "-I", ROOT / "include", "-o", out["fns"], BENCH / "chain_fns.c"], 120)
    run(["gcc", "-O2", "-D_GNU_SOURCE", "-I", ROOT / "src", "-o", out["client"], BENCH / "chain_client.c",
         *(ROOT / "src" / f for f in ("proto/proto.c", "spec/chain.c", "objects/objects.c", "spec/spec.c",
                                       "common/error.c", "common/fdutil.c"))], 120)
    run(["gcc", "-O2", "-o", out["peer"], BENCH / "copy_peer.c"], 120)
    return out


class Monitor(BenchMonitor):
    """python_bench's monitor (`citadel serve --listen none` on a socket and state directory
    of its own under the run's temporary directory, stopped by its pid), and the CPU time
    of its event loop."""

    def loop_cpu_ns(self):
        """CPU time of the monitor's main thread (its event loop), in ns."""
        for line in open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/sched"):
            if line.startswith("se.sum_exec_runtime"):
                return float(line.split(":")[1]) * 1e6
        return 0.0


def client(m, tools, kind, name, reps, *args, timeout=300):
    """chain_client's lines: [(latency µs, the answer's text)]."""
    out = run([tools["client"], m.sock, kind, name, reps, *args], timeout)
    return [(float(l.split(" ", 1)[0]), l.split(" ", 1)[1] if " " in l else "") for l in out.splitlines()]


def peer(tools, mode, size, reps):
    return json.loads(run([tools["peer"], mode, size, reps], 300))


def med(xs):
    return statistics.median(xs) if xs else None


def handover(m, tools, sizes, quick):
    """Per size, in alternating rounds: the chain producer -> consumer with a filled output
    and with a sparse one (sealing's per-page cost left out), a pipe, loopback TCP and the
    seal alone. Medians of every repetition of the size (µs)."""
    m.cli("deploy", "producer", tools["fns"], "--env", "ROLE=producer", "--min-instances", "1", *BIG)
    m.cli("deploy", "consumer", tools["fns"], "--env", "ROLE=consumer", "--min-instances", "1", *BIG)
    m.cli("chain", "create", "handover", "producer", "consumer")
    out = {}
    for size in sizes:
        rounds, reps = reps_of(size, quick)
        print(f"  {size_name(size):>4}: {rounds} x {reps} ...", flush=True)
        for text in (str(size), f"{size} sparse"):  # warm up: not kept
            client(m, tools, "chain", "handover", 1, "--text", text)
        s = {k: [] for k in ("citadel", "sparse", "touch", "end_to_end", "pipe", "tcp", "seal", "unmap", "seals",
                             "free")}
        loop_ns = {"filled": 0.0, "sparse": 0.0}
        pipe_bytes = None
        sparse_reps = max(reps, 3 if quick else 10)  # cheap: nothing to fill or free
        for _ in range(rounds):
            for kind, text, n in (("filled", str(size), reps), ("sparse", f"{size} sparse", sparse_reps)):
                time.sleep(QUIET_S)
                before = m.loop_cpu_ns()
                for lat, answer in client(m, tools, "chain", "handover", n, "--text", text):
                    h, touch, got = (int(x) for x in answer.split())
                    if got != size:
                        raise RuntimeError(f"the consumer got {got} bytes, not {size}")
                    if kind == "sparse":
                        s["sparse"].append(h / 1000)
                        continue
                    s["citadel"].append(h / 1000)
                    s["touch"].append(touch / 1000)
                    s["end_to_end"].append(lat)
                loop_ns[kind] += m.loop_cpu_ns() - before
            p = peer(tools, "pipe", size, reps)
            pipe_bytes = p.get("pipe_bytes")
            s["pipe"] += [x / 1000 for x in p["ns"]]
            s["tcp"] += [x / 1000 for x in peer(tools, "tcp", size, reps)["ns"]]
            q = peer(tools, "seal", size, reps)
            for k, key in (("seal", "ns"), ("unmap", "unmap_ns"), ("seals", "seals_ns"), ("free", "free_ns")):
                s[k] += [x / 1000 for x in q[key]]
        r = {f"{k}_us": med(v) for k, v in s.items()}
        r["citadel_minus_seal_us"] = r["citadel_us"] - r["seal_us"]
        r["citadel_minus_sparse_us"] = r["citadel_us"] - r["sparse_us"]
        r["citadel_us_all"] = [round(x, 1) for x in s["citadel"]]
        r["sparse_us_all"] = [round(x, 1) for x in s["sparse"]]
        r["seal_us_all"] = [round(x, 1) for x in s["seal"]]
        r["tcp_over_citadel"] = r["tcp_us"] / r["citadel_us"]
        r["pipe_over_citadel"] = r["pipe_us"] / r["citadel_us"]
        r["seal_us_per_mib"] = r["seal_us"] / (size / MIB)
        r["monitor_loop_cpu_us_per_call"] = loop_ns["filled"] / 1000 / (rounds * reps)
        r["monitor_loop_cpu_us_per_call_sparse"] = loop_ns["sparse"] / 1000 / (rounds * sparse_reps)
        r["reps"] = rounds * reps
        r["pipe_bytes"] = pipe_bytes
        out[str(size)] = r
    return out


def flat(m, tools, small, big, quick):
    """The hand-over, sealing aside (sparse outputs), at the smallest and the largest size in
    alternating batches of the same window, so that the machine's changing load falls on
    both alike: medians, their ratio, and the ratio per round."""
    rounds, reps = (2, 5) if quick else (6, 20)
    got = {small: [], big: []}
    per_round = []
    for _ in range(rounds):
        meds = {}
        for size in (small, big):
            time.sleep(QUIET_S)
            xs = [int(a.split()[0]) / 1000 for _, a in client(m, tools, "chain", "handover", reps, "--text",
                                                               f"{size} sparse")]
            got[size] += xs
            meds[size] = med(xs)
        per_round.append(round(meds[big] / meds[small], 2))
    a, b = med(got[small]), med(got[big])
    return {"small": small, "big": big, "small_us": a, "big_us": b, "ratio": b / a, "ratio_per_round": per_round,
            "rounds": rounds, "reps_per_round": reps}


def chains(m, tools, quick):
    """chain(n) of the hop function, n = 1..16, and single warm invocations of it, 16 KiB
    each, from one client on one connection per batch, in alternating rounds (µs); beside
    them, for reference, warm invocations of `copy`, which answers the same bytes with
    cit_respond() (inline, no data object)."""
    m.cli("deploy", "hop", tools["fns"], "--env", "ROLE=hop", "--min-instances", "2")
    m.cli("deploy", "copy", tools["fns"], "--env", "ROLE=copy", "--min-instances", "2")
    for n in HOPS:
        m.cli("chain", "create", f"hops{n}", *(["hop"] * n))
    rounds = 2 if quick else 5
    reps = {"invoke": 200, "copy": 200, 1: 200, 2: 150, 4: 100, 8: 60, 16: 40}
    if quick:
        reps = {k: max(10, v // 10) for k, v in reps.items()}
    args = ["--bytes", HOP_BYTES, "--expect", HOP_BYTES]

    def batch(k, n):
        kind, name = ("invoke", "hop") if k == "invoke" else ("invoke", "copy") if k == "copy" else ("chain", f"hops{k}")
        return [x for x, _ in client(m, tools, kind, name, n, *args)]

    for k in reps:  # warm up
        batch(k, 10)
    lat = {k: [] for k in reps}
    per_round = {k: [] for k in reps}
    loop_ns = {k: 0.0 for k in reps}
    for _ in range(rounds):
        for k in reps:
            before = m.loop_cpu_ns()
            xs = batch(k, reps[k])
            loop_ns[k] += m.loop_cpu_ns() - before
            lat[k] += xs
            per_round[k].append(med(xs))
    inv = med(lat["invoke"])
    out = {"bytes_per_hop": HOP_BYTES, "rounds": rounds, "reps_per_round": {str(k): v for k, v in reps.items()},
           "invoke_p50_us": inv, "invoke_p50_us_per_round": [round(x, 1) for x in per_round["invoke"]],
           "invoke_monitor_loop_cpu_us": loop_ns["invoke"] / 1000 / (rounds * reps["invoke"]),
           "copy_invoke_p50_us": med(lat["copy"]), "copy_invoke_p50_us_per_round": [round(x, 1) for x in per_round["copy"]],
           "copy_monitor_loop_cpu_us": loop_ns["copy"] / 1000 / (rounds * reps["copy"]),
           "chains": {}}
    for n in HOPS:
        c = med(lat[n])
        out["chains"][str(n)] = {
            "p50_us": c, "p50_us_per_round": [round(x, 1) for x in per_round[n]],
            "n_invokes_us": n * inv, "ratio_to_n_invokes": c / (n * inv),
            "ratio_to_n_invokes_per_round": [round(a / (n * b), 3) for a, b in zip(per_round[n], per_round["invoke"])],
            "monitor_loop_cpu_us": loop_ns[n] / 1000 / (rounds * reps[n])}
    c1, c16 = out["chains"]["1"]["p50_us"], out["chains"]["16"]["p50_us"]
    out["per_added_hop_us"] = (c16 - c1) / 15
    return out


def goals(res):
    h, c = res["handover"], res["chains"]
    g = {}
    f = res["flat"]
    a, b = h[str(f["small"])], h[str(f["big"])]
    g["flat"] = {"goal": f"hand-over, sealing aside, at {size_name(f['big'])} at most {GOALS['flat_ratio_max']:.0f}x "
                         f"that at {size_name(f['small'])}",
                 "how": "sparse outputs (the same object size, sealing's per-page cost left out), the two sizes in "
                        "alternating batches",
                 "small_us": f["small_us"], "big_us": f["big_us"], "measured_ratio": f["ratio"],
                 "ratio_per_round": f["ratio_per_round"], "met": f["ratio"] <= GOALS["flat_ratio_max"],
                 "by_subtraction": {"small_us": a["citadel_minus_seal_us"], "big_us": b["citadel_minus_seal_us"],
                                    "note": "hand-over median minus the separate seal median: where sealing is most "
                                            "of the hand-over, the difference is below the noise of either"}}
    if str(16 * MIB) in h:
        x = h[str(16 * MIB)]
        g["tcp_16m"] = {"goal": f"hand-over (sealing included) at least {GOALS['tcp_ratio_min']:.0f}x lower than "
                                "loopback TCP at 16 MiB", "citadel_us": x["citadel_us"], "tcp_us": x["tcp_us"],
                        "measured_ratio": x["tcp_over_citadel"], "met": x["tcp_over_citadel"] >= GOALS["tcp_ratio_min"]}
    x = c["chains"]["16"]
    g["chain16"] = {"goal": "a 16-step chain within 16 warm invocations plus 10%", "chain16_us": x["p50_us"],
                    "sixteen_invokes_us": x["n_invokes_us"], "measured_ratio": x["ratio_to_n_invokes"],
                    "met": x["ratio_to_n_invokes"] <= GOALS["chain16_over_16_invokes_max"]}
    return g


def report(res):
    h, c = res["handover"], res["chains"]
    print("hand-over of one message, the producer's return to the consumer's entry (medians, µs):")
    print(f"{'size':>5} {'citadel':>9} {'sparse':>8} {'sealing':>9} {'cit-seal':>9} {'pipe':>10} {'TCP':>10} "
          f"{'TCP/cit':>8} {'pipe/cit':>8} {'touch':>9} {'end2end':>10} {'loop':>8} {'loop sp':>8}")
    for k, r in h.items():
        print(f"{size_name(int(k)):>5} {r['citadel_us']:>9.1f} {r['sparse_us']:>8.1f} {r['seal_us']:>9.1f} "
              f"{r['citadel_minus_seal_us']:>9.1f} {r['pipe_us']:>10.1f} {r['tcp_us']:>10.1f} "
              f"{r['tcp_over_citadel']:>7.2f}x {r['pipe_over_citadel']:>7.2f}x {r['touch_us']:>9.1f} "
              f"{r['end_to_end_us']:>10.1f} {r['monitor_loop_cpu_us_per_call']:>8.1f} "
              f"{r['monitor_loop_cpu_us_per_call_sparse']:>8.1f}")
    print("  citadel: a filled output; sparse: an output of that size with only its first page written (unmapping\n"
          "  and sealing cost what one page costs: the hand-over, sealing aside); sealing: munmap + F_ADD_SEALS timed\n"
          "  alone; cit-seal: citadel minus sealing (medians); touch: the consumer then reading one byte of every\n"
          "  page; end2end: the chain call at the client, the producer's fill included; loop, loop sp: CPU of the\n"
          "  monitor's main thread (its event loop) per call, filled and sparse")
    big = [k for k in h if int(k) >= 16 * MIB]
    if big:
        k = big[-1]
        r = h[k]
        mib = int(k) / MIB
        print(f"sealing: {r['seal_us_per_mib']:.0f} µs per MiB at {size_name(int(k))} (munmap {r['unmap_us'] / mib:.0f} "
              f"+ F_ADD_SEALS {r['seals_us'] / mib:.1f} µs/MiB)"
              + "".join(f"; {size_name(int(x))} {h[x]['seal_us_per_mib']:.0f}" for x in big[:-1])
              + f"; in the hand-over (citadel - sparse) {r['citadel_minus_sparse_us'] / mib:.0f} µs/MiB at "
              f"{size_name(int(k))}; freeing an object's pages (its last close) {r['free_us'] / mib:.0f} µs per MiB")
    print(f"chains of 16 KiB steps (medians, µs): one warm invocation {c['invoke_p50_us']:.1f} "
          f"(the same bytes answered inline with cit_respond: {c['copy_invoke_p50_us']:.1f}); "
          f"monitor loop CPU per call {c['invoke_monitor_loop_cpu_us']:.1f} (inline {c['copy_monitor_loop_cpu_us']:.1f})")
    for n, x in c["chains"].items():
        print(f"  {n:>2} steps {x['p50_us']:>9.1f}   {n:>2} invocations {x['n_invokes_us']:>9.1f}   "
              f"ratio {x['ratio_to_n_invokes']:.2f} (rounds {x['ratio_to_n_invokes_per_round']}), "
              f"loop CPU {x['monitor_loop_cpu_us']:.0f}")
    print(f"  each added step {c['per_added_hop_us']:.1f} µs")
    print("goals:")
    for g in res["goals"].values():
        print(f"  {'PASS' if g['met'] else 'FAIL'}  {g['goal']}: {g['measured_ratio']:.2f}x")
    f = res["goals"]["flat"]
    b = f["by_subtraction"]
    print(f"        sparse hand-over {f['small_us']:.1f} µs against {f['big_us']:.1f} µs, per round "
          f"{f['ratio_per_round']}; by subtraction (hand-over minus the separate seal) {b['small_us']:.1f} µs "
          f"against {b['big_us']:.1f} µs, below the noise where sealing dominates")


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 3, figsize=(19, 6.5))
    h, c = res["handover"], res["chains"]
    xs = [int(k) for k in h]
    for key, label, style in (("citadel_us", "citadel: producer's return to consumer's entry", "o-C0"),
                              ("sparse_us", "citadel, sealing aside (sparse output)", "o--C0"),
                              ("citadel_minus_seal_us", "citadel minus sealing (subtracted)", ".:C0"),
                              ("pipe_us", "pipe copy (1 MiB pipe)", "s-C7"),
                              ("tcp_us", "loopback TCP", "^-C3"),
                              ("seal_us", "sealing alone (munmap + F_ADD_SEALS)", "x:C1")):
        vals = [h[str(x)][key] for x in xs]
        ax[0].plot([x for x, v in zip(xs, vals) if v > 0], [v for v in vals if v > 0], style, label=label)
    ax[0].set_xscale("log", base=2)
    ax[0].set_yscale("log")
    ax[0].set_xticks(xs, [size_name(x) for x in xs])
    ax[0].set_xlabel("message size")
    ax[0].set_title("hand-over of one message, median (µs, log-log)")
    ax[0].legend(fontsize=8)
    for key, label, style in (("seal_us", "munmap + seals (the runtime's step)", "o-C1"),
                              ("unmap_us", "munmap of the filled mapping", "s--C1"),
                              ("seals_us", "fcntl(F_ADD_SEALS)", "^:C1"),
                              ("free_us", "freeing the pages (last close)", "x-C5")):
        ax[1].plot(xs, [h[str(x)][key] for x in xs], style, label=label)
    ax[1].set_xscale("log", base=2)
    ax[1].set_yscale("log")
    ax[1].set_xticks(xs, [size_name(x) for x in xs])
    ax[1].set_xlabel("object size")
    big = str(xs[-1])
    ax[1].set_title(f"sealing a memfd, median (µs): {h[big]['seal_us_per_mib']:.0f} µs per MiB at {size_name(xs[-1])}")
    ax[1].legend(fontsize=8)
    ns = [int(n) for n in c["chains"]]
    ax[2].plot(ns, [c["chains"][str(n)]["p50_us"] for n in ns], "o-C0", label="chain of n steps")
    ax[2].plot(ns, [n * c["invoke_p50_us"] for n in ns], "s--C7", label="n warm invocations")
    ax[2].plot(ns, [n * c["copy_invoke_p50_us"] for n in ns], ":C7", label="n warm invocations answering inline")
    ax[2].hlines(16 * c["invoke_p50_us"] * GOALS["chain16_over_16_invokes_max"], 12, 16.5, colors="r",
                 linestyles="--", label="goal at 16 steps: 16 invocations + 10%")
    ax[2].set_xticks(ns)
    ax[2].set_xlabel("steps (16 KiB each)")
    ax[2].set_ylabel("µs")
    ax[2].set_title("chain latency vs 16 KiB steps, median (µs)")
    ax[2].legend(fontsize=8)
    lines = [f"{'PASS' if g['met'] else 'FAIL'}: {g['goal']} ({g['measured_ratio']:.2f}x)" for g in res["goals"].values()]
    fig.text(0.01, 0.01, "   |   ".join(lines), fontsize=9, family="monospace")
    fig.suptitle(f"Citadel data objects and chains, {res['meta']['date']} ({res['meta']['cpus']} CPUs)")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=100)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a smoke run: 3 repetitions per size, fewer chain calls")
    ap.add_argument("--max-size", default="1G", help="the largest message (default 1G; K, M or G)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("chain_bench: run as root (the monitor makes sandboxes)")
    top = int(args.max_size[:-1]) * {"K": KIB, "M": MIB, "G": GIB}[args.max_size[-1].upper()]
    sizes = [s for s in SIZES if s <= top]
    res = {"meta": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "cpus": os.cpu_count(), "kernel": os.uname().release, "build": str(BUILD),
                    "command": "/usr/bin/python3 bench/chain_bench.py" + (" --quick" if args.quick else "")
                    + (f" --max-size {args.max_size}" if args.max_size != "1G" else ""),
                    "function_options": " ".join(BIG)}}
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="citadel-chainbench-") as work:
        tools = compile_tools(work)
        m = Monitor(work, "monitor")
        try:
            print("hand-over, 1 KiB to 1 GiB, against a pipe and loopback TCP ...", flush=True)
            res["handover"] = handover(m, tools, sizes, args.quick)
            print(f"hand-over, sealing aside: {size_name(4 * KIB)} and {size_name(sizes[-1])} in turns ...", flush=True)
            res["flat"] = flat(m, tools, 4 * KIB, sizes[-1], args.quick)
            print("chains of 1 to 16 steps against warm invocations ...", flush=True)
            res["chains"] = chains(m, tools, args.quick)
        except Exception:
            log = Path(work) / "monitor" / "monitor.log"
            print(f"(the monitor's log ends: {log.read_text(errors='replace')[-1500:]})", file=sys.stderr)
            raise
        finally:
            m.stop()
    res["goals"] = goals(res)
    res["meta"]["wall_seconds"] = round(time.monotonic() - t0, 1)
    print()
    save_results(res, "chains", plot)
    report(res)
    print(f"\nwritten: {RESULTS / 'chains.json'}, {RESULTS / 'chains.png'} ({res['meta']['wall_seconds']} s)")


if __name__ == "__main__":
    main()
