"""The monitor's CLI at its edges: what it says when the monitor refuses a connection,
which servers it talks to, what it opens as a function's code, what it says about a
manifest, what its --help texts promise, the bounds it checks itself, and what `make run`
prints and the docs say about it."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BUILD, CITADEL, ROOT
from test_monitor import EXAMPLES, Monitor

NOBODY = 65534


@pytest.fixture
def monitor(tmp_path):
    """A `citadel serve` of the test's own; start(...) with its options, stopped at the end."""
    made = []

    def start(*extra):
        m = Monitor(tmp_path, f"c{len(made)}").start(*extra)
        made.append(m)
        return m
    yield start
    for m in made:
        m.stop()


def run_captured(argv, *, input=None, timeout=20, cwd=None, env=None, text=False):
    """subprocess.run with stdout and stderr in files, not pipes: the command's end is its
    exit, whoever else may still hold a pipe of ours. (Full CI runs have seen a finished
    command's pipe stay open for over 20 s, held by nobody the test knows; the processes
    then running are in the failure's message.)"""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            r = subprocess.run(argv, input=input, stdout=out, stderr=err, timeout=timeout, cwd=cwd, env=env)
        except subprocess.TimeoutExpired:
            ps = subprocess.run(["ps", "-eo", "pid,ppid,stat,wchan:20,etime,cmd"], capture_output=True, text=True)
            raise AssertionError(f"{argv} did not end in {timeout} s; running:\n{ps.stdout}")
        out.seek(0)
        err.seek(0)
        r.stdout, r.stderr = out.read(), err.read()
    if text:
        r.stdout, r.stderr = r.stdout.decode(), r.stderr.decode()
    return r


def cli(*args, sock, timeout=20, input=None, cwd=None):
    """`citadel ARGS` with CITADEL_SOCKET=sock and nothing else of ours in its environment."""
    return run_captured([str(CITADEL), *args], input=input, timeout=timeout, cwd=cwd,
                        env={"PATH": os.environ["PATH"], "CITADEL_SOCKET": str(sock)})


def one_line(r):
    """The single line a failed command printed on stderr."""
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


# ---- 1. a refused connection's reason -----------------------------------------------------

def test_a_refused_connection_shows_the_monitors_reason(monitor, tmp_path):
    """Over --max-clients the monitor sends one ERROR and closes: whether the CLI's request
    went out before the close (the reply is then behind a reset) or not (EPIPE), every
    command shows that reason, never `Broken pipe` or `Connection reset by peer`."""
    m = monitor("--max-clients", "1")
    (tmp_path / "req").write_bytes(b"request from a file")
    commands = [("ls",), ("ls", "--json"), ("invoke", "echo", "--data", "x"), ("invoke", "echo"),
                ("deploy", "echo", str(EXAMPLES / "echo.so")), ("rm", "echo"), ("logs", "echo"),
                ("restart", "echo"), ("invoke", "echo", "--file", str(tmp_path / "req"))]
    # One hog, held for the whole test: the one connection allowed, accepted before the
    # first CLI's (the listen backlog is in order). A hog per command would race: the
    # monitor may take the next hog before it sees the last one close, refuse it, and then
    # take the CLI's connection in the freed place.
    hog = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    hog.connect(m.sock)
    try:
        for _ in range(3):  # each race between the CLI's send and the monitor's close, more than once
            for args in commands:
                r = cli(*args, sock=m.sock, input=b"stdin request")
                assert r.returncode == 1, (args, r.stderr)
                line = one_line(r)
                assert "connections, its most: try again later" in line, (args, line)
                assert "pipe" not in line.lower() and "reset" not in line.lower(), (args, line)
    finally:
        hog.close()
    # The monitor notices the hog has gone when it gets to it: it may still be taking (and
    # refusing) connections, and take the next one too. Once one is served, the next ones
    # are: each CLI's close comes before the next one connects.
    deadline = time.monotonic() + 30
    while m.cli("ls").returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    m.deploy("echo")
    assert m.invoke("echo", "served").stdout == b"served"


# ---- 2. only root's or the caller's own server ---------------------------------------------

LISTENER = r'''
import socket, sys
s = socket.socket(fileno=int(sys.argv[1]))
s.listen(8)
s.settimeout(30)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(5)
    try:
        got = c.recv(1 << 20)
        print(len(got), flush=True)
    except socket.timeout:
        print("silent", flush=True)
    c.close()
'''


def test_the_cli_talks_only_to_a_server_of_root_or_its_own_user(tmp_path):
    """A socket where another user listens (a CITADEL_SOCKET pointing into /tmp) gets
    nothing from any command, a deploy's code least of all: the CLI checks the server's
    credentials before it sends, and says whose server it found."""
    path = tmp_path / "other.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(str(path))  # bound by root; the listening (the credentials a client sees) is nobody's
    proc = subprocess.Popen([sys.executable, "-c", LISTENER, str(s.fileno())], pass_fds=[s.fileno()], user=NOBODY,
                            stdout=subprocess.PIPE, text=True)
    s.close()
    try:
        assert proc.stdout.readline() == "listening\n"
        commands = [("deploy", "stolen", str(EXAMPLES / "echo.so")), ("invoke", "echo", "--data", "secret"),
                    ("ls",), ("rm", "echo"), ("logs", "echo"), ("restart", "echo")]
        for args in commands:
            r = cli(*args, sock=path, input=b"secret from stdin")
            assert r.returncode == 1, (args, r.stderr)
            line = one_line(r)
            assert f"uid {NOBODY}" in line and str(path) in line, line
            assert proc.stdout.readline() == "0\n", args  # connected, and then nothing sent
    finally:
        proc.kill()
        proc.wait()


def test_the_cli_talks_to_a_server_of_its_own_user(tmp_path):
    """The other side of the check: a user's CLI talks to that user's own server."""
    shared = Path(tempfile.mkdtemp(prefix="citadel-cli-", dir="/tmp"))
    try:
        shared.chmod(0o755)
        path = shared / "own.sock"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.bind(str(path))
        path.chmod(0o777)
        proc = subprocess.Popen([sys.executable, "-c", LISTENER, str(s.fileno())], pass_fds=[s.fileno()],
                                user=NOBODY, stdout=subprocess.PIPE, text=True)
        s.close()
        try:
            assert proc.stdout.readline() == "listening\n"
            r = subprocess.run([str(CITADEL), "ls", "--socket", str(path)], user=NOBODY, capture_output=True,
                               timeout=20, env={"PATH": os.environ["PATH"]})
            assert int(proc.stdout.readline()) > 0, r.stderr  # the request went out
            assert b"uid" not in r.stderr, r.stderr
        finally:
            proc.kill()
            proc.wait()
    finally:
        for f in shared.iterdir():
            f.unlink()
        shared.rmdir()


def test_the_cli_talks_to_roots_monitor(monitor):
    """The check lets the usual case through: a root monitor, a root client."""
    m = monitor()
    m.deploy("echo")
    assert m.invoke("echo", "ok").stdout == b"ok"


# ---- 3. the code file and the manifest are opened without blocking ---------------------------

def special_files(tmp_path):
    fifo = tmp_path / "code.fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.so"
    link.symlink_to(fifo)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(tmp_path / "code.sock"))
    return [("a FIFO", fifo), ("a FIFO", link), ("a directory", tmp_path), ("a character device", Path("/dev/zero")),
            ("a socket", tmp_path / "code.sock")], sock


def test_deploy_refuses_code_that_is_not_a_regular_file(tmp_path):
    """A FIFO (which would block the open for good), a link to one, a directory, a device or
    a socket as the code: refused at once, saying what it is; never read."""
    files, keep = special_files(tmp_path)
    for kind, path in files:
        r = cli("deploy", "f", str(path), sock=tmp_path / "none.sock", timeout=10)
        assert r.returncode == 1, (kind, r.stderr)
        line = one_line(r)
        assert str(path) in line and kind in line and "regular file" in line, line
    keep.close()


def test_a_manifests_code_and_the_manifest_itself_are_checked_the_same_way(tmp_path):
    files, keep = special_files(tmp_path)
    man = tmp_path / "m.json"
    for kind, path in files:
        man.write_text(json.dumps({"name": "f", "code": str(path)}))
        r = cli("deploy", "--manifest", str(man), sock=tmp_path / "none.sock", timeout=10)
        assert r.returncode == 1, (kind, r.stderr)
        line = one_line(r)
        assert str(path) in line and kind in line and "regular file" in line, line
        r = cli("deploy", "--manifest", str(path), sock=tmp_path / "none.sock", timeout=10)
        assert r.returncode == 2, (kind, r.stderr)
        line = one_line(r)
        assert str(path) in line and kind in line and "regular file" in line, line
    keep.close()


# ---- 4. manifest messages -------------------------------------------------------------------

KNOWN_KEYS = ["name", "code", "memory", "timeout", "output_limit", "max_instances", "min_instances", "keep_alive",
              "cpus", "pids", "fresh", "env"]

# (what the manifest holds beyond name and code, as JSON text; words the message must hold)
BAD_MANIFESTS = [
    ('"fresh": "yes"', ['"fresh"', "true or false", '"yes"']),
    ('"fresh": 1', ['"fresh"', "true or false"]),
    ('"fresh": null', ['"fresh"', "true or false"]),
    ('"bogus": 1', ['unknown key "bogus"'] + KNOWN_KEYS),
    ('"Memory": "64M"', ['unknown key "Memory"', "memory"]),
    ('"max-instances": 4', ['unknown key "max-instances"', "max_instances"]),
    ('"memory": true', ['"memory"', "size", "64M"]),
    ('"memory": 1.5', ['"memory"', "size"]),
    ('"memory": "lots"', ['"memory"', "size", '"lots"']),
    ('"memory": "2M"', ['"memory"', "4M", "64G"]),
    ('"timeout": [1]', ['"timeout"', "duration"]),
    ('"timeout": "2d"', ['"timeout"', "duration", "ms"]),
    ('"max_instances": 2.5', ['"max_instances"', "whole number"]),
    ('"max_instances": 0', ['"max_instances"', "1 to 16384"]),
    ('"pids": "many"', ['"pids"', "whole number"]),
    ('"cpus": true', ['"cpus"', "0.01", "1024"]),
    ('"cpus": 0.005', ['"cpus"', "0.01"]),
    ('"cpus": -1', ['"cpus"', "0.01"]),
    ('"keep_alive": "31d"', ['"keep_alive"', "duration"]),
    ('"keep_alive": "745h"', ['"keep_alive"', "30 days"]),
    ('"env": ["A=1"]', ['"env"', "object"]),
    ('"env": {"A": 1}', ['"env"', '"A"', "string"]),
    ('"env": {"A=B": "1"}', ['"env"', '"A=B"']),
    ('"name": "dup"', ['duplicate key "name"']),
    ('"env": {"A": "1", "A": "2"}', ['duplicate key "A"']),
]


@pytest.mark.parametrize("extra,words", BAD_MANIFESTS, ids=[b[0] for b in BAD_MANIFESTS])
def test_a_bad_manifest_is_named_in_one_line(tmp_path, extra, words):
    """Each mistake is told as what it is: a wrong value (and what is expected), an unknown
    key (and the known ones), a key given twice; one line naming the file."""
    man = tmp_path / "m.json"
    man.write_text('{"name": "f", "code": "%s",\n %s}' % (EXAMPLES / "echo.so", extra))
    r = cli("deploy", "--manifest", str(man), sock=tmp_path / "none.sock")
    assert r.returncode == 2, r.stderr
    line = one_line(r)
    assert str(man) in line, line
    for w in words:
        assert w in line, (w, line)
    assert "unknown option" not in line and "unexpected value" not in line, line


# (the file's bytes; words the message must hold)
BROKEN_JSON = [
    (b'{"name": "a\\u0000b", "code": "x.so"}', ["line 1, column", "NUL", "\\u0000"]),
    (b'{"name": "f",\n "code\\u0000": "x.so"}', ["line 2, column", "NUL"]),
    (b'{"name": "f",\n "code": "x.so"', ["line 2, column", "ends"]),
    (b'{"name": "f"} {}', ["line 1, column", "after"]),
    (b'{"name": "f",\n\n "memory": 1e999}', ["line 3, column", "too large"]),
    (b'{"name": "\xff"}', ["line 1, column", "UTF-8"]),
    (b'{"name" "f"}', ["line 1, column", "':' expected"]),
    (b'', ["empty"]),
    (b'["f", "x.so"]', ["JSON object", "array"]),
]


@pytest.mark.parametrize("text,words", BROKEN_JSON, ids=[repr(b[0][:20]) for b in BROKEN_JSON])
def test_a_manifest_that_is_not_json_is_told_in_plain_words(tmp_path, text, words):
    man = tmp_path / "m.json"
    man.write_bytes(text)
    r = cli("deploy", "--manifest", str(man), sock=tmp_path / "none.sock")
    assert r.returncode == 2, r.stderr
    line = one_line(r)
    assert line.startswith(f"citadel deploy: {man}"), line
    for w in words:
        assert w in line, (w, line)
    assert "JSON_ALLOW_NUL" not in line and "<stream>" not in line, line


def test_a_manifest_is_not_mixed_with_deploy_options(tmp_path):
    """A manifest is the whole policy: an option beside it would change what the file says
    unseen, so it is refused, naming the option and the key to set instead."""
    man = tmp_path / "m.json"
    man.write_text(json.dumps({"name": "f", "code": str(EXAMPLES / "echo.so"), "memory": "64M"}))
    for opt, key in [(["--memory", "8M"], "memory"), (["--fresh"], "fresh"), (["--env", "A=1"], "env"),
                     (["--cpus", "0.5"], "cpus"), (["--pids", "64"], "pids"), (["--keep-alive", "1s"], "keep_alive")]:
        for args in (["--manifest", str(man), *opt], [*opt, "--manifest", str(man)]):
            r = cli("deploy", *args, sock=tmp_path / "none.sock")
            assert r.returncode == 2, r.stderr
            first = r.stderr.decode().splitlines()[0]
            assert opt[0] in first and f'"{key}"' in first, first
    r = cli("deploy", "--manifest", str(man), "--socket", str(tmp_path / "none.sock"), sock="/nonexistent")
    assert r.returncode == 1 and b"cannot reach the monitor" in r.stderr, r.stderr  # --socket goes with it


def test_a_manifest_takes_numbers_where_the_cli_takes_them(monitor, tmp_path):
    """"cpus": 0.5 and "timeout": 1.5 as JSON numbers mean what --cpus 0.5 and --timeout 1.5
    mean: the same policy, so the same measurement."""
    m = monitor()
    man = tmp_path / "m.json"
    man.write_text(json.dumps({"name": "viaman", "code": str(EXAMPLES / "echo.so"), "cpus": 0.5, "timeout": 1.5,
                               "pids": 64, "memory": "64M"}))
    r = m.cli("deploy", "--manifest", str(man))
    assert r.returncode == 0, r.stderr
    r2 = m.deploy("viacli", "echo", "--cpus", "0.5", "--timeout", "1.5", "--pids", "64", "--memory", "64M")
    fns = m.ls()
    assert fns["viaman"]["measurement"] == fns["viacli"]["measurement"], (r.stdout, r2.stdout)
    assert m.invoke("viaman", "hi").stdout == b"hi"


# ---- 5. --help texts ------------------------------------------------------------------------

COMMANDS = ["serve", "deploy", "invoke", "ls", "rm", "logs", "restart"]


def help_text(cmd):
    r = subprocess.run([str(CITADEL), cmd, "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_option_a_help_text_describes_is_in_its_synopsis(cmd):
    """The usage lines at the top are what a reader scans: every option the text
    describes below them is there too."""
    text = help_text(cmd)
    synopsis = text.split("\n\n", 1)[0]
    described = set(re.findall(r"^ {2}(--[a-z-]+)", text, re.M))
    missing = sorted(o for o in described if not re.search(re.escape(o) + r"\b", synopsis))
    assert not missing, f"{cmd} --help: {missing} missing from\n{synopsis}"


def test_serve_help_lists_every_option_and_every_client_command():
    text = help_text("serve")
    synopsis = text.split("\n\n", 1)[0]
    for opt in ["--state-dir", "--socket", "--runtime", "--log-format", "--max-instances", "--max-pids",
                "--max-clients"]:
        assert opt in synopsis, opt
    body = " ".join(text.split())
    for cmd in COMMANDS[1:]:
        assert f"`{cmd}`" in body or f"`citadel {cmd}`" in body, cmd


def test_deploy_synopsis_shows_every_option():
    synopsis = help_text("deploy").split("\n\n", 1)[0]
    for opt in ["--memory", "--timeout", "--output-limit", "--max-instances", "--min-instances", "--keep-alive",
                "--cpus", "--pids", "--fresh", "--env", "--manifest", "--socket"]:
        assert opt in synopsis, opt


def test_the_command_list_names_every_command():
    text = subprocess.run([str(CITADEL), "--help"], capture_output=True, text=True, timeout=10).stdout
    for cmd in ["run"] + COMMANDS:
        assert re.search(rf"^  {cmd} ", text, re.M), cmd


# ---- 6. bounds the CLI checks itself ----------------------------------------------------------

OUT_OF_BOUNDS = ([("--cpus", v, "0.01") for v in ["0.001", "0.005", "0.009", "0.0099", "0.0004", ".001"]] +
                 [("--keep-alive", v, "30 days") for v in ["30d", "745h", "2592001", "43201m", "1e9", "99999999h"]])
WITHIN_BOUNDS = ([("--cpus", v) for v in ["0", "0.01", "0.5", "2", "1024"]] +
                 [("--keep-alive", v) for v in ["0", "60s", "720h", "2592000", "43200m"]])


@pytest.mark.parametrize("flag,value,bound", OUT_OF_BOUNDS)
def test_a_value_out_of_bounds_is_refused_by_the_cli(tmp_path, flag, value, bound):
    """--cpus below a hundredth (which would fail only when the function loads) and
    --keep-alive above 30 days are refused before anything is sent, saying the bound."""
    r = cli("deploy", "f", str(EXAMPLES / "echo.so"), flag, value, sock=tmp_path / "none.sock")
    assert r.returncode == 2, r.stderr
    line = one_line(r)
    assert flag in line and bound in line and f"'{value}'" in line, line


@pytest.mark.parametrize("flag,value", WITHIN_BOUNDS)
def test_a_value_within_bounds_passes_the_cli(tmp_path, flag, value):
    r = cli("deploy", "f", str(EXAMPLES / "echo.so"), flag, value, sock=tmp_path / "none.sock")
    assert r.returncode == 1 and b"cannot reach the monitor" in r.stderr, r.stderr


# ---- 7. `make run` and the docs -----------------------------------------------------------------

def test_make_runs_hints_work_as_printed(tmp_path):
    """What the demo prints to try "in another terminal" runs as printed, in a shell that
    knows nothing of the demo's environment: its socket (not the default here) included."""
    sock, state = tmp_path / "demo.sock", tmp_path / "demo-state"
    with socket.socket() as s:  # a free port for its HTTP gateway
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"PATH": os.environ["PATH"], "CITADEL_SOCKET": str(sock), "CITADEL_STATE_DIR": str(state),
           "CITADEL_LISTEN": f"127.0.0.1:{port}"}
    demo = subprocess.Popen(["sh", str(ROOT / "scripts/demo.sh"), str(BUILD)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        out, deadline = [], time.monotonic() + 120
        while time.monotonic() < deadline:
            line = demo.stdout.readline()
            assert line, "the demo ended early:\n" + "".join(out)
            out.append(line)
            if line.startswith("The monitor's log follows"):
                break
        text = "".join(out)
        assert f"serving on {sock}" in text and f"state in {state}" in text, text
        hints = text.split("in another terminal", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
        script = "\n".join(h for h in hints if "deploy mine" not in h)
        r = subprocess.run(["sh", "-ec", script], cwd=ROOT, capture_output=True, timeout=60,
                           env={"PATH": os.environ["PATH"]})
        assert r.returncode == 0, (script, r.stderr)
        assert b"Hello, you!" in r.stdout and b"hello" in r.stdout, r.stdout
        assert r.stdout.count(b"Hello, you!") == 2, r.stdout  # once over the socket, once over HTTP
        assert f"curl -s -d you http://127.0.0.1:{port}/function/hello" in text, text
        assert (state / "functions" / "hello").is_dir()
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGTERM)  # the demo stops its monitor
            try:
                demo.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait()


def test_the_readme_documents_what_make_run_reads():
    demo = (ROOT / "scripts/demo.sh").read_text()
    readme = (ROOT / "README.md").read_text()
    for var in sorted(set(re.findall(r"\$\{?(CITADEL_[A-Z_]+)", demo))):
        assert f"`{var}`" in readme, var


def test_functions_md_shows_every_deploy_option():
    """The deploy synopsis, the bounds and the manifest example in docs/functions.md cover
    every option `citadel deploy --help` describes."""
    doc = (ROOT / "docs/functions.md").read_text()
    synopsis = doc.split("## Deploying", 1)[1].split("```", 2)[1]
    bounds = doc.split("## Deploying", 1)[1].split("```", 2)[2].split("```json", 1)[0]
    example = json.loads(doc.split("```json", 1)[1].split("```", 1)[0])
    options = set(re.findall(r"^ {2}(--[a-z-]+)", help_text("deploy"), re.M)) - {"--manifest", "--socket", "--url"}
    # A Python function's own options are shown with Python functions.
    python = (ROOT / "docs/python.md").read_text()
    for opt in ("--handler", "--preload"):
        assert opt in options and f"`{opt}" in python and f'"{opt[2:]}"' in python, opt
    options -= {"--handler", "--preload"}
    for opt in sorted(options):
        assert opt in synopsis, opt
        key = opt[2:].replace("-", "_")
        # A bundle is an exec function's: its manifest key is shown with the exec runtime.
        assert key in example or opt == "--env" and "env" in example or \
            opt == "--bundle" and '"bundle": "' in doc.split("### Bundles", 1)[1], key
        if opt not in ("--fresh", "--env"):
            assert f"`{opt}`" in bounds, opt


def test_functions_md_states_the_pids_limit_as_it_is():
    doc = (ROOT / "docs/functions.md").read_text()
    assert "+ 8 tasks" not in doc and "after 6 threads" not in doc
    assert "task limit" not in doc
    row = next(l for l in doc.splitlines() if l.startswith("| limits |"))
    assert "`--pids`" in row and "256" in row and "`--max-instances` + 2" in row, row


# ---- 8. `citadel serve` runs the monitor, citadeld ------------------------------------------

CITADELD = BUILD / "citadeld"


def test_serve_becomes_citadeld_in_its_own_process(monitor):
    """`citadel serve` executes citadeld from beside it: the monitor keeps the pid the
    caller started (its signals and exit status are the monitor's) and shows the name it
    was run by."""
    m = monitor()
    assert os.readlink(f"/proc/{m.proc.pid}/exe") == str(CITADELD)
    argv = Path(f"/proc/{m.proc.pid}/cmdline").read_bytes().split(b"\0")
    assert argv[:2] == [b"citadel serve", b"--state-dir"], argv
    assert m.stop() == 0


def test_citadeld_runs_on_its_own(tmp_path):
    """citadeld is the whole monitor: run directly, it finds citadel-zygote beside itself
    and serves the CLI."""
    sock = tmp_path / "d.sock"
    log = open(tmp_path / "d.log", "wb")
    proc = subprocess.Popen([str(CITADELD), "--state-dir", str(tmp_path / "state"), "--socket", str(sock)],
                            stderr=log)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "d.log").read_text()
            time.sleep(0.02)
        r = cli("deploy", "echo", str(EXAMPLES / "echo.so"), sock=sock)
        assert r.returncode == 0, r.stderr
        assert cli("invoke", "echo", "--data", "direct", sock=sock).stdout == b"direct"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        log.close()


def test_citadeld_says_its_own_name():
    r = subprocess.run([str(CITADELD), "--frob"], capture_output=True, timeout=10)
    assert r.returncode == 2 and r.stderr == b"citadeld: unknown option '--frob'\nsee 'citadeld --help'\n", r.stderr
    r = subprocess.run([str(CITADEL), "serve", "--frob"], capture_output=True, timeout=10)
    assert r.returncode == 2 and r.stderr == b"citadel serve: unknown option '--frob'\nsee 'citadel serve --help'\n"
    direct = subprocess.run([str(CITADELD), "--help"], capture_output=True, text=True, timeout=10).stdout
    assert direct == help_text("serve") and re.search(r"^ +citadeld \[", direct, re.M), direct


def test_citadeld_tells_its_version_and_refuses_unclear_options(tmp_path):
    # Generous timeouts: what is checked is the answer, not the time (a shared CI machine
    # once took over 10 s to hand back the output of this one).
    r = run_captured([str(CITADELD), "--version"], text=True, timeout=60)
    version = run_captured([str(CITADEL), "version"], text=True, timeout=60).stdout.split()[-1]
    assert r.returncode == 0 and r.stdout == f"citadeld {version}\n", r
    # The same uid twice would keep one of the two silently.
    r = subprocess.run([str(CITADELD), "--peer-quota", "1000=2", "--peer-quota", "1000=8"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "--peer-quota for uid 1000 is given twice" in r.stderr, r.stderr
    # A number that is no gid is not told to run groupadd.
    r = subprocess.run([str(CITADELD), "--group", "99999999999", "--state-dir", str(tmp_path / "s"),
                        "--socket", str(tmp_path / "s.sock")], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "not a gid" in r.stderr and "groupadd" not in r.stderr, r.stderr


def test_serve_without_citadeld_beside_it_says_so(tmp_path):
    alone = tmp_path / "citadel"
    shutil.copy(CITADEL, alone)
    r = subprocess.run([str(alone), "serve", "--help"], capture_output=True, timeout=10)
    assert r.returncode == 1 and r.stdout == b"", r
    line = one_line(r)
    assert line.startswith("citadel serve: ") and str(tmp_path / "citadeld") in line and \
        "No such file" in line, line


def test_nothing_of_the_cli_is_in_the_trusted_base():
    """bench/tcb.sh counts what the linker took into citadeld: the monitor's code, the
    sandbox library; never the CLI, nor the manifest reader (JSON) it does not need."""
    r = subprocess.run([str(ROOT / "bench/tcb.sh"), "--files", str(BUILD)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    groups = {}
    for line in r.stdout.splitlines():
        group, _, path = line.split()[:3]
        groups.setdefault(group, set()).add(path)
    trusted = groups["monitor"] | groups["sandbox_and_common"]
    assert {"src/monitor/main.c", "src/monitor/monitor.c", "src/sandbox/launch.c", "src/spec/spec.c"} <= trusted
    assert not [f for f in trusted if f.startswith(("src/cli/", "src/zygote/"))], trusted
    assert not trusted & {"src/spec/draft.c", "src/spec/manifest.c", "src/sandbox/warm.c", "src/sandbox/run.c"}
    assert {"src/cli/cmd_fn.c", "src/spec/manifest.c", "src/sandbox/warm.c"} <= groups["cli_outside"]
    numbers = json.loads(subprocess.run([str(ROOT / "bench/tcb.sh"), "--json", str(BUILD)], capture_output=True,
                                        text=True, timeout=60, check=True).stdout)
    assert set(numbers) == {"monitor", "sandbox_and_common", "tcb", "runtime_untrusted", "cli_outside"}
    assert numbers["tcb"] == numbers["monitor"] + numbers["sandbox_and_common"] > 0
