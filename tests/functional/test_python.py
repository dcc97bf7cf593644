"""Python functions (docs/python.md): a .py deployed is imported in a template forked from
an embedded CPython zygote; each instance is a fork of it. Every test deploys source of
its own, written here, to a monitor of the test's own."""
import json
import os
import re
import time
from pathlib import Path

import pytest
from test_monitor import Monitor, alive, descendants


@pytest.fixture(scope="module")
def mon(tmp_path_factory):
    m = Monitor(tmp_path_factory.mktemp("python")).start()
    yield m
    m.stop()


def deploy(mon, tmp_path, name, source, *opts, file="handler.py"):
    f = tmp_path / file
    f.write_text(source)
    r = mon.cli("deploy", name, str(f), *opts)
    assert r.returncode == 0, r.stderr
    return r


RETURNS = """
import citadel
def handle(event, context):
    kind = event.decode() if isinstance(event, bytes) else "json"
    if kind == "bytes":
        return b"\\x00\\xffraw"
    if kind == "str":
        return "caf\\u00e9"
    if kind == "none":
        return None
    if kind == "dict":
        return {"a": [1, 2], "b": None}
    if kind == "bytearray":
        return bytearray(b"ba")
    if kind == "json":
        return {"seen": event, "type": context.content_type}
    if kind == "context":
        return {"function": context.function, "call_id": context.call_id, "http": context.http,
                "left": 0 < context.time_left() <= 5}
    if kind == "object":
        return object()
    raise KeyError(kind)
"""


def test_each_return_type_is_a_response(mon, tmp_path):
    deploy(mon, tmp_path, "returns", RETURNS, "--timeout", "5s")
    assert mon.invoke("returns", "bytes").stdout == b"\x00\xffraw"
    assert mon.invoke("returns", "str").stdout == "café".encode()
    assert mon.invoke("returns", "none").stdout == b""
    assert json.loads(mon.invoke("returns", "dict").stdout) == {"a": [1, 2], "b": None}
    assert mon.invoke("returns", "bytearray").stdout == b"ba"
    got = json.loads(mon.invoke("returns", "context").stdout)
    assert got["function"] == "returns" and got["call_id"] >= 1 and got["http"] is None and got["left"], got
    r = mon.invoke("returns", "object")
    assert r.returncode == 1 and b"not bytes, str or JSON-serialisable" in r.stderr, r.stderr


def test_a_json_request_is_parsed_when_its_type_says_so(mon, tmp_path):
    deploy(mon, tmp_path, "returns2", RETURNS)
    r = mon.cli("invoke", "returns2", "--data", '{"x": [1, "y"]}', "--content-type", "application/json")
    assert json.loads(r.stdout) == {"seen": {"x": [1, "y"]}, "type": "application/json"}, r
    r = mon.cli("invoke", "returns2", "--data", '{"x": 1}', "--content-type", "application/problem+json; charset=utf-8")
    assert json.loads(r.stdout)["seen"] == {"x": 1}, r
    r = mon.cli("invoke", "returns2", "--data", "{not json", "--content-type", "application/json")
    assert r.returncode == 1 and b"says it is JSON" in r.stderr, r.stderr
    # Without the type it is bytes, whatever they look like.
    r = mon.cli("invoke", "returns2", "--data", "[1]")
    assert r.returncode == 1 and b"KeyError: '[1]'" in r.stderr, r.stderr


def test_an_exception_names_itself_and_its_traceback_is_logged(mon, tmp_path):
    deploy(mon, tmp_path, "raises", """
def helper(x):
    raise ValueError(f"bad input: {x!r}")

def handle(event, context):
    return helper(event)
""")
    r = mon.invoke("raises", "oops")
    assert r.returncode == 1 and b"ValueError: bad input: b'oops'" in r.stderr, r.stderr
    deadline = time.monotonic() + 10
    while b"Traceback" not in (log := mon.cli("logs", "raises").stdout) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b"Traceback (most recent call last)" in log and b'line 3, in helper' in log, log
    # The instance goes on.
    r = mon.invoke("raises", "again")
    assert r.returncode == 1 and b"again" in r.stderr


def test_the_entry_point_and_preloads_are_chosen_at_deploy(mon, tmp_path):
    deploy(mon, tmp_path, "entry", """
import sys
def main(event, context):
    return ",".join(m for m in ("xml.dom.minidom", "colorsys") if m in sys.modules)
""", "--handler", "mymod.main", "--preload", "xml.dom.minidom", "--preload", "colorsys")
    assert mon.invoke("entry", "").stdout == b"xml.dom.minidom,colorsys"
    f = tmp_path / "x.py"
    f.write_text("def handle(e, c): return e\n")
    r = mon.cli("deploy", "nofunc", str(f), "--handler", "x.nothere")
    assert r.returncode == 1 and b"module x defines no function nothere" in r.stderr, r.stderr
    r = mon.cli("deploy", "badentry", str(f), "--handler", "no-dots")
    assert r.returncode == 2 and b"--handler" in r.stderr, r.stderr
    r = mon.cli("deploy", "native-handler", str(Path(f"{os.environ.get('CITADEL_BUILD', 'build')}/examples/echo.so")),
                "--handler", "a.b")
    assert r.returncode != 0 and b"for python functions" in r.stderr, r.stderr


def test_a_module_that_is_not_there_fails_the_deploy_saying_which(mon, tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import no_such_module_anywhere\ndef handle(e, c): return e\n")
    r = mon.cli("deploy", "missing", str(f))
    assert r.returncode == 1 and b"ModuleNotFoundError: No module named 'no_such_module_anywhere'" in r.stderr, r.stderr
    f.write_text("def handle(e, c):\n  return (\n")
    r = mon.cli("deploy", "syntax", str(f))
    assert r.returncode == 1 and b"SyntaxError" in r.stderr, r.stderr
    r = mon.cli("deploy", "preload-missing", str(f), "--preload", "no_such_thing")
    assert r.returncode == 1 and b"importing no_such_thing" in r.stderr, r.stderr
    assert "missing" not in mon.ls()


def test_a_call_past_its_timeout_is_ended_and_the_function_goes_on(mon, tmp_path):
    deploy(mon, tmp_path, "slow", """
import time
def handle(event, context):
    if event == b"spin":
        while True:
            pass
    return b"quick"
""", "--timeout", "300ms")
    r = mon.invoke("slow", "spin")
    assert r.returncode == 1 and b"timed out" in r.stderr, r.stderr
    assert mon.invoke("slow", "x").stdout == b"quick"


def test_the_memory_limit_holds(mon, tmp_path):
    deploy(mon, tmp_path, "hog", """
def handle(event, context):
    blocks = []
    for _ in range(int(event)):
        blocks.append(bytearray(16 << 20))
    return str(len(blocks))
""", "--memory", "96M")
    assert mon.invoke("hog", "1").stdout == b"1"
    r = mon.invoke("hog", "40")  # 640 MiB
    assert r.returncode == 1 and (b"MemoryError" in r.stderr or b"memory" in r.stderr), r.stderr
    assert mon.invoke("hog", "1").stdout == b"1"


def test_instances_are_isolated_from_each_other_and_reseeded(mon, tmp_path):
    """Each instance is a fork of the template: what one call leaves in module state is its
    instance's alone, and random is seeded anew in each (CPython's after-fork hooks)."""
    deploy(mon, tmp_path, "state", """
import os, random
SEEN = []
def handle(event, context):
    SEEN.append(event.decode())
    return f"{os.getpid()} {random.random()} {','.join(SEEN)}"
""", "--fresh")
    outs = [mon.invoke("state", f"c{i}").stdout.decode().split() for i in range(3)]
    assert [o[2] for o in outs] == ["c0", "c1", "c2"], outs  # no call sees another's
    assert len({o[1] for o in outs}) == 3, outs  # a new random stream each


def test_two_python_functions_do_not_share_modules_or_files(mon, tmp_path):
    deploy(mon, tmp_path, "writer", """
import os, sys
GLOBAL = {"owner": "writer"}
def handle(event, context):
    with open("note.txt", "w") as f:
        f.write("secret")
    return os.getcwd()
""")
    cwd = mon.invoke("writer", "").stdout.decode()
    deploy(mon, tmp_path, "reader", f"""
import os, sys
def handle(event, context):
    out = []
    out.append("writer" in sys.modules or "handler" in sys.modules and hasattr(sys.modules["handler"], "GLOBAL"))
    try:
        open({cwd!r} + "/note.txt").read()
        out.append("read")
    except OSError as e:
        out.append(type(e).__name__)
    return repr(out)
""")
    assert mon.invoke("reader", "").stdout == b"[False, 'FileNotFoundError']"


ATTACKS = """
import ctypes, os, socket, subprocess
def attempt(f):
    try:
        f()
        return "allowed"
    except Exception as e:
        return type(e).__name__

def handle(event, context):
    what = event.decode()
    tries = {
        "fork": lambda: os.fork(),
        "exec": lambda: subprocess.run(["/bin/true"]),
        "write-etc": lambda: open("/etc/citadel-python-test", "w"),
        "read-shadow": lambda: open("/etc/shadow").read(),
        "network": lambda: socket.create_connection(("1.1.1.1", 80), timeout=1),
        "ptrace": lambda: (_ for _ in ()).throw(OSError()) if ctypes.CDLL(None).ptrace(16, 1, 0, 0) != 0 else None,
        "kill-init": lambda: os.kill(1, 9),
        "setuid": lambda: os.setuid(1),
        "chroot": lambda: os.chroot("/tmp"),
        "mount": lambda: (_ for _ in ()).throw(OSError()) if ctypes.CDLL(None).mount(b"none", b"/tmp", b"tmpfs", 0,
                                                                                    None) != 0 else None,
    }
    return attempt(tries[what])
"""


@pytest.mark.parametrize("what", ["fork", "exec", "write-etc", "read-shadow", "network", "ptrace", "kill-init",
                                  "setuid", "chroot", "mount"])
def test_the_sandbox_holds_against_python_code(mon, tmp_path, what):
    """The monitor-hardening attacks, from Python: each is refused, and the function goes on."""
    if "attacks" not in mon.ls():
        deploy(mon, tmp_path, "attacks", ATTACKS)
    r = mon.invoke("attacks", what)
    # Refused with an error the code sees, or the instance killed for the system call.
    refused = (r.returncode == 0 and r.stdout != b"allowed") or \
        (r.returncode == 1 and b"forbidden system call" in r.stderr)
    assert refused, (what, r)
    assert not os.path.exists("/etc/citadel-python-test")
    assert mon.invoke("attacks", "chroot").stdout == b"PermissionError"  # and the function goes on


def test_python_functions_survive_a_monitor_restart(tmp_path):
    m = Monitor(tmp_path, "restart").start()
    try:
        deploy(m, tmp_path, "kept", "def handle(e, c):\n    return b'kept:' + e\n", "--handler", "handler.handle")
        assert m.invoke("kept", "1").stdout == b"kept:1"
        measured = m.ls()["kept"]["measurement"]
        m.stop()
        m.start()
        assert m.invoke("kept", "2").stdout == b"kept:2"
        assert m.ls()["kept"]["measurement"] == measured and m.ls()["kept"]["runtime"] == "python"
    finally:
        m.stop()


def test_the_operators_preloads_are_imported_once_in_the_zygote(tmp_path):
    m = Monitor(tmp_path, "preload").start("--python-preload", "json,colorsys")
    try:
        deploy(m, tmp_path, "mods", "import sys\ndef handle(e, c):\n    return str('colorsys' in sys.modules)\n")
        assert m.invoke("mods", "").stdout == b"True"
    finally:
        m.stop()
    m = Monitor(tmp_path, "badpreload").start("--python-preload", "json,no_such_mod")
    try:
        f = tmp_path / "p.py"
        f.write_text("def handle(e, c): return e\n")
        r = m.cli("deploy", "p", str(f))
        assert r.returncode == 1 and b"no_such_mod" in (r.stderr + m.log.read_bytes()), r.stderr
    finally:
        m.stop()


def make_bundle(d):
    (d / "pkg").mkdir(parents=True)
    (d / "pkg" / "__init__.py").write_text("def greet(x):\n    return 'hi ' + x\n")
    (d / "main.py").write_text("import os\nfrom pkg import greet\n"
                               "DATA = open(os.path.join(os.path.dirname(__file__), 'data.txt')).read().strip()\n"
                               "def run(event, context):\n    return greet(event.decode()) + ' ' + DATA\n")
    (d / "data.txt").write_text("from-data-file\n")
    return d


def test_a_bundle_brings_a_package_and_its_data_files(tmp_path):
    """--runtime python --bundle DIR: a module, its package and data files, imported from
    /bundle; a manifest says the same; both kept across a restart, measured by the bundle."""
    b = make_bundle(tmp_path / "b")
    m = Monitor(tmp_path, "bundle").start()
    try:
        r = m.cli("deploy", "bundled", "--runtime", "python", "--bundle", str(b), "--handler", "main.run")
        assert r.returncode == 0, r.stderr
        assert m.invoke("bundled", "Ada").stdout == b"hi Ada from-data-file"
        man = tmp_path / "f.json"
        man.write_text(json.dumps({"name": "manifested", "runtime": "python", "bundle": "b", "handler": "main.run",
                                   "imports": ["pkg"]}))
        r = m.cli("deploy", "--manifest", str(man))
        assert r.returncode == 0, r.stderr
        assert m.invoke("manifested", "Bo").stdout == b"hi Bo from-data-file"
        before = m.ls()
        # "imports" names what --preload does: the same function, measured the same.
        r = m.cli("deploy", "preloaded", "--runtime", "python", "--bundle", str(b), "--handler", "main.run",
                  "--preload", "pkg")
        assert r.returncode == 0, r.stderr
        assert m.ls()["preloaded"]["measurement"] == before["manifested"]["measurement"]
        (b / "data.txt").write_text("changed\n")  # the deployed copy is what runs
        m.stop()
        m.start()
        assert m.invoke("bundled", "Cy").stdout == b"hi Cy from-data-file"
        assert m.ls()["bundled"]["measurement"] == before["bundled"]["measurement"]
        r = m.cli("deploy", "x", str(b / "main.py"), "--bundle", str(b))
        assert r.returncode == 2, r
    finally:
        m.stop()


def test_an_instance_sees_its_own_private_directory_as_tmpdir(mon, tmp_path):
    """TMPDIR, in os.environ and for tempfile, is the instance's private directory (its
    working directory), where it may write; /tmp itself is not writable."""
    deploy(mon, tmp_path, "tmp", """
import os, tempfile
def handle(event, context):
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(b"x")
    return repr([os.environ["TMPDIR"] == os.getcwd(), os.path.dirname(f.name) == os.getcwd(),
                 tempfile.gettempdir() == os.getcwd()])
""", "--fresh")
    assert mon.invoke("tmp", "").stdout == b"[True, True, True]"


def test_a_bundles_own_module_may_be_preloaded(tmp_path):
    b = make_bundle(tmp_path / "b")
    m = Monitor(tmp_path, "bpre").start()
    try:
        r = m.cli("deploy", "pre", "--runtime", "python", "--bundle", str(b), "--handler", "main.run",
                  "--preload", "pkg")
        assert r.returncode == 0, r.stderr
        assert m.invoke("pre", "Di").stdout == b"hi Di from-data-file"
    finally:
        m.stop()


def test_sys_exit_and_odd_entry_points_fail_cleanly(mon, tmp_path):
    """SystemExit is a failure like any other, at import or in a call (the instance goes
    on); an entry point that would replace Python's or the runtime's modules, a dunder or
    an async function is refused at deploy; NaN is no JSON."""
    f = tmp_path / "exit.py"
    f.write_text("import sys\nprint('why I fail', file=sys.stderr)\nsys.exit(2)\ndef handle(e, c): return e\n")
    r = mon.cli("deploy", "exits", str(f))
    assert r.returncode == 1 and b"SystemExit: 2" in r.stderr, r.stderr
    deploy(mon, tmp_path, "exiter", "import sys\ndef handle(event, context):\n"
                                    "    if event == b'exit':\n        sys.exit('bye')\n"
                                    "    if event == b'nan':\n        return {'x': float('nan')}\n    return b'ok'\n")
    r = mon.invoke("exiter", "exit")
    assert r.returncode == 1 and b"SystemExit: bye" in r.stderr, r.stderr
    assert mon.invoke("exiter", "again").stdout == b"ok"
    r = mon.invoke("exiter", "nan")
    assert r.returncode == 1 and b"not bytes, str or JSON-serialisable" in r.stderr, r.stderr
    f = tmp_path / "m.py"
    f.write_text("async def handle(e, c):\n    return e\ndef run(e, c):\n    return e\n")
    for handler, says in (("json.run", b"is taken"), ("citadel.run", b"is taken"), ("m.__class__", b"is taken"),
                          ("m.handle", b"async function")):
        r = mon.cli("deploy", "odd", str(f), "--handler", handler)
        assert r.returncode == 1 and says in r.stderr, (handler, r.stderr)


def test_a_bundle_with_compiled_bytecode_is_refused(tmp_path):
    import py_compile
    b = make_bundle(tmp_path / "b")
    py_compile.compile(str(b / "main.py"), cfile=str(b / "__pycache__" / "main.cpython-311.pyc"))
    m = Monitor(tmp_path, "pyc").start()
    try:
        r = m.cli("deploy", "pyc", "--runtime", "python", "--bundle", str(b), "--handler", "main.run")
        assert r.returncode == 1 and b"compiled bytecode (__pycache__/main.cpython-311.pyc)" in r.stderr, r.stderr
    finally:
        m.stop()


def test_instances_cannot_reach_each_other_over_loopback(mon, tmp_path):
    """The function's loopback is one for all its instances: an instance makes no IP
    socket, so none can listen there for a sibling (another caller's call) to reach."""
    deploy(mon, tmp_path, "loop", """
import socket
def handle(event, context):
    out = []
    for fam in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.socket(fam, socket.SOCK_STREAM if event == b"tcp" else socket.SOCK_DGRAM)
            out.append("made")
        except PermissionError:
            out.append("refused")
    a, b = socket.socketpair()  # unix sockets of its own stay
    a.sendall(b"x")
    out.append(b.recv(1).decode())
    return repr(out)
""")
    for kind in ("tcp", "udp"):
        assert mon.invoke("loop", kind).stdout == b"['refused', 'refused', 'x']", kind


def test_a_python_function_sees_its_deployments_environment(mon, tmp_path):
    """--env reaches os.environ (read when the interpreter started, before the function's
    environment was set), at import and in calls, as in a program started with it."""
    deploy(mon, tmp_path, "penv", "import os\nAT_IMPORT = os.environ.get('MODE')\n"
           "def handle(event, context):\n"
           "    return {'import': AT_IMPORT, 'call': os.environ.get('MODE'), 'getenv': os.getenv('OTHER')}\n",
           "--env", "MODE=hello", "--env", "OTHER=x=y")
    assert json.loads(mon.invoke("penv", "").stdout) == {"import": "hello", "call": "hello", "getenv": "x=y"}
