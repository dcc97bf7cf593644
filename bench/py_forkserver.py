#!/usr/bin/python3
"""A Python fork server, the baseline bench/python_bench.py measures Citadel's Python
runtime against (SOCK's idea, without its containers): one parent interpreter imports the
modules once, then forks a child per request; the child runs the handler and answers.

    py_forkserver.py SOCKET HANDLER.py [--no-fork] [--preload MOD,MOD...]
    py_forkserver.py - HANDLER.py --forkbench RUNS [--preload MOD,MOD...]

The parent imports the --preload modules and HANDLER.py (as the module `handler`), freezes
the garbage collector's view (gc.freeze, as Citadel's zygote does, so that the children
share those pages), listens on the unix stream socket SOCKET and prints "ready". Each
connection carries one request: a 4-byte little-endian length and the bytes; the answer is
the same framing. With --no-fork the parent answers itself: what the client and the socket
cost, without the fork. There is no sandbox of any kind: this is the floor of forking per
request, not an equivalent of a Citadel instance.

--forkbench RUNS serves nothing: after the same imports it times RUNS forks (os.fork, so
CPython's fork protocol and its after-fork hooks run, as in a Citadel instance) until the
child runs (it writes a byte to a pipe) and prints {"p50_us", "p95_us", "runs", "rss_kib"}:
a fork of a Python process in the state of a function's template.
"""
import gc
import importlib
import importlib.util
import json
import os
import signal
import socket
import struct
import sys
import time


class Context:
    """What a Citadel handler is given, as far as a no-op or small handler uses it."""

    def __init__(self, call_id):
        self.function, self.call_id, self.content_type, self.http = "forkserver", call_id, "", None
        self.status, self.content_type_out = 200, None
        self._deadline = time.monotonic() + 10

    def time_left(self):
        return max(0.0, self._deadline - time.monotonic())

    def log(self, text, level="info"):
        print(f"{level} {text}", file=sys.stderr)


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def serve_one(conn, handle, call_id):
    n = struct.unpack("<I", read_exact(conn, 4))[0]
    event = read_exact(conn, n) if n else b""
    out = handle(event, Context(call_id))
    if out is None:
        out = b""
    elif isinstance(out, str):
        out = out.encode()
    elif not isinstance(out, (bytes, bytearray)):
        out = json.dumps(out).encode()
    conn.sendall(struct.pack("<I", len(out)) + out)


def forkbench(runs):
    lat = []
    for _ in range(runs):
        r, w = os.pipe()
        t0 = time.perf_counter_ns()
        pid = os.fork()
        if pid == 0:
            os.write(w, b"x")
            os._exit(0)
        os.read(r, 1)
        lat.append((time.perf_counter_ns() - t0) / 1000)
        os.waitpid(pid, 0)
        os.close(r)
        os.close(w)
    lat.sort()
    rss = int([l for l in open("/proc/self/status") if l.startswith("VmRSS:")][0].split()[1])
    print(json.dumps({"p50_us": lat[len(lat) // 2], "p95_us": lat[int(len(lat) * 0.95)], "runs": runs,
                      "rss_kib": rss}))


def main():
    args = sys.argv[1:]
    fork = "--no-fork" not in args
    preload = []
    if "--preload" in args:
        preload = [m for m in args[args.index("--preload") + 1].split(",") if m]
    path, source = args[0], args[1]
    for m in preload:
        importlib.import_module(m)
    spec = importlib.util.spec_from_file_location("handler", source)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["handler"] = mod
    spec.loader.exec_module(mod)
    handle = mod.handle
    gc.collect()
    gc.freeze()
    if "--forkbench" in args:
        return forkbench(int(args[args.index("--forkbench") + 1]))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(128)
    print("ready", flush=True)
    call_id = 0
    while True:
        conn, _ = srv.accept()
        call_id += 1
        if not fork:
            try:
                serve_one(conn, handle, call_id)
            except EOFError:
                pass
            conn.close()
            continue
        pid = os.fork()
        if pid == 0:
            srv.close()
            code = 0
            try:
                serve_one(conn, handle, call_id)
            except BaseException:
                code = 1
            os._exit(code)
        conn.close()


if __name__ == "__main__":
    main()
