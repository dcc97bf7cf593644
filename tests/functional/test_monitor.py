"""The monitor end to end through the CLI: `citadel serve`, deploy, invoke, ls, rm, logs,
the lifecycle (templates, pooled trustlets, --fresh, keep-alive, restarts), what happens
to misbehaving functions, and isolation between functions and between trustlets."""
import array
import contextlib
import datetime
import errno
import fcntl
import hashlib
import json
import struct
import tempfile
import os
import resource
import re
import select
import shutil
import signal
import socket
import subprocess
import termios
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import BUILD, CITADEL, ROOT

EXAMPLES = BUILD / "examples"


class Monitor:
    """A `citadel serve` of the test's own, on its own socket and state directory."""

    def __init__(self, tmp_path, name="m"):
        self.state = tmp_path / f"{name}-state"
        self.sock = str(tmp_path / f"{name}.sock")
        self.log = tmp_path / f"{name}.log"
        self.proc = None

    def start(self, *extra, nofile=None):
        self.logf = open(self.log, "ab")
        self.extra = extra
        limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))) if nofile else None
        self.proc = subprocess.Popen([str(CITADEL), "serve", "--state-dir", str(self.state),
                                     "--socket", self.sock, *extra], stderr=self.logf, preexec_fn=limit)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "monitor did not start"
            time.sleep(0.02)
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)
        if not self.logf.closed:
            self.logf.close()
        return self.proc.returncode

    def cli(self, *args, input=None, timeout=60):
        return subprocess.run([str(CITADEL), *args], input=input, capture_output=True, timeout=timeout,
                              env={"PATH": os.environ["PATH"], "CITADEL_SOCKET": self.sock})

    def deploy(self, name, example=None, *opts):
        r = self.cli("deploy", name, str(EXAMPLES / f"{example or name}.so"), *opts)
        assert r.returncode == 0, r.stderr
        return r

    def invoke(self, name, data=None, **kw):
        args = ["invoke", name] + (["--data", data] if data is not None else [])
        return self.cli(*args, **kw)

    def ls(self):
        r = self.cli("ls", "--json")
        assert r.returncode == 0, r.stderr
        return {f["name"]: f for f in json.loads(r.stdout)}


def children(pid):
    try:
        return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def descendants(pid):
    """Every process below pid: a monitor's sandboxes, zygotes, templates and trustlets."""
    out, todo = [], children(pid)
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


def alive(pids):
    return [p for p in pids if os.path.exists(f"/proc/{p}")]


@pytest.fixture(scope="module")
def mon(tmp_path_factory):
    m = Monitor(tmp_path_factory.mktemp("monitor")).start()
    yield m
    m.stop()


@pytest.fixture
def new_monitor(tmp_path):
    """Makes monitors of the test's own; whatever happens in the test, they are stopped."""
    made = []

    def make(*extra, nofile=None):
        m = Monitor(tmp_path, f"m{len(made)}").start(*extra, nofile=nofile)
        made.append(m)
        return m
    yield make
    for m in made:
        if m.proc.poll() is None:
            m.proc.kill()
            m.proc.wait()
        m.logf.close()


# ---- functions work ---------------------------------------------------------------------

def test_deploy_and_invoke_hello(mon):
    r = mon.deploy("hello")
    assert r.stdout.startswith(b"deployed hello (measurement ")
    assert mon.invoke("hello", "Ada").stdout == b"Hello, Ada!\n"
    assert mon.invoke("hello", input=b"").stdout == b"Hello, world!\n"


def test_request_from_stdin_and_file(mon, tmp_path):
    mon.deploy("echo")
    assert mon.invoke("echo", input=b"from stdin\x00\xff").stdout == b"from stdin\x00\xff"
    f = tmp_path / "req"
    f.write_bytes(b"from a file")
    assert mon.cli("invoke", "echo", "--file", str(f)).stdout == b"from a file"


@pytest.mark.parametrize("size", [0, 1, 32 * 1024, 32 * 1024 + 1, 5 << 20])
def test_echo_round_trips_any_size(mon, size):
    """Small requests travel inline; larger ones as sealed data objects, both ways."""
    mon.deploy("echo")
    data = os.urandom(size)
    r = mon.invoke("echo", input=data)
    assert r.returncode == 0, r.stderr
    assert r.stdout == data


def test_json_sha256_matmul(mon):
    for f in ("json", "sha256", "matmul"):
        mon.deploy(f)
    r = mon.invoke("json", '{"b": "hi", "a": 2, "c": 1.5}')
    assert json.loads(r.stdout) == {"count": 3, "keys": ["a", "b", "c"], "sum": 3.5, "upper": {"b": "HI"}}
    r = mon.invoke("json", "{not json")
    assert r.returncode == 1 and b"invalid JSON" in r.stderr
    data = os.urandom(100000)
    assert mon.invoke("sha256", input=data).stdout == hashlib.sha256(data).hexdigest().encode() + b"\n"
    assert mon.invoke("matmul", "10").stdout == b"n=10 trace=480 sum=4700\n"
    r = mon.invoke("matmul", "0")
    assert r.returncode == 1 and b"matrix size must be 1..1024" in r.stderr


def test_ls_reports_functions(mon):
    mon.deploy("hello")
    for _ in range(3):
        assert mon.invoke("hello", "x").returncode == 0
    f = mon.ls()["hello"]
    assert f["runtime"] == "native" and f["state"] == "ready"
    assert len(f["measurement"]) == 64 and int(f["measurement"], 16)
    assert f["invocations"] >= 3 and f["live"] >= 1
    assert 0 < f["p50_us"] <= f["p99_us"]
    assert f["cold_us"] > 0 and f["template_us"] > 0 and f["lukewarm_us"] > 0
    table = mon.cli("ls").stdout.decode()
    assert "NAME" in table and "hello" in table and f["measurement"][:16] in table


def test_measurement_binds_code_and_policy(mon):
    a = mon.deploy("m1", "hello").stdout
    b = mon.deploy("m2", "hello").stdout
    c = mon.deploy("m3", "hello", "--memory", "128M").stdout
    d = mon.deploy("m4", "echo").stdout
    meas = [x.split(b"measurement ")[1] for x in (a, b, c, d)]
    assert meas[0] == meas[1]          # same code and policy, another name
    assert len({meas[0], meas[2], meas[3]}) == 3


def test_logs(mon):
    mon.deploy("hello")
    r = mon.cli("logs", "hello")
    assert r.returncode == 0 and b"info hello: ready" in r.stdout


def test_rm(mon):
    mon.deploy("gone", "hello")
    assert mon.cli("rm", "gone").returncode == 0
    r = mon.invoke("gone", "x")
    assert r.returncode == 1 and b"no function named 'gone'" in r.stderr
    assert "gone" not in mon.ls()
    assert not (mon.state / "functions" / "gone").exists()
    r = mon.cli("rm", "gone")
    assert r.returncode == 1 and b"no function named" in r.stderr


def test_redeploy_replaces_the_version(mon, tmp_path):
    mon.deploy("swap", "hello")
    assert mon.invoke("swap", "x").stdout == b"Hello, x!\n"
    mon.deploy("swap", "echo")
    assert mon.invoke("swap", "x").stdout == b"x"


def test_manifest(mon, tmp_path):
    m = tmp_path / "fn.json"
    m.write_text(json.dumps({"name": "fromfile", "code": str(EXAMPLES / "hello.so"), "memory": "32M",
                             "timeout": "2s", "max_instances": 3, "env": {"GREETING": "hi"}}))
    r = mon.cli("deploy", "--manifest", str(m))
    assert r.returncode == 0, r.stderr
    assert mon.invoke("fromfile", "M").stdout == b"Hello, M!\n"
    assert mon.ls()["fromfile"]["max_instances"] == 3
    m.write_text("{broken")
    r = mon.cli("deploy", "--manifest", str(m))
    assert r.returncode == 2 and str(m).encode() in r.stderr


# ---- bad input gets a clear error ---------------------------------------------------------

@pytest.mark.parametrize("args,msg", [
    (["deploy", "Bad Name", "x.so"], b"not valid"),
    (["deploy", "ok", "/no/such.so"], b"/no/such.so"),
    (["deploy", "ok", "/etc"], b"not a regular file"),
    (["deploy", "ok", "x.so", "--memory", "lots"], b"--memory"),
    (["deploy", "ok", "x.so", "--max-instances", "0"], b"--max-instances"),
    (["deploy", "ok", "x.so", "--min-instances", "5", "--max-instances", "2"], b"--min-instances"),
    (["invoke", "nosuch", "--data", "x"], b"no function named 'nosuch'"),
    (["logs", "nosuch"], b"no function named"),
    (["invoke"], b"citadel invoke: no function NAME given"),
    (["invoke", "hello", "extra"], b"citadel invoke: unexpected argument 'extra'"),
    (["invoke", "hello", "--data", "x", "--file", "/etc/hostname"], b"--data and --file together"),
    (["invoke", "a" * 64, "--data", "x"], b"is not a function name"),
    (["invoke", "hello", "--frob"], b"citadel invoke: unknown option '--frob'"),
    (["deploy"], b"citadel deploy: no NAME and FILE given"),
    (["deploy", "x", "x.so", "y"], b"citadel deploy: unexpected argument 'y'"),
    (["ls", "extra"], b"citadel ls: unexpected argument 'extra'"),
    (["rm"], b"citadel rm: no function NAME given"),
    (["logs", "--socket"], b"citadel logs: option '--socket' needs a value"),
])
def test_bad_requests(mon, args, msg):
    """A bad request is one clear line (what was wrong) and where to look, never the whole
    help text; the function's name is checked before the request is read."""
    r = mon.cli(*args)
    assert r.returncode in (1, 2) and msg in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) <= 2, r.stderr


def test_an_error_names_the_users_file(mon, tmp_path):
    bad = tmp_path / "broken.so"
    bad.write_bytes(b"not an ELF file\n")
    r = mon.cli("deploy", "broken", str(bad))
    assert r.returncode == 1 and str(bad).encode() in r.stderr and b"/proc/self/fd" not in r.stderr, r.stderr


def test_a_user_the_socket_refuses_is_told_so(mon):
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(CITADEL), "ls",
                        "--socket", str(mon.sock)], capture_output=True, timeout=60)
    assert r.returncode == 1 and b"permission denied: the monitor's socket" in r.stderr, r.stderr


def test_deploy_of_something_that_is_not_a_function(mon, tmp_path):
    """The monitor reads the ELF file itself before any template loads it (so a function's
    constructor cannot claim otherwise): each kind of wrong file is told apart."""
    for name, path, says in [("notso", "/etc/hostname", b"not an ELF file"),
                             ("exe", "/bin/true", b"ELF executable, not a shared object"),
                             ("libm", "/lib/x86_64-linux-gnu/libm.so.6", b"not built with citadel/function.h")]:
        r = mon.cli("deploy", name, path)
        assert r.returncode == 1 and says in r.stderr, r.stderr
        assert name not in mon.ls()
    started = [l for l in mon.log.read_bytes().splitlines() if b"deploying" in l]
    assert not [l for l in started if any(b"function=" + n + b"" in l for n in (b"notso", b"exe", b"libm"))], started


def build_function(tmp_path, name, init_body, includes=""):
    """Builds a function whose cit_init is init_body and whose handler does nothing."""
    src = tmp_path / f"{name}.c"
    src.write_text(f'#include <citadel/function.h>\n{includes}'
                   f'int cit_init(void) {{ {init_body} }}\n'
                   'int cit_handler(const struct cit_request *q, struct cit_response *r)'
                   ' { (void)q; (void)r; return 0; }\n')
    so = tmp_path / f"{name}.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-I", str(ROOT / "include"), "-o", str(so), str(src)], check=True)
    return so


def test_failing_init_is_reported_and_keeps_the_old_version(mon, tmp_path):
    so = build_function(tmp_path, "badinit", 'cit_init_fail("no configuration found"); return -22;')
    mon.deploy("keeper", "hello")
    r = mon.cli("deploy", "keeper", str(so))
    assert r.returncode == 1 and b"cit_init failed: no configuration found" in r.stderr
    assert mon.invoke("keeper", "still").stdout == b"Hello, still!\n"


def test_monitor_survives_a_garbage_client(mon):
    for junk in (b"", b"\xff" * 7, b"\x00" * 40, os.urandom(2000)):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(mon.sock)
        s.send(junk)
        s.settimeout(5)
        try:
            s.recv(4096)
        except OSError:
            pass
        s.close()
    mon.deploy("hello")
    assert mon.invoke("hello", "ok").stdout == b"Hello, ok!\n"


# ---- misbehaving functions --------------------------------------------------------------

@pytest.mark.parametrize("fn,msg", [
    ("crash", b"instance crashed: killed by signal 11"),
    ("loop", b"timed out after 1000 ms"),
    ("memhog", b"the function exceeded its memory limit (32 MiB)"),
    ("bigoutput", b"exceeds the output limit"),
])
def test_misbehaving_function_is_killed_and_replaced(mon, fn, msg):
    mon.deploy(fn, fn, "--timeout", "1s", "--memory", "32M", "--output-limit", "1M", "--max-instances", "2")
    mon.deploy("hello")
    for _ in range(2):  # killed and replaced: the second call meets a new instance
        r = mon.invoke(fn, "x", timeout=30)
        assert r.returncode == 1 and msg in r.stderr, r.stderr
        assert mon.invoke("hello", "next").stdout == b"Hello, next!\n"
    assert mon.ls()[fn]["errors"] >= 2


def test_no_processes_no_exec_threads_yes(mon):
    mon.deploy("forker")
    r = mon.invoke("forker", "")
    assert r.stdout == (b"fork: Operation not permitted\nexec: Operation not permitted\nthread: ok\n")


def test_protocol_breaker_is_killed(mon):
    mon.deploy("probe")
    r = mon.invoke("probe", "badproto")
    assert r.returncode == 1 and b"broke the protocol" in r.stderr
    assert mon.invoke("probe", "pid").stdout.startswith(b"ok ")


# ---- isolation -------------------------------------------------------------------------

def test_function_cannot_reach_the_host(mon):
    mon.deploy("probe")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        r = mon.invoke("probe", f"connect 127.0.0.1 {port}")
        assert r.stdout.startswith(b"denied:")
    finally:
        listener.close()
    assert mon.invoke("probe", "read /etc/shadow").stdout.startswith(b"denied:")
    assert mon.invoke("probe", f"read {mon.state}/functions/probe/spec").stdout.startswith(b"denied:")
    assert mon.invoke("probe", "write /etc/citadel-x y").stdout.startswith(b"denied:")
    assert mon.invoke("probe", "write /tmp/outside-own-dir y").stdout.startswith(b"denied:")
    assert not os.path.exists("/etc/citadel-x")


def test_trustlets_of_one_function_cannot_reach_each_other(mon):
    mon.deploy("iso", "probe", "--max-instances", "4", "--min-instances", "2")
    before = _sleeping(descendants(mon.proc.pid))
    with ThreadPoolExecutor(2) as ex:
        holder = ex.submit(mon.invoke, "iso", "hold 2000 TOPSECRET")
        _wait_sleeping(mon, before)  # the secret planted, the holder's instance busy: the calls below get others
        spy = mon.invoke("iso", "spy").stdout
        sig = mon.invoke("iso", "signal").stdout
        peek = mon.invoke("iso", "peek").stdout
        held = holder.result()
    assert held.returncode == 0 and re.fullmatch(rb"ok /tmp/[0-9a-f]{32}/secret\n", held.stdout), held
    assert spy == b"ok found 0\n" or spy.startswith(b"denied:"), spy
    assert b"TOPSECRET" not in spy
    assert sig.startswith(b"ok killed 0 of "), sig
    assert peek.startswith(b"ok opened 0 of "), peek


def test_two_functions_cannot_reach_each_other(mon):
    mon.deploy("pa", "probe")
    mon.deploy("pb", "probe")
    before = _sleeping(descendants(mon.proc.pid))
    with ThreadPoolExecutor(2) as ex:
        holder = ex.submit(mon.invoke, "pa", "hold 1500 PA-SECRET")
        _wait_sleeping(mon, before)  # the secret planted
        spy = mon.invoke("pb", "spy").stdout
        sig = mon.invoke("pb", "signal").stdout
        held = holder.result()
    assert held.returncode == 0 and held.stdout.startswith(b"ok ")
    path = held.stdout.split()[1].decode()
    assert b"PA-SECRET" not in spy
    assert mon.invoke("pb", f"read {path}").stdout.startswith(b"denied:")
    assert sig.startswith(b"ok killed 0 of ")
    # Distinct identities: every sandbox (one per function, and the spare zygote) runs as a
    # host uid of its own, never 0.
    inits = children(mon.proc.pid)
    uids = {int(open(f"/proc/{p}/status").read().split("\nUid:")[1].split()[0]) for p in inits}
    assert len(inits) >= 3 and len(uids) == len(inits) and 0 not in uids


def test_trustlets_get_fresh_random_state(mon):
    mon.deploy("rnd", "probe", "--fresh")
    values = {mon.invoke("rnd", "random").stdout for _ in range(4)}
    assert len(values) == 4


def test_fresh_gives_every_call_a_new_instance(mon):
    mon.deploy("fr", "probe", "--fresh")
    pids = [mon.invoke("fr", "pid").stdout for _ in range(3)]
    assert len(set(pids)) == 3
    mon.deploy("nf", "probe", "--max-instances", "1")
    pids = [mon.invoke("nf", "pid").stdout for _ in range(3)]
    assert len(set(pids)) == 1


# ---- concurrency and lifecycle ------------------------------------------------------------

def test_64_concurrent_invocations(mon):
    mon.deploy("echo", "echo", "--max-instances", "8")
    payloads = [os.urandom(64) + str(i).encode() for i in range(64)]
    with ThreadPoolExecutor(64) as ex:
        results = list(ex.map(lambda p: mon.invoke("echo", input=p), payloads))
    assert [r.stdout for r in results] == payloads
    assert mon.ls()["echo"]["live"] <= 8


def test_calls_beyond_max_instances_wait_their_turn(mon):
    mon.deploy("one", "probe", "--max-instances", "1")
    before = _sleeping(descendants(mon.proc.pid))
    with ThreadPoolExecutor(3) as ex:
        futs = [ex.submit(mon.invoke, "one", "sleep 1000")]
        _wait_sleeping(mon, before)  # the one instance is busy: the next two calls must wait
        futs += [ex.submit(mon.invoke, "one", "sleep 1000") for _ in range(2)]
        deadline = time.monotonic() + 30  # one of them is queued for about 2 s
        f = mon.ls()["one"]
        while f["queued"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
            f = mon.ls()["one"]
        assert f["live"] == 1 and f["queued"] >= 1, f
        assert all(x.result().stdout == b"ok slept\n" for x in futs)


def test_idle_instances_are_reaped_after_keep_alive(mon):
    # Calls long enough to overlap however slowly their callers start, and a keep-alive
    # long enough for ls to see their instances idle afterwards.
    mon.deploy("ka", "probe", "--keep-alive", "3s", "--max-instances", "4")
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda _: mon.invoke("ka", "sleep 1000"), range(4)))
    assert mon.ls()["ka"]["live"] >= 2
    deadline = time.monotonic() + 30
    while mon.ls()["ka"]["live"] > 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert mon.ls()["ka"]["live"] == 1


def test_restart_keeps_functions_and_leaves_nothing_behind(new_monitor):
    m = new_monitor()
    m.deploy("hello")
    m.deploy("echo", "echo", "--min-instances", "2")
    assert m.invoke("hello", "1").returncode == 0
    mine = descendants(m.proc.pid)
    assert len(mine) >= 6  # init, template and trustlets of each function, a spare zygote
    assert m.stop(signal.SIGINT) == 0
    time.sleep(0.2)
    assert not alive(mine), "sandboxes outlived the monitor"
    assert not os.path.exists(m.sock)
    m.start()
    assert m.invoke("hello", "again").stdout == b"Hello, again!\n"
    assert set(m.ls()) == {"hello", "echo"}
    deadline = time.monotonic() + 30
    while m.ls()["echo"]["idle"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert m.ls()["echo"]["idle"] == 2  # --min-instances is restored ready
    m.stop()


def test_killed_monitor_takes_its_sandboxes_along(new_monitor):
    m = new_monitor()
    m.deploy("hello")
    assert m.invoke("hello", "1").returncode == 0
    mine = descendants(m.proc.pid)
    assert mine
    m.proc.kill()
    m.proc.wait()
    deadline = time.monotonic() + 5
    while alive(mine) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(mine)


def test_second_monitor_on_the_same_socket_is_refused(mon):
    r = subprocess.run([str(CITADEL), "serve", "--state-dir", str(mon.state) + "2", "--socket", mon.sock],
                       capture_output=True, timeout=10)
    assert r.returncode == 1 and b"another monitor is serving" in r.stderr


def test_a_busy_monitor_keeps_its_socket(new_monitor, tmp_path):
    """A monitor that takes no connection for a moment (its backlog full) is alive: a
    second one refuses its socket rather than take it over."""
    m = new_monitor()
    m.proc.send_signal(signal.SIGSTOP)
    socks = []
    try:
        for _ in range(5000):  # until the backlog is full
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.setblocking(False)
            try:
                s.connect(m.sock)
            except BlockingIOError:
                s.close()
                break
            socks.append(s)
        r = subprocess.run([str(CITADEL), "serve", "--state-dir", str(tmp_path / "other"), "--socket", m.sock],
                           capture_output=True, timeout=10)
    finally:
        m.proc.send_signal(signal.SIGCONT)
        for s in socks:
            s.close()
    assert r.returncode == 1 and b"another monitor is serving" in r.stderr, r.stderr
    assert m.cli("ls").returncode == 0  # still reachable at its socket


def test_help():
    for cmd in ("serve", "deploy", "invoke", "ls", "rm", "logs"):
        r = subprocess.run([str(CITADEL), cmd, "--help"], capture_output=True)
        assert r.returncode == 0 and f"usage: citadel {cmd}".encode() in r.stdout
    r = subprocess.run([str(CITADEL), "invoke", "x"], capture_output=True,
                       env={"CITADEL_SOCKET": "/nonexistent/sock"}, input=b"")
    assert r.returncode == 1 and b"is `citadel serve` running?" in r.stderr


def test_many_trustlets_and_new_sandboxes_still_start(mon):
    """With more than a thousand trustlets the monitor holds thousands of fds; a sandbox
    made after that must not inherit them (it failed with EMFILE in its landlock step)."""
    mon.deploy("many", "echo", "--min-instances", "1100", "--max-instances", "1100", "--pids", "1200", "--memory", "2G")
    deadline = time.monotonic() + 120
    while mon.ls()["many"]["idle"] < 1100 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert mon.ls()["many"]["idle"] == 1100
    mon.deploy("after", "hello")
    assert mon.invoke("after", "x").stdout == b"Hello, x!\n"
    assert mon.invoke("many", "y").stdout == b"y"
    assert mon.cli("rm", "many").returncode == 0


def test_event_log_as_json(new_monitor):
    m = new_monitor("--log-format", "json")
    m.deploy("hello")
    assert m.invoke("hello", "x").returncode == 0
    m.stop()
    events = [json.loads(line) for line in m.log.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    # A new state directory's first events: its admin token, its master key, then serving.
    assert kinds[:4] == ["identity_key_made", "admin_token_made", "master_key_made", "serving"]
    assert kinds[-1] == "stopped" and "deployed" in kinds
    deployed = next(e for e in events if e["event"] == "deployed")
    assert deployed["function"] == "hello" and len(deployed["measurement"]) == 64
    assert all(e["ts"].endswith("Z") and e["level"] in ("info", "warn", "error") for e in events)


# ---- found by review: each attempted, each must fail -------------------------------------

def test_no_ipc_objects_between_trustlets(mon):
    """System V / POSIX IPC objects would outlive a trustlet and be shared by all of them."""
    mon.deploy("ipc", "probe", "--fresh")
    assert mon.invoke("ipc", "ipc").stdout == b"denied: Operation not permitted\n"


def test_trustlet_that_hangs_up_and_spins_is_killed(mon):
    """Shutting its channel looks like death to the monitor; it must be killed all the same,
    not left spinning outside the function's accounting."""
    mon.deploy("hup", "probe", "--timeout", "5s", "--max-instances", "2")
    for _ in range(3):
        r = mon.invoke("hup", "hangup", timeout=30)
        assert r.returncode == 1
    deadline = time.monotonic() + 5
    while True:
        spinning = []
        for p in descendants(mon.proc.pid):
            try:
                if open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] == "R":
                    spinning.append(p)
            except OSError:
                pass
        if not spinning or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert spinning == []
    assert mon.invoke("hup", "pid").stdout.startswith(b"ok ")


def test_redeploy_lets_running_calls_finish(mon):
    mon.deploy("rd", "probe")
    before = _sleeping(descendants(mon.proc.pid))
    with ThreadPoolExecutor(1) as ex:
        running = ex.submit(mon.invoke, "rd", "sleep 1500")
        _wait_sleeping(mon, before)  # running on the old version, before the deploy
        mon.deploy("rd", "echo")
        assert mon.invoke("rd", "new").stdout == b"new"
        assert running.result().stdout == b"ok slept\n"


def _sleeping(pids):
    """Those of pids in a sleep (clock_nanosleep, nanosleep): a probe running `sleep MS`."""
    out = set()
    for p in pids:
        try:
            if open(f"/proc/{p}/syscall").read().split()[0] in ("230", "35"):
                out.add(p)
        except (OSError, IndexError):
            pass
    return out


def _wait_sleeping(mon, before, n=1, seconds=30):
    """Waits until n processes of mon's, not in before, are in a sleep: calls that reached
    their probe's `sleep`, `hold`, `flock` or `lock` (their instance busy, their secret
    planted, their lock taken), whenever the machine lets them. Returns them."""
    deadline = time.monotonic() + seconds
    while True:
        new = _sleeping(descendants(mon.proc.pid)) - before
        if len(new) >= n:
            return new
        assert time.monotonic() < deadline, f"{n} calls did not reach their sleep within {seconds} s: {new}"
        time.sleep(0.02)


def test_a_replaced_versions_call_that_crashes_hears_why(mon):
    """A call still running on a replaced version whose instance then dies: its caller hears
    how it died (its template's EXITED), not that the version was removed, although the
    version's last running call is over once its instance hangs up."""
    mon.deploy("rc", "probe")
    assert mon.invoke("rc", "pid").returncode == 0
    before = _sleeping(descendants(mon.proc.pid))
    with ThreadPoolExecutor(1) as ex:
        running = ex.submit(mon.invoke, "rc", "sleep 8000")
        instance = _wait_sleeping(mon, before)  # running on the old version, before the deploy
        assert len(instance) == 1, instance
        pid = instance.pop()
        fd = os.pidfd_open(pid)
        try:
            mon.deploy("rc", "echo")
            assert _sleeping([pid]) == {pid}, "the call ended before the version was replaced"
            signal.pidfd_send_signal(fd, signal.SIGSEGV)
        finally:
            os.close(fd)
        r = running.result()
    assert r.returncode == 1 and b"instance crashed: killed by signal 11 (SEGV)" in r.stderr, r.stderr
    assert mon.invoke("rc", "new").stdout == b"new"


# struct cit_fn_spec (src/spec/spec.h): name, runtime, memory, timeout, output, max and min
# instances, keep-alive, flags, n_env, env_len, cpu_millis, pids, n_args, args_len (the V2
# layout), then object_quota, n_invokes, reserved and 16 names of functions it may invoke.
SPEC_V2 = "<64s16sQQQIIIIIIIIII"
SPEC_V3 = SPEC_V2 + "QII1024s"
SPEC = SPEC_V3 + "QII512s"  # the state's quota, value limit and shares


def _raw_deploy(sock_path, name, so, wait=0, keepalive=60, cpu_millis=1000):
    """A DEPLOY as the CLI sends it (proto.h), from a client that hangs up at once, or
    that waits up to wait seconds for the first reply (returned as replies() gives it)."""
    spec = struct.pack(SPEC, name.encode(), b"native", 64 << 20, 10000, 1 << 20, 4, 0, keepalive, 0,
                       0, 0, cpu_millis, 256, 0, 0, 256 << 20, 0, 0, b"", 64 << 20, 1 << 20, 0, b"")
    hdr = header(1, 7, len(spec), nfds=1)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sock_path)
    code = os.memfd_create("code", os.MFD_ALLOW_SEALING)
    os.write(code, open(so, "rb").read())
    fcntl.fcntl(code, 1033, 1 | 2 | 4 | 8)  # F_ADD_SEALS: seal, shrink, grow, write
    socket.send_fds(s, [hdr + spec], [code])
    os.close(code)
    got = replies(s, wait, until=lambda got: got) if wait else None
    s.close()
    return got


@pytest.mark.parametrize("field,value,says", [
    ("cpu_millis", 5, b"--cpus must be 0 (no limit) or from 0.01"),
    ("keepalive", 2**32 - 1, b"--keep-alive must be at most 30 days"),
])
def test_the_monitor_checks_every_limit_itself(mon, field, value, says):
    """A raw DEPLOY with a limit no CLI would send is refused by the monitor, with why."""
    got = _raw_deploy(mon.sock, "bounds", EXAMPLES / "echo.so", wait=30, **{field: value})
    assert got and got[0][0] == 17 and says in got[0][2], got
    assert "bounds" not in mon.ls()


def test_deploy_whose_client_hangs_up_still_replaces_the_version(mon):
    mon.deploy("dc", "hello")
    _raw_deploy(mon.sock, "dc", EXAMPLES / "echo.so")
    deadline = time.monotonic() + 10
    while mon.invoke("dc", "x").stdout != b"x" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mon.invoke("dc", "x").stdout == b"x"
    r = mon.cli("deploy", "dc", str(EXAMPLES / "probe.so"))
    assert r.returncode == 0, r.stderr
    assert mon.invoke("dc", "pid").stdout.startswith(b"ok ")
    assert len([f for f in mon.cli("ls").stdout.decode().splitlines() if f.startswith("dc ")]) == 1


def test_template_that_never_loads_fails_the_deploy(mon, tmp_path):
    so = build_function(tmp_path, "hang", "for (;;) pause();", "#include <unistd.h>\n")
    t0 = time.monotonic()
    r = mon.cli("deploy", "hang", str(so), "--timeout", "1s", timeout=60)
    assert r.returncode == 1 and b"did not load within 5000 ms" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 20
    assert "hang" not in mon.ls()


def test_one_connection_cannot_queue_without_bound(mon):
    mon.deploy("cap", "probe", "--max-instances", "1", "--timeout", "1s")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(mon.sock)
    for i in range(300):
        s.send(request(2, i + 1, b"cap", b"sleep 200"))
    refused, deadline = 0, time.monotonic() + 30
    s.settimeout(0.2)
    while refused < 30 and time.monotonic() < deadline:  # refusals come as the requests are read
        try:
            msg = s.recv(65536)
        except socket.timeout:
            continue
        if struct.unpack_from("<H", msg, 6)[0] == 17 and b"calls in flight already" in msg:
            refused += 1
    s.close()
    assert refused >= 30
    mon.deploy("hello")
    assert mon.invoke("hello", "still").stdout == b"Hello, still!\n"


def test_deploy_wants_the_code_as_a_sealed_object(mon, tmp_path):
    """A plain file could be truncated or stall the monitor while it reads."""
    spec = struct.pack(SPEC, b"plainfile", b"native", 64 << 20, 10000, 1 << 20, 4, 0, 60, 0, 0, 0,
                       1000, 256, 0, 0, 256 << 20, 0, 0, b"", 64 << 20, 1 << 20, 0, b"")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(mon.sock)
    with open(EXAMPLES / "hello.so", "rb") as f:
        socket.send_fds(s, [header(1, 9, len(spec), nfds=1) + spec], [f.fileno()])
    s.settimeout(10)
    reply = s.recv(65536)
    s.close()
    assert struct.unpack_from("<H", reply, 6)[0] == 17 and b"sealed data object" in reply
    assert "plainfile" not in mon.ls()


# ---- functions that misbehave -----------------------------------------------------------

def build_source(tmp_path, name, source):
    """Builds a function from C source (Citadel's headers and src/ on the include path)."""
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    so = tmp_path / f"{name}.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-pthread", "-I", str(ROOT / "include"), "-I", str(ROOT / "src"),
                    "-o", str(so), str(src)], check=True)
    return so


def events(mon, name):
    """The monitor's events of one kind so far (its log, one event per line)."""
    return [line for line in Path(mon.log).read_text().splitlines() if f"event={name} " in line + " "]


def cpu_seconds(pid):
    """User and system CPU time a process has used, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# An instance that cannot confine itself: a filter of the template's (installed for every
# thread, after POISON_AFTER ms or as it forks its POISON_AT_FORK-th instance) makes
# landlock_restrict_self fail in every instance forked from then on.
POISON = (Path(__file__).parent / "poison.c").read_text()


def test_instances_that_cannot_start_back_off_then_fail_the_function(mon, tmp_path):
    """A function whose every new instance dies before it is ready does not make the
    monitor fork thousands of processes a second: it backs off, then fails with the
    instance's own reason, shown by ls and returned by invoke, until a restart."""
    # The first instance is healthy (the deploy waits for it); from the second on, none can
    # confine itself (counted by fork, not by time: a slow machine must not poison the
    # first one too).
    so = build_source(tmp_path, "poisoned", "#define POISON_AT_FORK 2\n" + POISON)
    r = mon.cli("deploy", "poisoned", str(so), "--fresh")
    assert r.returncode == 0, r.stderr
    before = cpu_seconds(mon.proc.pid)
    t0 = time.monotonic()
    r = mon.invoke("poisoned", "x")
    r = mon.invoke("poisoned", "x") if r.returncode == 0 else r  # the one made before the poison
    assert r.returncode == 1 and b"landlock_restrict_self" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 8
    started = events(mon, "instance_start_failed")
    assert 1 <= len(started) <= 8, started
    assert len(events(mon, "function_stuck")) == 1
    # The documented schedule: one count per attempt (instances started together count
    # once), each wait twice the one before it.
    attempts = [int(e.split("attempt=")[1].split()[0]) for e in started]
    waits = [int(e.split("backoff_ms=")[1].split()[0]) for e in started]
    assert attempts == list(range(attempts[0], attempts[0] + len(attempts))), started
    assert all(b == 2 * a for a, b in zip(waits, waits[1:])), waits
    stamps = [datetime.datetime.fromisoformat(e.split("ts=")[1].split()[0].rstrip("Z")) for e in started]
    gaps_ms = [(b - a).total_seconds() * 1000 for a, b in zip(stamps, stamps[1:])]
    assert all(gap >= wait * 0.9 for gap, wait in zip(gaps_ms, waits)), (gaps_ms, waits)
    info = mon.ls()["poisoned"]
    assert info["state"] == "failed" and "landlock_restrict_self" in info["error"], info
    r = mon.invoke("poisoned", "again")
    assert r.returncode == 1 and b"has failed" in r.stderr and b"citadel restart" in r.stderr, r.stderr
    assert len(events(mon, "instance_start_failed")) == len(started), "instances were made while failed"
    assert cpu_seconds(mon.proc.pid) - before < 1.0
    r = mon.cli("restart", "poisoned")
    assert r.returncode == 0, r.stderr
    assert mon.invoke("poisoned", "x").returncode == 0  # a new template: fine until it poisons itself


# Instances that hang before they are ready: a fork handler of the function's. The first
# instance the template makes is ready; every later one hangs before its HELLO (counted by
# fork, not by time: a slow machine must not hang the first one too).
HANG = r'''
#include <citadel/function.h>
#include <pthread.h>
#include <unistd.h>
static int forks;
static void prepare(void) { forks++; }
static void child(void)
{
	if (forks > 1)
		for (;;)
			pause();
}
int cit_init(void) { return pthread_atfork(prepare, NULL, child) ? -1 : 0; }
int cit_handler(const struct cit_request *q, struct cit_response *r) { (void)q; return cit_respond(r, "ok", 2); }
'''


def test_an_instance_that_never_becomes_ready_is_a_failed_start(mon, tmp_path):
    """An instance held before its HELLO is given 5 s, then counts as a failed start: the
    caller hears that reason, not that no instance became free."""
    so = build_source(tmp_path, "hang", HANG)
    r = mon.cli("deploy", "hang", str(so), "--fresh", "--timeout", "2s")
    assert r.returncode == 0, r.stderr
    assert mon.invoke("hang", "x").stdout == b"ok"  # the first instance, made before the hang
    r = mon.invoke("hang", "x", timeout=60)
    assert r.returncode == 1 and b"did not become ready within 5 s" in r.stderr, r.stderr
    assert "did not become ready" in mon.ls()["hang"]["error"]


# A template thread that signals the pids its instances are about to get; the function's
# handler notes how many seccomp filters the process it runs in has.
SPRAY = r'''
#include <citadel/function.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static volatile int least = 99;
static int template_filters;
static pid_t template_pid;
static int filters(void)
{
	char buf[2048];
	int fd = open("/proc/self/status", O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	const char *p = strstr(buf, "Seccomp_filters:");
	return p ? atoi(p + 16) : -1;
}
static void noted(int sig)
{
	(void)sig;
	if (getpid() == template_pid)
		return; /* only what runs in instances counts */
	int f = filters();
	if (f < least)
		least = f;
}
static void *spray(void *arg)
{
	(void)arg;
	for (;;) {
		for (pid_t p = getpid() + 1; p < getpid() + 48; p++)
			kill(p, SIGUSR1);
		usleep(50);
	}
	return NULL;
}
int cit_init(void)
{
	template_filters = filters();
	template_pid = getpid();
	signal(SIGUSR1, noted);
	pthread_t t;
	return pthread_create(&t, NULL, spray, NULL) ? -1 : 0;
}
int cit_handler(const struct cit_request *q, struct cit_response *r)
{
	(void)q;
	return cit_respondf(r, "%d %d %d", template_filters, least, filters());
}
'''


def test_no_code_of_the_functions_runs_in_an_instance_before_it_is_confined(mon, tmp_path):
    """A signal handler of the function's, signalled by a template thread as instances
    are made, runs in an instance only once the instance's own layers are in place."""
    so = build_source(tmp_path, "spray", SPRAY)
    assert mon.cli("deploy", "spray", str(so), "--fresh").returncode == 0
    seen = []
    for _ in range(40):
        r = mon.invoke("spray", "x")
        assert r.returncode == 0, r.stderr
        seen.append(tuple(int(v) for v in r.stdout.split()))
    template, _, confined = seen[0]
    assert confined > template, seen  # an instance has a layer more than its template
    ran = [least for _, least, _ in seen if least != 99]
    assert ran, "no signal reached an instance: the test proves nothing"
    assert all(least == confined for least in ran), seen


def test_a_deploy_whose_instances_cannot_start_fails(mon, tmp_path):
    so = build_source(tmp_path, "poisoned0", "#define POISON_AFTER 0\n" + POISON)
    mon.deploy("p0", "hello")
    r = mon.cli("deploy", "p0", str(so))
    assert r.returncode == 1 and b"landlock_restrict_self" in r.stderr, r.stderr
    assert mon.invoke("p0", "still").stdout == b"Hello, still!\n"  # the old version stays


LINGER = r'''
#include <citadel/function.h>
#include <pthread.h>
#include <unistd.h>
static void *sleeper(void *arg) { (void)arg; sleep(30); return NULL; }
int cit_handler(const struct cit_request *q, struct cit_response *r)
{
	pthread_t t;
	if (q->len && pthread_create(&t, NULL, sleeper, NULL) == 0)
		pthread_detach(t);
	return cit_respondf(r, "%d", getpid());
}
'''


def test_an_instance_with_threads_left_after_its_call_is_replaced(mon, tmp_path):
    """Work that outlives its call would go on unseen while the instance looks idle: such
    an instance serves no other call."""
    so = build_source(tmp_path, "linger", LINGER)
    assert mon.cli("deploy", "linger", str(so), "--max-instances", "2").returncode == 0
    quiet = [mon.invoke("linger").stdout for _ in range(3)]
    assert len(set(quiet)) == 1, quiet  # no thread left: the same instance serves each call
    pids = [mon.invoke("linger", "leave a thread").stdout for _ in range(3)]
    assert len(set(pids)) == 3, pids
    # Each is logged once its call's reply has gone: maybe after the caller has heard it.
    deadline = time.monotonic() + 30
    while True:
        replaced = [e for e in events(mon, "instance_replaced") if "function=linger " in e]
        if len(replaced) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(replaced) >= 3, replaced
    assert mon.ls()["linger"]["live"] <= 2


BURN = r'''
#include <citadel/function.h>
#include <pthread.h>
#include <time.h>
static double now(clockid_t c) { struct timespec t; clock_gettime(c, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void *burn(void *arg)
{
	double end = now(CLOCK_MONOTONIC) + *(double *)arg;
	while (now(CLOCK_MONOTONIC) < end)
		;
	return NULL;
}
int cit_handler(const struct cit_request *q, struct cit_response *r)
{
	(void)q;
	double wall = 0.6, t0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, burn, &wall);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return cit_respondf(r, "%.3f", (now(CLOCK_PROCESS_CPUTIME_ID) - c0) / (now(CLOCK_MONOTONIC) - t0));
}
'''


def test_a_function_gets_the_cpu_it_is_given(mon, tmp_path):
    so = build_source(tmp_path, "burn", BURN)
    assert mon.cli("deploy", "burnhalf", str(so), "--cpus", "0.5").returncode == 0
    assert mon.cli("deploy", "burnall", str(so), "--cpus", "0").returncode == 0
    half = float(mon.invoke("burnhalf").stdout)
    assert half <= 0.65, half  # CPUs used per second of wall time, two threads busy
    # Without a limit it gets what the machine has to spare, which a busy machine may not
    # have for a moment: a few tries.
    for _ in range(5):
        unlimited = float(mon.invoke("burnall").stdout)
        if unlimited > half + 0.2:
            break
    assert unlimited > half + 0.2, (unlimited, half)


THREADS = r'''
#include <citadel/function.h>
#include <pthread.h>
#include <unistd.h>
static int gate[2];
static void *wait_gate(void *arg) { char c; (void)arg; (void)!read(gate[0], &c, 1); return NULL; }
int cit_handler(const struct cit_request *q, struct cit_response *r)
{
	(void)q;
	static pthread_t t[300];
	int n = 0;
	if (pipe(gate) < 0)
		return -1;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 65536);
	while (n < 300 && pthread_create(&t[n], &a, wait_gate, NULL) == 0)
		n++;
	close(gate[1]);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	close(gate[0]);
	return cit_respondf(r, "%d", n);
}
'''


def test_a_function_gets_the_pids_it_is_given(mon, tmp_path):
    so = build_source(tmp_path, "threads", THREADS)
    assert mon.cli("deploy", "threads", str(so), "--pids", "40", "--max-instances", "2").returncode == 0
    made = int(mon.invoke("threads").stdout)
    assert 0 < made < 40, made


def test_monitor_wide_caps(new_monitor, tmp_path):
    """Caps over all functions together: instances, and processes and threads."""
    m = new_monitor("--max-instances", "3", "--max-pids", "60")
    m.deploy("a", "echo", "--min-instances", "2", "--max-instances", "4")
    m.deploy("b", "echo", "--min-instances", "2", "--max-instances", "2")
    time.sleep(1)
    ls = m.ls()
    assert ls["a"]["live"] + ls["b"]["live"] == 3, ls
    assert m.cli("rm", "a").returncode == 0 and m.cli("rm", "b").returncode == 0
    so = build_source(tmp_path, "threads", THREADS)
    assert m.cli("deploy", "threads", str(so), "--pids", "300", "--max-instances", "1").returncode == 0
    made = int(m.invoke("threads").stdout)
    assert made < 60, made


FORGE = r'''
#include <citadel/function.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include "proto/proto.h"
static void *flood(void *arg)
{
	(void)arg;
	struct { struct cit_msg h; struct cit_p_exited b; } m;
	for (unsigned i = 0; i < 100000; i++) {
		memset(&m, 0, sizeof(m));
		m.h = (struct cit_msg){ .magic = CIT_PROTO_MAGIC, .version = CIT_PROTO_VERSION, .type = CIT_MSG_EXITED,
					.len = sizeof(m.b) };
		m.b.pid = 100000 + i;
		if (send(0, &m, sizeof(m), MSG_NOSIGNAL) < 0)
			break;
	}
	return NULL;
}
int cit_init(void)
{
	pthread_t t;
	return pthread_create(&t, NULL, flood, NULL) ? -1 : 0;
}
int cit_handler(const struct cit_request *q, struct cit_response *r) { (void)q; return cit_respond(r, "ok", 2); }
'''


def test_a_template_that_reports_pids_not_its_own_is_failed(mon, tmp_path):
    """What a template says is checked like what an instance says: reports of instances it
    never made are a protocol break, and end it, whatever their number."""
    so = build_source(tmp_path, "forge", FORGE)
    before = cpu_seconds(mon.proc.pid)
    r = mon.cli("deploy", "forge", str(so))
    if r.returncode == 0:  # its first instance was ready before the monitor read the reports
        deadline = time.monotonic() + 30
        while mon.ls()["forge"]["state"] != "failed" and time.monotonic() < deadline:
            time.sleep(0.05)
        r = mon.invoke("forge", "x")
    assert r.returncode == 1 and b"broke the protocol" in r.stderr, r
    assert cpu_seconds(mon.proc.pid) - before < 1.0
    assert mon.invoke("echo" if "echo" in mon.ls() else "forge", "x") is not None  # the monitor still answers


# A call that leaves a deep tree with a big file at its bottom in its private directory.
DEEP = r'''
#include <citadel/function.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
int cit_handler(const struct cit_request *q, struct cit_response *r)
{
	(void)q;
	for (int i = 0; i < 1500; i++)
		if (mkdir("d", 0700) < 0 || chdir("d") < 0)
			return cit_respondf(r, "stopped at level %d", i);
	static char mib[1 << 20];
	int fd = open("big", O_WRONLY | O_CREAT, 0600);
	for (int i = 0; i < 24; i++)
		if (write(fd, mib, sizeof(mib)) != (ssize_t)sizeof(mib))
			return cit_respondf(r, "full after %d MiB", i);
	close(fd);
	chmod(".", 0); /* and one it cannot read any more */
	return cit_respondf(r, "wrote");
}
'''


def test_what_a_call_leaves_in_its_directory_is_removed_however_deep(mon, tmp_path):
    """An instance's private directory goes when it ends, a tree 1,500 levels deep with
    24 MiB at its bottom included: the next callers get the function's whole /tmp."""
    so = build_source(tmp_path, "deep", DEEP)
    assert mon.cli("deploy", "deep", str(so), "--fresh", "--memory", "256M").returncode == 0
    for i in range(5):
        r = mon.invoke("deep", "x")
        assert r.returncode == 0 and r.stdout == b"wrote", (i, r)
        time.sleep(0.5)  # the template removes the ended instance's directory


# A call that leaves a timer behind, whose signal handler spins: work that is no thread.
TIMER = r'''
#include <citadel/function.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
static void spin(int sig)
{
	(void)sig;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 40000000L);
}
int cit_handler(const struct cit_request *q, struct cit_response *r)
{
	(void)q;
	signal(SIGALRM, spin);
	struct itimerval every = { { 0, 50000 }, { 0, 50000 } };
	setitimer(ITIMER_REAL, &every, NULL);
	return cit_respondf(r, "%d", getpid());
}
'''


def test_an_instance_that_works_while_idle_is_replaced(mon, tmp_path):
    """A timer left by a call keeps its instance busy while ls shows it idle: such an
    instance is found (within seconds) and replaced, never handed the next caller."""
    so = build_source(tmp_path, "timer", TIMER)
    assert mon.cli("deploy", "timer", str(so), "--max-instances", "1", "--pids", "8").returncode == 0
    first = mon.invoke("timer", "x").stdout
    deadline = time.monotonic() + 10
    while not [e for e in events(mon, "instance_replaced") if "function=timer " in e and "while idle" in e]:
        assert time.monotonic() < deadline, "the spinning idle instance was kept"
        time.sleep(0.2)
    assert mon.invoke("timer", "x").stdout != first


# A function whose template forks processes of its own (allowed there) that end.
OWN_CHILDREN = r'''
#include <citadel/function.h>
#include <unistd.h>
static int forked;
int cit_init(void)
{
	for (int i = 0; i < 20; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			usleep(200000 + 10000 * i);
			_exit(0);
		}
		forked += pid > 0;
	}
	return 0;
}
int cit_handler(const struct cit_request *q, struct cit_response *r) { (void)q; return cit_respondf(r, "%d", forked); }
'''


def test_a_templates_own_children_are_not_reported_as_instances(mon, tmp_path):
    """Only the ends of instances are reported: the function's own children ending in its
    template are no protocol break, however many there are."""
    so = build_source(tmp_path, "parent", OWN_CHILDREN)
    assert mon.cli("deploy", "parent", str(so), "--fresh").returncode == 0
    time.sleep(0.6)  # every child has ended
    for _ in range(5):
        r = mon.invoke("parent", "x")
        assert r.returncode == 0 and r.stdout == b"20", r
    assert mon.ls()["parent"]["state"] != "failed"
    failed = [e for e in events(mon, "template_failed") if "function=parent " in e]
    assert not failed, failed


FAKE_LOADED = r'''
#include <citadel/function.h>
#include <sys/socket.h>
#include <unistd.h>
#include "proto/proto.h"
__attribute__((constructor)) static void forge(void)
{
	struct { struct cit_msg h; struct cit_p_loaded b; } m = { .h = { .magic = CIT_PROTO_MAGIC,
		.version = CIT_PROTO_VERSION, .type = CIT_MSG_LOADED, .len = sizeof(struct cit_p_loaded) } };
	send(0, &m, sizeof(m), MSG_NOSIGNAL);
}
int cit_init(void) { for (;;) pause(); }
int cit_handler(const struct cit_request *q, struct cit_response *r) { (void)q; (void)r; return 0; }
'''


def test_a_constructor_cannot_forge_a_deploy(mon, tmp_path):
    """LOADED comes from the process the function's code runs in: a deploy succeeds only
    once an instance answers, which the monitor checks itself."""
    so = build_source(tmp_path, "fakeloaded", FAKE_LOADED)
    r = mon.cli("deploy", "fakeloaded", str(so), "--timeout", "1s")
    assert r.returncode == 1 and b"ready within" in r.stderr, r.stderr
    assert "fakeloaded" not in mon.ls()


FLOOD = r'''
#include <citadel/function.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
static void *flood(void *arg)
{
	(void)arg;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 1000; i++)
			fputs("flooding the log with a line of text that says nothing at all\n", stderr);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 2);
	fputs("flood over\n", stderr);
	return NULL;
}
int cit_init(void)
{
	setvbuf(stderr, NULL, _IOFBF, 65536);
	pthread_t t;
	return pthread_create(&t, NULL, flood, NULL) ? -1 : 0;
}
int cit_handler(const struct cit_request *q, struct cit_response *r) { (void)q; return cit_respond(r, "ok", 2); }
'''


def test_a_log_flood_is_rate_limited(mon, tmp_path):
    so = build_source(tmp_path, "flood", FLOOD)
    before = cpu_seconds(mon.proc.pid)
    assert mon.cli("deploy", "flood", str(so)).returncode == 0
    time.sleep(3)
    assert mon.invoke("flood", "x").stdout == b"ok"  # the flood is over; the function still serves
    time.sleep(0.5)
    log = mon.cli("logs", "flood").stdout
    assert b"lines of output dropped" in log, log[-500:]
    assert len(log) <= 2 * (1 << 20) + 4096
    assert cpu_seconds(mon.proc.pid) - before < 1.0


def test_invocations_count_calls_whose_instance_was_killed(mon):
    mon.deploy("slow", "probe", "--timeout", "200ms")
    assert mon.invoke("slow", "sleep 2000").returncode == 1
    assert mon.invoke("slow", "pid").returncode == 0
    assert mon.ls()["slow"]["invocations"] == 2 and mon.ls()["slow"]["errors"] == 1


def test_one_monitor_per_state_directory(mon, tmp_path):
    r = subprocess.run([str(CITADEL), "serve", "--state-dir", str(mon.state), "--socket", str(tmp_path / "other.sock")],
                       capture_output=True, timeout=30)
    assert r.returncode == 1 and b"another monitor" in r.stderr and str(mon.proc.pid).encode() in r.stderr, r.stderr


# ---- clients that misbehave -------------------------------------------------------------

MAGIC, VERSION = 0x31544943, 3
# Each request type's payload (src/proto/proto.h): INVOKE (cit_data, the name, flags, the
# content type),
# LIST, REMOVE, LOGS, RESTART.
PAYLOADS = {2: "<IIQ64sII128s", 3: "<II", 4: "<64s", 5: "<64sII", 6: "<64s"}


def header(type_, id_, length, nfds=0):
    return struct.pack("<IHHIIQ", MAGIC, VERSION, type_, length, nfds, id_)


def request(type_, id_, name=b"", data=b""):
    """One request as the CLI sends it (proto.h): a header, its type's payload, inline bytes."""
    if type_ == 2:
        payload = struct.pack(PAYLOADS[2], len(data), 0, 0, name, 0, 0, b"") + data
    elif type_ == 3:
        payload = struct.pack(PAYLOADS[3], 0, 0)
    elif type_ == 5:
        payload = struct.pack(PAYLOADS[5], name, 0, 0)
    else:
        payload = struct.pack(PAYLOADS[type_], name)
    return header(type_, id_, len(payload)) + payload


def replies(sock, seconds, until=None):
    """The replies that come within seconds (or until until(the replies so far) holds):
    (type, id, text) each."""
    got, deadline = [], time.monotonic() + seconds
    sock.settimeout(0.1)
    while time.monotonic() < deadline and not (until and until(got)):
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 65536, 4)
        except (socket.timeout, BlockingIOError):
            continue
        for fd in fds:
            os.close(fd)
        if not msg:
            break
        type_, = struct.unpack_from("<H", msg, 6)
        id_, = struct.unpack_from("<Q", msg, 16)
        # An ERROR's text (after its code), or an OK's inline bytes (after its payload:
        # cit_data, count, status, code, content type, flags).
        text = msg[32:32 + 256].split(b"\0")[0] if type_ == 17 else msg[192:192 + struct.unpack_from("<I", msg, 24)[0]]
        got.append((type_, id_, text))
    return got


def test_connections_that_say_nothing_are_closed(new_monitor):
    """Connections that never send take fds the monitor's sandboxes need: each gets a few
    seconds for its first request; meanwhile, and after, others are served."""
    m = new_monitor("--max-clients", "8")
    m.deploy("echo")
    idle = []
    for _ in range(8):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(m.sock)
        idle.append(s)
    late = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    late.connect(m.sock)
    late.settimeout(5)
    assert b"connections" in late.recv(4096)  # over the cap: told so
    assert late.recv(4096) == b""             # and closed
    time.sleep(6.5)                           # the idle ones' first request never came
    for s in idle:
        s.settimeout(1)
        assert s.recv(4096) == b""
        s.close()
    assert m.invoke("echo", "after").stdout == b"after"


CHATTY = r'''
#include <citadel/function.h>
#include <stdio.h>
int cit_handler(const struct cit_request *q, struct cit_response *r)
{
	(void)q;
	for (int i = 0; i < 2000; i++)
		fprintf(stderr, "line %d of a log that is long enough to come back as a data object\\n", i);
	return cit_respond(r, "ok", 2);
}
'''


def test_a_monitor_out_of_fds_tells_new_clients_so(new_monitor):
    """Instances take the monitor's fds; once none is left, a new connection is still
    taken (with the fd held in reserve), told why and closed: no client waits for good."""
    m = new_monitor(nofile=160)
    r = m.cli("deploy", "many", str(EXAMPLES / "echo.so"), "--min-instances", "300", "--max-instances", "300",
              "--pids", "310")
    assert r.returncode == 0, r.stderr
    time.sleep(2)  # the pool grows until the fds run out
    socks, refused = [], []
    try:
        for _ in range(40):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.settimeout(5)
            s.connect(m.sock)  # never waits: the monitor takes every connection
            socks.append(s)
            s.settimeout(0.3)
            try:
                reply = s.recv(65536)  # a connection taken as usual hears nothing yet
            except socket.timeout:
                continue
            text = reply[32:32 + 256].split(b"\0")[0]  # an ERROR's text, after its code
            if b"out of file descriptors" in text:
                refused.append(text)
                break
    finally:
        for s in socks:
            s.close()
    assert refused, "no connection was told the monitor is out of fds"
    t0 = time.monotonic()
    r = m.cli("ls", timeout=30)
    assert time.monotonic() - t0 < 12, "ls waited"
    assert r.returncode == 0 or b"out of file descriptors" in r.stderr, r.stderr


def test_idle_connections_are_closed(new_monitor):
    """A connection that asked once and then holds its place, idle, goes after
    --idle-timeout; one waiting for its call's reply does not."""
    m = new_monitor("--idle-timeout", "1s")
    m.deploy("idle", "probe", "--timeout", "5s")
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    idle.connect(m.sock)
    idle.send(request(3, 1, b""))  # LIST, answered at once
    waiting = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    waiting.connect(m.sock)
    waiting.send(request(2, 1, b"idle", b"sleep 3000"))
    time.sleep(3.5)
    got = replies(idle, 1)
    assert got and got[-1] is not None and len(got) == 1, got  # the LIST reply, then the close
    idle.settimeout(1)
    assert idle.recv(100) == b"", "the idle connection was kept"
    assert [r[0] for r in replies(waiting, 2)] == [16], "the waiting caller lost its reply"
    idle.close()
    waiting.close()
    r = subprocess.run([str(CITADEL), "serve", "--idle-timeout", "0s"], capture_output=True, timeout=10)
    assert r.returncode == 2 and b"--idle-timeout" in r.stderr, r.stderr


def test_unread_replies_stop_a_connection_from_being_served(mon, tmp_path):
    """Every LOGS reply is a data object of the monitor's own memory: a client that asks
    and never reads gets a few, then nothing more until it reads them."""
    so = build_source(tmp_path, "chatty", CHATTY)
    assert mon.cli("deploy", "chatty", str(so)).returncode == 0
    assert mon.invoke("chatty").returncode == 0
    deadline = time.monotonic() + 30  # the monitor reads the function's stderr as it comes
    while len(mon.cli("logs", "chatty").stdout) <= 64 * 1024 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(mon.cli("logs", "chatty").stdout) > 64 * 1024  # a reply of its own memory
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(mon.sock)
    for i in range(20):
        s.send(request(5, i + 1, b"chatty"))  # LOGS
    time.sleep(1)
    outq = array.array("i", [0])
    fcntl.ioctl(s, termios.TIOCOUTQ, outq)  # our requests the monitor has not read
    assert outq[0] > 0, "the monitor read every request while its replies lay unread"
    got = replies(s, 30, until=lambda got: len(got) >= 20)  # read: served again
    got += replies(s, 0.5)  # and no more than that
    assert sorted(r[1] for r in got) == list(range(1, 21)), got
    assert all(r[0] == 16 for r in got), got
    s.close()


def test_queued_bytes_are_bounded(mon):
    mon.deploy("q", "probe", "--max-instances", "1", "--timeout", "2s")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(mon.sock)
    s.send(request(2, 1, b"q", b"sleep 1500"))  # keeps the one instance busy
    big = b"sleep 1 " + b"x" * (32 * 1024 - 8)
    for i in range(200):
        s.send(request(2, i + 2, b"q", big))
    least = 200 - 4 * 1024 * 1024 // len(big) - 1

    def refused(got):
        return [r for r in got if r[0] == 17 and b"request bytes wait in queues" in r[2]]
    got = replies(s, 30, until=lambda got: len(refused(got)) >= least)  # refused as they are read
    assert len(refused(got)) >= least, got[:3]
    s.close()
    assert mon.invoke("q", "pid").returncode == 0


def test_a_departed_clients_queued_calls_do_not_run(mon):
    mon.deploy("dq", "probe", "--max-instances", "1", "--timeout", "2s")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(mon.sock)
    for i in range(30):
        s.send(request(2, i + 1, b"dq", b"sleep 500"))
    deadline = time.monotonic() + 30
    f = mon.ls()["dq"]
    while f["queued"] + f["invocations"] < 30 and time.monotonic() < deadline:  # every request read
        time.sleep(0.02)
        f = mon.ls()["dq"]
    assert f["queued"] + f["invocations"] == 30 and f["queued"] > 0, f
    s.close()
    time.sleep(2)  # 4 calls more, were the queued ones run
    # Counted when handed to an instance: those ls counted, and at most the next one before
    # the monitor saw the caller go (two if this process stalls for half a second).
    assert mon.ls()["dq"]["invocations"] <= f["invocations"] + 2, (f, mon.ls()["dq"])


def test_the_monitor_serves_while_a_big_deploy_is_hashed(mon, tmp_path):
    """Hashing and writing a deploy's code (up to 256 MiB) happens off the event loop."""
    mon.deploy("echo")
    big = tmp_path / "big.so"
    with open(big, "wb") as f:
        f.write((EXAMPLES / "hello.so").read_bytes())
        f.truncate(250 << 20)  # an ELF file may carry anything after its segments
    deploy = subprocess.Popen([str(CITADEL), "deploy", "big", str(big), "--socket", str(mon.sock)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    served_during = 0
    while deploy.poll() is None:
        if "big" in mon.ls() and mon.ls()["big"]["state"] == "deploying":
            served_during += mon.invoke("echo", "during").stdout == b"during"
        time.sleep(0.01)
    assert deploy.returncode == 0, deploy.stderr.read()
    assert served_during >= 1
    assert mon.invoke("big", "x").stdout == b"Hello, x!\n"

# ---- instances of one function: each can affect no process but itself --------------------

# Every call of examples/probe.c's harm that names a process, and the targets it can name.
HARM_CALLS = ["prlimit", "setpriority", "getpriority", "affinity", "getaffinity", "setparam", "getparam",
              "scheduler", "getscheduler", "setattr", "getattr", "rr-interval", "ioprio", "getioprio", "kill",
              "tkill", "tgkill", "sigqueue", "tgsigqueue", "pidfd", "pidfd-signal", "robust-list", "setpgid",
              "getpgid", "getsid", "setown"]
HARM_GROUP_CALLS = ["setpriority", "getpriority", "ioprio", "getioprio", "kill"]


def _wait_idle(mon, name, n, seconds=10):
    deadline = time.monotonic() + seconds
    while mon.ls()[name]["idle"] < n and time.monotonic() < deadline:
        time.sleep(0.05)


def test_an_instance_reaches_no_sibling_and_not_its_template(mon):
    """Siblings and the template run as the instance's user: the kernel's own checks would
    let it cut their limits (a sibling's RLIMIT_CPU to 0 killed its caller's call), renice
    them, move their CPUs, signal them or take SIGIO ownership. Each call is tried on a busy
    sibling and on the template, and must fail; the busy call completes and the template
    still makes instances."""
    mon.deploy("harm", "probe", "--max-instances", "6", "--min-instances", "3")
    _wait_idle(mon, "harm", 3)
    worked = {}
    before = _sleeping(descendants(mon.proc.pid))
    with ThreadPoolExecutor(1) as ex:
        busy = ex.submit(mon.invoke, "harm", "sleep 6000", timeout=60)
        _wait_sleeping(mon, before)
        for call in HARM_CALLS:
            for target in ("siblings", "template"):
                out = mon.invoke("harm", f"harm {call} {target}").stdout
                assert out.startswith(b"ok "), (call, target, out)
                k, m = out.split()[1], out.split()[3]
                assert int(m) >= 1, (call, target, out)  # the busy sibling was found
                if k != b"0":
                    worked[(call, target)] = out
        for call in HARM_GROUP_CALLS:
            for target in ("group", "user"):
                out = mon.invoke("harm", f"harm {call} {target}").stdout
                if out != b"ok 0 of 1\n":
                    worked[(call, target)] = out
        result = busy.result()
    assert worked == {}
    assert result.returncode == 0 and result.stdout == b"ok slept\n", result.stderr
    # The template was not touched: it still forks instances, and they still work.
    pids = {mon.invoke("harm", "pid").stdout for _ in range(3)}
    assert all(p.startswith(b"ok ") for p in pids)
    mon.deploy("harm2", "probe", "--fresh")
    assert len({mon.invoke("harm2", "pid").stdout for _ in range(3)}) == 3


@pytest.mark.parametrize("call", HARM_CALLS)
def test_an_instance_may_still_name_itself(mon, call):
    """The same calls on its own pid work (glibc's raise, getrlimit, nice, ...)."""
    mon.deploy("harmself", "probe", "--fresh")
    assert mon.invoke("harmself", f"harm {call} self").stdout == b"ok 1 of 1\n"


# ---- locks on the view the instances share -------------------------------------------------

def test_an_exclusive_flock_is_refused_and_shared_ones_block_nobody(mon):
    """The read-only view is one mount for every instance of a function: an exclusive flock
    on one of its files would make a sibling's flock of it wait. Instances get shared ones
    only, which block nobody when nobody can take an exclusive one."""
    mon.deploy("fl", "probe", "--max-instances", "4", "--min-instances", "2")
    _wait_idle(mon, "fl", 2)
    before = _sleeping(descendants(mon.proc.pid))
    with ThreadPoolExecutor(1) as ex:
        holder = ex.submit(mon.invoke, "fl", "flock /etc/hostname sh 3000")
        _wait_sleeping(mon, before)  # the lock taken
        other_ex = mon.invoke("fl", "flock /etc/hostname ex 0").stdout
        other_sh = mon.invoke("fl", "flock /etc/hostname sh 0").stdout
        assert holder.result().stdout == b"ok locked\n"
    assert other_ex == b"denied: Operation not permitted\n", other_ex
    assert other_sh == b"ok locked\n", other_sh
    assert mon.invoke("fl", "flock /etc/hostname ex 0").stdout == b"denied: Operation not permitted\n"


@pytest.mark.parametrize("flavour", ["posix", "ofd"])
def test_fcntl_locks_on_the_view_are_read_locks_that_block_nobody(mon, flavour):
    """fcntl locks need no refusal: a write lock needs a writable fd, which the view never
    gives, and read locks do not conflict. An instance's own files take both."""
    mon.deploy("fcl", "probe", "--max-instances", "4", "--min-instances", "2")
    _wait_idle(mon, "fcl", 2)
    before = _sleeping(descendants(mon.proc.pid))
    with ThreadPoolExecutor(1) as ex:
        holder = ex.submit(mon.invoke, "fcl", f"lock /etc/hostname rd {flavour} 3000")
        _wait_sleeping(mon, before)  # the lock taken
        wr = mon.invoke("fcl", f"lock /etc/hostname wr {flavour} 0").stdout
        rd = mon.invoke("fcl", f"lock /etc/hostname rd {flavour} 0").stdout
        assert holder.result().stdout == b"ok locked\n"
    assert wr == b"denied: Bad file descriptor\n", wr
    assert rd == b"ok locked\n", rd
    mon.deploy("fcl1", "probe", "--max-instances", "1")
    assert mon.invoke("fcl1", "write own x").stdout == b"ok wrote\n"
    assert mon.invoke("fcl1", f"lock own wr {flavour} 0").stdout == b"ok locked\n"
    assert mon.invoke("fcl1", "flock own ex 0").stdout == b"denied: Operation not permitted\n"


# ---- instances of one function: private directories ----------------------------------------

def test_a_siblings_private_directory_cannot_be_found_or_reached(mon):
    """/tmp/NAME of a busy sibling: /tmp cannot be listed, watched or changed, and NAME is
    random: no call reaches the directory, its files or its socket."""
    mon.deploy("pd", "probe", "--max-instances", "8", "--min-instances", "4")
    _wait_idle(mon, "pd", 4)
    before = _sleeping(descendants(mon.proc.pid))
    with ThreadPoolExecutor(3) as ex:
        holder = ex.submit(mon.invoke, "pd", "hold 4000 PD-SECRET")
        listener = ex.submit(mon.invoke, "pd", "listen 4000")
        _wait_sleeping(mon, before, 2)  # the secret planted, the socket listening (between accepts)
        watch = ex.submit(mon.invoke, "pd", "watch /tmp 1500")
        time.sleep(0.2)
        fresh = [mon.invoke("pd", "pid") for _ in range(2)]  # more instances meanwhile
        attempts = {op: mon.invoke("pd", f"reach {op}").stdout for op in ("stat", "chmod", "connect", "watch")}
        spy = mon.invoke("pd", "spy").stdout
        chmod_tmp = mon.invoke("pd", "chmod /tmp 555").stdout
        watched = watch.result().stdout
        held, listened = holder.result(), listener.result()
    assert all(f.returncode == 0 for f in fresh)
    for op, out in attempts.items():
        assert re.fullmatch(rb"ok reached 0 of \d+\n", out), (op, out)
    assert spy == b"ok found 0\n", spy
    assert chmod_tmp == b"denied: Operation not permitted\n", chmod_tmp
    assert watched == b"denied: Permission denied\n", watched
    assert re.fullmatch(rb"ok /tmp/[0-9a-f]{32}/secret\n", held.stdout), held
    assert re.fullmatch(rb"ok /tmp/[0-9a-f]{32}/sock accepted 0\n", listened.stdout), listened
    # /tmp is as it was: the function still makes instances.
    mon.deploy("pdf", "probe", "--fresh")
    assert mon.invoke("pdf", "chmod /tmp 555").stdout == b"denied: Operation not permitted\n"
    assert mon.invoke("pdf", "pid").returncode == 0


def test_fresh_instances_cannot_watch_each_others_directories(mon):
    mon.deploy("pdw", "probe", "--fresh", "--max-instances", "4")
    with ThreadPoolExecutor(1) as ex:
        watch = ex.submit(mon.invoke, "pdw", "watch /tmp 1500")
        time.sleep(0.3)
        planted = [mon.invoke("pdw", "plant UPLOAD-NAME").stdout for _ in range(3)]
        watched = watch.result().stdout
    assert all(p.startswith(b"ok /tmp/") for p in planted)
    assert watched == b"denied: Permission denied\n", watched


PROC_FILES = ["cwd", "root", "environ", "maps", "fd", "fdinfo", "mountinfo", "io", "syscall", "stack"]


def test_proc_shows_nothing_of_a_siblings_directory(mon):
    """/proc/PID of a sibling (not dumpable) and of the template (outside the trustlet's
    landlock domain): its cwd, environment, mappings and what its fds are refused (their
    numbers can be listed); mountinfo is readable but shows mounts only; stat stays
    readable (docs/architecture.md)."""
    mon.deploy("pp", "probe", "--max-instances", "4", "--min-instances", "2")
    _wait_idle(mon, "pp", 2)
    outs = {}
    before = _sleeping(descendants(mon.proc.pid))
    with ThreadPoolExecutor(1) as ex:
        holder = ex.submit(mon.invoke, "pp", "hold 3000 PP-SECRET")
        _wait_sleeping(mon, before)  # the secret planted
        for f in PROC_FILES + ["stat"]:
            for target in ("siblings", "template"):
                outs[(f, target)] = mon.invoke("pp", f"proc {f} {target}").stdout
        held = holder.result().stdout
    name = re.fullmatch(rb"ok /tmp/([0-9a-f]{32})/secret\n", held).group(1)
    for key, out in outs.items():
        assert name not in out and b"PP-SECRET" not in out, (key, out)
        assert re.match(rb"ok read \d+ of [1-9]", out), (key, out)
    for f in PROC_FILES:
        for target in ("siblings", "template"):
            out = outs[(f, target)]
            if f == "fd":  # the directory lists fd numbers, but what each fd is stays hidden
                assert not re.search(rb"\d=[^ \]]", out), (target, out)
            elif f != "mountinfo":
                assert out.startswith(b"ok read 0 of "), (f, target, out)
    assert not outs[("stat", "siblings")].startswith(b"ok read 0 "), outs[("stat", "siblings")]


def _template_of(monitor, fn_name):
    """The host pid of the template of a monitor's only function: the zygote whose children
    are trustlets."""
    for p in descendants(monitor.proc.pid):
        try:
            if open(f"/proc/{p}/cmdline", "rb").read().startswith(b"/citadel/zygote") and children(p):
                return p
        except OSError:
            pass
    return None


def test_an_ended_instances_directory_is_removed(new_monitor):
    m = new_monitor()
    m.deploy("rmd", "probe", "--fresh", "--max-instances", "4")
    for i in range(5):
        assert m.invoke("rmd", f"plant data-{i}").stdout.startswith(b"ok /tmp/")
    template = _template_of(m, "rmd")
    deadline = time.monotonic() + 5
    while True:
        dirs = sorted(os.listdir(f"/proc/{template}/root/tmp"))
        live = children(template)
        if len(dirs) == len(live) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert all(re.fullmatch(r"[0-9a-f]{32}", d) for d in dirs), dirs
    assert len(dirs) == len(live), (dirs, live)
    st = os.stat(f"/proc/{template}/root/tmp")
    assert st.st_mode & 0o7777 == 0o1733
    m.stop()


def _build_src(tmp_path, name, src):
    (tmp_path / f"{name}.c").write_text(src)
    so = tmp_path / f"{name}.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-I", str(ROOT / "include"), "-o", str(so),
                    str(tmp_path / f"{name}.c")], check=True)
    return so


def test_init_cannot_lock_instances_out_of_tmp(mon, tmp_path):
    so = _build_src(tmp_path, "chmodtmp", r'''
#include <citadel/function.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
static int chmod_errno;
int cit_init(void) { chmod_errno = chmod("/tmp", 0555) == 0 ? 0 : errno; return 0; }
int cit_handler(const struct cit_request *q, struct cit_response *r)
{ (void)q; return cit_respondf(r, "chmod: %s\n", chmod_errno ? strerror(chmod_errno) : "ok"); }
''')
    r = mon.cli("deploy", "chmodtmp", str(so), "--fresh")
    assert r.returncode == 0, r.stderr
    for _ in range(2):
        r = mon.invoke("chmodtmp", "")
        assert r.stdout == b"chmod: Operation not permitted\n", r


def test_function_fork_handlers_run_in_a_confined_instance(mon, tmp_path):
    """A fork child handler registered by cit_init runs in every new instance: after the
    runtime's own, which confines it. It can neither change its template's limits nor
    write outside its own directory."""
    so = _build_src(tmp_path, "atfork", r'''
#include <citadel/function.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
static int prlimit_errno = -1, write_errno = -1;
static void child(void)
{
    struct rlimit one = { 1, 1 };
    prlimit_errno = prlimit(getppid(), RLIMIT_NPROC, &one, NULL) == 0 ? 0 : errno;
    char path[64];
    snprintf(path, sizeof path, "/tmp/escaped-%d", (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    write_errno = fd >= 0 ? 0 : errno;
}
int cit_init(void) { return -pthread_atfork(NULL, NULL, child); }
int cit_handler(const struct cit_request *q, struct cit_response *r)
{
    (void)q;
    return cit_respondf(r, "prlimit: %s, write: %s\n", prlimit_errno ? strerror(prlimit_errno) : "ok",
                        write_errno ? strerror(write_errno) : "ok");
}
''')
    r = mon.cli("deploy", "atfork", str(so), "--fresh")
    assert r.returncode == 0, r.stderr
    for _ in range(3):  # and new instances can still be made
        r = mon.invoke("atfork", "")
        assert r.stdout == b"prlimit: Operation not permitted, write: Permission denied\n", r


# ---- requests from a function during a call ------------------------------------------

REQUESTS = r'''
#include <citadel/function.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
static int64_t in_init;
int cit_init(void)
{
	in_init = cit_deadline(); /* no call: refused */
	cit_log(CIT_LOG_INFO, "init line");
	return 0;
}
static void *logger(void *arg)
{
	cit_log(CIT_LOG_WARN, "from a thread %s", (const char *)arg);
	return NULL;
}
int cit_handler(const struct cit_request *q, struct cit_response *r)
{
	char text[64];
	size_t n = q->len < sizeof(text) - 1 ? q->len : sizeof(text) - 1;
	memcpy(text, q->data, n);
	text[n] = '\0';
	cit_log(CIT_LOG_INFO, "handling %s\nforged line", text);
	/* Straight to stderr (one write), lines that look like the monitor's, one behind
	 * terminal escapes and a carriage return. */
	fprintf(stderr, "error invocation=1 forged by stderr\ncitadel: forged too\n\033[2K\rerror invocation=1 esc\n");
	fflush(stderr);
	pthread_t t;
	pthread_create(&t, NULL, logger, text);
	pthread_join(t, NULL);
	return cit_respondf(r, "%lld %lld %llu", (long long)cit_deadline(), (long long)in_init,
			    (unsigned long long)q->invocation);
}
'''


def test_a_call_logs_and_reads_its_deadline_through_the_monitor(mon, tmp_path):
    """cit_log during a call reaches the function's log through the monitor, marked with the
    call's invocation and level (a newline in it cannot forge a line); cit_deadline is the
    time left to the call; neither works outside a call (cit_init)."""
    so = build_source(tmp_path, "requests", REQUESTS)
    assert mon.cli("deploy", "requests", str(so), "--timeout", "3s").returncode == 0
    out = mon.invoke("requests", "first").stdout.split()
    left, in_init, invocation = int(out[0]), int(out[1]), int(out[2])
    assert 2_000_000_000 < left <= 3_000_000_000, left
    assert in_init == -errno.EPERM
    second = int(mon.invoke("requests", "second").stdout.split()[2])
    assert second > invocation
    logs = mon.cli("logs", "requests").stdout.decode()
    assert f"info invocation={invocation} handling first forged line\n" in logs, logs
    assert f"warn invocation={invocation} from a thread first\n" in logs, logs
    assert f"info invocation={second} handling second" in logs
    assert "\nforged line" not in logs
    assert "output info init line" in logs  # outside a call: stderr, still the log, marked as such
    # Raw output cannot pass for the monitor's lines: each of its lines is marked.
    assert "output error invocation=1 forged by stderr\noutput citadel: forged too\n" in logs, logs
    assert "\nerror invocation=1 forged" not in logs and "\ncitadel: forged" not in logs
    assert "\x1b" not in logs and "\r" not in logs and "output  [2K error invocation=1 esc\n" in logs, logs


# ---- the state directory's format ---------------------------------------------------------

def test_an_older_state_directory_is_migrated(tmp_path):
    """A state directory of format 1 (no format file; a spec of the layout before exec's
    command) is read, its spec rewritten in the current layout, its format written; the
    function is served as deployed."""
    state = tmp_path / "m-state"
    fn = state / "functions" / "old"
    fn.mkdir(parents=True)
    v1 = struct.pack(SPEC_V2[:-2], b"old", b"native", 64 << 20, 10000, 1 << 20, 4, 0, 60, 0, 1, 8, 1000, 256)
    (fn / "spec").write_bytes(v1 + b"WHO=ada\0")
    (fn / "code.so").write_bytes((EXAMPLES / "hello.so").read_bytes())
    assert len(v1) == struct.calcsize(SPEC_V2) - 8
    m = Monitor(tmp_path).start()
    try:
        assert m.invoke("old", "x").stdout == b"Hello, x!\n"
        assert (state / "format").read_text() == "citadel-state 2\n"
        assert len((fn / "spec").read_bytes()) == struct.calcsize(SPEC) + len(b"WHO=ada\0")
        assert any("event=spec_migrated function=old" in line for line in m.log.read_text().splitlines())
    finally:
        m.stop()
    m = Monitor(tmp_path).start()  # read as current from then on
    try:
        assert m.invoke("old", "y").stdout == b"Hello, y!\n"
        assert "spec_migrated" not in m.log.read_text().split("event=stopped")[-1]
    finally:
        m.stop()


@pytest.mark.parametrize("content", ["citadel-state 3\n", "garbage\n", "", "fifo"])
def test_a_newer_or_unknown_state_directory_is_refused(tmp_path, content):
    """A format this citadeld does not know is never misread: it refuses to start, says
    why, and leaves the directory as it was (a FIFO there does not hold it)."""
    state = tmp_path / "m-state"
    (state / "functions").mkdir(parents=True)
    if content == "fifo":
        os.mkfifo(state / "format")
    else:
        (state / "format").write_text(content)
    r = subprocess.run([str(CITADEL), "serve", "--state-dir", str(state), "--socket", str(tmp_path / "s.sock")],
                       capture_output=True, timeout=30)
    assert r.returncode == 1, r
    assert (b"newer Citadel" if "3" in content else b"not a Citadel state directory format file") in r.stderr, r.stderr
    if content != "fifo":
        assert (state / "format").read_text() == content


def test_logs_follow_shows_new_lines_until_the_function_is_removed(mon, tmp_path):
    """`citadel logs -f` prints the log so far, then each new line as the function writes
    it; removing the function ends it with a message."""
    so = build_source(tmp_path, "followed", REQUESTS)
    assert mon.cli("deploy", "followed", str(so)).returncode == 0
    mon.invoke("followed", "before")
    f = subprocess.Popen([str(CITADEL), "logs", "-f", "followed", "--socket", mon.sock], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        seen = b""

        def wait_for(text):
            nonlocal seen
            deadline = time.monotonic() + 10
            while text not in seen:
                assert time.monotonic() < deadline, seen
                ready, _, _ = select.select([f.stdout], [], [], 0.2)
                if ready:
                    seen += os.read(f.stdout.fileno(), 65536)
        wait_for(b"handling before")  # the log so far
        for word in ("one", "two", "three"):
            mon.invoke("followed", word)
            wait_for(f"handling {word}".encode())
        assert f.poll() is None
        assert mon.cli("rm", "followed").returncode == 0
        assert f.wait(timeout=10) == 1
        assert b"the function was removed" in f.stderr.read()
    finally:
        if f.poll() is None:
            f.kill()
            f.wait()


# ---- who is calling: roles ----------------------------------------------------------------

INVOKERS = 4242  # a group id of the test's own (numeric: nothing is added to /etc/group)


@contextlib.contextmanager
def group_monitor(tmp_path, prefix):
    """A monitor whose invokers are group INVOKERS, on a socket other users can reach, and
    a copy of the CLI and echo.so they can run and read. Yields (monitor, top directory)."""
    top = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        top.chmod(0o755)
        shutil.copy2(CITADEL, top / "citadel")  # the CLI where other users can run it
        shutil.copy2(EXAMPLES / "echo.so", top / "echo.so")
        m = Monitor(tmp_path)
        m.sock = str(top / "run" / "citadel.sock")
        m.start("--group", str(INVOKERS))
        try:
            yield m, top
        finally:
            m.stop()
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_roles_from_the_callers_credentials(tmp_path):
    """Root is admin; members of the monitor's group (primary or supplementary) may invoke
    and list, and are refused deploy, rm and logs with a message; anyone else is refused
    at once, and told which group it lacks."""
    with group_monitor(tmp_path, "citadel-roles-") as (m, top):
        sock = Path(m.sock)
        assert m.deploy("echo").returncode == 0
        assert m.cli("chain", "create", "c1", "echo", "echo").returncode == 0
        assert sock.stat().st_gid == INVOKERS and (sock.stat().st_mode & 0o777) == 0o660
        assert (sock.parent.stat().st_mode & 0o777) == 0o710

        def as_user(uid, gid, *args, groups=()):
            return subprocess.run([str(top / "citadel"), *args, "--socket", str(sock)], user=uid, group=gid,
                                  extra_groups=list(groups), capture_output=True, timeout=30, cwd="/")

        for uid, gid, groups in ((4243, INVOKERS, ()), (4245, 4245, (INVOKERS,))):
            r = as_user(uid, gid, "invoke", "echo", "--data", "hi", groups=groups)
            assert r.returncode == 0 and r.stdout == b"hi", r
            assert as_user(uid, gid, "ls", groups=groups).returncode == 0
            r = as_user(uid, gid, "chain", "invoke", "c1", "--data", "ci", groups=groups)
            assert r.returncode == 0 and r.stdout == b"ci", r
            assert b"c1" in as_user(uid, gid, "chain", "ls", groups=groups).stdout
            for args in (("rm", "echo"), ("logs", "echo"), ("restart", "echo"), ("chain", "rm", "c1"),
                         ("chain", "create", "mine", "echo")):
                r = as_user(uid, gid, *args, groups=groups)
                assert r.returncode == 1 and b"permission denied" in r.stderr and b"admin" in r.stderr, r
            r = as_user(uid, gid, "deploy", "mine", str(top / "echo.so"), groups=groups)
            assert r.returncode == 1 and b"permission denied" in r.stderr, r
        r = as_user(4244, 4244, "ls")  # not even the socket's directory is open to it
        assert r.returncode == 1 and b"permission denied" in r.stderr and b"group" in r.stderr, r
        assert "echo" in m.ls()  # nothing an invoker tried changed anything


def test_an_admin_token_grants_one_request(tmp_path):
    """An invoker who presents an admin token (CITADEL_TOKEN) is an admin for that request;
    a wrong or revoked token is refused; the monitor keeps only the tokens' hashes, and
    they survive a restart."""
    with group_monitor(tmp_path, "citadel-tokens-") as (m, top):
        def as_invoker(*args, token=None):
            env = {"PATH": os.environ["PATH"]}
            if token is not None:
                env["CITADEL_TOKEN"] = token
            return subprocess.run([str(top / "citadel"), *args, "--socket", m.sock], user=4243, group=INVOKERS,
                                  capture_output=True, timeout=30, cwd="/", env=env)

        r = m.cli("token", "add", "gateway")
        assert r.returncode == 0, r.stderr
        token = r.stdout.decode().strip()
        assert re.fullmatch(r"[0-9a-f]{64}", token), token
        assert m.cli("token", "add", "gateway").returncode == 1  # a name once
        assert m.cli("token", "ls").stdout == b"admin\ngateway\n"  # "admin": made at the first start
        # Only its hash is kept, owner-readable only.
        saved = m.state / "admin-tokens"
        assert token not in saved.read_text() and (saved.stat().st_mode & 0o077) == 0
        assert hashlib.sha256(token.encode()).hexdigest() in saved.read_text()
        # Without it an invoker may not deploy; with it, it may, for that request.
        r = as_invoker("deploy", "mine", str(top / "echo.so"))
        assert r.returncode == 1 and b"permission denied" in r.stderr, r
        r = as_invoker("deploy", "mine", str(top / "echo.so"), token=token)
        assert r.returncode == 0, r
        assert as_invoker("invoke", "mine", "--data", "tok", token=token).stdout == b"tok"
        # A wrong one is refused, and said so; so is what is no token at all.
        wrong = ("0" if token[0] != "0" else "1") + token[1:]
        r = as_invoker("rm", "mine", token=wrong)
        assert r.returncode == 1 and b"the admin token is not valid" in r.stderr, r
        r = as_invoker("rm", "mine", token="not-hex")
        assert r.returncode == 1 and b"CITADEL_TOKEN is not an admin token" in r.stderr, r
        assert "mine" in m.ls()
        # It survives a restart, and is revoked at once: a log it let an invoker follow
        # stops with it.
        m.stop()
        m.start("--group", str(INVOKERS))
        assert as_invoker("logs", "mine", token=token).returncode == 0
        m.deploy("hello")  # logs at its start: the follow's first bytes show it is on
        env = {"PATH": os.environ["PATH"], "CITADEL_TOKEN": token}
        follow = subprocess.Popen([str(top / "citadel"), "logs", "-f", "hello", "--socket", m.sock], user=4243,
                                  group=INVOKERS, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/", env=env)
        try:
            ready, _, _ = select.select([follow.stdout], [], [], 30)
            assert ready and b"hello" in os.read(follow.stdout.fileno(), 65536)
            assert m.cli("token", "rm", "gateway").returncode == 0
            assert follow.wait(timeout=30) == 1
            assert b"was revoked" in follow.stderr.read()
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.wait()
        r = as_invoker("rm", "mine", token=token)
        assert r.returncode == 1 and b"the admin token is not valid" in r.stderr, r
        assert m.cli("token", "ls").stdout == b"admin\n"
        r = m.cli("token", "add")
        assert r.returncode == 2 and b"wants the token's NAME" in r.stderr, r.stderr
        # Invokers may not manage tokens.
        r = as_invoker("token", "add", "mine")
        assert r.returncode == 1 and b"permission denied" in r.stderr, r


def test_without_a_group_the_socket_is_root_only(new_monitor):
    m = new_monitor("--group", "none")
    assert (os.stat(m.sock).st_mode & 0o077) == 0  # nobody but root


def test_the_monitor_refuses_a_caller_outside_its_group_itself(tmp_path):
    """Even when the socket file is opened up by hand, a caller who is neither root, the
    monitor's user nor in its group is refused by the monitor, from the kernel's word on
    who it is (SO_PEERCRED)."""
    top = Path(tempfile.mkdtemp(prefix="citadel-roles-"))
    try:
        top.chmod(0o755)
        cli = top / "citadel"
        shutil.copy2(CITADEL, cli)
        m = Monitor(tmp_path)
        m.sock = str(top / "run" / "citadel.sock")
        m.start("--group", str(INVOKERS))
        try:
            os.chmod(top / "run", 0o755)
            os.chmod(m.sock, 0o777)
            r = subprocess.run([str(cli), "ls", "--socket", m.sock], user=4244, group=4244, extra_groups=[],
                               capture_output=True, timeout=30, cwd="/")
            assert r.returncode == 1 and b"permission denied: uid 4244 is not a member of the monitor's group" in \
                r.stderr, r.stderr
        finally:
            m.stop()
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.mark.parametrize("scale", [1, 2])
def test_a_callers_quota_spans_its_connections(new_monitor, scale):
    """A caller (a uid) may have 1024 calls in flight over all its connections together,
    whatever each connection's own bound (256); --peer-quota UID=SCALE raises it."""
    m = new_monitor("--peer-quota", f"0={scale}") if scale != 1 else new_monitor()
    m.deploy("q", "probe", "--max-instances", "1", "--timeout", "5s")
    socks = []
    try:
        for k in range(5):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(m.sock)
            socks.append(s)
            for i in range(256):
                s.send(request(2, i + 1, b"q", b"sleep 4000"))
        taken = min(5 * 256, 1024 * scale)
        deadline = time.monotonic() + 30
        while True:  # every request read: taken ones wait in the queue (or run), the rest refused
            f = m.ls()["q"]
            if f["queued"] + f["busy"] >= taken or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert f["queued"] + f["busy"] == taken, f
        caller_refusals, deadline = 0, time.monotonic() + 10
        while caller_refusals < 5 * 256 - taken and time.monotonic() < deadline:
            for s in socks:
                caller_refusals += sum(1 for t, _, text in replies(s, 0.2) if t == 17 and b"this caller" in text)
        for s in socks:  # and no more than that
            caller_refusals += sum(1 for t, _, text in replies(s, 0.2) if t == 17 and b"this caller" in text)
        assert caller_refusals == 5 * 256 - taken, caller_refusals
    finally:
        for s in socks:
            s.close()
    assert m.invoke("q", "echo still") is not None  # connections closed: the quota is free again


def test_the_monitor_takes_over_no_directory_and_no_file_of_anyone_elses(tmp_path):
    """With a group, only a socket directory the monitor makes (or made before) is opened
    to the group; a directory of someone else's keeps its owner and mode. A file that is
    not a socket at the socket's path is never removed."""
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 4300, 4300)
    before = theirs.stat()
    m = Monitor(tmp_path, "t")
    m.sock = str(theirs / "citadel.sock")
    m.start("--group", str(INVOKERS))
    try:
        after = theirs.stat()
        assert (after.st_uid, after.st_gid, after.st_mode) == (before.st_uid, before.st_gid, before.st_mode)
        st = os.stat(m.sock)
        assert st.st_gid == INVOKERS and (st.st_mode & 0o777) == 0o660
        # The socket exists before the monitor has logged what it did to reach it.
        deadline = time.monotonic() + 30
        while "event=serving" not in m.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "event=socket_dir" in m.log.read_text()
    finally:
        m.stop()
    precious = tmp_path / "precious.txt"
    precious.write_text("data")
    r = subprocess.run([str(CITADEL), "serve", "--state-dir", str(tmp_path / "s2"), "--socket", str(precious)],
                       capture_output=True, timeout=30)
    assert r.returncode == 1 and b"exists and is not a socket" in r.stderr, r.stderr
    assert precious.read_text() == "data"
