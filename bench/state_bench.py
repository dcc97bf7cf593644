"""The state store under YCSB workloads A, B, C and F (zipfian, 1 KiB values, 100,000
records): through the function API (a function's batches, the monitor's group commit), the
sealed engine in process, and raw LMDB (the limit), side by side in one run; then what a
write costs when each is its own commit (an fsync each) against group commits.

Writes bench/results/state.json and state.png. Run: /usr/bin/python3 bench/state_bench.py
(make bench runs it). Figures are medians of REPEAT runs; the machines are shared and
noisy, so ratios matter more than absolute numbers."""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUILD = Path(os.environ.get("CITADEL_BUILD", ROOT / "build"))
CITADEL = BUILD / "citadel"
sys.path.insert(0, str(BENCH))
from sandbox_bench import save_results  # noqa: E402

RECORDS = int(os.environ.get("YCSB_RECORDS", 100_000))
OPS = int(os.environ.get("YCSB_OPS", 100_000))
BATCH = 100
REPEAT = 3
WORKLOADS = "ABCF"
GOALS = {"C": 95_000, "A": 89_000}  # PSL's published figures, ops/s


def build(work):
    ycsb = work / "ycsb"
    subprocess.run(["gcc", "-O2", "-std=c17", "-D_GNU_SOURCE", "-I", str(ROOT / "src"), "-o", str(ycsb),
                    str(BENCH / "ycsb.c"), *(str(ROOT / "src" / p) for p in (
                        "state/engine.c", "state/seal.c", "state/lmdb.c", "common/error.c")),
                    "-lsodium", "-llmdb", "-lm"], check=True)
    fn = work / "ycsb_fn.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-I", str(ROOT / "include"), "-I", str(ROOT / "src"),
                    "-o", str(fn), str(BENCH / "ycsb_fn.c"), "-lm"], check=True)
    return ycsb, fn


def in_process(ycsb, mode, path, batch, workloads, ops):
    out = subprocess.run([str(ycsb), mode, str(path), str(RECORDS), str(ops), str(batch), workloads],
                         capture_output=True, text=True, check=True).stdout
    return {r["workload"]: r["ops_per_s"] for r in map(json.loads, out.splitlines())}


def through_api(fn, work):
    """A monitor of our own, the function deployed with room for the records; the load, then
    each workload from two callers at once (two instances: the machine's two cores)."""
    state, sock = work / "state", str(work / "m.sock")
    env = {"PATH": os.environ["PATH"], "CITADEL_SOCKET": sock, "CITADEL_LISTEN": "none"}
    mon = subprocess.Popen([str(CITADEL), "serve", "--state-dir", str(state), "--socket", sock, "--listen", "none"],
                           stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert time.monotonic() < deadline and mon.poll() is None, "the monitor did not start"
            time.sleep(0.05)

        def cli(*args):
            r = subprocess.run([str(CITADEL), *args], capture_output=True, env=env, timeout=600)
            assert r.returncode == 0, r.stderr
            return r.stdout.decode()
        cli("deploy", "ycsb", str(fn), "--state-quota", "4G", "--memory", "512M", "--timeout", "10m",
            "--max-instances", "2", "--min-instances", "2")
        cli("invoke", "ycsb", "--data", f"load {RECORDS}")
        res = {}
        for w in WORKLOADS:
            runs = []
            for rep in range(REPEAT):
                with ThreadPoolExecutor(2) as ex:
                    outs = list(ex.map(lambda s: cli("invoke", "ycsb", "--data",
                                                     f"run {w} {OPS // 2} {BATCH} {s + 10 * rep} {RECORDS}"),
                                       (1, 2)))
                stats = [dict(kv.split("=") for kv in o.split()) for o in outs]
                assert all(s["reads"] == s["found"] for s in stats), stats
                # Inside the functions (the CLI's own start and stop aside): the slower of the two.
                inside = max(int(s["ns"]) for s in stats) / 1e9
                runs.append(sum(int(s["ops"]) for s in stats) / inside)
            res[w] = statistics.median(runs)
        return res
    finally:
        mon.terminate()
        mon.wait(timeout=30)


def main():
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="citadel-state-bench.") as tmp:
        work = Path(tmp)  # on the disk, not a tmpfs: fsync is real
        ycsb, fn = build(work)
        res = {"records": RECORDS, "ops": OPS, "batch": BATCH, "value_bytes": 1024, "goals": GOALS}
        for mode in ("raw", "engine"):
            runs = [in_process(ycsb, mode, work / f"{mode}.mdb", BATCH, WORKLOADS, OPS) for _ in range(REPEAT)]
            res[mode] = {w: statistics.median(r[w] for r in runs) for w in WORKLOADS}
            print(f"{mode:8s} " + "  ".join(f"{w}: {res[mode][w]:>9,.0f} ops/s" for w in WORKLOADS), flush=True)
        res["api"] = through_api(fn, work)
        print(f"{'api':8s} " + "  ".join(f"{w}: {res['api'][w]:>9,.0f} ops/s" for w in WORKLOADS), flush=True)
        # Durability's price: workload A's writes, an fsync per write against group commits.
        few = max(OPS // 50, 500)
        res["fsync_per_commit"] = {m: in_process(ycsb, m, work / f"{m}.mdb", 1, "A", few)["A"]
                                   for m in ("raw", "engine")}
        res["group_commit"] = {m: res[m]["A"] for m in ("raw", "engine")}
        print(f"workload A, an fsync per write: raw {res['fsync_per_commit']['raw']:,.0f} ops/s, engine "
              f"{res['fsync_per_commit']['engine']:,.0f} ops/s; in batches of {BATCH}: raw "
              f"{res['group_commit']['raw']:,.0f}, engine {res['group_commit']['engine']:,.0f}")
        res["ratios"] = {
            "engine_vs_raw": {w: res["raw"][w] / res["engine"][w] for w in WORKLOADS},
            "api_vs_goal": {w: res["api"][w] / g for w, g in GOALS.items()},
            "engine_vs_2x_goal": {w: res["engine"][w] / (2 * g) for w, g in GOALS.items()},
        }
        for name, r in res["ratios"].items():
            print(f"{name}: " + ", ".join(f"{w} {v:.2f}" for w, v in r.items()))
    save_results(res, "state", plot)


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.27
    for i, (mode, label) in enumerate((("raw", "raw LMDB"), ("engine", "sealed engine"),
                                       ("api", "function API (batches of %d)" % res["batch"]))):
        xs = [k + (i - 1) * width for k in range(len(WORKLOADS))]
        ax.bar(xs, [res[mode][w] / 1000 for w in WORKLOADS], width, label=label)
    for k, w in enumerate(WORKLOADS):
        if w in res["goals"]:
            ax.hlines(res["goals"][w] / 1000, k - 1.5 * width, k + 1.5 * width, colors="k", linestyles="dashed")
    ax.set_xticks(range(len(WORKLOADS)), [f"YCSB {w}" for w in WORKLOADS])
    ax.set_ylabel("thousand operations per second")
    ax.set_title("State store, 100,000 records of 1 KiB, zipfian (dashes: PSL's figures)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
