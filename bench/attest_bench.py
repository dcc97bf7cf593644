#!/usr/bin/python3
"""What confidentiality costs an invocation, beside what a user would use instead, in one run.

wrk (keep-alive, 64 connections, 2 threads) POSTs a 1 KiB request to examples/echo.so
deployed in `citadel serve --listen`, and reads its 1 KiB response, three ways:

- plain: /v1/functions/echo/invoke in the clear: the baseline;
- sealed: the same route, the body a sealed request (docs/attestation.md) made with
  PyNaCl from the function's report: the monitor opens it, and seals the response to the
  request's one-time key. wrk sends the same sealed request each time, so this measures the
  monitor's part, not the client's;
- tls: nginx terminating TLS 1.3 (a self-signed ECDSA P-256 certificate, keep-alive) in
  front of the same gateway: what a user would put there for confidentiality on the wire.
  Note the difference: nginx, and the gateway behind it, see the plaintext.

And the CLI, one call at a time (median of --calls): `citadel invoke` against `citadel
invoke --seal`, which also fetches and checks a fresh report each time; and the time the
monitor takes to measure itself (its first report).

All are measured in turns, `--rounds` times, each figure the median of its rounds; the
ratios compare medians of the same run. Writes bench/results/attest.json and attest.png.
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

import nacl.public

from http_bench import free_port, wait_http, wrk_url
from sandbox_bench import save_results  # this directory is on sys.path when run as a script

BENCH = Path(__file__).resolve().parent
BUILD = Path(os.environ.get("CITADEL_BUILD", BENCH.parent / "build"))
SIZE = 1024

NGINX_CONF = """
daemon off;
master_process on;
user root;
worker_processes 2;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    upstream citadel {{ server 127.0.0.1:{cit_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {work}/cert.pem;
        ssl_certificate_key {work}/key.pem;
        ssl_protocols TLSv1.3;
        location / {{
            proxy_pass http://citadel;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def cli_ms(env, args, calls):
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        subprocess.run([str(BUILD / "citadel"), *args], env=env, check=True, capture_output=True, timeout=60)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="1 round of 3 s, 10 calls: a smoke run")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.seconds, a.calls = 1, 3, 10
    for tool in ("wrk", "nginx", "openssl"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is missing: scripts/deps.sh bench installs it")
    work = Path(tempfile.mkdtemp(prefix="citadel-attest-bench-"))
    procs = []
    try:
        for d in ("body", "proxy"):
            (work / d).mkdir()
        cit_port, tls_port = free_port(), free_port()
        log = open(work / "citadel.log", "wb")
        t0 = time.perf_counter()
        mon = subprocess.Popen([str(BUILD / "citadel"), "serve", "--state-dir", str(work / "state"), "--socket",
                                str(work / "s.sock"), "--listen", f"127.0.0.1:{cit_port}"], stderr=log)
        procs.append(mon)
        deadline = time.monotonic() + 30
        while not (work / "s.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = dict(os.environ, CITADEL_SOCKET=str(work / "s.sock"))

        def cli(*args):
            return subprocess.run([str(BUILD / "citadel"), *args], check=True, env=env, capture_output=True,
                                  timeout=60).stdout
        cli("deploy", "echo", str(BUILD / "examples" / "echo.so"), "--max-instances", "64")
        t0 = time.perf_counter()
        key = cli("key").decode().strip()
        first_report_ms = (time.perf_counter() - t0) * 1000
        report = json.loads(json.loads(cli("attest", "echo"))["body"])
        mine = nacl.public.PrivateKey.generate()
        request = os.urandom(SIZE)
        sealed = nacl.public.SealedBox(nacl.public.PublicKey(bytes.fromhex(report["sealing_key"]))).encrypt(
            bytes(mine.public_key) + b"\0" + request)
        (work / "plain").write_bytes(request)
        (work / "sealed").write_bytes(sealed)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", str(work / "key.pem"), "-out", str(work / "cert.pem"), "-days", "1", "-subj",
                        "/CN=127.0.0.1"], check=True, capture_output=True, timeout=60)
        conf = work / "nginx.conf"
        conf.write_text(NGINX_CONF.format(work=work, cit_port=cit_port, tls_port=tls_port))
        procs.append(subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        wait_http(cit_port, "/v1/functions/echo/invoke")
        time.sleep(0.5)
        path = "/v1/functions/echo/invoke"
        targets = {
            "plain": (f"http://127.0.0.1:{cit_port}{path}", work / "plain", "application/octet-stream"),
            "sealed": (f"http://127.0.0.1:{cit_port}{path}", work / "sealed", "application/vnd.citadel.sealed"),
            "tls": (f"https://127.0.0.1:{tls_port}{path}", work / "plain", "application/octet-stream"),
        }
        runs = {k: [] for k in targets}
        cli_runs = {"invoke": [], "invoke_seal": []}
        (work / "req").write_bytes(request)
        for rnd in range(a.rounds):
            for name, (url, body, ctype) in targets.items():
                r = wrk_url(url, a.seconds, work, body, ctype)
                runs[name].append(r)
                print(f"round {rnd + 1} {name:7s} {r['rps']:10.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
                      f"p99 {r['p99_ms']:.2f} ms  non-2xx {r['non_2xx']}", flush=True)
            cli_runs["invoke"].append(cli_ms(env, ["invoke", "echo", "--file", str(work / "req")], a.calls))
            cli_runs["invoke_seal"].append(cli_ms(env, ["invoke", "echo", "--seal", "--key", key, "--file",
                                                        str(work / "req")], a.calls))
            print(f"round {rnd + 1} cli     invoke {cli_runs['invoke'][-1]:.2f} ms  invoke --seal "
                  f"{cli_runs['invoke_seal'][-1]:.2f} ms", flush=True)
        res = {"meta": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                        "cpus": os.cpu_count(), "kernel": os.uname().release, "rounds": a.rounds,
                        "seconds": a.seconds, "connections": 64, "threads": 2, "bytes": SIZE, "calls": a.calls},
               "runs": runs, "cli_runs": cli_runs, "first_report_ms": first_report_ms}
        for name, rs in runs.items():
            res[name] = {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_ms", "p99_ms")}
            res[name]["non_2xx"] = sum(r["non_2xx"] for r in rs)
        res["cli"] = {k: statistics.median(v) for k, v in cli_runs.items()}
        res["ratio_rps_sealed_to_plain"] = res["sealed"]["rps"] / res["plain"]["rps"]
        res["ratio_rps_tls_to_plain"] = res["tls"]["rps"] / res["plain"]["rps"]
        res["ratio_rps_sealed_to_tls"] = res["sealed"]["rps"] / res["tls"]["rps"]
        res["ratio_cli_seal_to_plain"] = res["cli"]["invoke_seal"] / res["cli"]["invoke"]
        print(json.dumps({k: v for k, v in res.items() if not k.endswith("runs")}, indent=2))
        save_results(res, "attest", plot)
    finally:
        for p in reversed(procs):  # our own children, by their Popen
            if p.poll() is None:
                p.send_signal(signal.SIGTERM if p is not procs[0] else signal.SIGINT)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(work, ignore_errors=True)


def plot(res, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = ["plain", "sealed", "tls"]
    colors = {"plain": "#999", "sealed": "#36c", "tls": "#c63"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.bar(names, [res[n]["rps"] for n in names], color=[colors[n] for n in names])
    ax1.set_ylabel("requests/s (median of rounds)")
    ax1.set_title(f"1 KiB POST to echo, 64 connections: sealed {res['ratio_rps_sealed_to_plain']:.0%} of plain, "
                  f"TLS {res['ratio_rps_tls_to_plain']:.0%}", fontsize=9)
    ax2.bar(["invoke", "invoke --seal"], [res["cli"]["invoke"], res["cli"]["invoke_seal"]],
            color=["#999", "#36c"])
    ax2.set_ylabel("ms per CLI call (median)")
    ax2.set_title("the CLI, one call at a time (--seal fetches and checks a report too)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
