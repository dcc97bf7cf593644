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
- deploy: warm invoke latency (p50, p99, the slowest calls) on an idle monitor and while a
  256 MiB function is redeployed back to back (bench/invoke_tail.c), and how long one such
  deploy takes.
- crash loop: the monitor's CPU time over 5 s while a function's every new instance dies
  before it is ready (it backs off, then fails the function), against an idle monitor, and
  the instance starts in that window.
- density: 1,000 and then 10,000 idle trustlets (unique memory: USS + page tables, and the
  machine's used memory per trustlet) against 1,000 sleeping bubblewrap sandboxes.
- exec: one program (wc -w) as an exec function (through the API and through the CLI)
  against `citadel run` and `bwrap` per request, and a bare fork and exec.
- reshape: native warm p50 and no-op throughput of this build against the build before
  the monitor's core was reshaped (built from git on first use), interleaved.
- trusted base: lines of C in citadeld (bench/tcb.sh).
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
import threading
import time
from pathlib import Path

from sandbox_bench import children, save_results, tree  # this directory is on sys.path when run as a script

# The monitors measured here serve no HTTP.
os.environ["CITADEL_LISTEN"] = "none"

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
    def __init__(self, work, pin=None, build=BUILD):
        os.makedirs(work, exist_ok=True)
        self.build, self.citadel = build, build / "citadel"
        self.state, self.sock = f"{work}/state", f"{work}/sock"
        shutil.rmtree(self.state, ignore_errors=True)
        prefix = ["taskset", "-c", str(pin)] if pin is not None else []
        self.log = open(f"{work}/monitor.log", "ab")
        self.proc = subprocess.Popen(prefix + [str(self.citadel), "serve", "--state-dir", self.state,
                                               "--socket", self.sock], stderr=self.log)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the monitor did not start")
            time.sleep(0.02)

    def cli(self, *args, timeout=120):
        r = subprocess.run([str(self.citadel), *args], capture_output=True, text=True, timeout=timeout,
                           env={"PATH": os.environ["PATH"], "CITADEL_SOCKET": self.sock})
        if r.returncode != 0:
            raise RuntimeError(f"citadel {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def deploy(self, name, example, *opts):
        self.cli("deploy", name, str(self.build / "examples" / f"{example}.so"), *opts)

    def info(self, name, timeout=120):
        return {f["name"]: f for f in json.loads(self.cli("ls", "--json", timeout=timeout))}[name]

    def load(self, fn, callers, seconds, pin=None, pause_us=0, payload=0):
        prefix = ["taskset", "-c", str(pin)] if pin is not None else []
        return run_json(prefix + [str(self.build / "invoke_load"), self.sock, fn, str(callers), str(seconds),
                                  str(payload), str(pause_us)])

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


def exec_runtime(work, rounds, seconds):
    """One program, /usr/bin/wc -w on a 4 KiB request, served four ways, in alternating
    rounds: as an exec function through the local API (invoke_load: no process per call on
    the caller's side, as a gateway), as an exec function through `citadel invoke` (a CLI
    process per call), `citadel run` per request, and `bwrap` per request; and the floor, a
    bare fork and exec of wc. Medians of the rounds; ratios to bwrap and to citadel run."""
    m = Monitor(work)
    req = 4096
    spawn = [str(BUILD / "spawn_load"), str(seconds), str(req)]
    tools = {"citadel_invoke_cli": [str(CITADEL), "invoke", "--socket", m.sock, "wcw"],
             "citadel_run": [str(CITADEL), "run", "--", "/usr/bin/wc", "-w"],
             "bare_fork_exec": ["/usr/bin/wc", "-w"]}
    if shutil.which("bwrap"):
        tools["bwrap"] = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
                          "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin",
                          "/bin", "--proc", "/proc", "--dev", "/dev", "/usr/bin/wc", "-w"]
    try:
        m.cli("deploy", "wcw", "--min-instances", "2", "--", "/usr/bin/wc", "-w")
        m.load("wcw", 1, 0.5, payload=req)  # warm up
        runs = {k: [] for k in ["citadel_exec_api", *tools]}
        for _ in range(rounds):
            runs["citadel_exec_api"].append(m.load("wcw", 1, seconds, payload=req))
            for k, cmd in tools.items():
                runs[k].append(run_json(spawn + cmd, timeout=seconds * 10 + 60))
        out = {k: {"p50_us": median_of(v, "p50_us"), "p99_us": median_of(v, "p99_us")} for k, v in runs.items()}
        out["request_bytes"] = req
        out["rounds"] = rounds
        api = out["citadel_exec_api"]["p50_us"]
        cli = out["citadel_invoke_cli"]["p50_us"]
        out["ratio_exec_api_to_citadel_run"] = api / out["citadel_run"]["p50_us"]
        out["ratio_exec_cli_to_citadel_run"] = cli / out["citadel_run"]["p50_us"]
        if "bwrap" in out:
            out["ratio_exec_api_to_bwrap"] = api / out["bwrap"]["p50_us"]
            out["ratio_exec_cli_to_bwrap"] = cli / out["bwrap"]["p50_us"]
        out["ratio_exec_api_to_bare_fork_exec"] = api / out["bare_fork_exec"]["p50_us"]
    finally:
        m.stop()
    return out


# The last commit before the monitor's core was reshaped (issue 15): protocol 1, native
# only, one binary. Built once into a cache directory and run beside this build.
BASELINE_COMMIT = "cdcd401"


def baseline_build():
    """The build of BASELINE_COMMIT (its citadel, citadel-zygote, invoke_load and echo.so),
    made from this repository's history on first use; None when it cannot be made."""
    cache = Path(os.environ.get("CITADEL_BASELINE_DIR", "/var/tmp/citadel-bench-baseline"))
    build = cache / "build"
    if (build / "invoke_load").exists() and (build / "citadel").exists():
        return build
    try:
        if not (cache / "meson.build").exists():
            shutil.rmtree(cache, ignore_errors=True)
            cache.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(cache), BASELINE_COMMIT],
                           check=True, capture_output=True)
        subprocess.run(["meson", "setup", str(build), str(cache)], check=True, capture_output=True, cwd=cache)
        subprocess.run(["ninja", "-C", str(build)], check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError) as e:
        print(f"  (no baseline build: {e})", flush=True)
        return None
    return build


def reshape(work, rounds, seconds):
    """Native warm p50 (one caller) and no-op throughput (8 callers) of this build against
    the build before the reshape (BASELINE_COMMIT), each with its own monitor, taking turns
    round after round; medians of the rounds and their ratios (this / before)."""
    before = baseline_build()
    if before is None:
        return {"skipped": "the baseline build could not be made"}
    builds = {"this": BUILD, "before": before}
    runs = {k: {"p50": [], "tput": []} for k in builds}
    mons = {}
    try:
        for k, b in builds.items():
            mons[k] = Monitor(f"{work}/{k}", build=b)
            mons[k].deploy("noop", "echo", "--max-instances", "64", "--min-instances", "2")
            mons[k].load("noop", 1, 0.5)
        for _ in range(rounds):
            for k in builds:
                runs[k]["p50"].append(mons[k].load("noop", 1, seconds)["p50_us"])
                runs[k]["tput"].append(mons[k].load("noop", 8, seconds)["per_second"])
    finally:
        for m in mons.values():
            m.stop()
    out = {k: {"warm_p50_us": statistics.median(v["p50"]), "noop_calls_per_second_8_callers":
               statistics.median(v["tput"])} for k, v in runs.items()}
    out["baseline_commit"] = BASELINE_COMMIT
    out["ratio_p50_this_to_before"] = out["this"]["warm_p50_us"] / out["before"]["warm_p50_us"]
    out["ratio_throughput_this_to_before"] = (out["this"]["noop_calls_per_second_8_callers"] /
                                              out["before"]["noop_calls_per_second_8_callers"])
    out["rounds"] = rounds
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
                "cold_us": f["cold_us"], "template_us": f["template_us"],
                "goal_ratio_to_bare_fork": 1.3,
                "breakdown": "docs/architecture.md, 'Where a lukewarm start's time goes' (probe build, not this run)"}
    finally:
        m.stop()


def tail(m, fn, seconds, pin=None):
    """One caller's calls back to back for `seconds` (bench/invoke_tail.c): p50 and p99 as
    invoke_load computes them, plus the maximum and the slowest calls, which p99 cannot
    show: a caller waits out a stall of the loop in a single call."""
    prefix = ["taskset", "-c", str(pin)] if pin is not None else []
    return run_json(prefix + [str(BUILD / "invoke_tail"), m.sock, fn, str(seconds), "1000"], timeout=seconds + 60)


def big_function(work, mib=256):
    """hello.so grown to `mib` MiB: an ELF file may carry anything after its segments (here a
    hole of zeros), so it loads as hello, but every byte is copied, hashed, written and synced
    like real code."""
    path = f"{work}/big.so"
    shutil.copy(BUILD / "examples" / "hello.so", path)
    os.truncate(path, mib << 20)
    return path


def deploy_load(work, rounds, seconds, max_deploys=6, bound_s=30.0):
    """Warm invoke latency of a no-op function on an idle monitor, and then while a 256 MiB
    function is redeployed back to back (each deploy replaces the previous version, as an
    update does), in alternating rounds. The calls, the monitor's loop and the function's
    instances run on CPU 0; the monitor's worker thread (hashing, writing, syncing the code)
    and the deploying client on CPU 1. So what slows the calls is what the deploy leaves in
    the loop, not two processes sharing a CPU, and no call waits for an idle vCPU to wake
    (free to run on either CPU, the idle baseline is the slower one on these VMs). Per window
    of deploys: at most `max_deploys` deploys and `bound_s` seconds. Also one redeploy per
    round with no calls running: how long a 256 MiB deploy takes end to end. After each
    deploy, half a second passes before the next window."""
    big = big_function(work)
    two = (os.cpu_count() or 1) >= 2
    loop_cpu, side = (0, ["taskset", "-c", "1"]) if two else (None, [])
    m = Monitor(work, pin=loop_cpu)
    env = {"PATH": os.environ["PATH"], "CITADEL_SOCKET": m.sock}

    def deploy_big(timeout=60):
        r = subprocess.run(side + [str(CITADEL), "deploy", "big", big], capture_output=True, text=True,
                           timeout=timeout, env=env)
        if r.returncode != 0:
            raise RuntimeError(f"citadel deploy big: {r.stderr.strip()}")

    try:
        if two:  # the worker thread: every thread of the monitor but its first, the loop
            for tid in os.listdir(f"/proc/{m.proc.pid}/task"):
                if int(tid) != m.proc.pid:
                    os.sched_setaffinity(int(tid), {1})
        m.deploy("noop", "echo", "--max-instances", "8", "--min-instances", "2")
        deploy_big(120)  # the version the measured deploys replace
        tail(m, "noop", 0.5, loop_cpu)  # warm up
        rounds_out = []
        for _ in range(rounds):
            idle = tail(m, "noop", seconds, loop_cpu)
            spans, stop, failed = [], threading.Event(), []

            def deployer(t_start):
                while not stop.is_set() and len(spans) < max_deploys and time.monotonic() - t_start < bound_s:
                    t0 = time.monotonic()
                    try:
                        deploy_big()
                    except (RuntimeError, subprocess.TimeoutExpired) as e:
                        failed.append(str(e))
                        break
                    spans.append((t0, time.monotonic()))

            w0 = time.monotonic()
            th = threading.Thread(target=deployer, args=(w0,))
            th.start()
            during = tail(m, "noop", seconds, loop_cpu)
            w1 = time.monotonic()
            stop.set()
            th.join(timeout=bound_s + 70)
            time.sleep(0.5)  # what the last deploy leaves in the loop stays out of the next window
            if failed:
                raise RuntimeError(f"a deploy of the 256 MiB function failed: {failed[0]}")
            covered = sum(max(0.0, min(b, w1) - max(a, w0)) for a, b in spans)  # deploys run one at a time
            t0 = time.monotonic()
            deploy_big()
            alone = time.monotonic() - t0
            time.sleep(0.5)
            ends = [round((e - w0) * 1000) for _, e in spans]
            # Calls of 10 ms or more (among the 16 slowest), each with how long before the end
            # of a deploy (its client's exit) it started; per deploy that ended in the window,
            # the time spent in those that started from 300 ms before its end to 50 ms after.
            stalls = [{"at_ms": c["at_ms"], "ms": round(c["us"] / 1000, 1),
                       "before_deploy_end_ms": min((e - c["at_ms"] for e in ends if e >= c["at_ms"] - 50),
                                                   default=None)}
                      for c in during["slowest"] if c["us"] >= 10000]
            near = lambda x, e: e - 300 <= x["at_ms"] <= e + 50
            per_deploy = [round(sum(x["ms"] for x in stalls if near(x, e)), 1) for e in ends
                          if e <= during["seconds"] * 1000]
            for r in (idle, during):  # the 4 slowest are enough to keep (the longer ones are above)
                r["slowest"] = r["slowest"][:4]
            rounds_out.append({"idle": idle, "during": during, "deploys_in_window": len(spans),
                               "calls_over_10ms": stalls, "ms_in_calls_over_10ms_per_deploy_end": per_deploy,
                               "calls_over_10ms_not_near_a_deploy_end":
                                   sum(1 for x in stalls if not any(near(x, e) for e in ends)),
                               "window_covered_by_deploys": round(covered / (w1 - w0), 3),
                               "deploy_s_under_load": [round(b - a, 3) for a, b in spans],
                               "deploy_ends_ms": ends,
                               "deploy_alone_s": round(alone, 3)})
        med = lambda part, key: statistics.median(r[part][key] for r in rounds_out)
        out = {"function_mib": 256, "rounds": rounds, "seconds": seconds, "callers": 1,
               "calls_and_loop_cpu": loop_cpu, "worker_and_deployer_cpu": 1 if two else None,
               "idle_p50_us": med("idle", "p50_us"), "idle_p99_us": med("idle", "p99_us"),
               "idle_max_us": med("idle", "max_us"),
               "during_p50_us": med("during", "p50_us"), "during_p99_us": med("during", "p99_us"),
               "during_max_us": med("during", "max_us"),
               "during_slow_calls_over_1ms": med("during", "slow_calls"),
               "idle_slow_calls_over_1ms": med("idle", "slow_calls"),
               "during_worst_call_us": max(r["during"]["max_us"] for r in rounds_out),
               "idle_worst_call_us": max(r["idle"]["max_us"] for r in rounds_out),
               "ms_in_calls_over_10ms_per_deploy_end": statistics.median(
                   [x for r in rounds_out for x in r["ms_in_calls_over_10ms_per_deploy_end"]] or [0]),
               "deploy_ends_observed": sum(len(r["ms_in_calls_over_10ms_per_deploy_end"]) for r in rounds_out),
               "calls_over_10ms_not_near_a_deploy_end": sum(r["calls_over_10ms_not_near_a_deploy_end"]
                                                             for r in rounds_out),
               "deploys_per_window": statistics.median(r["deploys_in_window"] for r in rounds_out),
               "window_covered_by_deploys": statistics.median(r["window_covered_by_deploys"] for r in rounds_out),
               "deploy_256mib_alone_s": statistics.median(r["deploy_alone_s"] for r in rounds_out),
               "deploy_256mib_under_load_s": statistics.median(
                   [d for r in rounds_out for d in r["deploy_s_under_load"]] or [0]),
               "per_round": rounds_out}
        out["p99_ratio_during_to_idle"] = out["during_p99_us"] / out["idle_p99_us"]
        out["p50_ratio_during_to_idle"] = out["during_p50_us"] / out["idle_p50_us"]
        out["p99_ratio_per_round"] = [round(r["during"]["p99_us"] / r["idle"]["p99_us"], 2) for r in rounds_out]
        return out
    finally:
        m.stop()


# A function whose instances cannot confine themselves (tests/functional/poison.c, which
# the tests use too): POISON_AFTER ms after the template loaded, every instance forked
# from then on dies before it says hello.
POISON = (ROOT / "tests" / "functional" / "poison.c").read_text()
POISON_AFTER_MS = 300


def cpu_ticks(pid):
    """utime + stime of the whole process (all its threads), in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_exec_ms(pid):
    """The scheduler's run time of every thread of pid (se.sum_exec_runtime, µs precision),
    in ms; None without /proc/PID/task/TID/sched (CONFIG_SCHED_DEBUG)."""
    total = 0.0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            for line in open(f"/proc/{pid}/task/{tid}/sched"):
                if line.startswith("se.sum_exec_runtime"):
                    total += float(line.split(":")[1])
    except (OSError, ValueError):
        return None
    return total


def log_events(path, offset, names):
    """(event, ts) of the monitor's log lines of these kinds written after offset."""
    with open(path, "rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    out = []
    for line in lines:
        kv = dict(w.split("=", 1) for w in line.split() if "=" in w)
        if kv.get("event") in names:
            out.append((kv["event"], datetime.datetime.fromisoformat(kv["ts"].replace("Z", "+00:00"))))
    return out


def crashloop(work, rounds, window=5.0, calls=3):
    """The monitor's CPU time (utime + stime of its process, /proc/PID/stat) over a fixed
    window while a function's every new instance dies before it is ready, against the same
    window on the same monitor with nothing failing. Both windows start with `calls` calls
    through the CLI (to the failing function, which makes it fork instances, or to a
    healthy one). Instance starts in the window are the monitor's own events
    (instance_start_failed, then function_stuck for the last attempt)."""
    src = Path(work) / "poisoned.c"
    src.write_text(f"#define POISON_AFTER {POISON_AFTER_MS}\n" + POISON)
    so = Path(work) / "poisoned.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-pthread", "-I", str(ROOT / "include"), "-I", str(ROOT / "src"),
                    "-o", str(so), str(src)], check=True, timeout=120)
    tck = os.sysconf("SC_CLK_TCK")
    m = Monitor(work)
    log = f"{work}/monitor.log"
    env = {"PATH": os.environ["PATH"], "CITADEL_SOCKET": m.sock}

    def measure(fn):
        t_end = time.monotonic() + window
        offset = os.path.getsize(log)
        c0, e0 = cpu_ticks(m.proc.pid), cpu_exec_ms(m.proc.pid)
        failed = 0
        for i in range(calls):
            left = t_end - time.monotonic()
            if left <= 0.5:
                break
            try:
                r = subprocess.run([str(CITADEL), "invoke", fn, "--data", "x"], capture_output=True,
                                   timeout=left - 0.2, env=env)
                failed += r.returncode != 0
            except subprocess.TimeoutExpired:
                failed += 1
        time.sleep(max(0.0, t_end - time.monotonic()))
        c1, e1 = cpu_ticks(m.proc.pid), cpu_exec_ms(m.proc.pid)
        ev = log_events(log, offset, {"instance_start_failed", "function_stuck"})
        stuck = [t for e, t in ev if e == "function_stuck"]
        exact = e0 is not None and e1 is not None
        return {"cpu_ms_ticks": (c1 - c0) * 1000 / tck, "cpu_ms_exec": round(e1 - e0, 3) if exact else None,
                "cpu_percent_of_one_core": ((e1 - e0) / 1000 if exact else (c1 - c0) / tck) / window * 100,
                "instance_starts": len(ev), "calls_failed": failed, "stuck": bool(stuck),
                "first_failure_to_stuck_ms": round((stuck[0] - ev[0][1]).total_seconds() * 1000) if stuck else None}

    try:
        m.deploy("hello", "hello")
        per_round = []
        for i in range(rounds):
            idle = measure("hello")
            if i == 0:
                m.cli("deploy", "poisoned", str(so), "--fresh")
            else:
                m.cli("restart", "poisoned")  # a new template, healthy until it poisons itself
            time.sleep(POISON_AFTER_MS / 1000 + 0.5)
            per_round.append({"idle": idle, "crashloop": measure("poisoned")})
        info = m.info("poisoned")
        med = lambda part, key: statistics.median(r[part][key] for r in per_round)
        stuck_ms = [r["crashloop"]["first_failure_to_stuck_ms"] for r in per_round
                    if r["crashloop"]["first_failure_to_stuck_ms"] is not None]
        return {"window_s": window, "rounds": rounds, "calls_per_window": calls, "clock_ticks_per_s": tck,
                "cpu_from": "se.sum_exec_runtime of every thread (/proc/PID/task/TID/sched), utime+stime in ticks "
                            "beside it" if per_round[0]["idle"]["cpu_ms_exec"] is not None else "utime+stime",
                "idle_cpu_ms": med("idle", "cpu_ms_exec" if per_round[0]["idle"]["cpu_ms_exec"] is not None
                                   else "cpu_ms_ticks"),
                "crashloop_cpu_ms": med("crashloop", "cpu_ms_exec" if per_round[0]["idle"]["cpu_ms_exec"] is not None
                                        else "cpu_ms_ticks"),
                "idle_cpu_percent": med("idle", "cpu_percent_of_one_core"),
                "crashloop_cpu_percent": med("crashloop", "cpu_percent_of_one_core"),
                "crashloop_instance_starts": med("crashloop", "instance_starts"),
                "crashloop_starts_per_s": med("crashloop", "instance_starts") / window,
                "idle_instance_starts": med("idle", "instance_starts"),
                "first_failure_to_stuck_ms": statistics.median(stuck_ms) if stuck_ms else None,
                "state_after": info["state"], "error_after": info["error"],
                "before_backoff_not_measured": {"forks_per_s": 4700, "cpu_percent": 100,
                                                "source": "issue 14, before the backoff; not measured by this run"},
                "per_round": per_round}
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
    """Idle trustlets held at --min-instances N. The pool is polled through `citadel ls`;
    if the monitor stops answering (it accepts no connection without a free fd), the count
    comes from /proc (the template's children), and filling ends once it stops growing for
    15 s; every step is bounded, and what was held is reported with why it stopped."""
    out = {}
    m = Monitor(work)
    log = f"{work}/monitor.log"
    try:
        base = used_kib()
        for n in counts:
            t0 = time.monotonic()
            offset = os.path.getsize(log)
            m.deploy("dense", "echo", "--memory", "16G", "--max-instances", str(n), "--min-instances", str(n),
                     "--pids", str(n + 16))
            deadline = time.monotonic() + 300
            held, answered, last, grew = 0, True, -1, time.monotonic()
            while time.monotonic() < deadline:
                try:
                    held, answered = m.info("dense", timeout=10)["idle"], True
                except subprocess.TimeoutExpired:
                    held, answered = len(trustlets_of(m, "dense")), False
                if held >= n:
                    break
                if held != last:
                    last, grew = held, time.monotonic()
                elif time.monotonic() - grew > 15:
                    break
                time.sleep(0.5)
            filled = time.monotonic() - t0
            time.sleep(2)
            per = [k for k in (unique_kib(p) for p in trustlets_of(m, "dense")) if k is not None]
            try:
                m.cli("invoke", "dense", "--data", "still serving", timeout=10)
                serving = True
            except (RuntimeError, subprocess.TimeoutExpired):
                serving = False
            refused = sum(1 for line in open(log, "rb").read()[offset:].decode(errors="replace").splitlines()
                          if "event=accept_failed " in line)
            out[str(n)] = {"wanted": n, "held": held, "seconds_to_fill": round(filled, 1),
                           "unique_kib_per_trustlet_median": statistics.median(per) if per else None,
                           "unique_kib_total": sum(per),
                           "machine_used_kib_per_trustlet": (used_kib() - base) / max(held, 1),
                           "monitor_answered_ls": answered, "still_serving": serving,
                           "accept_failed_events": refused}
            if held < n or not serving:
                out[str(n)]["stopped_because"] = (
                    f"held {held} of {n}; the monitor {'answered' if answered else 'stopped answering'} `citadel ls`"
                    f"{', and logged accept_failed (out of file descriptors) ' + str(refused) + ' times' if refused else ''}")
                break
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
    fig, ax = plt.subplots(3, 2, figsize=(12, 12))
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
    ax[1][0].axhline(lw["goal_ratio_to_bare_fork"] * lw["bare_fork_same_size_p50_us"], color="r", ls="--",
                     label=f"goal: {lw['goal_ratio_to_bare_fork']}x the bare fork")
    ax[1][0].set_title(f"lukewarm start, p50 (µs): spawn = {lw['ratio_to_bare_fork']:.2f}x a bare fork")
    ax[1][0].legend()
    d = res["density"]
    names = [k for k in d if k != "bwrap"]
    bars = [d[k]["unique_kib_per_trustlet_median"] or 0 for k in names]
    labs = [f"{d[k]['held']:,} trustlets" + (f"\n(of {int(k):,} wanted)" if d[k]["held"] < int(k) else "")
            for k in names]
    if "bwrap" in d:
        bars.append(d["bwrap"]["unique_kib_per_sandbox_median"])
        labs.append(f"{d['bwrap']['held']:,} bwrap")
    ax[1][1].bar(labs, bars, color=["C0"] * len(names) + ["C7"])
    ax[1][1].axhline(150, color="r", ls="--", label="target 150 KiB")
    ax[1][1].set_title("unique memory per idle instance (USS + page tables, KiB)")
    ax[1][1].legend()
    if "deploy_load" in res:
        dl = res["deploy_load"]
        x = range(3)
        idle = [dl["idle_p50_us"], dl["idle_p99_us"], dl["idle_max_us"]]
        during = [dl["during_p50_us"], dl["during_p99_us"], dl["during_max_us"]]
        ax[2][0].bar([i - 0.2 for i in x], idle, 0.4, color="C7", label="idle monitor")
        ax[2][0].bar([i + 0.2 for i in x], during, 0.4, color="C0", label="256 MiB deploys running")
        for i in x:
            ax[2][0].text(i - 0.2, idle[i], f"{idle[i]:,.0f}", ha="center", va="bottom", fontsize=8)
            ax[2][0].text(i + 0.2, during[i], f"{during[i]:,.0f}", ha="center", va="bottom", fontsize=8)
        ax[2][0].set_xticks(list(x), ["p50", "p99", "slowest call"])
        ax[2][0].set_yscale("log")
        ax[2][0].set_title(f"warm invoke (µs, log) during 256 MiB deploys: p99 {dl['p99_ratio_during_to_idle']:.2f}x idle")
        ax[2][0].legend(loc="upper left")
    if "crashloop" in res:
        c = res["crashloop"]
        b = c["before_backoff_not_measured"]
        vals = [c["idle_cpu_percent"], c["crashloop_cpu_percent"], b["cpu_percent"]]
        bars = ax[2][1].bar(["idle monitor", "one function\ncrash-looping", "before the backoff\n(issue 14, not measured)"],
                            vals, color=["C7", "C0", "white"], edgecolor=["C7", "C0", "C3"])
        bars[2].set_hatch("//")
        notes = [f"{vals[0]:.2f}%", f"{vals[1]:.2f}%\n{c['crashloop_instance_starts']:.0f} starts in {c['window_s']:.0f} s",
                 f"{b['cpu_percent']}%\n~{b['forks_per_s']:,} forks/s"]
        for i, t in enumerate(notes):
            ax[2][1].text(i, vals[i] + 2, t, ha="center", va="bottom", fontsize=9)
        ax[2][1].set_ylim(0, 125)
        ax[2][1].set_title(f"monitor CPU, % of one core, over {c['window_s']:.0f} s")
    fig.suptitle(f"Citadel monitor, {res['meta']['date']} ({res['meta']['cpus']} CPUs)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def report(res):
    """The figures of the parts that ran, one line each."""
    if "warm" in res:
        w = res["warm"]
        print(f"warm invoke p50/p99:   any CPU {w['any_cpu']['citadel_p50_us']:.1f}/{w['any_cpu']['citadel_p99_us']:.1f} µs "
              f"({w['any_cpu']['ratio_to_floor_p50']:.2f}x a bare socketpair round trip); one CPU "
              f"{w['one_cpu']['citadel_p50_us']:.1f}/{w['one_cpu']['citadel_p99_us']:.1f} µs "
              f"({w['one_cpu']['ratio_to_floor_p50']:.2f}x)")
        print(f"throughput (calls/s):  {', '.join(f'{k} callers {v:,.0f}' for k, v in w['throughput'].items())}")
    if "lukewarm" in res:
        lw = res["lukewarm"]
        print(f"lukewarm:              spawn to ready {lw['spawn_to_ready_p50_us']} µs = {lw['ratio_to_bare_fork']:.2f}x a "
              f"bare fork of a {lw['template_rss_kib']} KiB process ({lw['bare_fork_same_size_p50_us']:.1f} µs; goal "
              f"<= {lw['goal_ratio_to_bare_fork']}x; per round {lw['ratio_to_bare_fork_per_round']}); a call on a fresh "
              f"pooled trustlet {lw['fresh_from_pool_call_p50_us']:.1f} µs vs {lw['reused_call_p50_us']:.1f} µs reused at "
              f"the caller; inside the monitor {lw['monitor_fresh_p50_us']} vs {lw['monitor_reused_p50_us']} µs "
              f"({lw['from_pool_extra_us']:+} µs from the pool)")
        print(f"phases:                cold (zygote) {lw['cold_us']} µs, template {lw['template_us']} µs")
    if "deploy_load" in res:
        dl = res["deploy_load"]
        print(f"warm invoke during a 256 MiB deploy: p50/p99 {dl['during_p50_us']:.1f}/{dl['during_p99_us']:.1f} µs vs "
              f"idle {dl['idle_p50_us']:.1f}/{dl['idle_p99_us']:.1f} µs: p99 {dl['p99_ratio_during_to_idle']:.2f}x idle "
              f"(per round {dl['p99_ratio_per_round']}), p50 {dl['p50_ratio_during_to_idle']:.2f}x; slowest call "
              f"{dl['during_max_us'] / 1000:.1f} ms vs {dl['idle_max_us'] / 1000:.1f} ms idle (medians of the rounds), "
              f"{dl['during_slow_calls_over_1ms']:.0f} vs {dl['idle_slow_calls_over_1ms']:.0f} calls over 1 ms; "
              f"{dl['deploys_per_window']:.0f} deploys per window, covering {dl['window_covered_by_deploys']:.0%} of it; "
              f"calls of 10 ms or more: {dl['ms_in_calls_over_10ms_per_deploy_end']:.0f} ms of them at the end of each "
              f"deploy (median of {dl['deploy_ends_observed']}; {dl['calls_over_10ms_not_near_a_deploy_end']} elsewhere), "
              f"worst call {dl['during_worst_call_us'] / 1000:.0f} ms")
        print(f"one 256 MiB deploy:    {dl['deploy_256mib_alone_s']:.2f} s end to end alone, "
              f"{dl['deploy_256mib_under_load_s']:.2f} s under the calls (medians)")
    if "crashloop" in res:
        c = res["crashloop"]
        print(f"crash loop:            monitor CPU {c['crashloop_cpu_percent']:.2f}% of one core ({c['crashloop_cpu_ms']:.1f} ms "
              f"in {c['window_s']:.0f} s) while a function's instances die before they are ready, vs "
              f"{c['idle_cpu_percent']:.2f}% ({c['idle_cpu_ms']:.1f} ms) idle; "
              f"{c['crashloop_instance_starts']:.0f} instance starts in the window "
              f"({c['crashloop_starts_per_s']:.1f}/s), failed after {c['first_failure_to_stuck_ms']} ms; "
              f"before the backoff: ~4,700 forks/s, 100% CPU (issue 14, not measured here)")
    for k, v in res.get("density", {}).items():
        if k == "bwrap":
            print(f"density bwrap x{v['held']}: {v['unique_kib_per_sandbox_median']:.0f} KiB unique per sandbox, "
                  f"{v['machine_used_kib_per_sandbox']:.0f} KiB of the machine's memory each")
        else:
            print(f"density {int(k):,} trustlets: held {v['held']:,} in {v['seconds_to_fill']} s, "
                  f"{v['unique_kib_per_trustlet_median'] or 0:.0f} KiB unique each (total {v['unique_kib_total'] / 1024:.0f} MiB), "
                  f"{v['machine_used_kib_per_trustlet']:.0f} KiB of the machine's memory each"
                  + (f"; STOPPED: {v['stopped_because']}" if "stopped_because" in v else ""))
    if "exec" in res:
        e = res["exec"]
        line = (f"exec runtime (wc -w, {e['request_bytes']} B): p50 {e['citadel_exec_api']['p50_us']:.0f} µs through "
                f"the API, {e['citadel_invoke_cli']['p50_us']:.0f} µs through the CLI; citadel run "
                f"{e['citadel_run']['p50_us']:.0f} µs (API {e['ratio_exec_api_to_citadel_run']:.2f}x, CLI "
                f"{e['ratio_exec_cli_to_citadel_run']:.2f}x)")
        if "bwrap" in e:
            line += (f"; bwrap {e['bwrap']['p50_us']:.0f} µs (API {e['ratio_exec_api_to_bwrap']:.2f}x, CLI "
                     f"{e['ratio_exec_cli_to_bwrap']:.2f}x)")
        print(line + f"; a bare fork+exec {e['bare_fork_exec']['p50_us']:.0f} µs")
    if "reshape" in res:
        r = res["reshape"]
        if "skipped" in r:
            print(f"reshape:               skipped ({r['skipped']})")
        else:
            print(f"reshape (native):      warm p50 {r['this']['warm_p50_us']:.1f} µs vs "
                  f"{r['before']['warm_p50_us']:.1f} µs before ({r['ratio_p50_this_to_before']:.2f}x); "
                  f"no-op calls/s with 8 callers {r['this']['noop_calls_per_second_8_callers']:,.0f} vs "
                  f"{r['before']['noop_calls_per_second_8_callers']:,.0f} ({r['ratio_throughput_this_to_before']:.2f}x), "
                  f"before = {r['baseline_commit']}")
    if "tcb_lines" in res:
        t = res["tcb_lines"]
        print(f"trusted base:          {t['tcb']} lines in the monitor process ({t['monitor']} monitor, "
              f"{t['sandbox_and_common']} sandbox+common); outside it {t['runtime_untrusted']} runtime, {t['cli_outside']} CLI")


PARTS = ("warm", "lukewarm", "deploy", "crashloop", "density", "exec", "reshape")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a short smoke run (fewer rounds, 1,000 trustlets)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--only", metavar="PART[,PART]",
                    help=f"run only these parts ({', '.join(PARTS)}) and print their JSON; results/ is left alone")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("monitor_bench: run as root (the monitor makes sandboxes)")
    parts = args.only.split(",") if args.only else list(PARTS)
    if not set(parts) <= set(PARTS):
        sys.exit(f"monitor_bench: --only takes {', '.join(PARTS)}")
    rounds, secs = (2, 1.0) if args.quick else (args.rounds, args.seconds)
    counts = [1000] if args.quick else [1000, 10000]
    res = {"meta": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "cpus": os.cpu_count(), "kernel": os.uname().release, "rounds": rounds, "seconds": secs}}
    with tempfile.TemporaryDirectory(prefix="citadel-bench-") as work:
        if not args.only:
            res["tcb_lines"] = json.loads(subprocess.run([str(BENCH / "tcb.sh"), "--json"], capture_output=True,
                                                         text=True, check=True).stdout)
        if "warm" in parts:
            print("warm latency and throughput ...", flush=True)
            res["warm"] = warm(work, rounds, secs)
        if "lukewarm" in parts:
            print("lukewarm ...", flush=True)
            res["lukewarm"] = lukewarm(work, rounds, secs)
        if "deploy" in parts:
            print("warm latency during 256 MiB deploys ...", flush=True)
            res["deploy_load"] = deploy_load(work, rounds, max(2 * secs, 3.0))
        if "crashloop" in parts:
            print("a crash-looping function ...", flush=True)
            res["crashloop"] = crashloop(work, 1 if args.quick else 3)
        if "density" in parts:
            print("density ...", flush=True)
            res["density"] = density(work, counts, 1000)
        if "exec" in parts:
            print("the exec runtime against citadel run and bwrap per request ...", flush=True)
            res["exec"] = exec_runtime(work, rounds, secs)
        if "reshape" in parts:
            print("native warm calls: this build against the one before the reshape ...", flush=True)
            res["reshape"] = reshape(work, rounds, secs)
    print()
    if args.only:
        print(json.dumps(res, indent=2))
        report(res)
        return
    save_results(res, "monitor", plot)
    report(res)
    print(f"\nwritten: {RESULTS / 'monitor.json'}, {RESULTS / 'monitor.png'}")


if __name__ == "__main__":
    main()
