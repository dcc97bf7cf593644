"""The HTTP gateway (docs/http-api.md): citadeld binds --listen, and citadel-gateway, in a
sandbox of its own, turns requests into the monitor's protocol. Every request here goes
over real TCP on loopback to a gateway the test's own monitor started."""
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import CITADEL
from test_monitor import EXAMPLES, Monitor


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    """A monitor of the test's own with its gateway on a free loopback port."""

    def __init__(self, tmp_path, *extra):
        self.port = free_port()
        self.m = Monitor(tmp_path, "h")
        self.m.start("--listen", f"127.0.0.1:{self.port}", *extra)
        self.wait_ready()

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("the gateway did not answer: " + self.m.log.read_text()[-2000:])

    def raw(self, data, wait=10.0):
        """Sends data as it is; returns the response's bytes (b"" when none came)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=wait) as s:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # answered (and closed) before all was sent: the answer is read below
            out = b""
            try:
                while True:
                    try:
                        chunk = s.recv(65536)
                    except ConnectionResetError:
                        break
                    if not chunk:
                        break
                    out += chunk
                    if response_complete(out):
                        break
            except socket.timeout:
                pass
            return out

    def request(self, method, path, body=b"", headers=None):
        """(status, headers dict, body) of one HTTP/1.1 request (Connection: close)."""
        head = f"{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        for k, v in (headers or {}).items():
            head += f"{k}: {v}\r\n"
        head += f"Content-Length: {len(body)}\r\n\r\n"
        return parse(self.raw(head.encode() + body, wait=60))

    def stop(self):
        self.m.stop()


def response_complete(out):
    if b"\r\n\r\n" not in out:
        return False
    head, body = out.split(b"\r\n\r\n", 1)
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return len(body) >= int(v)
    return False


def parse(out):
    assert b"\r\n\r\n" in out, out[:200]
    head, body = out.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode()
    return status, headers, body


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("http"), "--max-body", "2M")
    assert g.m.deploy("echo").returncode == 0
    assert g.m.deploy("crash").returncode == 0
    assert g.m.deploy("http").returncode == 0
    g.token = g.m.cli("token", "add", "tests").stdout.decode().strip()
    yield g
    g.stop()


def error_of(resp, status, code):
    st, headers, body = resp
    assert st == status, resp
    assert headers["content-type"] == "application/json", headers
    assert headers["x-citadel-error"] == code, headers  # the gateway's own, never a function's
    e = json.loads(body)
    assert e["code"] == code and e["error"], e
    return e["error"]


# ---- invoking ------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [("POST", "/function/echo"), ("GET", "/function/echo"),
                                          ("POST", "/v1/functions/echo/invoke")])
def test_invoke_over_http(gw, method, path):
    st, headers, body = gw.request(method, path, b"over http")
    assert (st, body) == (200, b"over http")


def test_a_large_body_and_response_pass_whole(gw):
    data = os.urandom(1536 * 1024)  # above what travels inline: a data object each way
    st, _, body = gw.request("POST", "/function/echo", data)
    assert st == 200 and body == data


def test_errors_are_json_with_their_status(gw):
    assert "no function named" in error_of(gw.request("POST", "/function/nosuch", b"x"), 404, "not_found")
    error_of(gw.request("POST", "/function/crash", b"x"), 500, "function_error")
    error_of(gw.request("DELETE", "/function/echo"), 405, "method_not_allowed")
    error_of(gw.request("GET", "/v1/functions/echo/invoke"), 405, "method_not_allowed")
    error_of(gw.request("GET", "/nowhere"), 404, "not_found")
    # A body that grows past --max-body as it comes (chunked: no length said ahead).
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(33)) + b"0\r\n\r\n"
    out = gw.raw(b"POST /function/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert "over 2097152 bytes" in error_of(parse(out), 413, "too_large")


def test_a_function_past_its_timeout_is_a_504(tmp_path):
    g = Gateway(tmp_path)
    try:
        assert g.m.deploy("loop", None, "--timeout", "300ms").returncode == 0
        error_of(g.request("POST", "/function/loop", b"x"), 504, "timeout")
    finally:
        g.stop()


# ---- the admin routes and the token ------------------------------------------------------

def test_admin_routes_need_the_token(gw):
    error_of(gw.request("GET", "/v1/functions"), 401, "unauthorized")
    wrong = ("0" if gw.token[0] != "0" else "1") + gw.token[1:]
    assert "not valid" in error_of(gw.request("GET", "/v1/functions", headers={"Authorization": f"Bearer {wrong}"}),
                                   401, "unauthorized")
    error_of(gw.request("GET", "/v1/functions", headers={"Authorization": "Bearer nonsense"}), 401, "unauthorized")
    st, headers, body = gw.request("GET", "/v1/functions", headers={"Authorization": f"Bearer {gw.token}"})
    assert st == 200 and headers["content-type"] == "application/json"
    names = {f["name"] for f in json.loads(body)}
    assert {"echo", "crash"} <= names
    st, _, body = gw.request("GET", "/v1/functions/echo", headers={"Authorization": f"Bearer {gw.token}"})
    one = json.loads(body)
    assert st == 200 and one["name"] == "echo" and len(one["measurement"]) == 64 and one["invocations"] >= 1
    error_of(gw.request("GET", "/v1/functions/nosuch", headers={"Authorization": f"Bearer {gw.token}"}), 404,
             "not_found")


def test_the_first_start_leaves_an_admin_token_for_the_operator(gw):
    """A new state directory gets one admin token, in a file only its owner reads; the
    monitor itself keeps only its hash."""
    f = gw.m.state / "admin-token"
    assert (f.stat().st_mode & 0o777) == 0o600 and f.stat().st_uid == 0
    token = f.read_text().strip()
    st, _, body = gw.request("GET", "/v1/functions", headers={"Authorization": f"Bearer {token}"})
    assert st == 200 and "echo" in {x["name"] for x in json.loads(body)}
    assert token not in (gw.m.state / "admin-tokens").read_text()
    assert gw.m.cli("token", "ls").stdout.split() == [b"admin", b"tests"]


def admin(gw):
    return {"Authorization": f"Bearer {gw.token}"}


def test_deploy_logs_and_delete_over_http(gw):
    """A native function deployed with its .so as the body and its options in the query,
    its log read, and removed, all over HTTP; the measurement is the one ls shows."""
    code = (EXAMPLES / "hello.so").read_bytes()
    error_of(gw.request("POST", "/v1/functions?name=hi", code), 401, "unauthorized")
    st, _, body = gw.request("POST", "/v1/functions?name=hi&memory=64M&timeout=2s&env=WHO=web", code,
                             headers=admin(gw))
    assert st == 201, body
    got = json.loads(body)
    assert got["name"] == "hi" and len(got["measurement"]) == 64
    listed = json.loads(gw.m.cli("ls", "--json").stdout)
    assert next(f for f in listed if f["name"] == "hi")["measurement"] == got["measurement"]
    assert gw.request("POST", "/function/hi", b"Ada")[2] == b"Hello, Ada!\n"
    st, headers, log = gw.request("GET", "/v1/functions/hi/logs", headers=admin(gw))
    assert st == 200 and headers["content-type"].startswith("text/plain") and b"hello" in log, log
    error_of(gw.request("GET", "/v1/functions/hi/logs"), 401, "unauthorized")
    st, _, body = gw.request("DELETE", "/v1/functions/hi", headers=admin(gw))
    assert st == 200 and json.loads(body) == {"removed": "hi"}
    error_of(gw.request("POST", "/function/hi", b"x"), 404, "not_found")
    error_of(gw.request("DELETE", "/v1/functions/hi", headers=admin(gw)), 404, "not_found")


def test_deploy_an_exec_function_over_http(gw, tmp_path):
    """A program of the view by its command; a bundle as a tar body."""
    st, _, body = gw.request("POST", "/v1/functions?name=count&command=/usr/bin/wc&command=-c", headers=admin(gw))
    assert st == 201, body
    assert gw.request("POST", "/function/count", b"12345")[2].split() == [b"5"]
    b = tmp_path / "b"
    b.mkdir()
    (b / "run.sh").write_text("#!/bin/sh\nprintf 'from the bundle: '; cat\n")
    (b / "run.sh").chmod(0o755)
    archive = subprocess.run(["tar", "-C", str(b), "-cf", "-", "."], capture_output=True, check=True).stdout
    st, _, body = gw.request("POST", "/v1/functions?name=tarred&runtime=exec&command=run.sh", archive,
                             headers=admin(gw))
    assert st == 201, body
    assert gw.request("POST", "/function/tarred", b"x")[2] == b"from the bundle: x"


@pytest.mark.parametrize("query, body, says", [
    ("?memory=64M", b"", "no name"),
    ("?name=x&memory=3M", b"\x7fELF", "memory"),
    ("?name=x&bogus=1", b"\x7fELF", "unknown setting 'bogus'"),
    ("?name=x", b"", "the body must be the function's code"),
    ("?name=x", b"not an ELF file", "not"),
    ("?name=x&runtime=exec", b"", "needs its command"),
    ("?name=Bad Name&command=/usr/bin/wc", b"", "not valid"),
    ("?name=x&command=relative", b"", "absolute path"),
])
def test_bad_deploys_over_http_are_400s_that_say_why(gw, query, body, says):
    st, headers, out = gw.request("POST", "/v1/functions" + query.replace(" ", "%20"), body, headers=admin(gw))
    assert st == 400 and says in json.loads(out)["error"], (st, out)
    assert b'"x"' not in gw.request("GET", "/v1/functions", headers=admin(gw))[2]


def metric(text, line_start):
    return float(next(l for l in text.splitlines() if l.startswith(line_start)).split()[-1])


def test_metrics_in_prometheus_text_and_no_request_data(gw):
    before = gw.request("GET", "/metrics")
    assert before[0] == 200 and before[1]["content-type"].startswith("text/plain; version=0.0.4"), before
    n = metric(before[2].decode(), 'citadel_invocations_total{function="echo"}')
    assert gw.request("POST", "/function/echo", b"secret-request-bytes")[0] == 200
    assert gw.request("POST", "/function/crash", b"x")[0] == 500
    st, _, body = gw.request("GET", "/metrics")
    text = body.decode()
    assert metric(text, 'citadel_invocations_total{function="echo"}') == n + 1
    assert metric(text, 'citadel_errors_total{function="crash"}') >= 1
    assert metric(text, 'citadel_function_up{function="echo"}') == 1
    used = metric(text, 'citadel_memory_used_bytes{function="echo"}')
    assert 0 < used < metric(text, 'citadel_memory_limit_bytes{function="echo"}'), used
    assert 'citadel_invoke_latency_seconds{function="echo",quantile="0.99"}' in text
    assert "# TYPE citadel_invocations_total counter" in text
    assert "secret-request-bytes" not in text


def test_beyond_loopback_metrics_need_the_token(tmp_path):
    """Listening on an address that is not loopback (one the test adds in a network
    namespace of its own), /metrics is an admin's."""
    port = free_port()
    state, sock, log = tmp_path / "s", tmp_path / "s.sock", open(tmp_path / "m.log", "wb")
    proc = subprocess.Popen(["unshare", "--net", "--", "sh", "-c",
                             "ip link set lo up && ip addr add 10.123.0.1/32 dev lo && exec \"$0\" \"$@\"",
                             str(CITADEL), "serve", "--state-dir", str(state), "--socket", str(sock),
                             "--listen", f"10.123.0.1:{port}"], stderr=log)
    try:
        def curl(*args, path="/metrics"):
            return subprocess.run(["nsenter", "-t", str(proc.pid), "-n", "curl", "-s", "-w", "\n%{http_code}",
                                   *args, f"http://10.123.0.1:{port}{path}"], capture_output=True, timeout=30)
        deadline = time.monotonic() + 30
        while not (r := curl()).stdout.endswith(b"401") and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "m.log").read_text()
            time.sleep(0.1)
        assert r.stdout.endswith(b"401") and b"needs the admin token" in r.stdout, r
        token = (state / "admin-token").read_text().strip()
        r = curl("-H", f"Authorization: Bearer {token}")
        assert r.stdout.endswith(b"200") and b"# TYPE citadel_invocations_total counter" in r.stdout, r
        # Beyond loopback, with no --callback-allow, callbacks are off: the default (this
        # machine's loopback) would open its own services to anyone who can reach it.
        d = subprocess.run([str(CITADEL), "deploy", "echo", str(EXAMPLES / "echo.so"), "--socket", str(sock)],
                           capture_output=True, timeout=60)
        assert d.returncode == 0, d.stderr
        r = curl("-d", "x", "-H", "X-Callback-Url: http://127.0.0.1:9/admin", path="/async-function/echo")
        assert r.stdout.endswith(b"400") and b"callbacks are off" in r.stdout, r
        assert curl("-d", "x", path="/async-function/echo").stdout.endswith(b"202")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_the_status_page_shows_the_functions_in_chromium(gw, tmp_path):
    """The page people open: loaded in headless Chromium (Debian's), its script reads
    /metrics and shows each function's row."""
    assert gw.request("POST", "/function/echo", b"page")[0] == 200
    st, headers, _ = gw.request("GET", "/")
    assert st == 200 and headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in headers["content-security-policy"]
    r = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--disable-domain-reliability", "--no-pings", f"--user-data-dir={tmp_path / 'profile'}",
                        "--virtual-time-budget=10000", "--dump-dom", f"http://127.0.0.1:{gw.port}/"],
                       capture_output=True, timeout=180)
    dom = r.stdout.decode()
    assert "<td>echo</td><td>up</td>" in dom and "<td>crash</td>" in dom, (dom[-2000:], r.stderr[-2000:])
    assert "functions, " in dom  # the script ran and filled the note


# ---- hostile requests ----------------------------------------------------------------------

HOSTILE = [
    ("a method no route takes", b"BREW /function/echo HTTP/1.1\r\nHost: x\r\n\r\n", (405,)),
    ("an HTTP version from the future", b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", (505,)),
    ("a header of 70 KB", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", (431,)),
    ("5000 headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(5000))
     + b"\r\n", (431,)),
    ("a negative Content-Length", b"POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", (400,)),
    ("broken chunked encoding",
     b"POST /function/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", (400,)),
    ("two Content-Lengths",
     b"POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde", (400,)),
    ("a body declared over the limit",
     b"POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n", (413,)),
    ("path traversal", b"GET /function/../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", (404,)),
    ("a NUL in a name", b"GET /function/ec%00ho HTTP/1.1\r\nHost: x\r\n\r\n", (400,)),
    ("odd bytes in a name", b"GET /function/ECHO\xff HTTP/1.1\r\nHost: x\r\n\r\n", (400, 404)),
    ("a name too long", b"GET /function/" + b"a" * 300 + b" HTTP/1.1\r\nHost: x\r\n\r\n", (404,)),
    # What a function would be given must be clean: control bytes in its path, query or
    # headers, too many headers, a callback that is no http(s) URL.
    ("a control byte in a function's path", b"GET /function/echo/a%01b HTTP/1.1\r\nHost: x\r\n\r\n", (400,)),
    ("a DEL in a header", b"POST /function/echo HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\nContent-Length: 0\r\n\r\n",
     (400,)),
    ("a non-ASCII query", b"GET /function/echo?q=\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", (400,)),
    ("200 headers for a function", b"GET /function/echo HTTP/1.1\r\nHost: x\r\n"
     + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n", (431,)),
    ("a callback that is no http URL", b"POST /async-function/echo HTTP/1.1\r\nHost: x\r\n"
     b"X-Callback-Url: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n", (400,)),
    ("a malformed call id", b"GET /v1/calls/../../etc HTTP/1.1\r\nHost: x\r\n\r\n", (404,)),
    ("a %00 in a path", b"GET /function/echo%00 HTTP/1.1\r\nHost: x\r\n\r\n", (400,)),
    ("a %00 in a query", b"GET /function/echo?a%00b HTTP/1.1\r\nHost: x\r\n\r\n", (400,)),
    ("a dot-dot segment", b"POST /function/echo/../kecho HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", (400,)),
    ("a coding other than chunked",
     b"POST /function/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", (501,)),
    ("a callback with a password", b"POST /async-function/echo HTTP/1.1\r\nHost: x\r\n"
     b"X-Callback-Url: http://u:p@127.0.0.1:9/x\r\nContent-Length: 0\r\n\r\n", (400,)),
]


@pytest.mark.parametrize("what, data, statuses", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_hostile_request_gets_its_4xx_and_the_next_is_served(gw, what, data, statuses):
    out = gw.raw(data)
    status = int(out.split(b"\r\n")[0].split()[1]) if out.startswith(b"HTTP/1.") else None
    assert status in statuses, (what, out[:300])
    st, _, body = gw.request("POST", "/function/echo", b"still served")
    assert (st, body) == (200, b"still served")


def test_a_slow_sender_cannot_hold_a_connection(tmp_path):
    """A client that sends part of a request and then nothing is closed after the idle
    timeout; others are served meanwhile."""
    g = Gateway(tmp_path)
    try:
        slow = socket.create_connection(("127.0.0.1", g.port), timeout=60)
        slow.sendall(b"POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        assert g.request("GET", "/healthz")[0] == 200
        t0 = time.monotonic()
        assert slow.recv(65536) == b""  # closed by the gateway
        assert time.monotonic() - t0 < 45
        slow.close()
    finally:
        g.stop()


# ---- the gateway process -------------------------------------------------------------------

def gateway_pids(program=b"/citadel/gateway", monitor=None):
    """The processes running program: all of them, or those below monitor's process (other
    monitors may run on the machine)."""
    from test_monitor import descendants
    below = set(descendants(monitor.proc.pid)) if monitor else None
    found = []
    for e in os.listdir("/proc"):
        try:
            if e.isdigit() and Path(f"/proc/{e}/cmdline").read_bytes().split(b"\0")[0] == program and \
                    (below is None or int(e) in below):
                found.append(int(e))
        except OSError:
            pass
    return found


def test_the_gateway_is_unprivileged_and_sandboxed(gw):
    """The gateway and the callback sender run as users of their own with no capability;
    the gateway has no network to reach out with (the callback sender has the host's, to
    post results, and only to the blocks it was given)."""
    pids = [p for p in gateway_pids(monitor=gw.m) if Path(f"/proc/{p}/environ").exists()]
    senders = [p for p in gateway_pids(b"/citadel/callback", gw.m) if Path(f"/proc/{p}/environ").exists()]
    assert pids and senders
    uids = set()
    for pid in pids + senders:
        status = Path(f"/proc/{pid}/status").read_text()
        uid = int(next(l for l in status.splitlines() if l.startswith("Uid:")).split()[1])
        caps = next(l for l in status.splitlines() if l.startswith("CapEff:")).split()[1]
        assert uid != 0 and int(caps, 16) == 0, status
        uids.add(uid)
    assert len(uids) == 2  # not each other's either
    # Neither holds the monitor's stderr (a terminal, maybe): what they write is read by the
    # monitor and logged as its events (service_output), never passed on as it is.
    for pid in pids + senders:
        for fd in (1, 2):
            assert os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:"), (pid, fd)
    assert 'event=service_output service=gateway dropped=0 msg="citadel-gateway: serving HTTP"' in gw.m.log.read_text()
    for pid in pids:
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    assert Path(f"/proc/{senders[0]}/cmdline").read_bytes().split(b"\0")[1:3] == [b"127.0.0.0/8", b"::1/128"]


def test_a_dead_gateway_is_started_again_and_the_socket_serves_meanwhile(tmp_path):
    g = Gateway(tmp_path)
    try:
        assert g.m.deploy("echo").returncode == 0
        # The gateway's sandbox (its init, the monitor's child): the log names its pid.
        pid = int(g.m.log.read_text().split("event=gateway_started")[-1].split("pid=")[1].split()[0])
        os.kill(pid, signal.SIGKILL)  # the sandbox's init, our monitor's child
        assert g.m.invoke("echo", "local").stdout == b"local"
        deadline = time.monotonic() + 30  # a new gateway, a second later
        while g.m.log.read_text().count("event=gateway_started") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert g.m.log.read_text().count("event=gateway_started") == 2
        g.wait_ready()
        assert g.request("POST", "/function/echo", b"back")[2] == b"back"
        assert "event=gateway_exited" in g.m.log.read_text()
    finally:
        g.stop()


def test_a_port_in_use_is_a_clear_start_up_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = subprocess.run([str(CITADEL), "serve", "--state-dir", str(tmp_path / "s"), "--socket",
                            str(tmp_path / "s.sock"), "--listen", f"127.0.0.1:{port}"], capture_output=True,
                           timeout=30)
    assert r.returncode == 1 and b"the port is in use" in r.stderr, r.stderr
    for bad in ("localhost:8080", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999", "[::1:80"):
        r = subprocess.run([str(CITADEL), "serve", "--state-dir", str(tmp_path / "s2"), "--socket",
                            str(tmp_path / "s.sock"), "--listen", bad], capture_output=True, timeout=30)
        # A usage error (exit 2), said before anything is made: no state directory.
        assert r.returncode == 2 and b"--listen" in r.stderr and b"--help" in r.stderr, (bad, r.stderr)
        assert not (tmp_path / "s2").exists()


# ---- what a function sees of HTTP, and what it sets ----------------------------------------

def test_a_function_sees_the_request_and_sets_its_status_and_type(gw):
    """Method, the path after /function/NAME, the raw query and the headers reach the
    function (never the Authorization it was called with); the status and content type it
    sets are the response's."""
    st, headers, body = gw.request("GET", "/function/http/a/b?x=1&status=201",
                                   headers={"X-Request-Id": "r-7", "User-Agent": "pytest", **admin(gw)})
    assert st == 201 and headers["content-type"] == "application/json", (st, headers, body)
    got = json.loads(body)
    assert got["method"] == "GET" and got["path"] == "/a/b" and got["query"] == "x=1&status=201", got
    assert got["request_id"] == "r-7" and got["user_agent"] == "pytest" and got["authorization"] is None, got
    st, headers, body = gw.request("POST", "/v1/functions/http/invoke", b"{}",
                                   headers={"Content-Type": "application/json"})
    got = json.loads(body)
    assert st == 200 and got["method"] == "POST" and got["path"] == "" and got["body_bytes"] == 2, got
    assert got["content_type"] == "application/json", got
    error_of(gw.request("POST", "/function/http", b"x", headers={"Content-Type": "\x01bad"}), 400, "bad_request")
    # A status the function chose is its output, not the gateway's error.
    st, headers, body = gw.request("GET", "/function/http?status=404")
    assert st == 404 and "x-citadel-error" not in headers and json.loads(body)["query"] == "status=404"
    # A status out of range, or HTTP's own 1xx, is the function's failure, not a response.
    error_of(gw.request("GET", "/function/http?status=999"), 500, "function_error")
    error_of(gw.request("GET", "/function/http?status=101"), 500, "function_error")
    # 204 and 304 go without the bytes, as HTTP wants; the next request is served whole.
    with socket.create_connection(("127.0.0.1", gw.port), timeout=30) as s:
        s.sendall(b"GET /function/http?status=204 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnext")
        out = b""
        while chunk := s.recv(65536):  # until the gateway closes, after the second answer
            out += chunk
    assert out.startswith(b"HTTP/1.1 204") and out.endswith(b"\r\n\r\nnext") and b'"method"' not in out, out
    # Not over HTTP: no request to see.
    assert gw.m.invoke("http", "x").stdout == b"not over HTTP; content type ''\n"
    r = gw.m.cli("invoke", "http", "--data", "a,b", "--content-type", "text/csv")
    assert r.stdout == b"not over HTTP; content type 'text/csv'\n", r
    assert gw.m.cli("invoke", "http", "--data", "x", "--content-type", "").returncode == 2
    # A function that sets nothing answers 200 and octet-stream, as before.
    st, headers, _ = gw.request("POST", "/function/echo", b"x")
    assert st == 200 and headers["content-type"] == "application/octet-stream"


def test_an_exec_function_gets_the_request_as_http_environment(gw):
    """As OpenFaaS's watchdog: Http_Method, Http_Path, Http_Query and Http_Header_Name."""
    st, _, body = gw.request("POST", "/v1/functions?name=env&command=/bin/sh&command=-c&command="
                             "env%20|%20grep%20%5EHttp_%20|%20sort", headers=admin(gw))
    assert st == 201, body
    st, _, body = gw.request("PUT" if False else "POST", "/function/env/x/y?a=1&b=two",
                             headers={"X-Request-Id": "7", "content-type": "text/plain", **admin(gw)})
    lines = body.decode().splitlines()
    assert st == 200, body
    for want in ("Http_Method=POST", "Http_Path=/x/y", "Http_Query=a=1&b=two", "Http_X_Request_Id=7",
                 "Http_Content_Type=text/plain"):
        assert want in lines, (want, lines)
    assert not any(l.startswith("Http_Authorization") for l in lines), lines
    assert gw.m.invoke("env", "").stdout == b""  # no HTTP, no Http_*


def test_a_function_built_for_the_previous_abi_still_loads(gw, tmp_path):
    from test_monitor import build_source
    so = build_source(tmp_path, "abi1", (Path(__file__).parent / "abi1.c").read_text())
    assert gw.m.cli("deploy", "abi1", str(so)).returncode == 0
    assert gw.request("POST", "/function/abi1", b"old abi")[:3:2] == (200, b"old abi")
    future = build_source(tmp_path, "abi9", (Path(__file__).parent / "abi1.c").read_text()
                          .replace("cit_function_abi = 1", "cit_function_abi = 9"))
    r = gw.m.cli("deploy", "abi9", str(future))
    assert r.returncode != 0 and b"ABI 1 to 5" in r.stderr, r.stderr


# ---- asynchronous calls ----------------------------------------------------------------------

class Listener:
    """An HTTP server of the test's own on loopback that records what is posted to it;
    /redirect answers 302 to /elsewhere."""

    def __init__(self):
        import http.server
        import threading
        got = self.got = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                got.append((self.path, dict(self.headers), body))
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "/elsewhere")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n, timeout=30):
        deadline = time.monotonic() + timeout
        while len(self.got) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.got

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def outcome(gw, call_id, timeout=30):
    """GET /v1/calls/ID until the call is no longer pending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = gw.request("GET", f"/v1/calls/{call_id}")
        if r[0] != 202:
            return r
        time.sleep(0.02)
    raise AssertionError("the call stayed pending")


def test_an_async_call_answers_at_once_keeps_its_result_and_calls_back(gw):
    cb = Listener()
    try:
        st, headers, body = gw.request("POST", "/async-function/echo", b"later",
                                       headers={"X-Callback-Url": f"http://127.0.0.1:{cb.port}/done"})
        assert st == 202, body
        call = json.loads(body)
        assert len(call["call_id"]) == 32 and headers["x-call-id"] == call["call_id"], (headers, call)
        assert call["status_url"] == f"/v1/calls/{call['call_id']}"
        st, headers, body = outcome(gw, call["call_id"])
        assert (st, body) == (200, b"later")
        # Read as often as wanted while it is kept.
        assert outcome(gw, call["call_id"])[2] == b"later"
        path, h, posted = cb.wait(1)[0]
        assert (path, posted) == ("/done", b"later")
        assert h["X-Call-Id"] == call["call_id"] and h["X-Function-Name"] == "echo" and h["X-Function-Status"] == "200"
        # A failing call: its error at its id, and its callback says so.
        st, _, body = gw.request("POST", "/async-function/crash", b"x",
                                 headers={"X-Callback-Url": f"http://127.0.0.1:{cb.port}/failed"})
        crash = json.loads(body)["call_id"]
        error_of(outcome(gw, crash), 500, "function_error")
        path, h, posted = cb.wait(2)[1]
        assert path == "/failed" and h["X-Function-Status"] == "500" and b"crash" in posted, (h, posted)
        # The status a function sets comes back with its result.
        st, _, body = gw.request("POST", "/async-function/http/p?status=203", b"")
        st, headers, body = outcome(gw, json.loads(body)["call_id"])
        assert st == 203 and headers["content-type"] == "application/json" and json.loads(body)["path"] == "/p"
    finally:
        cb.close()
    # An id is a credential: one not made is not found, and an async route takes POST only.
    error_of(gw.request("GET", "/v1/calls/" + "0" * 32), 404, "not_found")
    error_of(gw.request("GET", "/async-function/echo"), 405, "method_not_allowed")
    error_of(gw.request("POST", "/async-function/nosuch", b""), 404, "not_found")


def test_callbacks_go_only_where_allowed_and_never_follow_redirects(tmp_path):
    cb = Listener()
    g = Gateway(tmp_path, "--callback-allow", "10.0.0.0/8")
    try:
        assert g.m.deploy("echo").returncode == 0
        st, _, body = g.request("POST", "/async-function/echo", b"secret",
                                headers={"X-Callback-Url": f"http://localhost:{cb.port}/cb"})
        assert outcome(g, json.loads(body)["call_id"])[2] == b"secret"  # kept all the same
        deadline = time.monotonic() + 30
        while b"not one --callback-allow permits" not in g.m.log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert b"not one --callback-allow permits" in g.m.log.read_bytes()
        assert cb.got == []
    finally:
        g.stop()
    (tmp_path / "2").mkdir()
    g = Gateway(tmp_path / "2")
    try:
        assert g.m.deploy("echo").returncode == 0
        g.request("POST", "/async-function/echo", b"x", headers={"X-Callback-Url": f"http://127.0.0.1:{cb.port}/redirect"})
        assert cb.wait(1)[0][0] == "/redirect"
        deadline = time.monotonic() + 30
        while b"answered 302 (not followed)" not in g.m.log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert b"answered 302 (not followed)" in g.m.log.read_bytes()
        assert [p for p, _, _ in cb.got] == ["/redirect"]
        r = subprocess.run([str(CITADEL), "serve", "--callback-allow", "10.0.0.0/33"], capture_output=True)
        assert r.returncode == 2 and b"--callback-allow wants an address block" in r.stderr
    finally:
        g.stop()
        cb.close()


def test_async_calls_are_bounded_per_address(tmp_path):
    """One address cannot take the monitor's room for asynchronous calls: past its burst
    it gets 429s; synchronous calls go on."""
    g = Gateway(tmp_path)
    try:
        assert g.m.deploy("echo").returncode == 0
        statuses = [g.request("POST", "/async-function/echo", b"")[0] for _ in range(60)]
        assert 32 <= statuses.count(202) <= 40 and 429 in statuses, statuses  # a burst of 32, then 1 a second
        assert "asynchronous" in error_of(g.request("POST", "/async-function/echo", b""), 429, "too_many_requests")
        assert g.request("POST", "/function/echo", b"sync")[:3:2] == (200, b"sync")
    finally:
        g.stop()


# ---- invoke keys ---------------------------------------------------------------------------

def test_a_function_deployed_with_an_invoke_key_takes_only_callers_with_it(gw):
    code = (EXAMPLES / "echo.so").read_bytes()
    st, _, body = gw.request("POST", "/v1/functions?name=keyed&invoke_key=true", code, headers=admin(gw))
    key = json.loads(body)["invoke_key"]
    assert st == 201 and len(key) == 64
    assert key not in (gw.m.state / "functions" / "keyed" / "invoke-key.sha256").read_text()
    assert "invoke key" in error_of(gw.request("POST", "/function/keyed", b"x"), 401, "unauthorized")
    wrong = ("0" if key[0] != "0" else "1") + key[1:]
    error_of(gw.request("POST", "/function/keyed", b"x", headers={"Authorization": f"Bearer {wrong}"}), 401,
             "unauthorized")
    error_of(gw.request("POST", "/async-function/keyed", b"x"), 401, "unauthorized")
    ok = {"Authorization": f"Bearer {key}"}
    assert gw.request("POST", "/function/keyed", b"with key", headers=ok)[:3:2] == (200, b"with key")
    assert gw.request("POST", "/function/keyed", b"admin", headers=admin(gw))[:3:2] == (200, b"admin")
    # The key is no admin token.
    error_of(gw.request("GET", "/v1/functions", headers=ok), 401, "unauthorized")
    # The local socket keeps its own rule; other functions stay open.
    assert gw.m.invoke("keyed", "local").stdout == b"local"
    assert gw.request("POST", "/function/echo", b"open")[0] == 200
    # A redeploy rotates the key.
    st, _, body = gw.request("POST", "/v1/functions?name=keyed&invoke_key=true", code, headers=admin(gw))
    new = json.loads(body)["invoke_key"]
    assert new != key
    error_of(gw.request("POST", "/function/keyed", b"x", headers=ok), 401, "unauthorized")
    assert gw.request("POST", "/function/keyed", b"x", headers={"Authorization": f"Bearer {new}"})[0] == 200
    # ls says the function is keyed.
    assert json.loads(gw.request("GET", "/v1/functions/keyed", headers=admin(gw))[2])["invoke_key"] is True


def test_metrics_have_latency_histograms_per_phase(gw):
    for _ in range(3):
        assert gw.request("POST", "/function/echo", b"x")[0] == 200
    text = gw.request("GET", "/metrics")[2].decode()
    for phase in ("cold", "template", "lukewarm", "warm"):
        count = metric(text, f'citadel_phase_duration_seconds_count{{function="echo",phase="{phase}"}}')
        inf = metric(text, f'citadel_phase_duration_seconds_bucket{{function="echo",phase="{phase}",le="+Inf"}}')
        assert count == inf and count >= 1, phase
    warm = [l for l in text.splitlines() if l.startswith('citadel_phase_duration_seconds_bucket{function="echo",'
                                                          'phase="warm"')]
    counts = [float(l.split()[-1]) for l in warm]
    assert counts == sorted(counts) and counts[-1] >= 3  # cumulative, as Prometheus wants


def test_a_python_function_deployed_and_called_over_http(gw, tmp_path):
    """runtime=python: the body is the module's source, or a bundle as a tar archive; a JSON
    request is parsed by its Content-Type, and the function sees the request."""
    src = (b"def handle(event, context):\n"
           b"    return {'event': event, 'path': context.http.path, 'agent': context.http.headers.get('user-agent')}\n")
    st, _, body = gw.request("POST", "/v1/functions?name=pyhttp&runtime=python", src, headers=admin(gw))
    assert st == 201, body
    st, headers, body = gw.request("POST", "/function/pyhttp/sub", b'{"k": [1]}',
                                   headers={"Content-Type": "application/json", "User-Agent": "t/1"})
    assert st == 200 and headers["content-type"] == "application/json", (st, body)
    assert json.loads(body) == {"event": {"k": [1]}, "path": "/sub", "agent": "t/1"}
    d = tmp_path / "bundle"
    d.mkdir()
    (d / "main.py").write_text("import os\nDATA = open(os.path.join(os.path.dirname(__file__), 'd.txt')).read()\n"
                               "def run(event, context):\n    return DATA + event.decode()\n")
    (d / "d.txt").write_text("data:")
    archive = subprocess.run(["tar", "-C", str(d), "-cf", "-", "."], capture_output=True, check=True).stdout
    st, _, body = gw.request("POST", "/v1/functions?name=pybundle&runtime=python&handler=main.run", archive,
                             headers=admin(gw))
    assert st == 201, body
    assert gw.request("POST", "/function/pybundle", b"x")[2] == b"data:x"
    st, _, body = gw.request("POST", "/v1/functions?name=pybad&runtime=python", b"def handle(:\n", headers=admin(gw))
    assert st >= 400 and b"SyntaxError" in body, body



def trickle(port, head, piece, pause, limit):
    """Sends head, then piece every pause seconds, until the gateway closes the connection:
    the seconds that took, or None when it was still open after limit seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(head)
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            try:
                s.sendall(piece)
                s.settimeout(pause)
                if s.recv(65536) == b"":
                    return time.monotonic() - t0
            except socket.timeout:
                pass
            except OSError:
                return time.monotonic() - t0
    return None


def test_the_gateway_channel_outlives_the_idle_timeout_and_slow_headers_are_cut(tmp_path):
    """The monitor's --idle-timeout is for local clients, not the gateway's channel (which is
    idle whenever HTTP is); a client that trickles its headers, a line now and then inside
    the idle timeout, is cut off 10 s after its request line; so is a body that comes slower
    than 1 KiB a second once its first 10 s have passed."""
    g = Gateway(tmp_path, "--idle-timeout", "300ms")
    try:
        assert g.m.deploy("echo").returncode == 0
        with socket.create_connection(("127.0.0.1", g.port), timeout=60) as s:
            s.sendall(b"POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
            assert parse(s.recv(65536))[2] == b"hi"
            time.sleep(2)  # several idle timeouts pass: nothing may happen
            s.sendall(b"POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nagain")
            assert parse(s.recv(65536))[2] == b"again"
        assert "gateway_exited" not in g.m.log.read_text()
        took = trickle(g.port, b"GET /healthz HTTP/1.1\r\n", b"X-Slow: 1\r\n", 2, 25)
        assert took is not None and took < 20, took
        assert g.request("GET", "/healthz")[0] == 200
        # A body trickled a byte at a time (under 1 KiB a second) is cut off too.
        took = trickle(g.port, b"POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", b"x",
                       1, 30)
        assert took is not None and 9 < took < 20, took
        assert g.request("POST", "/function/echo", b"fast")[2] == b"fast"
    finally:
        g.stop()


def test_exec_functions_see_the_platforms_variables_whatever_the_headers(gw):
    st, _, body = gw.request("POST", "/v1/functions?name=env2&command=/bin/sh&command=-c&command="
                             "env%20|%20grep%20%5EHttp_%20|%20sort", headers=admin(gw))
    assert st == 201, body
    st, _, body = gw.request("POST", "/function/env2/real?q=1", headers={"Method": "EVIL", "Path": "/evil",
                                                                        "Query": "evil"})
    lines = body.decode().splitlines()
    assert "Http_Method=POST" in lines and "Http_Path=/real" in lines and "Http_Query=q=1" in lines, lines
    assert not any("evil" in l.lower() for l in lines), lines


def test_deploy_settings_are_given_once_and_a_failed_load_is_a_422(gw):
    code = (EXAMPLES / "echo.so").read_bytes()
    st, _, body = gw.request("POST", "/v1/functions?name=once&name=twice", code, headers=admin(gw))
    assert st == 400 and b"given twice" in body, body
    st, _, body = gw.request("POST", "/v1/functions?name=once&memory=64M&memory=32M", code, headers=admin(gw))
    assert st == 400 and b"given twice" in body, body
    st, _, body = gw.request("POST", "/v1/functions?name=pyfail&runtime=python", b"raise SystemError('init')\n",
                             headers=admin(gw))
    assert st == 422 and json.loads(body)["code"] == "deploy_failed", body


def test_a_python_function_tells_a_callers_bad_json_as_a_400(gw, tmp_path):
    st, _, body = gw.request("POST", "/v1/functions?name=pyjson&runtime=python",
                             b"def handle(event, context):\n    return event\n", headers=admin(gw))
    assert st == 201, body
    e = error_of(gw.request("POST", "/function/pyjson", b'{"a":', headers={"Content-Type": "application/json"}),
                 400, "bad_request")
    assert "says it is JSON" in e


# ---- chains ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chains(gw):
    """The gateway with the chains' example steps deployed beside echo."""
    for f in ("upper", "concat"):
        assert gw.m.deploy(f).returncode == 0
    return gw


DAG = {"name": "fan", "steps": [{"name": "in", "function": "echo"},
                                {"name": "up", "function": "upper", "after": "in"},
                                {"name": "same", "function": "echo", "after": ["in"]},
                                {"name": "join", "function": "concat", "after": ["up", "same"]}]}


def post_json(gw, path, o, headers=None):
    return gw.request("POST", path, json.dumps(o).encode(), headers=headers)


def test_chains_as_a_line_and_a_dag_created_invoked_listed_and_removed_over_http(chains):
    gw = chains
    st, headers, body = post_json(gw, "/v1/chains", {"name": "shout", "functions": ["echo", "upper"]}, admin(gw))
    assert (st, headers["content-type"]) == (201, "application/json"), body
    line = json.loads(body)
    assert line == {"name": "shout", "final": "upper",
                    "steps": [{"name": "echo", "function": "echo", "after": []},
                              {"name": "upper", "function": "upper", "after": ["echo"]}]}
    st, _, body = post_json(gw, "/v1/chains", DAG, admin(gw))
    dag = json.loads(body)
    assert st == 201 and dag["final"] == "join" and [s["after"] for s in dag["steps"]] == [[], ["in"], ["in"],
                                                                                         ["up", "same"]]

    st, headers, out = gw.request("POST", "/v1/chains/shout/invoke", b"hello")
    assert (st, out, headers["content-type"]) == (200, b"HELLO", "application/octet-stream")
    assert gw.request("POST", "/v1/chains/fan/invoke", b"hey")[:3:2] == (200, b"up: HEY\nsame: hey\n")
    # A body above what travels inline goes as a data object, from step to step too.
    big = bytes(range(97, 123)) * 60000
    st, _, out = gw.request("POST", "/v1/chains/shout/invoke", big)
    assert st == 200 and out == big.upper()
    # The first step gets the request's Content-Type.
    st, _, body = post_json(gw, "/v1/chains", {"name": "typed", "functions": ["http"]}, admin(gw))
    assert st == 201, body
    out = gw.request("POST", "/v1/chains/typed/invoke", b"{}", headers={"Content-Type": "application/json"})[2]
    assert out == b"not over HTTP; content type 'application/json'\n"

    # Listed as the local socket lists them, open to invokers as there.
    assert "needs the admin token" in error_of(gw.request("GET", "/v1/chains"), 401, "unauthorized")
    st, _, body = gw.request("GET", "/v1/chains", headers=admin(gw))
    assert st == 200 and json.loads(body) == json.loads(gw.m.cli("chain", "ls", "--json").stdout)
    assert {"shout", "fan"} <= {c["name"] for c in json.loads(body)}
    assert json.loads(gw.request("GET", "/v1/chains/fan", headers=admin(gw))[2]) == dag
    error_of(gw.request("GET", "/v1/chains/fan"), 401, "unauthorized")
    assert "no chain named nosuch" in error_of(gw.request("GET", "/v1/chains/nosuch", headers=admin(gw)), 404,
                                               "not_found")
    # What GET answers can be posted back as it is.
    st, _, body = gw.request("POST", "/v1/chains", json.dumps(dag).encode(), headers=admin(gw))
    assert st == 201 and json.loads(body) == dag

    st, _, body = gw.request("DELETE", "/v1/chains/shout", headers=admin(gw))
    assert st == 200 and json.loads(body) == {"removed": "shout"}
    assert "shout" not in gw.m.cli("chain", "ls").stdout.decode()
    assert "no chain named" in error_of(gw.request("POST", "/v1/chains/shout/invoke", b"x"), 404, "not_found")
    error_of(gw.request("DELETE", "/v1/chains/shout", headers=admin(gw)), 404, "not_found")
    assert gw.request("POST", "/v1/chains/fan/invoke", b"still")[:3:2] == (200, b"up: STILL\nsame: still\n")


def test_a_failing_step_is_named_in_the_chains_error(chains):
    gw = chains
    st, _, body = post_json(gw, "/v1/chains", {"name": "boom", "functions": ["echo", "crash", "upper"]}, admin(gw))
    assert st == 201, body
    e = error_of(gw.request("POST", "/v1/chains/boom/invoke", b"x"), 500, "function_error")
    assert e.startswith("chain boom failed at step crash (function crash): ") and "crashed" in e, e
    # The same words as on the local socket.
    local = gw.m.cli("chain", "invoke", "boom", "--data", "x")
    assert local.returncode == 1 and local.stderr.decode() == f"citadel chain invoke: {e}\n"


def test_a_step_that_set_a_4xx_status_fails_the_chain_with_it(chains, tmp_path):
    gw = chains
    src = tmp_path / "refuse.c"
    src.write_text('#include <errno.h>\n#include <citadel/function.h>\n'
                   'int cit_handler(const struct cit_request *q, struct cit_response *r)\n'
                   '{ (void)q; cit_set_status(r, 409); return cit_fail(r, -ENOENT, "it conflicts"); }\n')
    so = tmp_path / "refuse.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-I", str(Path(__file__).resolve().parents[2] / "include"),
                    "-o", str(so), str(src)], check=True)
    assert gw.m.cli("deploy", "refuse", str(so)).returncode == 0
    error_of(gw.request("POST", "/function/refuse", b"x"), 409, "function_refused")
    assert post_json(gw, "/v1/chains", {"name": "refused", "functions": ["echo", "refuse"]}, admin(gw))[0] == 201
    e = error_of(gw.request("POST", "/v1/chains/refused/invoke", b"x"), 409, "function_refused")
    assert "at step refuse" in e and "it conflicts" in e


@pytest.mark.parametrize("body, says", [
    (b'{"name": "bad", "steps": [', "not valid JSON"),
    (b'[]', "a chain is {"),
    (b'{"steps": [{"name": "a", "function": "echo"}]}', "a chain is {"),
    (b'{"name": "bad", "functions": ["echo"], "steps": []}', "a chain is {"),
    (b'{"name": "bad", "functions": ["echo"], "extra": 1}', "unknown key \"extra\""),
    (b'{"name": "bad", "functions": ["echo", 7]}', "functions' names"),
    (b'{"name": "bad", "functions": []}', "1 to 32 steps"),
    (b'{"name": "Bad!", "functions": ["echo"]}', "the chain's name 'Bad!' is not a valid name"),
    (b'{"name": "bad", "steps": [{"name": "a", "after": "b"}, {"name": "b", "after": "a"}]}', "cycle"),
    (b'{"name": "bad", "steps": [{"name": "a", "after": "nowhere"}]}', "which is no step of this chain"),
    (b'{"name": "bad", "steps": [{"name": "a"}, {"name": "b"}]}', "exactly one final step"),
    (b'{"name": "bad", "steps": [{"name": "a", "function": "echo"}], "final": "b"}', "\"final\""),
])
def test_bad_chains_are_400s_with_the_parsers_message(chains, body, says):
    gw = chains
    e = error_of(gw.request("POST", "/v1/chains", body, headers=admin(gw)), 400, "bad_request")
    assert says in e, e
    assert b'"bad"' not in gw.request("GET", "/v1/chains", headers=admin(gw))[2]


def test_chain_routes_methods_limits_and_the_monitors_refusals(chains):
    gw = chains
    error_of(gw.request("PUT", "/v1/chains"), 405, "method_not_allowed")
    error_of(gw.request("POST", "/v1/chains/x", b"{}", headers=admin(gw)), 405, "method_not_allowed")
    error_of(gw.request("GET", "/v1/chains/x/invoke"), 405, "method_not_allowed")
    error_of(gw.request("GET", "/v1/chains/Bad"), 404, "not_found")
    error_of(gw.request("GET", "/v1/chains/x/y"), 404, "not_found")
    # A chain's JSON is at most 256 KiB, whatever --max-body allows.
    big = json.dumps({"name": "big", "functions": ["echo"], "pad": "x" * (256 << 10)}).encode()
    assert "256 KiB" in error_of(gw.request("POST", "/v1/chains", big, headers=admin(gw)), 413, "too_large")
    # What only the monitor knows: every step's function must be deployed.
    e = error_of(post_json(gw, "/v1/chains", {"name": "ghost", "functions": ["echo", "nosuch"]}, admin(gw)), 404,
                 "not_found")
    assert "step nosuch" in e and "no function named 'nosuch'" in e


def test_creating_and_removing_chains_needs_the_admin_token(chains):
    gw = chains
    line = {"name": "mine", "functions": ["echo"]}
    assert "needs the admin token" in error_of(post_json(gw, "/v1/chains", line), 401, "unauthorized")
    wrong = ("0" if gw.token[0] != "0" else "1") + gw.token[1:]
    assert "not valid" in error_of(post_json(gw, "/v1/chains", line, {"Authorization": f"Bearer {wrong}"}), 401,
                                   "unauthorized")
    error_of(post_json(gw, "/v1/chains", line, {"Authorization": "Bearer nonsense"}), 401, "unauthorized")
    assert b"mine" not in gw.m.cli("chain", "ls").stdout
    assert post_json(gw, "/v1/chains", line, admin(gw))[0] == 201
    error_of(gw.request("DELETE", "/v1/chains/mine"), 401, "unauthorized")
    assert gw.request("POST", "/v1/chains/mine/invoke", b"open")[:3:2] == (200, b"open")


def test_a_chain_calling_a_keyed_function_takes_an_admin_token_over_http(chains):
    gw = chains
    r = gw.m.cli("deploy", "chkeyed", str(EXAMPLES / "echo.so"), "--invoke-key")
    assert r.returncode == 0, r.stderr
    key = r.stdout.decode().split("invoke key: ")[1].strip()
    assert post_json(gw, "/v1/chains", {"name": "locked", "functions": ["chkeyed", "upper"]}, admin(gw))[0] == 201
    e = error_of(gw.request("POST", "/v1/chains/locked/invoke", b"x"), 401, "unauthorized")
    assert "chkeyed" in e and "admin token" in e
    # The function's own key opens the function, not a chain around it.
    error_of(gw.request("POST", "/v1/chains/locked/invoke", b"x", headers={"Authorization": f"Bearer {key}"}), 401,
             "unauthorized")
    assert gw.request("POST", "/v1/chains/locked/invoke", b"key", headers=admin(gw))[:3:2] == (200, b"KEY")
    assert gw.m.cli("chain", "invoke", "locked", "--data", "local").stdout == b"LOCAL"  # the socket's own rule


def test_state_over_http(gw):
    """/v1/state/NS/KEY: GET, PUT and DELETE a function's key-value state, /v1/state/NS its
    keys, all an admin's; errors as JSON with their status."""
    url = "/v1/state/echo"
    assert error_of(gw.request("PUT", f"{url}/k", b"v"), 401, "unauthorized")
    st, _, body = gw.request("PUT", f"{url}/greeting", b"hello", admin(gw))
    assert st == 200, body
    version = json.loads(body)["version"]
    st, headers, body = gw.request("GET", f"{url}/greeting", headers=admin(gw))
    assert (st, body, headers["etag"]) == (200, b"hello", f'"{version}"')
    value = bytes(range(256)) * 400  # any bytes, over a message's inline size
    assert gw.request("PUT", f"{url}/a%2Fb%20c", value, admin(gw))[0] == 200  # the key decoded: "a/b c"
    assert gw.request("GET", f"{url}/a%2Fb%20c", headers=admin(gw))[2] == value
    assert gw.m.cli("kv", "get", "echo", "a/b c").stdout == value  # the same state the CLI sees
    st, _, body = gw.request("GET", f"{url}?prefix=a", headers=admin(gw))
    assert st == 200 and [k["key"] for k in json.loads(body)] == ["a/b c"]
    keys = json.loads(gw.request("GET", url, headers=admin(gw))[2])
    assert [(k["key"], k["size"]) for k in keys] == [("a/b c", len(value)), ("greeting", 5)]
    st, _, body = gw.request("DELETE", f"{url}/greeting", headers=admin(gw))
    assert st == 200 and json.loads(body)["deleted_version"] == version
    assert "no such key" in error_of(gw.request("GET", f"{url}/greeting", headers=admin(gw)), 404, "not_found")
    assert error_of(gw.request("PUT", url, b"v", admin(gw)), 405, "method_not_allowed")
    assert error_of(gw.request("GET", "/v1/state/Bad-Name/k", headers=admin(gw)), 404, "not_found")
    assert error_of(gw.request("GET", f"{url}/{'k' * 1025}", headers=admin(gw)), 413, "too_large")
    assert error_of(gw.request("PUT", f"{url}/big", b"x" * ((1 << 20) + 1), admin(gw)), 413, "too_large")
    assert error_of(gw.request("GET", f"{url}?limit=0", headers=admin(gw)), 400, "bad_request")
