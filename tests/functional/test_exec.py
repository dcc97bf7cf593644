"""The exec runtime: any program as a function (docs/functions.md, "Any program as a
function"). The programs are installed where a function's read-only view shows them (a
directory of the test's own under /opt), before the monitor makes its first exec zygote."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import BUILD, CITADEL, ROOT

EXAMPLES = ROOT / "examples" / "exec"


@pytest.fixture(scope="module")
def progs():
    os.makedirs("/opt", mode=0o755, exist_ok=True)  # a system directory of the view
    d = Path(tempfile.mkdtemp(prefix="citadel-exec-tests-", dir="/opt"))
    d.chmod(0o755)
    for f in EXAMPLES.iterdir():
        if f.suffix in (".sh", ".py"):
            shutil.copy2(f, d / f.name)
    shutil.copy2(BUILD / "examples" / "static_upper", d / "static_upper")
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Mon:
    def __init__(self, tmp):
        self.sock = str(tmp / "m.sock")
        self.state = tmp / "state"
        self.log = tmp / "m.log"
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([str(CITADEL), "serve", "--state-dir", str(tmp / "state"), "--socket", self.sock],
                                     stderr=self.logf)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            assert self.proc.poll() is None and time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.02)

    def cli(self, *args, input=None, timeout=60):
        # The socket right after the command: after a "--" it would be the program's.
        return subprocess.run([str(CITADEL), args[0], "--socket", self.sock, *args[1:]], input=input,
                              capture_output=True, timeout=timeout)

    def deploy(self, name, *command, opts=()):
        r = self.cli("deploy", name, *opts, "--", *command)
        assert r.returncode == 0, r.stderr
        return r

    def invoke(self, name, data=b""):
        return self.cli("invoke", name, input=data)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.logf.close()


@pytest.fixture(scope="module")
def mon(progs, tmp_path_factory):
    m = Mon(tmp_path_factory.mktemp("exec"))
    yield m
    m.stop()


def sleeps_of(needle):
    """Host pids of sandboxed processes (a sandbox's uid, 0x70000000 and up) whose command
    line holds needle."""
    found = []
    for e in os.listdir("/proc"):
        try:
            if not e.isdigit() or needle not in Path(f"/proc/{e}/cmdline").read_bytes():
                continue
            uid = next(int(l.split()[1]) for l in Path(f"/proc/{e}/status").read_text().splitlines()
                       if l.startswith("Uid:"))
            if uid >= 0x70000000:
                found.append(int(e))
        except (OSError, StopIteration):
            pass
    return found


def test_wc_counts_the_request(mon):
    mon.deploy("wc", "/usr/bin/wc", "-w")
    assert mon.invoke("wc", b"one two three\nfour").stdout.split() == [b"4"]
    assert mon.invoke("wc", b"").stdout.split() == [b"0"]


def test_a_python_script(mon, progs):
    mon.deploy("upper", "/usr/bin/python3", str(progs / "upper.py"))
    r = mon.invoke("upper", b"hello \xff world")
    assert r.returncode == 0 and r.stdout == b"HELLO \xff WORLD", r


def test_a_shell_script_logs_its_stderr(mon, progs):
    mon.deploy("count", "/bin/sh", str(progs / "count.sh"))
    assert mon.invoke("count", b"a b\nc\n").stdout == b"lines=2 words=3 bytes=6\n"
    assert b"counted 6 bytes" in mon.cli("logs", "count").stdout


def test_a_static_binary_and_a_large_request(mon, progs):
    mon.deploy("static", str(progs / "static_upper"))
    big = os.urandom(3 << 20).hex().encode()  # 6 MiB: a data object, written while read
    r = mon.invoke("static", big)
    assert r.returncode == 0 and r.stdout == big.upper()


def test_a_program_that_reads_all_before_writing(mon, progs):
    mon.deploy("slurp", "/bin/sh", str(progs / "slurp.sh"))
    lines = b"".join(b"line %d\n" % i for i in range(20000))  # more than a pipe holds
    r = mon.invoke("slurp", lines)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == b"got %d bytes" % (len(lines) - 1) and out[1] == b"line 19999" and out[-1] == b"line 0"


def test_an_exit_status_is_a_named_error(mon, progs):
    mon.deploy("exit3", "/bin/sh", str(progs / "exit3.sh"))
    r = mon.invoke("exit3", b"x")
    assert r.returncode == 1 and r.stdout == b""
    assert b"the program /bin/sh exited with status 3" in r.stderr, r.stderr
    assert b"exit3: refusing this request" in mon.cli("logs", "exit3").stdout


@pytest.mark.parametrize("script, says", [
    ("sleep 30 & exit 3", b"exited with status 3"),
    ("(sleep 31 &); exit 4", b"exited with status 4"),
    ("setsid sleep 32 & exit 5", b"exited with status 5"),
    ("sleep 33 & kill -SEGV $$", b"killed by signal 11 (SIGSEGV)"),
])
def test_a_failure_is_reported_whatever_the_program_left_running(mon, script, says):
    """The program's own status decides the call, however many processes it left behind
    (which are ended all the same)."""
    mon.deploy("leftfail", "/bin/sh", "-c", script)
    r = mon.invoke("leftfail")
    assert r.returncode == 1 and says in r.stderr, r


def test_a_signal_is_a_named_error(mon):
    mon.deploy("selfkill", "/bin/sh", "-c", "kill -SEGV $$")
    r = mon.invoke("selfkill")
    assert r.returncode == 1 and b"killed by signal 11 (SIGSEGV)" in r.stderr, r.stderr


def test_what_a_program_leaves_running_is_ended(mon, progs):
    mon.deploy("leaves", "/bin/sh", str(progs / "leaves_child.sh"))
    t0 = time.monotonic()
    r = mon.invoke("leaves")
    assert r.returncode == 0 and r.stdout == b"left two sleeps behind\n", r
    assert time.monotonic() - t0 < 5, "the call waited for what the program left"
    deadline = time.monotonic() + 5
    while sleeps_of(b"sleep\x003141") + sleeps_of(b"sleep\x003142") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sleeps_of(b"sleep\x003141") + sleeps_of(b"sleep\x003142")


def test_a_timeout_ends_the_program_and_its_children(mon):
    mon.deploy("hang", "/bin/sh", "-c", "sleep 3143 & sleep 3144", opts=("--timeout", "1s"))
    r = mon.invoke("hang")
    assert r.returncode == 1 and b"timed out after 1000 ms" in r.stderr, r.stderr
    deadline = time.monotonic() + 5
    while sleeps_of(b"sleep\x003143") + sleeps_of(b"sleep\x003144") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sleeps_of(b"sleep\x003143") + sleeps_of(b"sleep\x003144")


def test_output_over_the_limit_is_a_clear_error_and_a_larger_limit_passes(mon, progs):
    mon.deploy("flood", "/bin/sh", str(progs / "flood.sh"))
    r = mon.invoke("flood")
    assert r.returncode == 1 and b"exceeds the output limit of 16777216 bytes" in r.stderr, r.stderr
    mon.deploy("flood32", "/bin/sh", str(progs / "flood.sh"), opts=("--output-limit", "32M"))
    r = mon.invoke("flood32")
    assert r.returncode == 0 and len(r.stdout) == 20 << 20 and r.stdout.count(b"\0") == 20 << 20


def test_each_call_runs_afresh(mon):
    """No caller sees what an earlier call left: the private directory is new each time."""
    mon.deploy("fresh", "/bin/sh", "-c", "ls -A .; echo mark > left")
    assert mon.invoke("fresh").stdout == b""
    assert mon.invoke("fresh").stdout == b""


def test_processes_within_the_pids_limit(mon):
    mon.deploy("forks", "/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true & done; wait; echo ok",
               opts=("--pids", "20", "--max-instances", "2"))
    assert mon.invoke("forks").stdout == b"ok\n"
    # 100 children asked for, each to sleep: the function's processes stay within 20 (its
    # template, instances and their processes together), and forks past it fail.
    bomb = ("import os, time\nn = 0\nfor i in range(100):\n    try:\n        pid = os.fork()\n"
            "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(5)\n        os._exit(0)\n"
            "    n += 1\nprint(n)\n")
    mon.deploy("bomb", "/usr/bin/python3", "-c", bomb, opts=("--pids", "20", "--max-instances", "2"))
    r = mon.invoke("bomb")
    assert r.returncode == 0 and 1 <= int(r.stdout) < 20, r
    assert mon.invoke("forks").stdout == b"ok\n"  # the function's limit, not the machine's


def test_an_exec_instance_cannot_signal_its_template_or_siblings(mon):
    """Its signals are scoped to itself and its descendants: kill of its template (its
    parent's parent) and of every other process of the function fails."""
    mon.deploy("sig", "/bin/sh", "-c",
               "for p in $(ls /proc | grep -E '^[0-9]+$'); do kill -0 $p 2>/dev/null && echo $p; done | wc -l")
    # Only the shell itself and the pipeline's own processes answer kill -0 (3 or 4 of
    # them: sh, the subshell, wc, maybe a second subshell), never the template or init.
    n = int(mon.invoke("sig").stdout)
    assert 1 <= n <= 4, n


def test_the_measurement_covers_the_program(mon, progs, tmp_path):
    a = mon.deploy("m1", "/bin/sh", str(progs / "exit3.sh")).stdout
    b = mon.deploy("m2", "/bin/sh", str(progs / "exit3.sh")).stdout
    c = mon.deploy("m3", "/bin/dash", str(progs / "exit3.sh")).stdout
    d = mon.deploy("m4", "/bin/sh", str(progs / "count.sh")).stdout
    ma, mb, mc, md = (x.split(b"measurement ")[1] for x in (a, b, c, d))
    assert ma == mb  # the same program and arguments under another name
    assert len({ma, mc, md}) == 3


@pytest.mark.parametrize("args, says", [
    (["deploy", "x", "--", "wc"], b"must be an absolute path"),
    (["deploy", "x", "--runtime", "exec", "a.so"], b"program comes after --"),
    (["deploy", "x", "--runtime", "native", "--", "/usr/bin/wc"], b"is for --runtime exec"),
    (["deploy", "x", "--runtime", "python", "--", "/usr/bin/wc"], b"is for --runtime exec, not python"),
    (["deploy", "x", "--"], b"no program given"),
    (["deploy", "x", "--", "/nonexistent/prog"], b"not in the function's read-only view"),
    (["deploy", "x", "--", "/etc/passwd"], b"not an executable file"),
    (["deploy", "x", "--", "/root/x"], b"not in the function's read-only view"),
    (["deploy", "x", "--", "/proc/self/exe"], b"is under /proc, /dev or /sys"),
    (["deploy", "x", str(EXAMPLES / "upper.py")], b"--bundle DIR -- SCRIPT"),
    (["deploy", "x", "--max-instances", "4", "--pids", "6", "--", "/usr/bin/wc"], b"at least 10 (an exec call is two"),
    (["deploy", "x", "--", "/dev/null"], b"is under /proc, /dev or /sys"),
])
def test_bad_exec_deploys_are_refused_clearly(mon, args, says):
    r = mon.cli(*args)
    assert r.returncode in (1, 2) and says in r.stderr, r.stderr
    assert b"x " not in mon.cli("ls").stdout


def test_no_line_of_output_goes_unmarked_when_the_log_rotates(mon):
    """The log rotates at 1 MiB: a line of output cut by the rotation goes on in the new
    file under its mark, so no line there can pass for the monitor's."""
    prog = ("import sys, time\n"
            "d = sys.stdin.read()\n"
            "sys.stderr.write('A' * 1000000 if d == '1' else 'B' * 100000 + '\\nforged line\\n')\n")
    mon.deploy("rotating", "/usr/bin/python3", "-c", prog)
    assert mon.invoke("rotating", b"1").returncode == 0
    time.sleep(0.6)  # the log rate's bucket refills (256 KiB/s) for the second write
    assert mon.invoke("rotating", b"2").returncode == 0
    deadline = time.monotonic() + 30
    while b"forged line" not in (log := mon.cli("logs", "rotating").stdout) and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = log.split(b"\n")[:-1]
    assert b"output forged line" in lines, log[-300:]
    assert all(l.startswith((b"output ", b"debug ", b"info ", b"warn ", b"error ", b"citadel: ")) for l in lines), \
        [l[:40] for l in lines if not l.startswith(b"output ")]
    assert mon.cli("rm", "rotating").returncode == 0


def test_a_manifest_with_a_command(mon, tmp_path):
    m = tmp_path / "f.json"
    m.write_text('{"name": "mcat", "command": ["/bin/cat"], "timeout": "2s"}')
    assert mon.cli("deploy", "--manifest", str(m)).returncode == 0
    assert mon.invoke("mcat", b"via manifest").stdout == b"via manifest"
    m.write_text('{"name": "bad", "command": ["/bin/cat"], "code": "x.so"}')
    r = mon.cli("deploy", "--manifest", str(m))
    assert r.returncode == 2 and b'"code" and "command" together' in r.stderr, r.stderr
    # A mistake found after the file was read still names the file.
    m.write_text('{"name": "bad", "command": ["cat"]}')
    r = mon.cli("deploy", "--manifest", str(m))
    assert r.returncode == 2 and r.stderr.startswith(b"citadel deploy: " + bytes(m) + b": the program 'cat'"), \
        r.stderr


def test_exec_functions_survive_a_monitor_restart(progs, tmp_path):
    m = Mon(tmp_path)
    try:
        m.deploy("wc", "/usr/bin/wc", "-c")
        m.stop()
        m = Mon(tmp_path)
        assert m.invoke("wc", b"12345").stdout.split() == [b"5"]
    finally:
        if m.proc.poll() is None:
            m.stop()


def test_the_program_deployed_is_the_program_run(mon, progs, tmp_path):
    """An exec function's program is pinned at deploy: a template made later (a restart,
    a monitor restart) that finds other bytes fails the function with why, and never runs
    them or changes the measurement silently; a redeploy accepts the new program."""
    prog = progs / "pinned.sh"
    prog.write_text("#!/bin/sh\necho v1\n")
    prog.chmod(0o755)
    first = mon.deploy("pinned", str(prog)).stdout.split(b"measurement ")[1]
    assert mon.invoke("pinned").stdout == b"v1\n"
    with open(prog, "w") as f:  # in place: the same file, other bytes
        f.write("#!/bin/sh\necho v2-EVIL\n")
    assert mon.cli("restart", "pinned").returncode == 0
    r = mon.invoke("pinned")
    assert r.returncode == 1 and b"the program changed since it was deployed" in r.stderr, r
    assert r.stdout == b""
    assert mon.cli("ls").stdout.count(first[:16]) == 1  # the measurement shown is still the deployed one
    second = mon.deploy("pinned", str(prog)).stdout.split(b"measurement ")[1]
    assert second != first and mon.invoke("pinned").stdout == b"v2-EVIL\n"


def test_a_restored_exec_function_shows_its_measurement_before_its_first_call(progs, tmp_path):
    m = Mon(tmp_path)
    try:
        got = m.deploy("wc", "/usr/bin/wc", "-c").stdout.split(b"measurement ")[1].strip()
        m.stop()
        m = Mon(tmp_path)
        assert got[:16] in m.cli("ls").stdout  # known from the state directory, not the program
    finally:
        if m.proc.poll() is None:
            m.stop()


def test_a_script_sees_its_own_path_and_a_program_no_stray_fd(mon, progs):
    prog = progs / "whoami.sh"
    prog.write_text('#!/bin/sh\necho "$0"\n')
    prog.chmod(0o755)
    mon.deploy("whoami", str(prog))
    assert mon.invoke("whoami").stdout == str(prog).encode() + b"\n"
    mon.deploy("fds", "/usr/bin/ls", "/proc/self/fd")
    # stdin, stdout, stderr, and the directory ls reads: nothing of the runtime's
    assert sorted(mon.invoke("fds").stdout.split()) == [b"0", b"1", b"2", b"3"]


def test_a_script_whose_interpreter_is_missing_is_refused_at_deploy(mon, progs):
    prog = progs / "nointerp.sh"
    prog.write_text("#!/usr/local/bin/no-such-python\nprint(1)\n")
    prog.chmod(0o755)
    r = mon.cli("deploy", "nointerp", "--", str(prog))
    assert r.returncode == 1 and b"interpreter '/usr/local/bin/no-such-python'" in r.stderr, r.stderr


def test_a_call_that_fills_the_functions_memory_does_not_end_the_function(mon):
    """Files in an instance's private directory count against the function's memory and
    belong to no process: when they fill it, the kernel ends instances (each instance is
    its first choice), never the template or the sandbox's init, so the function goes on."""
    mon.deploy("filler", "/bin/sh", "-c",
               'read m; case $m in fill) head -c 100M /dev/zero > "$TMPDIR/f"; echo filled;; *) echo alive;; esac',
               opts=("--memory", "48M"))
    r = mon.invoke("filler", b"fill\n")
    assert r.returncode == 1, r
    # The dead instance's files are freed when its template removes its directory, just
    # after it ended: a call in between may find the memory still taken. The function
    # itself goes on: a call succeeds once they are gone.
    deadline = time.monotonic() + 30
    while (r := mon.invoke("filler", b"again\n")).returncode != 0 and time.monotonic() < deadline:
        assert b"exceeded its memory limit" in r.stderr, r
        time.sleep(0.1)
    assert r.returncode == 0 and r.stdout == b"alive\n", r
    assert b"failed" not in [l for l in mon.cli("ls").stdout.splitlines() if l.startswith(b"filler ")][0]


def test_an_exec_program_over_the_memory_limit_is_told_as_such(mon):
    mon.deploy("hog", "/usr/bin/python3", "-c", "b = bytearray(200 << 20); print(len(b))", opts=("--memory", "64M"))
    r = mon.invoke("hog")
    assert r.returncode == 1 and b"exceeded its memory limit (64 MiB)" in r.stderr, r.stderr
