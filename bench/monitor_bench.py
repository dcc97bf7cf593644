#!/usr/bin/python3
"""The monitor's figures next to their floors and alternatives, in one run.

- warm: invoke round trip through the local API (bench/invoke_load.c, a caller that speaks
  the protocol like a gateway would) against the floor of any design with a separate
  process: a bare request/response over a socketpair (bench/pingpong.c). Measured with
  the processes free to run on either CPU, and pinned to one (cross-CPU wake-ups cost
  ~50 µs on these machines, same-CPU ones ~5 µs).
- throughput: no-op invocations per second with N concurrent callers.
- lukewarm: a fresh trustlet forked from the template and confined (SPAWN to HELLO, as the
  monitor times it) against a bare fork of a process of the template's resident size
  (bench/forkbench.c); and a call served by a never-used, pre-forked trustlet (--fresh,
  from the pool).
- density: 1,000 and then 10,000 idle trustlets (unique memory: USS + page tables, and the
  machine's used memory per trustlet) against 1,000 sleeping bubblewrap sandboxes.
- trusted base: lines of C inside the monitor process (bench/tcb.sh).
Writes bench/results/monitor.json and monitor.png.
"""
import argparse
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandbox_bench import children, tree  # this directory is on sys.path when run as a script

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUILD = Path(os.environ.get("CITADEL_BUILD", ROOT / "build"))
CITADEL = BUILD / "citadel"
RESULTS = BENCH / "results"


def run_json(cmd, timeout=120):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd}: {r.stderr.strip()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


class Monitor:
    def __init__(self, work, pin=None):
        self.state, self.sock = f"{work}/state", f"{work}/sock"
        shutil.rmtree(self.state, ignore_errors=True)
        prefix = ["taskset", "-c", str(pin)] if pin is not None else []
        self.log = open(f"{work}/monitor.log", "ab")
        self.proc = subprocess.Popen(prefix + [str(CITADEL), "serve", "--state-dir", self.state,
                                               "--socket", self.sock], stderr=self.log)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the monitor did not start")
            time.sleep(0.02)

    def cli(self, *args, timeout=120):
        r = subprocess.run([str(CITADEL), *args], capture_output=True, text=True, timeout=timeout,
                           env={"PATH": os.environ["PATH"], "CITADEL_SOCKET": self.sock})
        if r.returncode != 0:
            raise RuntimeError(f"citadel {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def deploy(self, name, example, *opts):
        self.cli("deploy", name, str(BUILD / "examples" / f"{example}.so"), *opts)

    def info(self, name):
        return {f["name"]: f for f in json.loads(self.cli("ls", "--json"))}[name]

    def load(self, fn, callers, seconds, pin=None, pause_us=0):
        prefix = ["taskset", "-c", str(pin)] if pin is not None else []
        return run_json(prefix + [str(BUILD / "invoke_load"), self.sock, fn, str(callers), str(seconds), "0",
                                  str(pause_us)])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.log.close()


def unique_kib(pid):
    """USS (private clean + dirty) plus page tables of one process, in KiB."""
    uss = pte = 0
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith(("Private_Clean:", "Private_Dirty:", "Private_Hugetlb:")):
                uss += int(line.split()[1])
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmPTE:"):
                pte = int(line.split()[1])
    except OSError:
        return None
    return uss + pte


def used_kib():
    m = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/meminfo")}
    return m["MemTotal"] - m["MemAvailable"]


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def warm(work, rounds, seconds):
    """Citadel and the socketpair floor take turns, round after round, so that the machine's
    changing load falls on both alike; medians of the rounds."""
    out = {}
    for label, pin in (("any_cpu", None), ("one_cpu", 0)):
        m = Monitor(work, pin)
        prefix = ["taskset", "-c", "0"] if pin is not None else []
        try:
            m.deploy("noop", "echo", "--max-instances", "64", "--min-instances", "2")
            m.load("noop", 1, 0.5, pin)  # warm up
            runs, floor = [], []
            for _ in range(rounds):
                runs.append(m.load("noop", 1, seconds, pin))
                floor.append(run_json(prefix + [str(BUILD / "pingpong"), str(seconds)]))
            out[label] = {"citadel_p50_us": median_of(runs, "p50_us"), "citadel_p99_us": median_of(runs, "p99_us"),
                          "citadel_per_second_1_caller": median_of(runs, "per_second"),
                          "socketpair_floor_p50_us": median_of(floor, "p50_us"),
                          "socketpair_floor_p99_us": median_of(floor, "p99_us"),
                          "monitor_p50_us": m.info("noop")["p50_us"], "rounds": rounds}
            out[label]["ratio_to_floor_p50"] = out[label]["citadel_p50_us"] / out[label]["socketpair_floor_p50_us"]
            if label == "any_cpu":
                out["throughput"] = {str(n): statistics.median(m.load("noop", n, seconds)["per_second"]
                                                               for _ in range(3))
                                     for n in (1, 2, 4, 8, 16, 32, 64)}
        finally:
            m.stop()
    return out


def template_pid(m):
    for p in tree(m.proc.pid):
        try:
            if open(f"/proc/{p}/cmdline", "rb").read().startswith(b"/citadel/zygote") and any(
                    open(f"/proc/{c}/cmdline", "rb").read().startswith(b"/citadel/zygote") for c in children(p)):
                return p
        except OSError:
            pass
    raise RuntimeError("no template found")


def lukewarm(work, rounds, seconds):
    """Per round: paced calls on a --fresh function (every call on a pre-forked trustlet that
    never ran, and every call makes the pool fork one: the monitor times that spawn), the same
    pacing on a reused trustlet, and a bare fork of a process of the template's size. All on
    one CPU: on these VMs, waking a never-run task on the other, idle vCPU costs ~0.5 ms,
    which would measure the hypervisor, not the pool."""
    m = Monitor(work, pin=0)
    try:
        m.deploy("fresh", "echo", "--fresh", "--max-instances", "8", "--min-instances", "4")
        m.deploy("reused", "echo", "--max-instances", "4")
        m.load("fresh", 1, 0.3, pin=0, pause_us=3000)
        m.load("reused", 1, 0.3, pin=0, pause_us=3000)
        rss = int([l for l in open(f"/proc/{template_pid(m)}/status") if l.startswith("VmRSS:")][0].split()[1])
        r = {"spawn": [], "bare": [], "ratio": [], "fresh": [], "reused": []}
        for _ in range(rounds):
            fresh = m.load("fresh", 1, seconds, pin=0, pause_us=3000)
            spawn = m.info("fresh")["lukewarm_us"]  # median of the last 64 spawns
            bare = run_json(["taskset", "-c", "0", str(BUILD / "forkbench"), str(rss), "200"])["p50_us"]
            reused = m.load("reused", 1, seconds, pin=0, pause_us=3000)
            r["spawn"].append(spawn)
            r["bare"].append(bare)
            r["ratio"].append(spawn / bare)
            r["fresh"].append(fresh["p50_us"])
            r["reused"].append(reused["p50_us"])
        f, u = m.info("fresh"), m.info("reused")
        med = {k: statistics.median(v) for k, v in r.items()}
        return {"template_rss_kib": rss, "rounds": rounds, "pinned_cpu": 0, "spawn_to_ready_p50_us": med["spawn"],
                "bare_fork_same_size_p50_us": med["bare"], "ratio_to_bare_fork": med["ratio"],
                "ratio_to_bare_fork_per_round": [round(x, 2) for x in r["ratio"]],
                "fresh_from_pool_call_p50_us": med["fresh"], "reused_call_p50_us": med["reused"],
                "monitor_fresh_p50_us": f["p50_us"], "monitor_reused_p50_us": u["p50_us"],
                "from_pool_extra_us": f["p50_us"] - u["p50_us"],
                "cold_us": f["cold_us"], "template_us": f["template_us"]}
    finally:
        m.stop()


def trustlets_of(m, name):
    tpl = None
    for p in tree(m.proc.pid):
        try:
            if open(f"/proc/{p}/cmdline", "rb").read().startswith(b"/citadel/zygote") and len(children(p)) > 8:
                tpl = p
        except OSError:
            pass
    return children(tpl) if tpl else []


def density(work, counts, bwrap_count):
    out = {}
    m = Monitor(work)
    try:
        base = used_kib()
        for n in counts:
            t0 = time.monotonic()
            m.deploy("dense", "echo", "--memory", "16G", "--max-instances", str(n), "--min-instances", str(n))
            deadline = time.monotonic() + 300
            while m.info("dense")["idle"] < n and time.monotonic() < deadline:
                time.sleep(0.5)
            filled = time.monotonic() - t0
            idle = m.info("dense")["idle"]
            time.sleep(2)
            per = [k for k in (unique_kib(p) for p in trustlets_of(m, "dense")) if k is not None]
            out[str(n)] = {"held": idle, "seconds_to_fill": round(filled, 1),
                           "unique_kib_per_trustlet_median": statistics.median(per) if per else None,
                           "unique_kib_total": sum(per),
                           "machine_used_kib_per_trustlet": (used_kib() - base) / max(idle, 1)}
            m.cli("invoke", "dense", "--data", "still serving")
    finally:
        m.stop()
    if shutil.which("bwrap"):
        base = used_kib()
        procs = []
        try:
            for _ in range(bwrap_count):
                procs.append(subprocess.Popen(["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                                               "--dev", "/dev", "--proc", "/proc", "sleep", "600"]))
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if sum(1 for p in procs if len(tree(p.pid)) >= 3) >= bwrap_count:
                    break
                time.sleep(0.5)
            time.sleep(2)
            per = []
            for p in procs:
                ks = [unique_kib(q) for q in tree(p.pid)]
                per.append(sum(k for k in ks if k))
            out["bwrap"] = {"held": bwrap_count, "unique_kib_per_sandbox_median": statistics.median(per),
                            "machine_used_kib_per_sandbox": (used_kib() - base) / bwrap_count}
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            for p in procs:
                p.wait()
    return out


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(2, 2, figsize=(12, 8))
    w = res["warm"]
    labels = ["citadel\nany CPU", "floor\nany CPU", "citadel\none CPU", "floor\none CPU"]
    vals = [w["any_cpu"]["citadel_p50_us"], w["any_cpu"]["socketpair_floor_p50_us"],
            w["one_cpu"]["citadel_p50_us"], w["one_cpu"]["socketpair_floor_p50_us"]]
    ax[0][0].bar(labels, vals, color=["C0", "C7", "C0", "C7"])
    ax[0][0].axhline(20, color="r", ls="--", label="target 20 µs")
    ax[0][0].set_title("warm invoke round trip, p50 (µs)")
    ax[0][0].legend()
    t = w["throughput"]
    ax[0][1].plot([int(k) for k in t], list(t.values()), "o-")
    ax[0][1].axhline(50000, color="r", ls="--", label="target 50,000/s")
    ax[0][1].set_xscale("log", base=2)
    ax[0][1].set_title("no-op invocations per second vs concurrent callers")
    ax[0][1].legend()
    lw = res["lukewarm"]
    ax[1][0].bar(["trustlet\nspawn→ready", "bare fork\nsame size", "call on a\nfresh trustlet", "call on a\nreused trustlet"],
                 [lw["spawn_to_ready_p50_us"], lw["bare_fork_same_size_p50_us"], lw["fresh_from_pool_call_p50_us"],
                  lw["reused_call_p50_us"]], color=["C0", "C7", "C1", "C2"])
    ax[1][0].set_title("lukewarm start, p50 (µs)")
    d = res["density"]
    names = [k for k in d if k != "bwrap"]
    bars = [d[k]["unique_kib_per_trustlet_median"] for k in names]
    labs = [f"{int(k):,} trustlets" for k in names]
    if "bwrap" in d:
        bars.append(d["bwrap"]["unique_kib_per_sandbox_median"])
        labs.append(f"{d['bwrap']['held']:,} bwrap")
    ax[1][1].bar(labs, bars, color=["C0"] * len(names) + ["C7"])
    ax[1][1].axhline(150, color="r", ls="--", label="target 150 KiB")
    ax[1][1].set_title("unique memory per idle instance (USS + page tables, KiB)")
    ax[1][1].legend()
    fig.suptitle(f"Citadel monitor, {res['meta']['date']} ({res['meta']['cpus']} CPUs)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a short smoke run (fewer rounds, 1,000 trustlets)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("monitor_bench: run as root (the monitor makes sandboxes)")
    rounds, secs = (2, 1.0) if args.quick else (args.rounds, args.seconds)
    counts = [1000] if args.quick else [1000, 10000]
    res = {"meta": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "cpus": os.cpu_count(), "kernel": os.uname().release, "rounds": rounds, "seconds": secs}}
    with tempfile.TemporaryDirectory(prefix="citadel-bench-") as work:
        res["tcb_lines"] = json.loads(subprocess.run([str(BENCH / "tcb.sh"), "--json"], capture_output=True,
                                                     text=True, check=True).stdout)
        print("warm latency and throughput ...", flush=True)
        res["warm"] = warm(work, rounds, secs)
        print("lukewarm ...", flush=True)
        res["lukewarm"] = lukewarm(work, rounds, secs)
        print("density ...", flush=True)
        res["density"] = density(work, counts, 1000)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "monitor.json").write_text(json.dumps(res, indent=2) + "\n")
    try:
        plot(res, RESULTS / "monitor.png")
    except ImportError:
        print("(no matplotlib: no plot)")
    w, lw, d = res["warm"], res["lukewarm"], res["density"]
    print(f"""
warm invoke p50/p99:   any CPU {w['any_cpu']['citadel_p50_us']:.1f}/{w['any_cpu']['citadel_p99_us']:.1f} µs \
({w['any_cpu']['ratio_to_floor_p50']:.2f}x a bare socketpair round trip); one CPU \
{w['one_cpu']['citadel_p50_us']:.1f}/{w['one_cpu']['citadel_p99_us']:.1f} µs ({w['one_cpu']['ratio_to_floor_p50']:.2f}x)
throughput (calls/s):  {', '.join(f'{k} callers {v:,.0f}' for k, v in w['throughput'].items())}
lukewarm:              spawn to ready {lw['spawn_to_ready_p50_us']} µs = {lw['ratio_to_bare_fork']:.2f}x a bare fork of a \
{lw['template_rss_kib']} KiB process ({lw['bare_fork_same_size_p50_us']:.1f} µs); a call on a fresh pooled trustlet \
{lw['fresh_from_pool_call_p50_us']:.1f} µs vs {lw['reused_call_p50_us']:.1f} µs reused at the caller; inside the monitor \
{lw['monitor_fresh_p50_us']} vs {lw['monitor_reused_p50_us']} µs ({lw['from_pool_extra_us']:+} µs from the pool)
phases:                cold (zygote) {lw['cold_us']} µs, template {lw['template_us']} µs""")
    for k, v in d.items():
        if k == "bwrap":
            print(f"density bwrap x{v['held']}: {v['unique_kib_per_sandbox_median']:.0f} KiB unique per sandbox, "
                  f"{v['machine_used_kib_per_sandbox']:.0f} KiB of the machine's memory each")
        else:
            print(f"density {int(k):,} trustlets: held {v['held']:,} in {v['seconds_to_fill']} s, "
                  f"{v['unique_kib_per_trustlet_median']:.0f} KiB unique each (total {v['unique_kib_total'] / 1024:.0f} MiB), "
                  f"{v['machine_used_kib_per_trustlet']:.0f} KiB of the machine's memory each")
    t = res["tcb_lines"]
    print(f"trusted base:          {t['tcb']} lines in the monitor process ({t['monitor']} monitor, "
          f"{t['sandbox_and_common']} sandbox+common); outside it {t['runtime_untrusted']} runtime, {t['cli_outside']} CLI")
    print(f"\nwritten: {RESULTS / 'monitor.json'}, {RESULTS / 'monitor.png'}")


if __name__ == "__main__":
    main()
