"""The CLI over HTTP: `citadel deploy | invoke | ls | rm | logs --url URL` (or CITADEL_URL)
reach the monitor through its gateway, by citadel-remote, instead of its socket. Every
command here goes over real TCP on loopback to a gateway of the test's own monitor; the
CLI's socket is pointed at nothing, so nothing reaches the monitor another way."""
import http.server
import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from conftest import BUILD, CITADEL, ROOT
from test_monitor import EXAMPLES, Monitor

NO_SOCKET = "/nonexistent/citadel.sock"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gateway:
    """A monitor of the test's own with its gateway on a free loopback port, and its
    first admin token."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.m = Monitor(tmp_path, "r")
        self.m.start("--listen", f"127.0.0.1:{self.port}")
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "no gateway: " + self.m.log.read_text()[-2000:]
            time.sleep(0.05)
        self.token = (self.m.state / "admin-token").read_text().strip()

    def cli(self, *args, input=b"", token=True, url=True, env=None, timeout=120):
        """`citadel ARGS --url URL` (the gateway's, or url; None: no --url), as an admin
        unless token is False (or another token is given), with no usable socket."""
        e = {"PATH": os.environ["PATH"], "CITADEL_SOCKET": NO_SOCKET}
        if token:
            e["CITADEL_TOKEN"] = self.token if token is True else token
        e.update(env or {})
        extra = [] if url is None else ["--url", self.url if url is True else url]
        # --url before a deploy's "--" (after it is the program's own).
        if "--" in args:
            i = args.index("--")
            args = (*args[:i], *extra, *args[i:])
        else:
            args = (*args, *extra)
        return subprocess.run([str(CITADEL), *args], input=input, capture_output=True, timeout=timeout, env=e)


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    g = Gateway(tmp_path_factory.mktemp("remote"))
    yield g
    g.m.stop()


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stderr)
    return r.stdout


def failed(r, status=1):
    """The one line a failure prints, checked as such: the exit status, nothing on stdout."""
    assert r.returncode == status and r.stdout == b"", (r.returncode, r.stdout[:200], r.stderr)
    return r.stderr.decode()


def measurement_of(deploy_output):
    line = deploy_output.decode().splitlines()[0]
    assert line.startswith("deployed ") and "(measurement " in line, deploy_output
    return line.split("(measurement ")[1].rstrip(")")


# ---- the commands, end to end ---------------------------------------------------------------

def test_deploy_invoke_ls_logs_and_rm_over_the_gateway(gw):
    out = ok(gw.cli("deploy", "hello", str(EXAMPLES / "hello.so")))
    local = gw.m.ls()  # the socket's view of what the gateway deployed
    assert measurement_of(out) == local["hello"]["measurement"]
    assert ok(gw.cli("invoke", "hello", "--data", "Ada")) == b"Hello, Ada!\n"
    assert ok(gw.cli("invoke", "hello", input=b"stdin")) == b"Hello, stdin!\n"

    # ls prints what the local ls prints: the same table, the same JSON.
    table = ok(gw.cli("ls")).decode().splitlines()
    assert table[0] == gw.m.cli("ls").stdout.decode().splitlines()[0]
    row = next(l.split() for l in table if l.startswith("hello "))
    assert row[:4] == ["hello", "native", "ready", local["hello"]["measurement"][:16]]
    assert int(row[6]) == gw.m.ls()["hello"]["invocations"] == 2
    remote = json.loads(ok(gw.cli("ls", "--json")))
    assert [f["name"] for f in remote] == list(gw.m.ls())
    assert set(remote[0]) == set(local["hello"])

    assert ok(gw.cli("logs", "hello")) == ok(gw.m.cli("logs", "hello"))
    assert ok(gw.cli("rm", "hello")) == b"removed hello\n"
    assert "hello" not in gw.m.ls()
    assert "no function named" in failed(gw.cli("invoke", "hello", "--data", "x"))
    assert "no function named" in failed(gw.cli("rm", "hello"))


@pytest.mark.parametrize("size", [0, 1, 32 * 1024 + 1, 1 << 20, 5 << 20])
def test_invoke_passes_the_request_and_response_byte_for_byte(gw, tmp_path, size):
    """Inline sizes and data objects, from stdin and from --file, with every byte value."""
    ok(gw.cli("deploy", "echo", str(EXAMPLES / "echo.so")))
    data = os.urandom(size)
    assert ok(gw.cli("invoke", "echo", input=data)) == data
    f = tmp_path / "request"
    f.write_bytes(data)
    assert ok(gw.cli("invoke", "echo", "--file", str(f))) == data


def test_the_options_arrive_whole(gw, tmp_path):
    """A deploy over HTTP with every kind of option is the same function (the same
    measurement: it covers the limits, the flags and the environment, not the name) as
    the same deploy on the local socket, and as the same manifest over HTTP."""
    opts = ["--memory", "64M", "--timeout", "2500ms", "--output-limit", "1M", "--max-instances", "4",
            "--min-instances", "1", "--keep-alive", "90s", "--cpus", "0.5", "--pids", "64", "--fresh",
            "--env", "WHO=web", "--env", "EMPTY="]
    so = str(EXAMPLES / "hello.so")
    over_http = measurement_of(ok(gw.cli("deploy", "opts-http", so, *opts)))
    local = measurement_of(ok(gw.m.cli("deploy", "opts-local", so, *opts)))
    default = measurement_of(ok(gw.m.cli("deploy", "opts-default", so)))
    assert over_http == local != default
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"name": "opts-manifest", "code": so, "memory": "64M", "timeout": 2.5,
                                    "output_limit": "1M", "max_instances": 4, "min_instances": 1,
                                    "keep_alive": "90s", "cpus": 0.5, "pids": 64, "fresh": True,
                                    "env": {"WHO": "web", "EMPTY": ""}}))
    assert measurement_of(ok(gw.cli("deploy", "--manifest", str(manifest)))) == local
    assert ok(gw.cli("invoke", "opts-http", "--data", "x")) == b"Hello, x!\n"
    # A value the spec module refuses is refused before anything is sent.
    r = gw.cli("deploy", "bad", so, "--memory", "3M")
    assert "--memory" in failed(r, 2) and "bad" not in gw.m.ls()


def test_an_exec_function_with_its_bundle(gw, tmp_path):
    b = tmp_path / "b"
    (b / "lib").mkdir(parents=True)
    (b / "lib" / "greeting").write_text("from the bundle")
    (b / "run.sh").write_text("#!/bin/sh\nprintf '%s: ' \"$(cat lib/greeting)\"; cat\n")
    (b / "run.sh").chmod(0o755)
    out = ok(gw.cli("deploy", "bundled", "--bundle", str(b), "--fresh", "--", "run.sh"))
    assert measurement_of(out) == measurement_of(ok(gw.m.cli("deploy", "bundled-local", "--bundle", str(b),
                                                             "--fresh", "--", "run.sh")))
    assert ok(gw.cli("invoke", "bundled", "--data", "x")) == b"from the bundle: x"
    # A program of the view, with its arguments.
    ok(gw.cli("deploy", "words", "--", "/usr/bin/wc", "-w"))
    assert ok(gw.cli("invoke", "words", input=b"one two three\n")).split() == [b"3"]


# ---- failures ------------------------------------------------------------------------------

def test_a_function_error_is_its_message_and_the_local_exit_status(gw):
    ok(gw.cli("deploy", "crash", str(EXAMPLES / "crash.so")))
    local = gw.m.invoke("crash", "x")
    remote = gw.cli("invoke", "crash", "--data", "x")
    assert failed(remote, local.returncode) == local.stderr.decode()
    assert local.returncode == 1 and "crashed" in local.stderr.decode()


def test_a_status_the_function_set_is_still_its_output(gw, tmp_path):
    """A function may set its HTTP status (cit_set_status): what it wrote is its
    response, as `citadel invoke` on the socket shows it, not an error."""
    src = tmp_path / "status.c"
    src.write_text('#include <citadel/function.h>\n'
                   'int cit_handler(const struct cit_request *q, struct cit_response *r)\n'
                   '{ (void)q; cit_set_status(r, 404); cit_set_content_type(r, "application/json");\n'
                   '  return cit_respond(r, "{\\"found\\": false}", 16); }\n')
    so = tmp_path / "status.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-I", str(ROOT / "include"), "-o", str(so), str(src)], check=True)
    ok(gw.cli("deploy", "status", str(so)))
    with pytest.raises(urllib.error.HTTPError) as answered:  # the status the gateway sends
        urllib.request.urlopen(urllib.request.Request(gw.url + "/function/status", data=b"x"), timeout=30)
    assert answered.value.code == 404
    assert ok(gw.cli("invoke", "status", "--data", "x")) == b'{"found": false}'
    assert gw.m.invoke("status", "x").stdout == b'{"found": false}'


def test_the_token_is_needed_and_checked(gw):
    ok(gw.cli("deploy", "echo", str(EXAMPLES / "echo.so")))
    wrong = ("0" if gw.token[0] != "0" else "1") + gw.token[1:]
    for args in (["ls"], ["rm", "echo"], ["logs", "echo"], ["deploy", "x", str(EXAMPLES / "echo.so")]):
        assert "the admin token is not valid" in failed(gw.cli(*args, token=wrong)), args
        assert "needs the admin token" in (e := failed(gw.cli(*args, token=False))) and "CITADEL_TOKEN" in e, args
    assert "not an admin token" in failed(gw.cli("ls", token="not-a-token"))
    assert "echo" in gw.m.ls()
    # Invoking is open (the function was deployed without an invoke key).
    assert ok(gw.cli("invoke", "echo", "--data", "open", token=False)) == b"open"


def test_an_invoke_key(gw):
    """A function deployed --invoke-key over HTTP: its key is printed once, and an
    invocation carries --invoke-key or CITADEL_INVOKE_KEY, which win over CITADEL_TOKEN."""
    out = ok(gw.cli("deploy", "keyed", str(EXAMPLES / "echo.so"), "--invoke-key")).decode().splitlines()
    assert out[1].startswith("invoke key: ")
    key = out[1].split(": ")[1]
    assert len(key) == 64
    e = failed(gw.cli("invoke", "keyed", "--data", "x", token=False))
    assert "needs its invoke key" in e and "--invoke-key" in e
    assert ok(gw.cli("invoke", "keyed", "--data", "k", "--invoke-key", key, token=False)) == b"k"
    wrong = ("0" if gw.token[0] != "0" else "1") + gw.token[1:]
    assert ok(gw.cli("invoke", "keyed", "--data", "e", token=wrong, env={"CITADEL_INVOKE_KEY": key})) == b"e"
    assert ok(gw.cli("invoke", "keyed", "--data", "t")) == b"t"  # an admin's token opens it too
    assert "--invoke-key" in failed(gw.cli("invoke", "keyed", "--invoke-key", "short", token=False), 2)
    assert "is for --url" in failed(gw.m.cli("invoke", "keyed", "--data", "x", "--invoke-key", key), 2)


def test_citadel_url_stands_for_url_and_socket_wins_over_it(gw):
    ok(gw.cli("deploy", "echo", str(EXAMPLES / "echo.so")))
    assert ok(gw.cli("invoke", "echo", "--data", "env", url=None, env={"CITADEL_URL": gw.url})) == b"env"
    # --socket: the local monitor, whatever CITADEL_URL says.
    r = gw.cli("invoke", "echo", "--data", "sock", "--socket", gw.m.sock, url=None,
               env={"CITADEL_URL": "http://127.0.0.1:1"})
    assert ok(r) == b"sock"
    for args in (["ls"], ["invoke", "echo", "--data", "x"], ["rm", "echo"], ["logs", "echo"],
                 ["deploy", "x", str(EXAMPLES / "echo.so")]):
        e = failed(gw.cli(*args, "--socket", gw.m.sock), 2)
        assert "--url and --socket together" in e, args
    assert "echo" in gw.m.ls()


def test_a_url_nobody_listens_at_is_named(gw):
    url = f"http://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    e = failed(gw.cli("ls", url=url))
    assert f"cannot reach the gateway at {url}" in e and e.count("\n") == 1
    assert time.monotonic() - t0 < 10
    e = failed(gw.cli("invoke", "echo", "--data", "x", url=None, env={"CITADEL_URL": url}))
    assert url in e and "CITADEL_URL" in e


@pytest.mark.parametrize("url, says", [("ftp://127.0.0.1/", "only http:// and https://"),
                                       ("127.0.0.1:8080", "not the gateway's URL"),
                                       ("http://127.0.0.1:8080/?a=b", "query"),
                                       ("http://me:secret@127.0.0.1:8080", "CITADEL_TOKEN"),
                                       ("", "wants the gateway's URL")])
def test_a_url_that_is_no_gateways_is_a_usage_error(gw, url, says):
    assert says in failed(gw.cli("ls", url=url), 2)


@pytest.mark.parametrize("args", [["token", "ls"], ["token", "add", "x"], ["restart", "echo"]])
def test_what_http_cannot_do_says_so(gw, args):
    assert "not available over --url" in failed(gw.cli(*args), 2)
    e = failed(gw.cli(*args, url=None, env={"CITADEL_URL": gw.url}), 2)
    assert "not available over --url" in e and "--socket" in e
    assert gw.m.cli("token", "ls").stdout.split() == [b"admin"]  # nothing was added


def test_run_serve_and_logs_follow_say_so_too(gw):
    r = gw.cli("run", "--", "/bin/true")
    assert r.returncode == 125 and b"not available over --url" in r.stderr
    assert "not available over --url" in failed(gw.cli("serve"), 2)
    assert "--follow is not available over --url" in failed(gw.cli("logs", "-f", "echo"), 2)


def test_help_tells_of_url():
    r = subprocess.run([str(CITADEL), "--help"], capture_output=True)
    assert r.returncode == 0 and b"--url URL" in r.stdout and b"CITADEL_URL" in r.stdout
    for cmd in ("deploy", "invoke", "ls", "rm", "logs"):
        r = subprocess.run([str(CITADEL), cmd, "--help"], capture_output=True)
        assert r.returncode == 0 and b"--url URL" in r.stdout and b"CITADEL_URL" in r.stdout, cmd
    assert (BUILD / "citadel-remote").exists()


# ---- chains ----------------------------------------------------------------------------------

MANIFEST = {"steps": [{"name": "in", "function": "echo"}, {"name": "up", "function": "upper", "after": "in"},
                      {"name": "same", "function": "echo", "after": ["in"]},
                      {"name": "join", "function": "concat", "after": ["up", "same"]}]}


def chain_names(gw):
    """The chains the monitor has, as its local socket lists them."""
    return {c["name"] for c in json.loads(ok(gw.m.cli("chain", "ls", "--json")))}


@pytest.fixture(scope="module")
def steps(gw):
    """The gateway with the chains' example steps deployed."""
    for f in ("echo", "upper", "concat", "crash"):
        gw.m.deploy(f)
    return gw


def test_chain_create_invoke_ls_and_rm_over_the_gateway(steps, tmp_path):
    gw = steps
    assert ok(gw.cli("chain", "create", "shout", "echo", "upper")) == b"created chain shout (2 steps)\n"
    manifest = tmp_path / "fan.json"
    manifest.write_text(json.dumps(MANIFEST))
    assert ok(gw.cli("chain", "create", "fan", "--manifest", str(manifest))) == b"created chain fan (4 steps)\n"
    assert ok(gw.cli("chain", "invoke", "shout", "--data", "hello")) == b"HELLO"
    assert ok(gw.cli("chain", "invoke", "fan", input=b"hey")) == b"up: HEY\nsame: hey\n"
    request = tmp_path / "request"
    request.write_bytes(b"a" * (1 << 20))
    assert ok(gw.cli("chain", "invoke", "shout", "--file", str(request))) == b"A" * (1 << 20)

    # ls prints what the local chain ls prints: the same table, the same JSON.
    table = ok(gw.cli("chain", "ls"))
    assert table == ok(gw.m.cli("chain", "ls"))
    assert "fan                  in=echo up=upper same=echo<in join=concat<up,same" in table.decode()
    assert ok(gw.cli("chain", "ls", "--json")) == ok(gw.m.cli("chain", "ls", "--json"))
    assert {c["name"] for c in json.loads(ok(gw.cli("chain", "ls", "--json")))} >= {"shout", "fan"}

    assert ok(gw.cli("chain", "rm", "shout")) == b"removed chain shout\n"
    assert "shout" not in chain_names(gw)
    assert "no chain named 'shout'" in failed(gw.cli("chain", "rm", "shout"))
    assert "no chain named 'shout'" in failed(gw.cli("chain", "invoke", "shout", "--data", "x"))


def test_chain_failures_say_what_the_local_commands_say(steps, tmp_path):
    """The same line on stderr and the same exit status as on the local socket."""
    gw = steps

    def both(*args):
        remote, local = gw.cli(*args), gw.m.cli(*args)
        assert (remote.returncode, remote.stdout, remote.stderr) == (local.returncode, local.stdout, local.stderr)
        return remote

    ok(gw.cli("chain", "create", "boom", "echo", "crash", "upper"))
    e = failed(both("chain", "invoke", "boom", "--data", "x"))
    assert e.startswith("citadel chain invoke: chain boom failed at step crash (function crash): "), e
    cycle = tmp_path / "cycle.json"
    cycle.write_text('{"steps": [{"name": "a", "after": "b"}, {"name": "b", "after": "a"}]}')
    assert "cycle.json: the steps form a cycle" in failed(both("chain", "create", "c", "--manifest", str(cycle)))
    assert "none.json: No such file" in failed(both("chain", "create", "c", "--manifest", str(tmp_path / "none.json")))
    assert "'Bad!' is not a valid name" in failed(both("chain", "create", "c", "echo", "Bad!"), 2)
    assert "together" in failed(both("chain", "create", "c", "echo", "--manifest", str(cycle)), 2)
    assert "no functions given" in failed(both("chain", "create", "c"), 2)
    assert "--invoke-key is for functions" in failed(both("chain", "invoke", "boom", "--invoke-key", "k"), 2)
    # What only the monitor knows, told the same way.
    assert "no function named 'nosuch'" in failed(both("chain", "create", "c", "echo", "nosuch"))
    assert "boom" in chain_names(gw) and "c" not in chain_names(gw)


def test_chain_commands_carry_the_token(steps):
    gw = steps
    wrong = ("0" if gw.token[0] != "0" else "1") + gw.token[1:]
    ok(gw.cli("chain", "create", "kept", "echo"))
    for args in (["chain", "create", "t", "echo"], ["chain", "rm", "kept"], ["chain", "ls"]):
        e = failed(gw.cli(*args, token=False))
        assert "needs the admin token" in e and "CITADEL_TOKEN" in e, args
        assert "the admin token is not valid" in failed(gw.cli(*args, token=wrong)), args
    assert "t" not in chain_names(gw) and "kept" in chain_names(gw)
    # Invoking is anyone's over HTTP (listing shows functions' names: an admin's, as for
    # functions)...
    ok(gw.cli("chain", "create", "open", "echo"))
    assert ok(gw.cli("chain", "invoke", "open", "--data", "x", token=False)) == b"x"
    assert b"open" in ok(gw.cli("chain", "ls"))
    # ...but a chain that calls a function deployed --invoke-key takes an admin's token.
    gw.m.deploy("chkeyed", "echo", "--invoke-key")
    ok(gw.cli("chain", "create", "locked", "chkeyed", "upper"))
    e = failed(gw.cli("chain", "invoke", "locked", "--data", "x", token=False))
    assert "needs its invoke key" in e and "CITADEL_TOKEN gives it" in e, e
    assert ok(gw.cli("chain", "invoke", "locked", "--data", "x")) == b"X"


# ---- what is not the gateway ------------------------------------------------------------------

class FakeServer:
    """An HTTP server on loopback answering every request with one canned answer, and
    recording the requests it got."""

    def __init__(self, status, headers, body):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                outer.requests.append((self.command, self.path, dict(self.headers)))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = answer

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_redirect_is_never_followed(gw):
    """The token must not travel to wherever a redirect points."""
    elsewhere = FakeServer(200, {"Content-Type": "application/json"}, b"[]")
    redirector = FakeServer(307, {"Location": elsewhere.url + "/v1/functions"}, b"")
    try:
        for args in (["ls"], ["invoke", "echo", "--data", "x"]):
            e = failed(gw.cli(*args, url=redirector.url))
            assert "redirect" in e and "not followed" in e and elsewhere.url in e, e
        assert len(redirector.requests) == 2 and elsewhere.requests == []
    finally:
        elsewhere.close()
        redirector.close()


def test_a_proxys_error_page_is_an_error_not_output(gw):
    proxy = FakeServer(502, {"Content-Type": "text/html"}, b"<html>502 Bad Gateway</html>\n")
    try:
        e = failed(gw.cli("invoke", "echo", "--data", "x", url=proxy.url))
        assert "answered HTTP 502: <html>502 Bad Gateway</html>" in e
        method, path, headers = proxy.requests[0]
        assert (method, path) == ("POST", "/v1/functions/echo/invoke")
        assert headers["Authorization"] == f"Bearer {gw.token}"
    finally:
        proxy.close()
