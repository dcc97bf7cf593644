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
    g.token = g.m.cli("token", "add", "tests").stdout.decode().strip()
    yield g
    g.stop()


def error_of(resp, status, code):
    st, headers, body = resp
    assert st == status, resp
    assert headers["content-type"] == "application/json", headers
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
        def curl(*args):
            return subprocess.run(["nsenter", "-t", str(proc.pid), "-n", "curl", "-s", "-w", "\n%{http_code}",
                                   *args, f"http://10.123.0.1:{port}/metrics"], capture_output=True, timeout=30)
        deadline = time.monotonic() + 30
        while not (r := curl()).stdout.endswith(b"401") and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "m.log").read_text()
            time.sleep(0.1)
        assert r.stdout.endswith(b"401") and b"needs the admin token" in r.stdout, r
        token = (state / "admin-token").read_text().strip()
        r = curl("-H", f"Authorization: Bearer {token}")
        assert r.stdout.endswith(b"200") and b"# TYPE citadel_invocations_total counter" in r.stdout, r
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
    ("a NUL in a name", b"GET /function/ec%00ho HTTP/1.1\r\nHost: x\r\n\r\n", (404,)),
    ("odd bytes in a name", b"GET /function/ECHO\xff HTTP/1.1\r\nHost: x\r\n\r\n", (400, 404)),
    ("a name too long", b"GET /function/" + b"a" * 300 + b" HTTP/1.1\r\nHost: x\r\n\r\n", (404,)),
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

def gateway_pids():
    found = []
    for e in os.listdir("/proc"):
        try:
            if e.isdigit() and Path(f"/proc/{e}/cmdline").read_bytes() == b"/citadel/gateway\0":
                found.append(int(e))
        except OSError:
            pass
    return found


def test_the_gateway_is_unprivileged_and_sandboxed(gw):
    pids = [p for p in gateway_pids() if Path(f"/proc/{p}/environ").exists()]
    assert pids
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        uid = int(next(l for l in status.splitlines() if l.startswith("Uid:")).split()[1])
        caps = next(l for l in status.splitlines() if l.startswith("CapEff:")).split()[1]
        assert uid != 0 and int(caps, 16) == 0, status
        # No network of its own to reach out with: not the host's namespace.
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")


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
        r = subprocess.run([str(CITADEL), "serve", "--state-dir", str(tmp_path / "s"), "--socket",
                            str(tmp_path / "s.sock"), "--listen", bad], capture_output=True, timeout=30)
        assert r.returncode == 1 and b"--listen" in r.stderr, (bad, r.stderr)
