#!/usr/bin/python3
"""Citadel's Python runtime (docs/python.md) against the other ways of running a Python
handler per request, in one run, with the goals of issue 17 checked.

- warm: a no-op handler (`def handle(event, context): return None`) called back to back by
  one caller through the local API (bench/invoke_load.c, as a gateway calls), its latency
  inside the monitor (`citadel ls --json` p50_us: the last 1,024 calls of each round) and
  at the caller; the native no-op (build/examples/echo.so) on the same monitor beside it.
  Once with the processes free to run on either CPU, once all on CPU 0.
- lukewarm: a --fresh no-op (a new instance for every call, pre-forked by the pool):
  the monitor's SPAWN-to-HELLO median (`lukewarm_us`: the template's fork, the instance's
  confinement, CPython's after-fork hooks) against a bare fork of a process of the
  template's resident size (bench/forkbench.c, the reference of bench/monitor_bench.py),
  per round, and against a fork of a Python interpreter in the template's state
  (py_forkserver.py --forkbench: the same imports, gc.freeze, os.fork with CPython's
  after-fork hooks, until the child runs); and the call on a fresh instance as its caller
  sees it, paced 10 ms apart so that the pool has refilled and the CPU is idle before each
  call, and back to back.
- per request, the alternatives: a Python fork server (bench/py_forkserver.py, SOCK's
  idea: a parent that imported the same modules forks a child per request, over a unix
  socket; no sandbox), the same server answering without forking (what its client and
  socket cost), and `/usr/bin/python3 -c` running the handler once per request (a new
  interpreter each time, bench/spawn_load.c). These and the lukewarm part run on CPU 0.
- memory: the PSS (smaps_rollup) per idle instance of 50 instances held idle
  (--min-instances 50), summed over the instances' processes (the monitor's descendants
  whose command line is /citadel/zygote and whose parent is their template; the template
  is reported apart), before and after they served calls; against 50 separate
  /usr/bin/python3 interpreters that imported the same modules (the zygote's preloads and
  the handler's module) and ran the handler once. For the no-op and for
  examples/python/page.py (Jinja2, a template compiled at import).
- density: 1,000 idle no-op instances (--min-instances 1000 --max-instances 1000
  --pids 1010 --memory 4G): held or not (and why not), the time to fill, PSS each.

Goals (issue 17), each reported met or not: at most 1 MiB PSS per idle Python instance,
a lukewarm start at most 1.3x a fork of the template, a warm no-op call at most 50 us at
p50 (inside the monitor), 1,000 idle Python instances held.

Writes bench/results/python.json and python.png (with matplotlib). As root; ~3-4 minutes
(--quick: ~1.5 minutes).
"""
import argparse
import datetime
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandbox_bench import save_results, tree  # this directory is on sys.path when run as a script

# The monitors measured here serve no HTTP.
os.environ["CITADEL_LISTEN"] = "none"

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUILD = Path(os.environ.get("CITADEL_BUILD", ROOT / "build"))
CITADEL = BUILD / "citadel"
RESULTS = BENCH / "results"
PY = "/usr/bin/python3"
ZYGOTE = b"/citadel/zygote"
# The python runtime's zygote imports these once for every function (src/zygote/python.c,
# docs/python.md): the interpreters compared with it import the same.
ZYGOTE_PRELOAD = ("json,re,base64,hashlib,zlib,random,math,datetime,collections,itertools,functools,io,struct,"
                  "uuid,urllib.parse,traceback,decimal,string,textwrap,csv,html")
PACE_US = 10000  # between calls on a --fresh function: the pool has refilled, the CPU is idle
NOOP = "def handle(event, context):\n    return None\n"
GOALS = {"pss_kib_per_idle_instance": 1024, "lukewarm_ratio_to_template_fork": 1.3, "warm_p50_us": 50,
         "idle_instances_held": 1000}


def run_json(cmd, timeout=120):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {r.stderr.strip()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def pin(cpu):
    return ["taskset", "-c", str(cpu)] if cpu is not None else []


class Monitor:
    """A `citadel serve --listen none` of the benchmark's own, on a socket and state
    directory under the run's temporary directory; stopped with SIGINT, by its pid."""

    def __init__(self, work, name, cpu=None):
        d = Path(work) / name
        d.mkdir(parents=True)
        self.sock = str(d / "sock")
        self.log = open(d / "monitor.log", "ab")
        self.proc = subprocess.Popen(pin(cpu) + [str(CITADEL), "serve", "--listen", "none", "--state-dir",
                                                 str(d / "state"), "--socket", self.sock], stderr=self.log)
        deadline = time.monotonic() + 15
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the monitor did not start: {(d / 'monitor.log').read_text()[-500:]}")
            time.sleep(0.02)

    def cli(self, *args, timeout=300):
        r = subprocess.run([str(CITADEL), *args], capture_output=True, text=True, timeout=timeout,
                           env={"PATH": os.environ["PATH"], "CITADEL_SOCKET": self.sock})
        if r.returncode != 0:
            raise RuntimeError(f"citadel {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def info(self, name):
        return {f["name"]: f for f in json.loads(self.cli("ls", "--json"))}[name]

    def load(self, fn, callers, seconds, cpu=None, pause_us=0):
        return run_json(pin(cpu) + [str(BUILD / "invoke_load"), self.sock, fn, str(callers), str(seconds), "0",
                                    str(pause_us)], timeout=seconds + 120)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def ppid(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def instances(m):
    """{template pid: [instance pids]} under monitor m: processes running the zygote whose
    parent runs it too (a template's children are its instances; a spare zygote has none)."""
    out = {}
    for p in tree(m.proc.pid):
        if p != m.proc.pid and cmdline(p).startswith(ZYGOTE):
            parent = ppid(p)
            if cmdline(parent).startswith(ZYGOTE):
                out.setdefault(parent, []).append(p)
    return out


def smaps(pid):
    """(PSS, USS) of one process in KiB, from smaps_rollup; None when it is gone."""
    try:
        f = {l.split(":")[0]: int(l.split()[1]) for l in open(f"/proc/{pid}/smaps_rollup") if l.endswith("kB\n")}
    except OSError:
        return None
    return f["Pss"], f["Private_Clean"] + f["Private_Dirty"]


def memory_of(pids):
    got = [x for x in map(smaps, pids) if x]
    if not got:
        return {"processes": 0}
    pss, uss = [g[0] for g in got], [g[1] for g in got]
    return {"processes": len(got), "pss_kib_total": sum(pss), "pss_kib_per_process": sum(pss) / len(got),
            "uss_kib_per_process_median": statistics.median(uss)}


def used_kib():
    m = {l.split(":")[0]: int(l.split()[1]) for l in open("/proc/meminfo")}
    return m["MemTotal"] - m["MemAvailable"]


def vm_rss_kib(pid):
    return int([l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:")][0].split()[1])


def write_handler(work, name, source):
    d = Path(work) / f"src-{name}"
    d.mkdir(parents=True, exist_ok=True)
    (d / "handler.py").write_text(source)
    return d / "handler.py"


def wait_idle(m, fn, n, timeout):
    """Waits (up to timeout seconds, or 30 s without progress) for n idle instances of fn;
    returns (idle, seconds, why it stopped short or None)."""
    t0 = last_t = time.monotonic()
    last = -1
    while True:
        f = m.info(fn)
        if f["idle"] >= n:
            return f["idle"], time.monotonic() - t0, None
        now = time.monotonic()
        if f["idle"] != last:
            last, last_t = f["idle"], now
        if f["state"] != "ready":
            return f["idle"], now - t0, f"the function is {f['state']}: {f['error']}"
        if now - t0 > timeout or now - last_t > 30:
            return f["idle"], now - t0, f"{f['idle']} idle, {f['live']} live after {now - t0:.0f} s"
        time.sleep(0.2)


# ---- warm --------------------------------------------------------------------------------

def warm(work, noop, rounds, seconds):
    out = {}
    for label, cpu in (("any_cpu", None), ("one_cpu", 0)):
        m = Monitor(work, f"warm-{label}", cpu)
        try:
            m.cli("deploy", "py-noop", str(noop), "--min-instances", "2", "--max-instances", "4")
            m.cli("deploy", "native-noop", str(BUILD / "examples" / "echo.so"), "--min-instances", "2",
                  "--max-instances", "4")
            for fn in ("py-noop", "native-noop"):
                m.load(fn, 1, 0.5, cpu)  # warm up
            r = {k: [] for k in ("py_mon", "py_caller", "py_caller_p99", "nat_mon", "nat_caller")}
            for _ in range(rounds):
                py = m.load("py-noop", 1, seconds, cpu)
                r["py_mon"].append(m.info("py-noop")["p50_us"])
                nat = m.load("native-noop", 1, seconds, cpu)
                r["nat_mon"].append(m.info("native-noop")["p50_us"])
                r["py_caller"].append(py["p50_us"])
                r["py_caller_p99"].append(py["p99_us"])
                r["nat_caller"].append(nat["p50_us"])
                r.setdefault("py_per_second", []).append(py["per_second"])
            med = {k: statistics.median(v) for k, v in r.items()}
            out[label] = {"python_monitor_p50_us": med["py_mon"], "python_caller_p50_us": med["py_caller"],
                          "python_caller_p99_us": med["py_caller_p99"],
                          "python_calls_per_second_1_caller": med["py_per_second"],
                          "native_monitor_p50_us": med["nat_mon"], "native_caller_p50_us": med["nat_caller"],
                          "ratio_python_to_native_monitor_p50": med["py_mon"] / med["nat_mon"],
                          "python_monitor_p50_us_per_round": r["py_mon"], "rounds": rounds}
        finally:
            m.stop()
    return out


# ---- lukewarm and per request ----------------------------------------------------------------

def socket_load(path, seconds):
    """One client, one connection per request (4-byte length framing), for `seconds`:
    p50 and p99 of a request's round trip in µs (bench/py_forkserver.py's protocol)."""
    lat = []
    end = time.monotonic() + seconds
    frame = struct.pack("<I", 0)
    while time.monotonic() < end:
        t0 = time.perf_counter_ns()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(path)
            s.sendall(frame)
            head = b""
            while len(head) < 4:
                chunk = s.recv(4 - len(head))
                if not chunk:
                    raise RuntimeError("the fork server closed the connection")
                head += chunk
            n = struct.unpack("<I", head)[0]
            while n:
                n -= len(s.recv(n))
        lat.append((time.perf_counter_ns() - t0) / 1000)
    lat.sort()
    return {"p50_us": lat[len(lat) // 2], "p99_us": lat[int(len(lat) * 0.99)], "runs": len(lat)}


class ForkServer:
    def __init__(self, work, name, handler, fork=True, cpu=0):
        self.path = str(Path(work) / f"{name}.sock")
        self.proc = subprocess.Popen(pin(cpu) + [PY, str(BENCH / "py_forkserver.py"), self.path, str(handler),
                                                 "--preload", ZYGOTE_PRELOAD] + ([] if fork else ["--no-fork"]),
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError("the fork server did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def template_of(m):
    t = instances(m)
    if len(t) != 1:
        raise RuntimeError(f"expected one template, found {len(t)}")
    return next(iter(t))


def lukewarm(work, noop, rounds, seconds):
    """All on CPU 0 (as monitor_bench's lukewarm: waking a never-run task on the other, idle
    vCPU costs ~0.5 ms on these VMs, which would measure the hypervisor)."""
    m = Monitor(work, "lukewarm", 0)
    servers = []
    allowed = os.sched_getaffinity(0)
    try:
        m.cli("deploy", "py-fresh", str(noop), "--fresh", "--min-instances", "4", "--max-instances", "8")
        m.load("py-fresh", 1, 0.3, 0, pause_us=PACE_US)
        rss = vm_rss_kib(template_of(m))
        m.cli("deploy", "native-fresh", str(BUILD / "examples" / "echo.so"), "--fresh", "--min-instances", "4",
              "--max-instances", "8")
        m.load("native-fresh", 1, 0.3, 0, pause_us=PACE_US)
        fork = ForkServer(work, "fork", noop, True)
        servers.append(fork)
        nofork = ForkServer(work, "nofork", noop, False)
        servers.append(nofork)
        code = (f"import sys; sys.path.insert(0, {str(noop.parent)!r}); import handler; "
                "r = handler.handle(sys.stdin.buffer.read(), None); sys.stdout.buffer.write(r or b'')")
        per_req = pin(0) + [str(BUILD / "spawn_load"), str(seconds), "0", PY, "-c", code]
        pyfork = pin(0) + [PY, str(BENCH / "py_forkserver.py"), "-", str(noop), "--forkbench", "100",
                           "--preload", ZYGOTE_PRELOAD]
        r = {k: [] for k in ("spawn", "bare", "ratio", "pyfork", "ratio_pyfork", "fresh_paced", "fresh_b2b",
                             "native_spawn", "fork_server", "no_fork_server", "python3")}
        for _ in range(rounds):
            r["fresh_paced"].append(m.load("py-fresh", 1, seconds, 0, pause_us=PACE_US)["p50_us"])
            r["spawn"].append(m.info("py-fresh")["lukewarm_us"])  # median of its last 64 spawns
            r["bare"].append(run_json(pin(0) + [str(BUILD / "forkbench"), str(rss), "200"])["p50_us"])
            r["ratio"].append(r["spawn"][-1] / r["bare"][-1])
            r["pyfork"].append(run_json(pyfork)["p50_us"])
            r["ratio_pyfork"].append(r["spawn"][-1] / r["pyfork"][-1])
            r["fresh_b2b"].append(m.load("py-fresh", 1, seconds, 0)["p50_us"])
            m.load("native-fresh", 1, seconds / 2, 0, pause_us=PACE_US)
            r["native_spawn"].append(m.info("native-fresh")["lukewarm_us"])
            os.sched_setaffinity(0, {0})
            try:
                r["fork_server"].append(socket_load(fork.path, seconds)["p50_us"])
                r["no_fork_server"].append(socket_load(nofork.path, seconds)["p50_us"])
            finally:
                os.sched_setaffinity(0, allowed)
            r["python3"].append(run_json(per_req, timeout=seconds * 10 + 60)["p50_us"])
        med = {k: statistics.median(v) for k, v in r.items()}
        f = m.info("py-fresh")
        luke = {"template_rss_kib": rss, "rounds": rounds, "cpu": 0,
                "spawn_to_ready_p50_us": med["spawn"], "template_fork_p50_us": med["bare"],
                "ratio_to_template_fork": med["ratio"],
                "ratio_to_template_fork_per_round": [round(x, 2) for x in r["ratio"]],
                "python_fork_p50_us": med["pyfork"], "ratio_to_python_fork": med["ratio_pyfork"],
                "ratio_to_python_fork_per_round": [round(x, 2) for x in r["ratio_pyfork"]],
                "pace_us": PACE_US, "spawn_to_ready_per_round_us": r["spawn"],
                "native_spawn_to_ready_p50_us": med["native_spawn"],
                "fresh_call_paced_p50_us": med["fresh_paced"], "fresh_call_back_to_back_p50_us": med["fresh_b2b"],
                "python_cold_us": f["cold_us"], "python_template_us": f["template_us"]}
        per = {"cpu": 0, "rounds": rounds,
               "citadel_fresh_instance_paced_p50_us": med["fresh_paced"],
               "citadel_fresh_instance_back_to_back_p50_us": med["fresh_b2b"],
               "fork_server_p50_us": med["fork_server"], "server_without_fork_p50_us": med["no_fork_server"],
               "python3_per_request_p50_us": med["python3"],
               "fork_server_per_round": r["fork_server"], "python3_per_round": r["python3"],
               "citadel_fresh_paced_per_round": r["fresh_paced"]}
        per["ratio_citadel_fresh_paced_to_fork_server"] = med["fresh_paced"] / med["fork_server"]
        per["ratio_citadel_fresh_back_to_back_to_fork_server"] = med["fresh_b2b"] / med["fork_server"]
        per["ratio_citadel_fresh_paced_to_python3"] = med["fresh_paced"] / med["python3"]
        per["ratio_fork_server_to_python3"] = med["fork_server"] / med["python3"]
        return luke, per
    finally:
        os.sched_setaffinity(0, allowed)
        for s in servers:
            s.stop()
        m.stop()


# ---- memory --------------------------------------------------------------------------------

INTERPRETER = """
import importlib, sys, types
for mod in {preload!r}.split(","):
    importlib.import_module(mod)
sys.path.insert(0, {dir!r})
import handler
ctx = types.SimpleNamespace(function="f", call_id=1, content_type="", http=None, status=200,
                            content_type_out=None, time_left=lambda: 10.0, log=lambda *a, **k: None)
handler.handle(b"Ada", ctx)
print("ready", flush=True)
sys.stdin.read()
"""


def interpreters(handler, n):
    """n separate /usr/bin/python3, each having imported the zygote's preloads and the
    handler's module and called it once, idle (reading stdin): their PSS."""
    procs = []
    code = INTERPRETER.format(preload=ZYGOTE_PRELOAD, dir=str(handler.parent))
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([PY, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True))
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("an interpreter did not start")
        return memory_of([p.pid for p in procs])
    finally:
        for p in procs:
            if p.poll() is None:
                p.stdin.close()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def memory(work, name, handler, n, callers_seconds):
    """n idle instances of handler: PSS per instance when they are ready, and after n
    callers made calls for a while (so that instances served calls), against n interpreters."""
    m = Monitor(work, f"mem-{name}")
    try:
        m.cli("deploy", name, str(handler), "--min-instances", str(n), "--max-instances", str(n), "--memory", "1G")
        held, secs, why = wait_idle(m, name, n, 120)
        if why:
            raise RuntimeError(f"{name}: {why}")
        time.sleep(1)  # let the pool settle: the last instances finish starting
        tpl, inst = next(iter(instances(m).items()))
        fresh = memory_of(inst)
        load = m.load(name, n, callers_seconds)
        wait_idle(m, name, n, 60)
        tpl, inst = next(iter(instances(m).items()))
        served = memory_of(inst)
        out = {"instances": n, "seconds_to_fill": round(secs, 2), "template_pss_kib": smaps(tpl)[0],
               "template_rss_kib": vm_rss_kib(tpl), "ready": fresh, "after_calls": served,
               "calls_made": load["calls"]}
    finally:
        m.stop()
    out["interpreters"] = interpreters(handler, n)
    out["ratio_pss_instance_after_calls_to_interpreter"] = (served["pss_kib_per_process"] /
                                                            out["interpreters"]["pss_kib_per_process"])
    return out


def density(work, noop, n):
    m = Monitor(work, "density")
    try:
        base = used_kib()
        opts = ["--min-instances", str(n), "--max-instances", str(n), "--pids", str(n + 10), "--memory", "4G"]
        try:
            m.cli("deploy", "py-many", str(noop), *opts)
        except RuntimeError as e:
            return {"wanted": n, "held": 0, "options": " ".join(opts), "stopped_because": str(e)}
        held, secs, why = wait_idle(m, "py-many", n, 300)
        time.sleep(1)
        found = instances(m)
        pids = [p for ps in found.values() for p in ps]
        out = {"wanted": n, "held": held, "options": " ".join(opts), "seconds_to_fill": round(secs, 2),
               "processes_found": len(pids), "memory": memory_of(pids),
               "machine_used_kib_per_instance": (used_kib() - base) / max(held, 1)}
        if why:
            out["stopped_because"] = why
        # Still serving with all of them held: a call answers.
        out["answers_a_call"] = m.load("py-many", 1, 0.2)["calls"] > 0
        return out
    finally:
        m.stop()


# ---- goals, report, plot -------------------------------------------------------------------

def goals(res):
    w = res["warm"]["any_cpu"]["python_monitor_p50_us"]
    w1 = res["warm"]["one_cpu"]["python_monitor_p50_us"]
    lw = res["lukewarm"]["ratio_to_template_fork"]
    pss = res["memory"]["noop"]["after_calls"]["pss_kib_per_process"]
    pss0 = res["memory"]["noop"]["ready"]["pss_kib_per_process"]
    d = res["density"]
    return {
        "pss_per_idle_instance": {
            "goal": "at most 1 MiB PSS per idle Python instance", "goal_kib": GOALS["pss_kib_per_idle_instance"],
            "measured_kib": round(pss, 1), "met": pss <= GOALS["pss_kib_per_idle_instance"],
            "how": f"no-op handler, {res['memory']['noop']['instances']} idle instances after serving calls "
                   f"({pss0:.0f} KiB each before any call); {d.get('memory', {}).get('pss_kib_per_process', 0):.0f} "
                   f"KiB each at {d['held']} instances"},
        "lukewarm": {
            "goal": "a lukewarm start at most 1.3x a fork of the template",
            "goal_ratio": GOALS["lukewarm_ratio_to_template_fork"], "measured_ratio": round(lw, 2),
            "met": lw <= GOALS["lukewarm_ratio_to_template_fork"],
            "ratio_to_python_fork": round(res["lukewarm"]["ratio_to_python_fork"], 2),
            "met_against_python_fork": res["lukewarm"]["ratio_to_python_fork"] <= GOALS["lukewarm_ratio_to_template_fork"],
            "how": f"SPAWN to HELLO {res['lukewarm']['spawn_to_ready_p50_us']} us against a bare fork of a "
                   f"{res['lukewarm']['template_rss_kib']} KiB process {res['lukewarm']['template_fork_p50_us']} us, "
                   f"median of per-round ratios, CPU 0; {res['lukewarm']['ratio_to_python_fork']:.2f}x a fork of a "
                   f"Python interpreter in the template's state ({res['lukewarm']['python_fork_p50_us']:.0f} us)"},
        "warm_p50": {
            "goal": "a warm no-op call at most 50 us at p50", "goal_us": GOALS["warm_p50_us"],
            "measured_us": w, "met": w <= GOALS["warm_p50_us"],
            "how": f"inside the monitor (ls p50_us), 1 caller, any CPU; {w1} us with everything on CPU 0 "
                   f"({'met' if w1 <= GOALS['warm_p50_us'] else 'not met'} there)"},
        "idle_instances": {
            "goal": "1,000 idle Python instances held", "goal_instances": GOALS["idle_instances_held"],
            "measured": d["held"], "met": d["held"] >= GOALS["idle_instances_held"],
            "how": d["options"] + (f"; stopped: {d['stopped_because']}" if "stopped_because" in d else "")},
    }


def report(res):
    w = res["warm"]
    for k in ("any_cpu", "one_cpu"):
        x = w[k]
        print(f"warm no-op ({k.replace('_', ' ')}): python {x['python_monitor_p50_us']} us inside the monitor, "
              f"{x['python_caller_p50_us']:.1f} us at the caller (p99 {x['python_caller_p99_us']:.1f}); native "
              f"{x['native_monitor_p50_us']} / {x['native_caller_p50_us']:.1f} us: python "
              f"{x['ratio_python_to_native_monitor_p50']:.2f}x native inside the monitor")
    lw = res["lukewarm"]
    print(f"lukewarm (CPU 0): python spawn to ready {lw['spawn_to_ready_p50_us']} us = {lw['ratio_to_template_fork']:.2f}x "
          f"a fork of the template's size ({lw['template_rss_kib']} KiB, {lw['template_fork_p50_us']:.0f} us; per round "
          f"{lw['ratio_to_template_fork_per_round']}); {lw['ratio_to_python_fork']:.2f}x a fork of a Python interpreter "
          f"in the template's state ({lw['python_fork_p50_us']:.0f} us; per round {lw['ratio_to_python_fork_per_round']}); "
          f"native spawn {lw['native_spawn_to_ready_p50_us']} us")
    p = res["per_request"]
    print(f"per request (CPU 0): citadel --fresh {p['citadel_fresh_instance_paced_p50_us']:.0f} us paced, "
          f"{p['citadel_fresh_instance_back_to_back_p50_us']:.0f} us back to back; fork server "
          f"{p['fork_server_p50_us']:.0f} us (no fork {p['server_without_fork_p50_us']:.0f} us); python3 per request "
          f"{p['python3_per_request_p50_us']:.0f} us. citadel paced / fork server "
          f"{p['ratio_citadel_fresh_paced_to_fork_server']:.2f}x, / python3 {p['ratio_citadel_fresh_paced_to_python3']:.3f}x")
    for name, x in res["memory"].items():
        print(f"memory {name} x{x['instances']}: PSS per instance {x['ready']['pss_kib_per_process']:.0f} KiB ready, "
              f"{x['after_calls']['pss_kib_per_process']:.0f} KiB after calls (template {x['template_pss_kib']} KiB); "
              f"python3 interpreters {x['interpreters']['pss_kib_per_process']:.0f} KiB each: "
              f"{x['ratio_pss_instance_after_calls_to_interpreter']:.3f}x")
    d = res["density"]
    line = f"density: {d['held']:,} of {d['wanted']:,} idle instances held"
    if "memory" in d:
        line += (f" in {d['seconds_to_fill']} s, PSS {d['memory'].get('pss_kib_per_process', 0):.0f} KiB each, "
                 f"{d['machine_used_kib_per_instance']:.0f} KiB of the machine's memory each")
    if "stopped_because" in d:
        line += f"; stopped: {d['stopped_because']}"
    print(line)
    print("goals (issue 17):")
    for g in res["goals"].values():
        val = next(v for k, v in g.items() if k.startswith("measured"))
        print(f"  {'MET    ' if g['met'] else 'NOT MET'} {g['goal']}: {val} ({g['how']})")


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(2, 2, figsize=(14, 10))
    w = res["warm"]
    labels = ["python\nany CPU", "native\nany CPU", "python\nCPU 0", "native\nCPU 0"]
    mon = [w["any_cpu"]["python_monitor_p50_us"], w["any_cpu"]["native_monitor_p50_us"],
           w["one_cpu"]["python_monitor_p50_us"], w["one_cpu"]["native_monitor_p50_us"]]
    caller = [w["any_cpu"]["python_caller_p50_us"], w["any_cpu"]["native_caller_p50_us"],
              w["one_cpu"]["python_caller_p50_us"], w["one_cpu"]["native_caller_p50_us"]]
    x = range(4)
    ax[0][0].bar([i - 0.2 for i in x], mon, 0.4, label="inside the monitor (ls p50_us)")
    ax[0][0].bar([i + 0.2 for i in x], caller, 0.4, label="at the caller (invoke_load)")
    for i in x:
        ax[0][0].text(i - 0.2, mon[i], f"{mon[i]:.0f}", ha="center", va="bottom", fontsize=8)
        ax[0][0].text(i + 0.2, caller[i], f"{caller[i]:.0f}", ha="center", va="bottom", fontsize=8)
    ax[0][0].set_xticks(list(x), labels)
    ax[0][0].axhline(GOALS["warm_p50_us"], color="r", ls="--", label="goal: 50 µs inside the monitor")
    ax[0][0].set_title("warm no-op call, p50 (µs)")
    ax[0][0].legend(loc="lower right", fontsize=8)
    p, lw = res["per_request"], res["lukewarm"]
    names = ["citadel\n--fresh\npaced", "citadel\n--fresh\nback to back", "fork\nserver", "python3\nper request",
             "spawn\nto ready", "bare fork,\ntemplate's\nsize", "python\nos.fork"]
    vals = [p["citadel_fresh_instance_paced_p50_us"], p["citadel_fresh_instance_back_to_back_p50_us"],
            p["fork_server_p50_us"], p["python3_per_request_p50_us"], lw["spawn_to_ready_p50_us"],
            lw["template_fork_p50_us"], lw["python_fork_p50_us"]]
    bars = ax[0][1].bar(names, vals, color=["C0", "C0", "C7", "C7", "C1", "C7", "C7"])
    for b_, v in zip(bars, vals):
        ax[0][1].text(b_.get_x() + b_.get_width() / 2, v, f"{v:,.0f}", ha="center", va="bottom", fontsize=8)
    ax[0][1].axvline(3.5, color="k", lw=0.5)
    ax[0][1].set_yscale("log")
    ax[0][1].tick_params(axis="x", labelsize=8)
    ax[0][1].set_title(f"per request (left) and lukewarm start (right), p50 µs, CPU 0\nspawn = "
                       f"{lw['ratio_to_template_fork']:.2f}x a bare fork, {lw['ratio_to_python_fork']:.2f}x "
                       "a Python os.fork (goal 1.3x)", fontsize=10)
    mem, d = res["memory"], res["density"]
    groups = [(f"{k}\nx{v['instances']}", v["ready"]["pss_kib_per_process"], v["after_calls"]["pss_kib_per_process"],
               v["interpreters"]["pss_kib_per_process"]) for k, v in mem.items()]
    if d.get("memory", {}).get("processes"):
        groups.append((f"noop\nx{d['held']:,}", d["memory"]["pss_kib_per_process"], None, None))
    x = range(len(groups))
    for off, idx, color, label in ((-0.27, 1, "C9", "instance, ready"), (0, 2, "C0", "instance, after calls"),
                                   (0.27, 3, "C7", "python3 interpreter")):
        for i, g in enumerate(groups):
            if g[idx] is not None:
                ax[1][0].bar(i + off, g[idx], 0.27, color=color, label=label if i == 0 else None)
                ax[1][0].text(i + off, g[idx], f"{g[idx]:,.0f}", ha="center", va="bottom", fontsize=8)
    ax[1][0].axhline(GOALS["pss_kib_per_idle_instance"], color="r", ls="--", label="goal 1 MiB")
    ax[1][0].set_xticks(list(x), [g[0] for g in groups])
    ax[1][0].set_title("PSS per idle process (KiB)")
    ax[1][0].legend(fontsize=8)
    ax[1][1].axis("off")
    units = {"measured_kib": " KiB", "measured_ratio": "x", "measured_us": " µs", "measured": " instances"}
    lines = []
    for g in res["goals"].values():
        k = next(k for k in g if k.startswith("measured"))
        lines.append(f"{'met    ' if g['met'] else 'NOT met'}  {g['goal']}\n         measured: {g[k]}{units[k]}")
    ax[1][1].text(0, 1, "Goals (issue 17)\n\n" + "\n\n".join(lines) + f"\n\n{res['meta']['command']}",
                  va="top", family="monospace", fontsize=10)
    fig.suptitle(f"Citadel Python runtime, {res['meta']['date']} ({res['meta']['cpus']} CPUs)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


PAGE = ROOT / "examples" / "python" / "page.py"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds of 1 s, 20 instances for memory")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--idle", type=int, default=50, help="instances held idle for the memory figures (50)")
    ap.add_argument("--many", type=int, default=1000, help="idle instances for the density goal (1000)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("python_bench: run as root (the monitor makes sandboxes)")
    rounds, secs, idle = (2, 1.0, 20) if args.quick else (args.rounds, args.seconds, args.idle)
    res = {"meta": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "cpus": os.cpu_count(), "kernel": os.uname().release, "python": sys.version.split()[0],
                    "rounds": rounds, "seconds": secs,
                    "command": "/usr/bin/python3 bench/python_bench.py" + (" --quick" if args.quick else "")}}
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="citadel-pybench-") as work:
        noop = write_handler(work, "noop", NOOP)
        print("warm no-op calls ...", flush=True)
        res["warm"] = warm(work, noop, rounds, secs)
        print("lukewarm, fork server, python3 per request ...", flush=True)
        res["lukewarm"], res["per_request"] = lukewarm(work, noop, rounds, secs)
        print(f"memory: {idle} idle instances against {idle} interpreters ...", flush=True)
        res["memory"] = {"noop": memory(work, "noop", noop, idle, secs)}
        if PAGE.exists():
            page = write_handler(work, "page", PAGE.read_text())
            res["memory"]["page.py"] = memory(work, "page", page, idle, secs)
        print(f"density: {args.many:,} idle instances ...", flush=True)
        res["density"] = density(work, noop, args.many)
    res["goals"] = goals(res)
    res["meta"]["wall_seconds"] = round(time.monotonic() - t0, 1)
    print()
    save_results(res, "python", plot)
    report(res)
    print(f"\nwritten: {RESULTS / 'python.json'}, {RESULTS / 'python.png'} ({res['meta']['wall_seconds']} s)")


if __name__ == "__main__":
    main()
