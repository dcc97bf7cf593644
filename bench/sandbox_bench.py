#!/usr/bin/python3
"""Start-up latency and memory cost of Citadel next to other ways of starting a process.

For each tool (plain fork+exec, unshare, bwrap, firejail, runc, crun, citadel) it measures
the wall time from spawn to reaped exit of /bin/true and of a static "hello, world", then
the proportional set size (PSS) of concurrent sandboxes each running `sleep 30`.
Timing is done by bench/launch.c so no interpreter sits inside the measured interval.
Writes bench/results/sandbox.json and sandbox.png; see bench/README.md.
"""
import argparse
import datetime
import glob
import json
import math
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
CITADEL = os.environ.get("CITADEL", str(BENCH.parent / "build" / "citadel"))
WORKLOADS = ("true", "hello")
# Where citadel and the OCI containers see the static hello. Under /tmp because citadel's
# /tmp is a tmpfs where it can create the bind mount point; its /opt etc. are read-only.
IN_SANDBOX = "/tmp/bench"
CALL_TIMEOUT = 120  # seconds allowed for any single probe or launcher call
SETTLE_TIMEOUT = 30  # seconds for a batch of sleeping sandboxes to come up
STOP_GRACE = 5  # seconds a tool gets to clean up after its sandboxed process is killed
UNIFIED = "/sys/fs/cgroup/unified"


@dataclass
class Tool:
    name: str
    argv: Callable[[str, str], list]  # (workload, instance id) -> command line
    prefix: tuple = ()  # wraps the launcher (timing) or the tool (memory)
    missing: str = ""  # why the tool cannot run at all, if it cannot
    env: dict | None = None  # added to the environment of the tool
    no_memory: str = ""  # why its sandboxes' memory cannot be measured, if it cannot


def save_results(res, name, plot):
    """Writes bench/results/NAME.json and, with matplotlib, NAME.png (plot(res, path))."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(res, indent=2) + "\n")
    try:
        plot(res, RESULTS / f"{name}.png")
    except ImportError:
        print("(no matplotlib: no plot)")


def build(work):
    """Compile the launcher and the static hello; the hello lands in the OCI rootfs, whose
    tmp/bench directory is also what citadel gets with --ro."""
    hello_dir = work / "rootfs" / IN_SANDBOX.lstrip("/")
    hello_dir.mkdir(parents=True)
    for src, out, flags in (("launch.c", work / "launch", ["-Wall", "-Wextra", "-Werror"]),
                            ("hello.c", hello_dir / "hello", ["-static"])):
        subprocess.run(["gcc", "-O2", *flags, "-o", str(out), str(BENCH / src)], check=True)
    return work / "launch", hello_dir


def oci_bundles(work, oci_runtime):
    """One bundle per workload (OCI takes the command from config.json), sharing a rootfs
    that is the host's /usr bound read-only plus the hello: the same /bin/true as outside."""
    rootfs = work / "rootfs"
    for d in ("proc", "dev", "sys", "usr"):
        (rootfs / d).mkdir()
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink("/" + link):
            (rootfs / link).symlink_to(os.readlink("/" + link))
    subprocess.run([oci_runtime, "spec"], cwd=work, check=True)
    spec = json.loads((work / "config.json").read_text())
    spec["root"]["path"] = str(rootfs)
    spec["process"]["terminal"] = False
    spec["mounts"].append({"destination": "/usr", "type": "bind", "source": "/usr",
                           "options": ["rbind", "ro"]})
    bundles = {}
    for workload, args in (("true", ["/bin/true"]), ("hello", [IN_SANDBOX + "/hello"]),
                           ("sleep", ["/bin/sleep", "30"])):
        spec["process"]["args"] = args
        bundles[workload] = work / f"bundle-{workload}"
        bundles[workload].mkdir(parents=True)
        (bundles[workload] / "config.json").write_text(json.dumps(spec))
    return bundles


def crun_prefix():
    """crun refuses a hybrid cgroup layout whose cgroup2 side holds a controller (hugetlb
    here). Hide that mount in a private mount namespace so crun, like runc, uses cgroup v1
    only; the host is left untouched and the namespace is made once per launcher call."""
    if not os.path.ismount(UNIFIED):
        return ()
    return ("unshare", "--mount", "--propagation", "private",
            "sh", "-c", f'umount {UNIFIED} && exec "$@"', "sh")


def make_tools(hello_dir, bundles):
    host = {"true": ["/bin/true"], "hello": [str(hello_dir / "hello")],
            "sleep": ["/bin/sleep", "30"]}
    inside = dict(host, hello=[IN_SANDBOX + "/hello"])
    wrappers = {
        "fork+exec": [],
        "unshare": ["unshare", "-Urmpin", "--fork"],
        "bwrap": ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev",
                  "--proc", "/proc"],
        "firejail": ["firejail", "--quiet", "--noprofile"],
    }
    tools = [Tool(name, lambda w, _id, pre=pre: pre + host[w],
                  missing="" if not pre or shutil.which(pre[0]) else f"{pre[0]} not installed")
             for name, pre in wrappers.items()]
    for name, prefix in (("runc", ()), ("crun", crun_prefix())):
        def oci(w, cid, name=name):
            return [name, "run", "--bundle", str(bundles[w]), f"citadel-bench-{os.getpid()}-{cid}"]
        tools.append(Tool(name, oci, prefix, "" if shutil.which(name) else f"{name} not installed"))

    def citadel(w, _id):
        ro = ["--ro", f"{hello_dir}:{IN_SANDBOX}"] if w == "hello" else []
        # A run that hangs fails its cell after 5 s rather than the 60 s default timeout;
        # the sleeping sandboxes keep the default, which outlasts their `sleep 30`.
        limit = [] if w == "sleep" else ["--timeout", "5s"]
        return [CITADEL, "run", *limit, *ro, "--", *inside[w]]
    built = "" if os.access(CITADEL, os.X_OK) else f"{CITADEL} not built"
    # As users get it: runs claim a sandbox their configuration's warm pool made ahead of
    # time (hello's --ro bind has a pool of its own). A warm sandbox is the pool keeper's child,
    # not the run's, so its memory is measured with the pool off, as citadel-cold.
    tools.append(Tool("citadel", citadel, missing=built,
                      no_memory="warm sandboxes are not the run's descendants: see citadel-cold"))
    tools.append(Tool("citadel-cold", citadel, missing=built, env={"CITADEL_WARM": "0"}))
    return tools


def environment(tool):
    return {**os.environ, **tool.env} if tool.env else None


def run_bounded(tool, cmd, timeout=CALL_TIMEOUT):
    """Run cmd in a new session; on timeout kill that process group, and only it."""
    with subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True,
                          env=environment(tool)) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            return None, "", f"timed out after {timeout} s"
    return p.returncode, out, err


def failure(rc, err):
    """The tool's last words: the last two stderr lines (the tool's, then the launcher's)."""
    lines = [line.strip() for line in err.splitlines() if line.strip()]
    return " | ".join(lines[-2:]) if lines else f"exit status {rc}"


def probe(tool, workload):
    """Run once directly; return why the tool cannot run this workload, or ''."""
    rc, out, err = run_bounded(tool, [*tool.prefix, *tool.argv(workload, workload)])
    if rc != 0:
        return failure(rc, err)
    if workload == "hello" and out != "hello, world\n":
        return f"unexpected output {out[:40]!r}"
    return ""


def p95(xs):
    xs = sorted(xs)
    return xs[math.ceil(0.95 * len(xs)) - 1]


def measure_latency(launcher, tools, rounds, runs):
    """Round-robin over every (tool, workload) cell, rotating the order each round, so
    drifting machine noise is shared by all cells. Returns {(tool, workload): cell}."""
    reasons = {(t.name, w): t.missing or probe(t, w) for t in tools for w in WORKLOADS}
    samples = {cell: [] for cell, why in reasons.items() if not why}
    by_name = {t.name: t for t in tools}
    cells = list(samples)
    start = time.monotonic()
    for r in range(rounds if cells else 0):
        print(f"  round {r + 1}/{rounds} ({time.monotonic() - start:.0f} s)", file=sys.stderr)
        k = r % len(cells)
        for name, w in cells[k:] + cells[:k]:
            if reasons[name, w]:
                continue
            tool = by_name[name]
            cmd = [*tool.prefix, str(launcher), str(runs), *tool.argv(w, w)]
            rc, out, err = run_bounded(tool, cmd)
            if rc == 0:
                samples[name, w] += [int(x) for x in out.split()]
            else:
                reasons[name, w] = f"failed in round {r + 1}: {failure(rc, err)}"
    result = {}
    for cell, why in reasons.items():
        xs = samples.get(cell) if not why else None
        result[cell] = {"available": bool(xs), "reason": why, "n": len(xs or []),
                        "median_us": round(statistics.median(xs)) if xs else None,
                        "p95_us": p95(xs) if xs else None}
    return result


def children(pid):
    found = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            found += [int(c) for c in Path(path).read_text().split()]
        except OSError:  # exited meanwhile
            pass
    return found


def tree(root):
    """root and all its descendants."""
    pids, todo = [], [root]
    while todo:
        pids.append(todo.pop())
        todo += children(pids[-1])
    return pids


def read_proc(pid, name):
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except OSError:  # exited meanwhile
        return ""


def pss_kib(pid):
    for line in read_proc(pid, "smaps_rollup").splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def warm_pool_cost():
    """PSS of the warm pool that citadel's runs left: the keeper of CITADEL's pool (a
    `citadel __keeper` reparented to init, running that binary) and everything under it,
    the parked sandboxes included. What a user pays for warm starts while a pool lives."""
    exe = os.path.realpath(CITADEL)
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            if (read_proc(pid, "cmdline") == "citadel\0__keeper\0" and os.readlink(f"/proc/{pid}/exe") == exe
                    and int(read_proc(pid, "stat").rsplit(")", 1)[1].split()[1]) == 1):
                pids = tree(pid)
                return {"available": True, "processes": len(pids),
                        "pss_kib": sum(pss_kib(p) for p in pids)}
        except (OSError, ValueError, IndexError):
            continue
    return {"available": False, "reason": "no keeper of this binary's pool is running"}


def stop(procs):
    """Kill exactly the processes we started and their descendants: the sandboxed leaves
    first, so each tool can clean up (runc/crun delete their state and cgroups), then,
    after a grace period, the process groups we created and any process still left.
    A root already reaped (it exited early) is skipped: its pid may have been reused."""
    fds = {}
    for p in procs:
        for pid in tree(p.pid) if p.returncode is None else []:
            try:
                fds[pid] = os.pidfd_open(pid)  # pins the identity: no pid-reuse mistakes
            except ProcessLookupError:
                pass
    leaves = {pid for pid in fds if not children(pid)}

    def kill(pids):
        for pid in pids:
            try:
                signal.pidfd_send_signal(fds[pid], signal.SIGKILL)
            except ProcessLookupError:
                pass

    kill(leaves)
    poller = select.poll()
    roots = {fds[p.pid]: p for p in procs if p.pid in fds}
    for fd in roots:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + STOP_GRACE
    while roots and time.monotonic() < deadline:
        for fd, _ in poller.poll(100):
            poller.unregister(fd)
            roots.pop(fd)
    for p in roots.values():  # still running, so the group id is still ours
        os.killpg(p.pid, signal.SIGKILL)
    kill(fds)
    for p in procs:
        p.wait(timeout=CALL_TIMEOUT)
    for fd in fds.values():
        os.close(fd)


def measure_memory(tool, count):
    """Start `count` sandboxes running `sleep 30`, measure them, then always stop them."""
    procs = []
    # A file, not a pipe: reading it cannot block on a descendant holding the write end.
    with tempfile.TemporaryFile() as errors:
        try:
            for i in range(count):
                procs.append(subprocess.Popen(
                    [*tool.prefix, *tool.argv("sleep", f"sleep{i}")], stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True,
                    env=environment(tool)))
            return sample_memory(procs, errors)
        finally:
            stop(procs)


def sample_memory(procs, errors):
    """Wait until every sandbox runs sleep, then sum PSS over each one's process tree."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        exited = [p for p in procs if p.poll() is not None]
        if exited:
            errors.seek(0)
            err = errors.read().decode(errors="replace")
            return {"available": False, "reason": failure(exited[0].returncode, err)}
        trees = [tree(p.pid) for p in procs]
        if all(any(read_proc(pid, "comm") == "sleep\n" for pid in t) for t in trees):
            break
        if time.monotonic() > deadline:
            return {"available": False,
                    "reason": f"sandboxes not all sleeping after {SETTLE_TIMEOUT} s"}
        time.sleep(0.05)
    per = [sum(pss_kib(pid) for pid in t) for t in trees]
    return {"available": True, "reason": "", "sandboxes": len(procs),
            "processes_per_sandbox": round(statistics.mean(map(len, trees)), 1),
            "total_pss_kib": sum(per), "pss_kib_per_sandbox": round(statistics.mean(per))}


def fmt_ms(us):
    return f"{us / 1000:8.2f}" if us is not None else "     n/a"


def report(results):
    print(f"\n{'tool':12} {'true ms':>8} {'p95':>8} {'hello ms':>8} {'p95':>8} "
          f"{'PSS/sandbox':>11} {'PSS total':>11}")
    for name, r in results.items():
        mem = r["memory"]
        keys = ("pss_kib_per_sandbox", "total_pss_kib")
        pss = (" ".join(f"{mem[k] / 1024:7.2f} MiB" for k in keys) if mem["available"]
               else f"{'n/a':>11} {'n/a':>11}")
        print(f"{name:12} {fmt_ms(r['true']['median_us'])} {fmt_ms(r['true']['p95_us'])} "
              f"{fmt_ms(r['hello']['median_us'])} {fmt_ms(r['hello']['p95_us'])} {pss}")
    for name, r in results.items():
        parts_by_reason = {}
        for part in (*WORKLOADS, "memory"):
            if r[part]["reason"]:
                parts_by_reason.setdefault(r[part]["reason"], []).append(part)
        for why, parts in parts_by_reason.items():
            print(f"  {name} {'+'.join(parts)} unavailable: {why}")
    ratios = {}
    pool = results.get("citadel", {}).get("pool", {})
    if pool.get("available"):
        print(f"  citadel's warm pool: {pool['processes']} processes (keeper, parked sandboxes), "
              f"{pool['pss_kib'] / 1024:.2f} MiB PSS in all")
    metrics = {w: (w, "median_us") for w in WORKLOADS} | {"pss": ("memory", "pss_kib_per_sandbox")}
    for cit in (n for n in results if n.startswith("citadel")):
        for name in (n for n in results if not n.startswith("citadel")):
            a, b = results[cit], results[name]
            row = {m: round(a[part][key] / b[part][key], 2) for m, (part, key) in metrics.items()
                   if a[part]["available"] and b[part]["available"]}
            if row:
                ratios[f"{cit}/{name}"] = row
    print("\nratios of medians (>1: citadel slower/larger)" if ratios
          else "\nno citadel ratios: citadel did not run")
    for key, row in ratios.items():
        print(f"  {key:24} " + "  ".join(f"{k} {v:6.2f}x" for k, v in row.items()))
    return ratios


def plot(results, meta, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, (lat, mem) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    for j, w in enumerate(WORKLOADS):
        xs = [i for i, n in enumerate(names) if results[n][w]["available"]]
        med = [results[names[i]][w]["median_us"] / 1000 for i in xs]
        up = [results[names[i]][w]["p95_us"] / 1000 - m for i, m in zip(xs, med)]
        bars = lat.bar([i + (j - 0.5) * 0.4 for i in xs], med, 0.4, yerr=[[0] * len(xs), up],
                       capsize=3, label=f"{w} (median, whisker p95)")
        for bar, m in zip(bars, med):  # inside the bar's top: whiskers sit above it
            lat.text(bar.get_x() + bar.get_width() / 2, m * 0.93, f"{m:.{0 if m >= 10 else 1}f}",
                     ha="center", va="top", fontsize=7, color="white")
    lat.set_yscale("log")
    lat.set_xticks(range(len(names)), [n if any(results[n][w]["available"] for w in WORKLOADS)
                                       else f"{n}\n(n/a)" for n in names])
    lat.set_ylabel("start-to-exit wall time, ms (log)")
    lat.set_title(f"start-up latency, {meta['runs_per_cell']} runs per bar")
    lat.legend(fontsize=8)
    shown = [n for n in names if results[n]["memory"]["available"]]
    pss = [results[n]["memory"]["pss_kib_per_sandbox"] / 1024 for n in shown]
    colors = ["tab:red" if n.startswith("citadel") else "tab:gray" for n in shown]
    bars = mem.bar(shown, pss, color=colors)
    mem.bar_label(bars, labels=[f"{v:.2f}" for v in pss], fontsize=8)
    mem.set_ylabel("PSS per sandbox, MiB")
    mem.set_title(f"memory of {meta['sandboxes']} concurrent `sleep 30` sandboxes")
    mem.tick_params(axis="x", labelrotation=30)
    fig.suptitle(f"Citadel vs. other sandboxes, {meta['cpus']}-CPU {meta['kernel']}"
                 f"{' (quick)' if meta['quick'] else ''}: noisy VM, compare medians only")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="~20 s smoke run")
    ap.add_argument("--rounds", type=int, help="round-robin rounds (default 10, quick 3)")
    ap.add_argument("--runs", type=int, help="runs per cell per round (default 20, quick 5)")
    ap.add_argument("--sandboxes", type=int, help="concurrent sandboxes (default 20, quick 5)")
    args = ap.parse_args()
    rounds = args.rounds or (3 if args.quick else 10)
    runs = args.runs or (5 if args.quick else 20)
    count = args.sandboxes or (5 if args.quick else 20)
    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "kernel": os.uname().release, "cpus": os.cpu_count(), "quick": args.quick,
            "rounds": rounds, "runs_per_round": runs, "runs_per_cell": rounds * runs,
            "sandboxes": count, "citadel": CITADEL}
    with tempfile.TemporaryDirectory(prefix="citadel-bench-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # the sandboxes' users must be able to reach the hello
        launcher, hello_dir = build(work)
        oci_runtime = shutil.which("runc") or shutil.which("crun")
        bundles = oci_bundles(work, oci_runtime) if oci_runtime else {}
        tools = make_tools(hello_dir, bundles)
        print(f"latency: {rounds} rounds x {runs} runs per tool and workload", file=sys.stderr)
        latency = measure_latency(launcher, tools, rounds, runs)
        results = {t.name: {w: latency[t.name, w] for w in WORKLOADS} for t in tools}
        print(f"memory: {count} concurrent sandboxes per tool", file=sys.stderr)
        for t in tools:
            why_not = t.missing or t.no_memory
            results[t.name]["memory"] = (measure_memory(t, count) if not why_not
                                         else {"available": False, "reason": why_not})
    results["citadel"]["pool"] = warm_pool_cost()
    ratios = report(results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sandbox.json").write_text(
        json.dumps({"meta": meta, "tools": results, "ratios": ratios}, indent=1) + "\n")
    plot(results, meta, RESULTS / "sandbox.png")
    print(f"\nwrote {RESULTS / 'sandbox.json'} and {RESULTS / 'sandbox.png'}")


if __name__ == "__main__":
    main()
