#!/usr/bin/python3
"""The HTTP gateway under load, beside what a user would put there instead, in one run.

wrk (keep-alive, 64 connections, 2 threads) sends `POST /function/hello` (body "World") to:

- citadel: `citadel serve --listen` with examples/hello.so deployed: the gateway
  (sandboxed, libmicrohttpd) and the monitor, a warm instance per call;
- nginx: nginx answering the same bytes itself (`return 200`): what HTTP costs on this
  machine, the ceiling;
- fcgiwrap: nginx passing each request to fcgiwrap, which runs bench/hello_cgi.c (the same
  function as a CGI program): a process per request, the way OpenFaaS's classic watchdog
  runs functions.

And, to choose the gateway's HTTP library by measurement (bench/httplib_hello.c), each
candidate answering the same bytes itself, one thread as the gateway runs it:

- mhd: libmicrohttpd, as the gateway uses it (one internal epoll thread);
- h2o: libh2o's own event loop (evloop), one thread.

All are measured in turns, `--rounds` times, and each figure is the median of its
rounds; the ratios compare medians of the same run. Goals (issue 16): citadel at least
50% of nginx's requests/s and 10x fcgiwrap's, p99 at most 5 ms at that rate.
Writes bench/results/http.json and http.png.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandbox_bench import save_results  # this directory is on sys.path when run as a script

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BUILD = Path(os.environ.get("CITADEL_BUILD", ROOT / "build"))
RESULTS = BENCH / "results"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, path, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
                          "World".encode())
                if s.recv(4096).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered 200 on port {port}{path}")


def wrk(port, path, seconds, work):
    return wrk_url(f"http://127.0.0.1:{port}{path}", seconds, work)


def wrk_url(url, seconds, work, body_file=None, ctype=None):
    """wrk POSTing "World" (or body_file's bytes, with Content-Type ctype) to url: requests/s,
    p50 and p99 in ms, and the count of answers that were not 2xx or 3xx."""
    script = work / "post.lua"
    if body_file:
        script.write_text('local f = io.open("%s", "rb")\nwrk.method = "POST"\nwrk.body = f:read("*a")\nf:close()\n'
                          'wrk.headers["Content-Type"] = "%s"\n' % (body_file, ctype))
    else:
        script.write_text('wrk.method = "POST"\nwrk.body = "World"\n')
    r = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", "-s", str(script), url],
                       capture_output=True, text=True, timeout=seconds + 60)
    out = r.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label):
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": ms("50"), "p99_ms": ms("99"), "non_2xx": int(errors.group(1)) if errors else 0}


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
    fastcgi_temp_path {work}/fastcgi;
    proxy_temp_path {work}/proxy;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{static_port};
        location / {{ return 200 "Hello, World!\\n"; }}
    }}
    server {{
        listen 127.0.0.1:{cgi_port};
        location / {{
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME {cgi};
            fastcgi_pass unix:{work}/fcgiwrap.sock;
        }}
    }}
}}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="1 round of 3 s: a smoke run")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.seconds = 1, 3
    for tool in ("wrk", "nginx", "fcgiwrap"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is missing: scripts/deps.sh bench installs it")
    work = Path(tempfile.mkdtemp(prefix="citadel-http-bench-"))
    procs = []
    try:
        for d in ("body", "fastcgi", "proxy", "uwsgi", "scgi"):
            (work / d).mkdir()
        cit_port, static_port, cgi_port = free_port(), free_port(), free_port()
        log = open(work / "citadel.log", "wb")
        mon = subprocess.Popen([str(BUILD / "citadel"), "serve", "--state-dir", str(work / "state"), "--socket",
                                str(work / "s.sock"), "--listen", f"127.0.0.1:{cit_port}"], stderr=log)
        procs.append(mon)
        deadline = time.monotonic() + 30
        while not (work / "s.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        env = dict(os.environ, CITADEL_SOCKET=str(work / "s.sock"))
        subprocess.run([str(BUILD / "citadel"), "deploy", "hello", str(BUILD / "examples" / "hello.so"),
                        "--max-instances", "64"], check=True, env=env, capture_output=True)
        # fcgiwrap's children outlive their parent: a session of their own, ended whole.
        fcgi = subprocess.Popen(["/usr/sbin/fcgiwrap", "-c", "4", "-s", f"unix:{work}/fcgiwrap.sock"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        procs.append(fcgi)
        conf = work / "nginx.conf"
        conf.write_text(NGINX_CONF.format(work=work, static_port=static_port, cgi_port=cgi_port,
                                          cgi=BUILD / "hello_cgi"))
        nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(work)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        procs.append(nginx)
        targets = {"citadel": (cit_port, "/function/hello"), "nginx": (static_port, "/"),
                   "fcgiwrap": (cgi_port, "/hello")}
        hello = BUILD / "httplib_hello"
        if hello.exists():
            for lib in ("mhd", "h2o"):
                port = free_port()
                procs.append(subprocess.Popen([str(hello), lib, str(port)]))
                targets[lib] = (port, "/")
        else:
            print("(no build/httplib_hello: libh2o-evloop-dev is missing; scripts/deps.sh bench installs it)")
        for port, path in targets.values():
            wait_http(port, path)
        runs = {k: [] for k in targets}
        for rnd in range(a.rounds):
            for name, (port, path) in targets.items():
                r = wrk(port, path, a.seconds, work)
                runs[name].append(r)
                print(f"round {rnd + 1} {name:9s} {r['rps']:10.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
                      f"p99 {r['p99_ms']:.2f} ms  non-2xx {r['non_2xx']}", flush=True)
        res = {"meta": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                        "cpus": os.cpu_count(), "kernel": os.uname().release, "rounds": a.rounds,
                        "seconds": a.seconds, "connections": 64, "threads": 2},
               "runs": runs}
        for name, rs in runs.items():
            res[name] = {k: statistics.median(r[k] for r in rs) for k in ("rps", "p50_ms", "p99_ms")}
            res[name]["non_2xx"] = sum(r["non_2xx"] for r in rs)
        res["ratio_rps_citadel_to_nginx"] = res["citadel"]["rps"] / res["nginx"]["rps"]
        res["ratio_rps_citadel_to_fcgiwrap"] = res["citadel"]["rps"] / res["fcgiwrap"]["rps"]
        if "h2o" in res:
            res["ratio_rps_h2o_to_mhd"] = res["h2o"]["rps"] / res["mhd"]["rps"]
            res["ratio_rps_citadel_to_mhd"] = res["citadel"]["rps"] / res["mhd"]["rps"]
        print(json.dumps({k: v for k, v in res.items() if k != "runs"}, indent=2))
        save_results(res, "http", plot)
    finally:
        if len(procs) > 1 and procs[1].poll() is None:
            os.killpg(procs[1].pid, signal.SIGTERM)  # fcgiwrap's session, made by us above
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
    names = [n for n in ("nginx", "h2o", "mhd", "citadel", "fcgiwrap") if n in res]
    colors = {"nginx": "#999", "h2o": "#bbb", "mhd": "#bbb", "citadel": "#36c", "fcgiwrap": "#c63"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.bar(names, [res[n]["rps"] for n in names], color=[colors[n] for n in names])
    ax1.set_ylabel("requests/s (median of rounds)")
    ax1.set_title("POST, 64 connections (h2o, mhd: the libraries alone)")
    ax2.bar(names, [res[n]["p99_ms"] for n in names], color=[colors[n] for n in names])
    ax2.set_ylabel("p99 latency (ms)")
    ax2.set_title(f"citadel: {res['ratio_rps_citadel_to_nginx']:.0%} of nginx, "
                  f"{res['ratio_rps_citadel_to_fcgiwrap']:.1f}x fcgiwrap")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
