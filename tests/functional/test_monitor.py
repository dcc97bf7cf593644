"""The monitor end to end through the CLI: `citadel serve`, deploy, invoke, ls, rm, logs,
the lifecycle (templates, pooled trustlets, --fresh, keep-alive, restarts), what happens
to misbehaving functions, and isolation between functions and between trustlets."""
import fcntl
import hashlib
import json
import struct
import os
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

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

    def start(self, *extra):
        self.logf = open(self.log, "ab")
        self.extra = extra
        self.proc = subprocess.Popen([str(CITADEL), "serve", "--state-dir", str(self.state),
                                     "--socket", self.sock, *extra], stderr=self.logf)
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

    def make(*extra):
        m = Monitor(tmp_path, f"m{len(made)}").start(*extra)
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
    (["invoke"], b"usage: citadel invoke"),
])
def test_bad_requests(mon, args, msg):
    r = mon.cli(*args)
    assert r.returncode in (1, 2) and msg in r.stderr, r.stderr


def test_deploy_of_something_that_is_not_a_function(mon, tmp_path):
    r = mon.cli("deploy", "notso", "/etc/hostname")
    assert r.returncode == 1 and b"loading the function" in r.stderr
    r = mon.cli("deploy", "libm", "/lib/x86_64-linux-gnu/libm.so.6")
    assert r.returncode == 1 and b"not built with citadel/function.h" in r.stderr
    assert "notso" not in mon.ls() and "libm" not in mon.ls()


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
    with ThreadPoolExecutor(2) as ex:
        holder = ex.submit(mon.invoke, "iso", "hold 2000 TOPSECRET")
        time.sleep(0.5)  # the holder's instance is busy: the calls below get others
        spy = mon.invoke("iso", "spy").stdout
        sig = mon.invoke("iso", "signal").stdout
        peek = mon.invoke("iso", "peek").stdout
        held = holder.result()
    assert held.returncode == 0 and held.stdout.startswith(b"ok /tmp/i"), held.stderr
    assert spy == b"ok found 0\n" or spy.startswith(b"denied:"), spy
    assert b"TOPSECRET" not in spy
    assert sig.startswith(b"ok killed 0 of "), sig
    assert peek.startswith(b"ok opened 0 of "), peek


def test_two_functions_cannot_reach_each_other(mon):
    mon.deploy("pa", "probe")
    mon.deploy("pb", "probe")
    with ThreadPoolExecutor(2) as ex:
        holder = ex.submit(mon.invoke, "pa", "hold 1500 PA-SECRET")
        time.sleep(0.5)
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
    with ThreadPoolExecutor(3) as ex:
        futs = [ex.submit(mon.invoke, "one", "sleep 400") for _ in range(3)]
        deadline = time.monotonic() + 1
        f = mon.ls()["one"]
        while f["queued"] < 1 and time.monotonic() < deadline:
            f = mon.ls()["one"]
        assert f["live"] == 1 and f["queued"] >= 1
        assert all(x.result().stdout == b"ok slept\n" for x in futs)


def test_idle_instances_are_reaped_after_keep_alive(mon):
    mon.deploy("ka", "probe", "--keep-alive", "1s", "--max-instances", "4")
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda _: mon.invoke("ka", "sleep 200"), range(4)))
    assert mon.ls()["ka"]["live"] >= 2
    deadline = time.monotonic() + 10
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
    deadline = time.monotonic() + 5
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
    mon.deploy("many", "echo", "--min-instances", "1100", "--max-instances", "1100", "--memory", "2G")
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
    assert kinds[0] == "serving" and kinds[-1] == "stopped" and "deployed" in kinds
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
    with ThreadPoolExecutor(1) as ex:
        running = ex.submit(mon.invoke, "rd", "sleep 1500")
        time.sleep(0.4)
        mon.deploy("rd", "echo")
        assert mon.invoke("rd", "new").stdout == b"new"
        assert running.result().stdout == b"ok slept\n"


def _raw_deploy(sock_path, name, so):
    """A DEPLOY as the CLI sends it (proto.h), from a client that hangs up at once."""
    spec = struct.pack("<64s16sQQQIIIIII", name.encode(), b"native", 64 << 20, 10000, 1 << 20, 4, 0, 60, 0, 0, 0)
    hdr = struct.pack("<IHHIIQ", 0x31544943, 1, 1, len(spec), 1, 7)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sock_path)
    code = os.memfd_create("code", os.MFD_ALLOW_SEALING)
    os.write(code, open(so, "rb").read())
    fcntl.fcntl(code, 1033, 1 | 2 | 4 | 8)  # F_ADD_SEALS: seal, shrink, grow, write
    socket.send_fds(s, [hdr + spec], [code])
    os.close(code)
    s.close()


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
    body = struct.pack("<64siIQIIQ256s", b"cap", 0, 0, 0, len(b"sleep 200"), 0, 0, b"")  # cit_body
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(mon.sock)
    for i in range(300):
        payload = body + b"sleep 200"
        s.send(struct.pack("<IHHIIQ", 0x31544943, 1, 2, len(payload), 0, i + 1) + payload)
    refused, deadline = 0, time.monotonic() + 2
    s.settimeout(0.2)
    while time.monotonic() < deadline:  # refusals come at once; the rest drain slowly
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
    spec = struct.pack("<64s16sQQQIIIIII", b"plainfile", b"native", 64 << 20, 10000, 1 << 20, 4, 0, 60, 0, 0, 0)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(mon.sock)
    with open(EXAMPLES / "hello.so", "rb") as f:
        socket.send_fds(s, [struct.pack("<IHHIIQ", 0x31544943, 1, 1, len(spec), 1, 9) + spec], [f.fileno()])
    s.settimeout(10)
    reply = s.recv(65536)
    s.close()
    assert struct.unpack_from("<H", reply, 6)[0] == 17 and b"sealed data object" in reply
    assert "plainfile" not in mon.ls()
