"""citadel run as a user drives it: programs run, data flows in and out, statuses and
errors are what the README promises."""
import os
import signal
import socket
import subprocess
import threading

import pytest

from conftest import CITADEL, ROOT, citadel_run, umount_all

ROOT_B = str(ROOT).encode()


def test_true_and_false(citadel):
    assert citadel(["--", "/bin/true"]).returncode == 0
    assert citadel(["--", "/bin/false"]).returncode == 1


def test_echo_reaches_stdout(citadel):
    r = citadel(["--", "/bin/echo", "hello", "world"])
    assert r.returncode == 0 and r.stdout == b"hello world\n" and r.stderr == b""


def test_command_found_in_sandbox_path(citadel):
    r = citadel(["--", "echo", "via PATH"])
    assert r.returncode == 0 and r.stdout == b"via PATH\n"


def test_shell_pipeline(citadel):
    r = citadel(["--", "/bin/sh", "-c", "seq 1 1000 | grep 7 | wc -l"])
    assert r.returncode == 0 and r.stdout.strip() == b"271"


def test_python(citadel):
    r = citadel(["--", "/usr/bin/python3", "-c", "import json,sys; print(json.dumps({'n': sum(range(10))}))"])
    assert r.returncode == 0 and r.stdout == b'{"n": 45}\n'


@pytest.mark.parametrize("code", [0, 3, 42, 255])
def test_exit_code_is_the_programs(citadel, code):
    assert citadel(["--", "/bin/sh", "-c", f"exit {code}"]).returncode == code


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT])
def test_killed_by_signal_is_128_plus_n(citadel, sig):
    r = citadel(["--", "/bin/sh", "-c", f"kill -{int(sig)} $$"])
    assert r.returncode == 128 + sig


def test_stdin_passes_through(citadel):
    data = os.urandom(300000)
    r = citadel(["--", "/usr/bin/sha256sum"], input=data)
    import hashlib
    assert r.returncode == 0 and r.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_closed_stdin_stays_closed(tmp_path):
    r = subprocess.run([str(CITADEL), "run", "--output-limit", "0", "--", "/bin/sh", "-c", "cat; echo rc=$?"],
                       stdin=subprocess.DEVNULL, capture_output=True)
    assert r.returncode == 0 and r.stdout.endswith(b"rc=0\n")
    r = subprocess.run(f"{CITADEL} run -- /bin/sh -c 'read x; echo rc=$?' <&-", shell=True, capture_output=True)
    assert r.returncode == 0 and b"rc=" in r.stdout and b"rc=0" not in r.stdout, r.stderr


def test_binary_stdout_and_stderr_are_kept_apart(citadel):
    r = citadel(["--", "/bin/sh", "-c", "head -c 200000 /dev/zero; echo oops >&2"])
    assert r.stdout == b"\0" * 200000 and r.stderr == b"oops\n"


def test_unrelayed_output_passes_through(citadel):
    r = citadel(["--output-limit", "0", "--", "/bin/sh", "-c", "echo out; echo err >&2"])
    assert r.returncode == 0 and r.stdout == b"out\n" and r.stderr == b"err\n"


def test_environment_is_clean_by_default(citadel):
    r = citadel(["--", "/usr/bin/env"], env={"PATH": os.environ["PATH"], "SECRET_TOKEN": "x"})
    lines = set(r.stdout.decode().splitlines())
    assert "HOME=/tmp" in lines and any(l.startswith("PATH=") for l in lines)
    assert not any("SECRET_TOKEN" in l for l in lines) and len(lines) == 2


def test_env_set_and_copy(citadel):
    env = {"PATH": os.environ["PATH"], "FROM_HOST": "copied"}
    r = citadel(["--env", "A=1", "--env", "A=2", "--env", "FROM_HOST", "--env", "ABSENT", "--",
                 "/usr/bin/env"], env=env)
    lines = r.stdout.decode().splitlines()
    assert "A=2" in lines and "A=1" not in lines and "FROM_HOST=copied" in lines
    assert not any(l.startswith("ABSENT") for l in lines)


def test_cwd(citadel):
    r = citadel(["--cwd", "/usr/share", "--", "/bin/pwd"])
    assert r.stdout == b"/usr/share\n"


def test_missing_cwd_is_a_citadel_error(citadel):
    r = citadel(["--cwd", "/no/such/dir", "--", "/bin/true"])
    assert r.returncode == 125
    assert b"working directory" in r.stderr and r.stderr.count(b"\n") == 1


def user_dir(path, uid=1000):
    """A directory owned by an ordinary user, as a bind source the sandbox may use as
    that user (binds of root's files give the sandbox no access, by design)."""
    path.mkdir(exist_ok=True)
    os.chown(path, uid, uid)
    os.chmod(path, 0o700)
    return path


def test_rw_bind_persists_and_tmp_does_not(citadel, tmp_path):
    tmp_path = user_dir(tmp_path / "data")
    (tmp_path / "in.txt").write_text("from host\n")
    os.chown(tmp_path / "in.txt", 1000, 1000)
    r = citadel(["--rw", f"{tmp_path}:/data", "--", "/bin/sh", "-c",
                 "cat /data/in.txt; echo from sandbox > /data/out.txt; echo gone > /tmp/t"])
    assert r.returncode == 0 and r.stdout == b"from host\n"
    assert (tmp_path / "out.txt").read_text() == "from sandbox\n"
    r = citadel(["--", "/bin/cat", "/tmp/t"])
    assert r.returncode == 1, "a second run must not see the first run's /tmp"


def test_ro_bind_is_readable_not_writable(citadel, tmp_path):
    tmp_path = user_dir(tmp_path / "data")
    (tmp_path / "f").write_text("data\n")
    os.chown(tmp_path / "f", 1000, 1000)
    r = citadel(["--ro", f"{tmp_path}:/data", "--", "/bin/sh", "-c", "cat /data/f; echo x > /data/f"])
    assert r.stdout == b"data\n" and b"Read-only file system" in r.stderr
    assert (tmp_path / "f").read_text() == "data\n"


def test_ro_bind_of_a_single_file(citadel, tmp_path):
    (tmp_path / "conf").write_text("k=v\n")
    r = citadel(["--ro", f"{tmp_path}/conf:/app/app.conf", "--ro", f"{tmp_path}/conf:/etc/hostname",
                 "--", "/bin/cat", "/app/app.conf", "/etc/hostname"])
    assert r.returncode == 0 and r.stdout == b"k=v\nk=v\n"


def test_bind_destination_in_a_read_only_dir_must_exist(citadel, tmp_path):
    r = citadel(["--ro", f"{tmp_path}:/etc/newdir", "--", "/bin/true"])
    assert r.returncode == 125 and b"/etc/newdir does not exist" in r.stderr


def test_rw_bind_of_a_users_private_dir_acts_as_that_user(citadel, tmp_path):
    d = user_dir(tmp_path / "private")
    (d / "mine").write_text("alice's\n")
    os.chown(d / "mine", 1000, 1000)
    os.chmod(d / "mine", 0o600)
    r = citadel(["--rw", f"{d}:/data", "--", "/bin/sh", "-c",
                 "cat /data/mine; echo new > /data/made; chmod 4755 /data/made; stat -c %u /data/made"])
    assert r.returncode == 0 and r.stdout == b"alice's\n0\n", r.stderr
    st = os.stat(d / "made")
    assert (st.st_uid, st.st_gid) == (1000, 1000), "what the sandbox makes belongs to the bind's owner"


def test_rw_bind_of_root_owned_dir_gives_the_sandbox_no_root(citadel, tmp_path):
    """Regression: idmapping root-owned binds let the sandbox leave setuid-root programs."""
    d = tmp_path / "rootdir"
    d.mkdir(mode=0o777)
    os.chmod(d, 0o777)
    (d / "roots").write_text("root's\n")
    os.chmod(d / "roots", 0o644)
    r = citadel(["--rw", f"{d}:/data", "--", "/bin/sh", "-c",
                 "cp /bin/true /data/t; chmod 6755 /data/t; chmod 666 /data/roots; echo x >> /data/roots"])
    st = os.stat(d / "t")
    assert st.st_uid >= 0x70000000 and st.st_gid >= 0x70000000, "files the sandbox makes are not root's"
    assert (d / "roots").read_text() == "root's\n" and os.stat(d / "roots").st_mode & 0o777 == 0o644


def test_bind_does_not_expose_files_of_other_users(citadel, tmp_path):
    d = tmp_path / "shared"
    d.mkdir(mode=0o755)
    (d / "alice").write_text("alice's secret\n")
    os.chown(d / "alice", 1000, 1000)
    os.chmod(d / "alice", 0o600)
    r = citadel(["--rw", f"{d}:/data", "--", "/bin/cat", "/data/alice"])
    assert r.returncode == 1 and b"Permission denied" in r.stderr


def test_writes_outside_tmp_fail_with_erofs(citadel):
    r = citadel(["--", "/bin/sh", "-c", "for p in / /etc /usr/bin /var /dev; do touch $p/x 2>&1; done"])
    assert r.stdout.count(b"Read-only file system") == 5


def test_tmp_is_writable_and_size_limited(citadel):
    r = citadel(["--tmp-size", "1M", "--", "/bin/sh", "-c",
                 "head -c 500000 /dev/zero > /tmp/a && echo ok; head -c 2000000 /dev/zero > /tmp/b"])
    assert b"ok" in r.stdout and b"No space left on device" in r.stderr


def test_root_dir(citadel, tmp_path):
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    os.link("/bin/busybox", root / "bin" / "busybox") if os.stat("/bin/busybox").st_dev == os.stat(tmp_path).st_dev \
        else subprocess.run(["cp", "/bin/busybox", str(root / "bin" / "busybox")], check=True)
    (root / "hello.txt").write_text("inside the root\n")
    r = citadel(["--root", str(root), "--env", "PATH=/bin", "--", "/bin/busybox", "sh", "-c",
                 "/bin/busybox cat /hello.txt; /bin/busybox ls /"])
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "inside the root" in out and "usr" not in out.split()


def test_hostname_and_pid_namespace(citadel):
    r = citadel(["--", "/bin/sh", "-c", "hostname; echo $$; ls /proc | grep -c '^[0-9]'"])
    host, pid, nprocs = r.stdout.decode().split()
    assert host == "citadel" and int(pid) == 2 and int(nprocs) <= 4


def test_network_is_loopback_only_unless_granted(citadel):
    r = citadel(["--", "/usr/bin/python3", "-c", "import socket; print([n for _, n in socket.if_nameindex()])"])
    assert r.stdout == b"['lo']\n"
    import socket
    r = citadel(["--net", "host", "--", "/usr/bin/python3", "-c",
                 "import socket; print(sorted(n for _, n in socket.if_nameindex()))"])
    assert r.returncode == 0 and r.stdout.decode().strip() == str(sorted(n for _, n in socket.if_nameindex()))


def test_loopback_works_inside(citadel):
    prog = ("import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); "
            "c=socket.create_connection(s.getsockname()); a,_=s.accept(); c.sendall(b'ping'); print(a.recv(4))")
    r = citadel(["--", "/usr/bin/python3", "-c", prog])
    assert r.stdout == b"b'ping'\n"


def test_no_capabilities_and_no_new_privs(citadel):
    r = citadel(["--", "/bin/grep", "-E", "^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|Seccomp):", "/proc/self/status"])
    fields = dict(l.split(":\t") for l in r.stdout.decode().splitlines())
    assert fields["CapEff"] == fields["CapPrm"] == fields["CapBnd"] == fields["CapAmb"] == "0000000000000000"
    assert fields["NoNewPrivs"] == "1" and fields["Seccomp"] == "2"


def test_user_namespace_quotas_are_lowered_for_good(citadel):
    """The sandbox's own user namespace quotas (src/sandbox/ucounts.c): inotify bounded,
    no namespaces or fanotify groups at all, and the program cannot raise them."""
    r = citadel(["--", "/bin/sh", "-c", "grep . /proc/sys/user/*; echo 1000000 > /proc/sys/user/max_inotify_watches"])
    quotas = dict(l.removeprefix("/proc/sys/user/").split(":") for l in r.stdout.decode().splitlines())
    assert quotas.pop("max_inotify_instances") == "32" and quotas.pop("max_inotify_watches") == "8192"
    assert quotas and all(v == "0" for v in quotas.values()), quotas
    assert r.returncode != 0 and b"max_inotify_watches" in r.stderr


def test_root_inside_is_unprivileged_outside(citadel):
    r = citadel(["--", "/bin/sh", "-c", "id -u; cat /proc/self/uid_map"])
    uid, inside, outside, count = r.stdout.decode().split()
    assert uid == "0" and inside == "0" and int(outside) >= 0x70000000 and count == "1"


def test_not_found_and_not_executable(citadel):
    r = citadel(["--", "no-such-command"])
    assert r.returncode == 127 and b"not found" in r.stderr
    r = citadel(["--", "/no/such/file"])
    assert r.returncode == 127
    r = citadel(["--", "/etc/passwd"])
    assert r.returncode == 126 and b"Permission denied" in r.stderr


def test_cold_and_warm_runs_behave_alike(citadel):
    env = {"PATH": os.environ["PATH"]}
    cold = citadel(["--", "/bin/sh", "-c", "echo $0 $HOME; ls /; exit 9"], env={**env, "CITADEL_WARM": "0"})
    warm = [citadel(["--", "/bin/sh", "-c", "echo $0 $HOME; ls /; exit 9"], env=env) for _ in range(3)]
    for r in warm:
        assert (r.returncode, r.stdout, r.stderr) == (cold.returncode, cold.stdout, cold.stderr)


def test_warm_sandboxes_are_never_reused(citadel):
    """A file left in /tmp by one run is never seen by the next, warm or not."""
    for _ in range(6):
        r = citadel(["--", "/bin/sh", "-c", "ls /tmp; touch /tmp/left-behind"])
        assert r.returncode == 0 and r.stdout == b""


def test_timeout_is_124(citadel):
    r = citadel(["--timeout", "0.3", "--", "/bin/sleep", "10"])
    assert r.returncode == 124 and b"timed out" in r.stderr


def test_timeout_kills_background_children(citadel, tmp_path):
    tmp_path = user_dir(tmp_path / "out")
    r = citadel(["--timeout", "0.5", "--rw", f"{tmp_path}:/out", "--", "/bin/sh", "-c",
                 "(sleep 2; echo late > /out/late) & sleep 10"])
    assert r.returncode == 124
    import time
    time.sleep(2.5)
    assert not (tmp_path / "late").exists()


def test_output_limit(citadel):
    r = citadel(["--output-limit", "10000", "--", "/bin/sh", "-c", "yes"])
    assert r.returncode == 153 and len(r.stdout) == 10000 and b"output limit" in r.stderr


def test_signal_to_citadel_reaches_the_program(tmp_path):
    p = subprocess.Popen([str(CITADEL), "run", "--", "/bin/sh", "-c",
                          "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"ready\n"
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=10)
    assert out == b"got TERM\n" and p.returncode == 7


@pytest.mark.parametrize("args,msg", [
    (["--memory", "lots", "--", "/bin/true"], b"--memory"),
    (["--timeout", "-1", "--", "/bin/true"], b"--timeout"),
    (["--net", "bridge", "--", "/bin/true"], b"--net"),
    (["--ro", "/x:relative", "--", "/bin/true"], b"absolute"),
    (["--ro", "/etc:/x/../y", "--", "/bin/true"], b"'..'"),
    (["--ro", "/no/such/path", "--", "/bin/true"], b"/no/such/path"),
    (["--ro", "no-such-relative-path", "--", "/bin/true"], ROOT_B + b"/no-such-relative-path"),
    (["--frobnicate", "--", "/bin/true"], b"unknown option '--frobnicate'"),
    (["--memory"], b"option '--memory' needs a value"),
    ([], b"no command"),
])
def test_bad_options_are_clear_errors(citadel, args, msg):
    r = subprocess.run([str(CITADEL), "run", *args], capture_output=True, cwd=ROOT, timeout=60)
    assert r.returncode == 125 and msg in r.stderr, r.stderr
    assert all(line.startswith((b"citadel run: ", b"see 'citadel run --help'")) for line in r.stderr.splitlines()), \
        r.stderr


def test_help(citadel):
    r = subprocess.run([str(CITADEL), "run", "--help"], capture_output=True)
    assert r.returncode == 0 and b"usage: citadel run" in r.stdout and b"--memory" in r.stdout
    for status in (b"124", b"125", b"126", b"127", b"137", b"152", b"153", b"159"):
        assert status in r.stdout, f"run --help does not explain exit status {status}"
    assert b"-t, --tty" in r.stdout and b"-T, --no-tty" in r.stdout
    r = subprocess.run([str(CITADEL), "--help"], capture_output=True)
    assert r.returncode == 0 and b"run" in r.stdout
    r = subprocess.run([str(CITADEL), "nonsense"], capture_output=True)
    assert r.returncode == 2 and b"unknown command" in r.stderr


def _hierarchies():
    """The cgroup hierarchies Citadel makes its cgroups in (src/sandbox/cgroup.c): cgroup v2
    when the unified hierarchy holds the memory and pids controllers, else v1's memory and
    pids hierarchies. (controller in /proc/PID/cgroup, mount point)"""
    for v2 in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        try:
            ctls = open(f"{v2}/cgroup.controllers").read().split()
        except OSError:
            continue
        if v2 == "/sys/fs/cgroup" or ("memory" in ctls and "pids" in ctls):
            return [("", v2)]
    return [("memory", "/sys/fs/cgroup/memory"), ("pids", "/sys/fs/cgroup/pids")]


def _cgroup_dirs_of(pid):
    """The cgroup directories of a process in the hierarchies Citadel uses, as the host
    sees them (its /proc/PID/cgroup is relative to our cgroup namespace, not its own)."""
    dirs = []
    for line in open(f"/proc/{pid}/cgroup").read().splitlines():
        _, ctls, path = line.split(":", 2)
        for ctl, mount in _hierarchies():
            if ctls == ctl or (ctl and ctl in ctls.split(",")):
                dirs.append(mount + path.rstrip("/"))
    return [d for d in dirs if os.path.isdir(d)]


def _own_cgroup_dirs():
    """The cgroup directories our sandboxes are made in: beneath this process's own cgroup in
    each hierarchy Citadel uses. Other sessions' cgroups on a shared machine are not ours."""
    return _cgroup_dirs_of(os.getpid())


@pytest.mark.parametrize("warm", ["1", "0"])
def test_many_runs_leave_no_cgroups_or_processes(warm):
    """Every run's cgroups go once its processes are gone. A warm sandbox's are removed by
    its pool keeper right after the run, so allow it a moment. Only this test's runs are
    looked at: each run's program is found by a marker while it runs, and its cgroups are
    read from its /proc entry (the hierarchy is shared with every other session here)."""
    import time
    env = {"PATH": os.environ["PATH"], "CITADEL_WARM": warm}
    made = set()
    for i in range(5):
        marker = f"citadel-leak-{os.getpid()}-{warm}-{i}"
        p = subprocess.Popen([str(CITADEL), "run", "--", "/bin/sh", "-c", "echo up; read x; exit 0", marker],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        assert p.stdout.readline() == b"up\n"
        for pid in _sandboxed_processes_running(marker.encode()):
            made.update(d for d in _cgroup_dirs_of(pid) if os.path.basename(d).startswith("citadel-"))
        p.stdin.close()
        assert p.wait(timeout=30) == 0
        assert _sandboxed_processes_running(marker.encode()) == []
    assert len(made) >= 5, made  # a memory and a pids cgroup per run, at least
    deadline = time.monotonic() + 30
    while [d for d in made if os.path.exists(d)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [d for d in made if os.path.exists(d)] == []


def _sandboxed_processes_running(marker):
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if marker in f.read():
                        found.append(int(d))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("warm", ["1", "0"])
def test_killing_citadel_kills_the_sandbox(warm):
    """The supervisor's death (even SIGKILL) ends every process of its sandbox."""
    import time
    marker = f"31.{os.getpid()}{warm}".encode()
    p = subprocess.Popen([str(CITADEL), "run", "--", "/bin/sh", "-c", f"echo up; sleep {marker.decode()}"],
                         stdout=subprocess.PIPE, env={"PATH": os.environ["PATH"], "CITADEL_WARM": warm})
    assert p.stdout.readline() == b"up\n"
    assert _sandboxed_processes_running(marker)
    p.kill()
    p.wait()
    deadline = time.monotonic() + 5
    while _sandboxed_processes_running(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sandboxed_processes_running(marker) == []


@pytest.mark.parametrize("warm", ["1", "0"])
def test_a_program_that_exits_at_once_is_always_reaped(warm):
    """Regression: init lost SIGCHLD when the program exited before init was ready to wait,
    and the run hung until its timeout."""
    env = {"PATH": os.environ["PATH"], "CITADEL_WARM": warm}
    statuses = [subprocess.run([str(CITADEL), "run", "--timeout", "20", "--", "/bin/true"], env=env).returncode
                for _ in range(60)]
    assert statuses == [0] * 60


def test_a_failed_step_is_always_explained(citadel, tmp_path):
    """Regression: when init failed before the supervisor's last setup message reached it,
    the supervisor's socket reported ECONNRESET once and the explanation was dropped."""
    for _ in range(80):
        r = citadel(["--ro", f"{tmp_path}:/etc/newdir", "--", "/bin/true"])
        assert r.returncode == 125 and b"sandbox step 'filesystem view' failed" in r.stderr, r.stderr


def test_a_link_in_a_bind_source_does_not_lend_its_targets_owner(citadel, tmp_path):
    """Regression: a run could plant alice/input -> bob's home in a --rw dir; a later run
    binding alice/input was idmapped to bob and read his private files."""
    alice = user_dir(tmp_path / "alice", 1000)
    bob = user_dir(tmp_path / "bob", 1001)
    (bob / "secret").write_text("bob's key\n")
    os.chown(bob / "secret", 1001, 1001)
    os.chmod(bob / "secret", 0o600)
    r = citadel(["--rw", f"{alice}:/out", "--", "/bin/ln", "-s", str(bob), "/out/input"])
    assert r.returncode == 0, r.stderr
    r = citadel(["--ro", f"{alice}/input:/in", "--", "/bin/cat", "/in/secret"])
    assert r.returncode != 0 and b"bob's key" not in r.stdout


def test_sandbox_quotas_are_not_host_roots():
    """Regression: the sandbox's user namespace was owned by root, so per-user kernel
    quotas (inotify instances here) used inside were taken from host root's."""
    import ctypes
    import time
    prog = ("import ctypes, sys, time\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "fds = []\n"
            "while len(fds) < 100000 and (fd := libc.inotify_init1(0)) >= 0:\n"
            "    fds.append(fd)\n"
            "print(len(fds), flush=True)\n"
            "time.sleep(3)\n")
    p = subprocess.Popen([str(CITADEL), "run", "--nofile", "100000", "--", "/usr/bin/python3", "-c", prog],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    held = int(p.stdout.readline())
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(0)
    try:
        assert held > 0 and fd >= 0, f"host root could not get an inotify instance while a sandbox held {held}"
    finally:
        if fd >= 0:
            os.close(fd)
        p.wait(timeout=30)


@pytest.mark.parametrize("warm", ["1", "0"])
def test_init_shows_no_command_line(tmp_path, warm):
    """/proc/1/cmdline is readable by the program: it must not show citadel's arguments
    (host paths of binds, a secret on the command line), cold or warm."""
    env = {"PATH": os.environ["PATH"], "CITADEL_WARM": warm}
    r = subprocess.run([str(CITADEL), "run", "--env", "K=secret-arg", "--", "/bin/cat", "/proc/1/cmdline"],
                       env=env, capture_output=True)
    assert r.returncode == 0 and b"secret-arg" not in r.stdout and b"run" not in r.stdout.split(b"\0")
    r = subprocess.run([str(CITADEL), "run", "--ro", f"{tmp_path}:/x", "--", "/bin/cat", "/proc/1/cmdline"],
                       env=env, capture_output=True)
    assert r.returncode == 0 and str(tmp_path).encode() not in r.stdout


# ---- host sockets, relative binds, the working directory -----------------------------------

def unix_server(path):
    """A host daemon's socket at path: mode 0777, answering "pong" to whoever connects."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    os.chmod(path, 0o777)
    srv.listen(4)

    def serve():
        try:
            conn, _ = srv.accept()
            conn.sendall(b"pong")
            conn.close()
        except OSError:
            pass
    threading.Thread(target=serve, daemon=True).start()
    return srv


CONNECT = ("import socket,sys; s=socket.socket(socket.AF_UNIX)\n"
           "try: s.connect(sys.argv[1]); print(s.recv(4).decode())\n"
           "except OSError as e: print(e.strerror)")


def test_allow_socket_grants_one_host_socket(citadel, tmp_path):
    tmp_path.chmod(0o755)
    srv = unix_server(tmp_path / "daemon.sock")
    try:
        r = citadel(["--ro", str(tmp_path), "--", "/usr/bin/python3", "-c", CONNECT, str(tmp_path / "daemon.sock")])
        assert r.returncode == 0 and r.stdout == b"Connection refused\n", r
        r = citadel(["--allow-socket", f"{tmp_path}/daemon.sock:/run/daemon.sock", "--", "/usr/bin/python3", "-c",
                     CONNECT, "/run/daemon.sock"])
        assert r.returncode == 0 and r.stdout == b"pong\n", r
    finally:
        srv.close()


def test_allow_socket_inside_a_read_only_view(citadel, tmp_path):
    """The granted socket sits at its own path inside the view that refuses the others."""
    tmp_path.chmod(0o755)
    srv = unix_server(tmp_path / "granted.sock")
    other = unix_server(tmp_path / "other.sock")
    try:
        script = CONNECT.replace("sys.argv[1]", "p") .replace("try:", "for p in sys.argv[1:]:\n try:").replace(
            "\nexcept", "\n except")
        r = citadel(["--ro", str(tmp_path), "--allow-socket", str(tmp_path / "granted.sock"), "--",
                     "/usr/bin/python3", "-c", script, str(tmp_path / "granted.sock"), str(tmp_path / "other.sock")])
        assert r.returncode == 0 and r.stdout == b"pong\nConnection refused\n", r
    finally:
        srv.close()
        other.close()


def test_a_socket_is_bound_only_by_allow_socket(citadel, tmp_path):
    srv = unix_server(tmp_path / "daemon.sock")
    try:
        r = citadel(["--ro", str(tmp_path / "daemon.sock"), "--", "/bin/true"])
        assert r.returncode == 125 and b"--allow-socket" in r.stderr, r.stderr
        r = citadel(["--allow-socket", str(tmp_path), "--", "/bin/true"])
        assert r.returncode == 125 and b"--allow-socket" in r.stderr and b"socket" in r.stderr, r.stderr
    finally:
        srv.close()


def test_sockets_of_the_programs_own_still_work(citadel):
    script = ("import socket,os\n"
              "s=socket.socket(socket.AF_UNIX); s.bind('/tmp/own.sock'); s.listen(1)\n"
              "c=socket.socket(socket.AF_UNIX); c.connect('/tmp/own.sock'); a,_=s.accept(); a.sendall(b'ok')\n"
              "print(c.recv(2).decode())")
    r = citadel(["--", "/usr/bin/python3", "-c", script])
    assert r.returncode == 0 and r.stdout == b"ok\n", r


def test_mounts_below_a_bind_are_shown_read_only(citadel, tmp_path):
    """A tree's own mounts (a tmpfs, a file mounted on its own as containers mount
    /etc/resolv.conf) are part of what a read-only bind shows; where the sandbox cannot
    reach a mount point, the mount is left out and the run goes on."""
    tmp_path.chmod(0o755)
    (tmp_path / "closed").mkdir(mode=0o700)
    (tmp_path / "closed" / "m").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "f").write_bytes(b"underneath\n")
    (tmp_path / "mounted-file").write_bytes(b"mounted on top\n")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "citadel-test", str(tmp_path / "sub")], check=True)
    try:
        (tmp_path / "sub" / "inner").write_bytes(b"in the submount\n")
        subprocess.run(["mount", "--bind", str(tmp_path / "mounted-file"), str(tmp_path / "f")], check=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "citadel-test", str(tmp_path / "closed" / "m")],
                       check=True)
        try:
            r = citadel(["--ro", f"{tmp_path}:/t", "--", "/bin/sh", "-c",
                         "cat /t/sub/inner /t/f; echo x > /t/sub/inner || echo read-only"])
            alone = citadel(["--ro", f"{tmp_path}/f:/g", "--", "cat", "/g"])
        finally:
            umount_all([tmp_path / "f", tmp_path / "closed" / "m"])
    finally:
        umount_all([tmp_path / "sub"])
    assert r.stdout.startswith(b"in the submount\nmounted on top\n") and r.stdout.endswith(b"read-only\n"), r
    assert alone.returncode == 0 and alone.stdout == b"mounted on top\n", alone


@pytest.mark.parametrize("cwd,args,inside", [
    ("{tmp}/a/b", ["--ro", ".:/src"], "/src"),
    ("{tmp}/a/b", ["--ro", "..:/src"], "/src/b"),
    ("{tmp}/a", ["--rw", "./b"], "/"),   # a is not visible inside, only b
    ("{tmp}/a/b", ["--ro", "{tmp}/a:/x", "--ro", "{tmp}/a/b:/y"], "/y"),
    ("/usr/share", [], "/usr/share"),
    ("{tmp}/a/b", [], "/"),
    ("{tmp}/a/b", ["--cwd", "/tmp"], "/tmp"),
])
def test_relative_binds_and_the_default_working_directory(tmp_path, cwd, args, inside):
    """Bind sources may be relative to the caller's directory, as with bwrap; the program
    starts where the caller's directory is visible inside, else in /."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    fill = {"tmp": str(tmp_path)}
    r = subprocess.run([str(CITADEL), "run", *[a.format(**fill) for a in args], "--", "/bin/sh", "-c", "pwd"],
                       capture_output=True, cwd=cwd.format(**fill), env={"PATH": os.environ["PATH"]}, timeout=60)
    expected = inside.format(**fill)
    assert r.returncode == 0 and r.stdout.decode().strip() == expected, r


def test_not_root_is_one_clear_line(tmp_path):
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(CITADEL), "run", "--",
                        "/bin/true"], capture_output=True, timeout=60, cwd="/")
    assert r.returncode == 125, r
    assert r.stderr.count(b"\n") == 1 and b"needs root" in r.stderr, r.stderr


def test_var_holds_only_tmp(citadel):
    r = citadel(["--", "/bin/sh", "-c", "ls -A /var; readlink /var/tmp"])
    assert r.returncode == 0 and r.stdout == b"tmp\n../tmp\n", r


# ---- warm sandboxes with binds -----------------------------------------------------------

def served_warm(r):
    """Whether a run of `cat /proc/1/cmdline; ...` was served by a warm sandbox: its init
    is a keeper's child (`citadel __keeper`), not a copy of the run's own citadel."""
    return r.stdout.startswith(b"citadel\0__keeper\0")


def run_until_warm(args, script, tries=40):
    """Runs script (after printing init's command line) until a run is served warm;
    returns that run's output after the command line, or fails."""
    import time
    for _ in range(tries):
        r = citadel_run([*args, "--", "/bin/sh", "-c", "cat /proc/1/cmdline; " + script], input=b"")
        assert r.returncode == 0, r
        if served_warm(r):
            return r.stdout.split(b"\0", 2)[2]
        time.sleep(0.1)
    pytest.fail(f"no run of {args} was served warm")


def test_runs_with_binds_start_warm_and_see_their_binds(tmp_path):
    src = tmp_path / "src"
    out = user_dir(tmp_path / "out")
    src.mkdir(mode=0o755)
    (src / "input").write_bytes(b"read me\n")
    args = ["--ro", f"{src}:/in", "--rw", f"{out}:/out"]
    seen = run_until_warm(args, "cat /in/input; echo written > /out/result; ls /tmp")
    assert seen == b"read me\n"
    assert (out / "result").read_bytes() == b"written\n"


def test_a_replaced_bind_source_is_never_served_from_the_old_pool(tmp_path):
    """A parked sandbox shows the objects its binds named when it was made: once a source
    path names another object (replaced, or given to another owner), a run must see the
    new one, so it cannot be served by the old pool."""
    src = tmp_path / "src"
    src.mkdir(mode=0o755)
    (src / "version").write_bytes(b"1\n")
    args = ["--ro", f"{src}:/in"]
    assert run_until_warm(args, "cat /in/version") == b"1\n"
    src.rename(tmp_path / "old")
    src.mkdir(mode=0o755)
    (src / "version").write_bytes(b"2\n")
    for _ in range(3):
        r = citadel_run([*args, "--", "/bin/cat", "/in/version"], input=b"")
        assert r.returncode == 0 and r.stdout == b"2\n", r
    assert run_until_warm(args, "cat /in/version") == b"2\n"
    os.chown(src, 4242, 4242)  # another owner: the sandbox would act as another user
    for _ in range(3):
        r = citadel_run([*args, "--", "/bin/sh", "-c", "stat -c %u /in"], input=b"")
        assert r.returncode == 0 and r.stdout == b"0\n", r  # idmapped: the owner is the sandbox's root


def test_a_copied_file_is_never_served_stale(tmp_path):
    """A file mounted on its own is shown as a copy made with the sandbox: once the host
    file changes (in place: the same inode, the same mount), no run sees the old bytes,
    however warm."""
    import time
    tree = tmp_path / "tree"
    tree.mkdir(mode=0o755)
    (tree / "conf").write_bytes(b"beneath\n")
    real = tmp_path / "real"
    real.write_bytes(b"version 1\n")
    real.chmod(0o644)
    subprocess.run(["mount", "--bind", str(real), str(tree / "conf")], check=True)
    try:
        args = ["--ro", f"{tree}:/t"]
        assert run_until_warm(args, "cat /t/conf") == b"version 1\n"
        time.sleep(0.3)  # parked: sandboxes holding a copy of version 1
        with open(real, "r+b") as f:
            f.write(b"version 2\n")
        for _ in range(3):
            r = citadel_run([*args, "--", "/bin/cat", "/t/conf"], input=b"")
            assert r.returncode == 0 and r.stdout == b"version 2\n", r
        assert run_until_warm(args, "cat /t/conf") == b"version 2\n"
    finally:
        umount_all([tree / "conf"])


def test_pools_are_bounded_and_the_least_recently_used_goes(tmp_path):
    """Each configuration tried gets a pool, but at most CIT_WARM_POOLS (8) are kept per
    executable: trying many limits or binds leaves no more than that many keepers, and a
    new configuration makes the least recently used pool retire."""
    import shutil
    import time
    from conftest import keepers
    copy = tmp_path / "citadel"
    shutil.copy(CITADEL, copy)

    def run(i):
        r = subprocess.run([str(copy), "run", "--memory", f"{64 + i}M", "--", "/bin/true"], stdin=subprocess.DEVNULL,
                           capture_output=True, env={"PATH": os.environ["PATH"]}, timeout=60)
        assert r.returncode == 0, r

    def kept():
        return [pid for pid, exe in keepers().items() if exe.startswith(str(copy))]
    for i in range(12):
        run(i)
    # A run's keeper starts after the run, and the one it asks to retire takes a moment
    # more (on a busy machine, longer): the bound holds once the count is steady.
    steady, counts = 0, []
    for _ in range(200):
        counts.append(len(kept()))
        steady = steady + 1 if 1 <= counts[-1] <= 8 else 0
        if steady == 10:
            break
        time.sleep(0.1)
    assert steady == 10, counts

# ---- terminals ---------------------------------------------------------------------------

class Terminal:
    """A pty the test owns, with a process on it as its session leader (the pty its
    controlling terminal, as a login shell's): stdin, stdout and stderr are the pty unless
    given. Every wait is bounded."""

    def __init__(self, argv, *, rows=33, cols=101, stdin=None, stdout=None, stderr=None, env=None):
        import fcntl
        import pty
        import struct
        import termios
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.modes = termios.tcgetattr(self.slave)
        self.screen = b""
        self.start = self.now()  # before the process can change anything

        def take_ctty():
            fcntl.ioctl(self.slave, termios.TIOCSCTTY, 0)

        io = {"stdin": stdin, "stdout": stdout, "stderr": stderr}
        self.proc = subprocess.Popen(argv, **{k: self.slave if v is None else v for k, v in io.items()},
                                     start_new_session=True, preexec_fn=take_ctty,
                                     env=env if env is not None else {"PATH": os.environ["PATH"]})

    def read(self, seconds):
        """Reads what the pty shows for up to `seconds` (less once the process is gone)."""
        import select
        import time
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    self.screen += os.read(self.master, 65536)
                except OSError:
                    return
            elif self.proc.poll() is not None:
                return

    def expect(self, pattern, seconds=10):
        """Waits for pattern (bytes) on the screen; returns the screen up to its end and
        forgets it, so that the next expect looks further on."""
        import time
        end = time.monotonic() + seconds
        while pattern not in self.screen and time.monotonic() < end:
            self.read(min(0.1, max(0.0, end - time.monotonic())))
        assert pattern in self.screen, f"{pattern!r} not shown within {seconds}s; the screen: {self.screen!r}"
        cut = self.screen.index(pattern) + len(pattern)
        seen, self.screen = self.screen[:cut], self.screen[cut:]
        return seen

    def type(self, keys):
        os.write(self.master, keys)

    def wait(self, seconds=20):
        """Reads until the process exits; returns its status."""
        import time
        end = time.monotonic() + seconds
        while self.proc.poll() is None and time.monotonic() < end:
            self.read(0.1)
        self.read(0.2)
        assert self.proc.poll() is not None, f"still running after {seconds}s; the screen: {self.screen!r}"
        return self.proc.returncode

    def now(self):
        """The terminal's state: line discipline, modes, window size."""
        import fcntl
        import struct
        import termios
        ldisc = struct.unpack("i", fcntl.ioctl(self.slave, termios.TIOCGETD, b"\0" * 4))[0]
        size = struct.unpack("HHHH", fcntl.ioctl(self.slave, termios.TIOCGWINSZ, b"\0" * 8))[:2]
        return ldisc, termios.tcgetattr(self.slave), size

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def terminal():
    """terminal(argv, **kw) starts argv in a pty of the test's; all are closed at the end."""
    made = []

    def start(argv, **kw):
        made.append(Terminal(argv, **kw))
        return made[-1]
    yield start
    for t in made:
        t.close()


def run_in(terminal, args, **kw):
    return terminal([str(CITADEL), "run", *args], **kw)


def test_terminal_is_the_sandboxs_own_pty(terminal):
    t = run_in(terminal, ["--", "/bin/sh", "-c", "tty; test -t 0 -a -t 1 -a -t 2 && echo all-three; ls /dev/pts"])
    assert t.wait() == 0
    lines = t.screen.decode().split("\r\n")
    assert lines[0] == "/dev/pts/0" and lines[1] == "all-three", t.screen
    # Only the sandbox's own devpts instance: no path to the caller's terminal.
    assert lines[2].split() == ["0", "ptmx"], t.screen


def test_terminal_modes_come_back_and_raw_meanwhile(terminal):
    import termios
    t = run_in(terminal, ["--", "/bin/sh", "-c", "echo ready; read x"])  # until told to end
    t.expect(b"ready")
    during = t.now()[1]
    assert not during[3] & (termios.ICANON | termios.ECHO | termios.ISIG), "the caller's terminal is not raw"
    t.type(b"\r")
    assert t.wait() == 0
    assert t.now() == t.start


def test_ctrl_c_reaches_the_program_through_its_terminal(terminal):
    t = run_in(terminal, ["--", "/bin/sh", "-c", "echo ready; exec sleep 30"])
    t.expect(b"ready")
    t.type(b"\x03")
    assert t.wait(10) == 130
    assert t.now() == t.start


def test_window_size_is_the_callers_and_follows_it(terminal):
    import fcntl
    import struct
    import termios
    t = run_in(terminal, ["--", "/bin/sh", "-c",
                          "stty size; trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.05; done"],
               rows=33, cols=101)
    assert b"33 101\r\n" in t.expect(b"ready")
    fcntl.ioctl(t.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    t.expect(b"40 120\r\n")
    assert t.wait() == 0


def test_tty_flag_relays_a_piped_stdin_and_ends_it(citadel):
    r = citadel(["-t", "--", "/bin/sh", "-c", "tty; test -t 0 && echo stdin-is-a-terminal; cat"],
                input=b"one line\npartial")
    assert r.returncode == 0, r.stderr
    # No echo: input that is not typed does not come back in the output.
    assert r.stdout == b"/dev/pts/0\nstdin-is-a-terminal\none line\npartial", r.stdout


def test_piped_stdin_under_a_terminal_passes_through_unchanged(terminal):
    """Only typing goes through the pty: piped data (here every byte value, ^C and CR
    included) reaches the program as it was, while its output is the terminal."""
    import hashlib
    data = bytes(range(256)) * 1000
    t = run_in(terminal, ["--", "/bin/sh", "-c", "sha256sum; test -t 1 && echo stdout-is-a-terminal"],
               stdin=subprocess.PIPE)
    t.proc.stdin.write(data)
    t.proc.stdin.close()
    assert t.wait() == 0
    assert t.screen.split()[:3] == [hashlib.sha256(data).hexdigest().encode(), b"-", b"stdout-is-a-terminal"]


def test_no_tty_flag_gives_no_terminal_under_one(terminal):
    t = run_in(terminal, ["-T", "--", "/bin/sh", "-c",
                          "tty; for fd in 0 1 2; do test -t $fd && echo terminal-$fd; done; "
                          "(: < /dev/tty) 2>/dev/null || echo no-dev-tty; read x; echo x=$x"])
    seen = t.expect(b"no-dev-tty")
    t.type(b"typed\n")
    assert t.wait() == 0
    assert t.now() == t.start
    seen += t.screen
    assert b"not a tty" in seen and b"terminal-" not in seen and b"x=typed" in seen, seen


@pytest.mark.parametrize("opts,expected", [([], b"unlimited"), (["--cpu-time", "5"], b"5")])
def test_terminal_lifts_the_cpu_limit_unless_given(terminal, citadel, opts, expected):
    t = run_in(terminal, [*opts, "--", "/bin/sh", "-c", "ulimit -t"])
    assert t.wait() == 0 and t.screen.strip() == expected, t.screen
    r = citadel([*opts, "--", "/bin/sh", "-c", "ulimit -t"])
    assert r.stdout.strip() == (b"10" if not opts else expected)


@pytest.mark.parametrize("args,status,send", [
    (["--timeout", "0.5", "--", "/bin/sleep", "10"], 124, None),
    (["--output-limit", "1000", "--", "/usr/bin/yes"], 153, None),
    (["--", "/bin/sh", "-c", "echo ready; exec sleep 10"], 128 + signal.SIGTERM, signal.SIGTERM),
    (["--", "/bin/sh", "-c", "echo ready; exec sleep 10"], 128 + signal.SIGHUP, signal.SIGHUP),
], ids=["timeout", "output-limit", "sigterm", "sighup"])
def test_terminal_modes_come_back_on_every_end(terminal, args, status, send):
    t = run_in(terminal, args)
    if send:
        t.expect(b"ready")
        t.proc.send_signal(send)
    assert t.wait() == status
    assert t.now() == t.start


def test_a_pipeline_reading_the_terminal_keeps_it_cooked(tmp_path):
    """`citadel run -- cmd | less`: stdin is the terminal, stdout is not. The program gets
    pipes, and the terminal stays as it was (not raw) while the pipeline's other programs
    write to it."""
    import pty
    import termios
    master, slave = pty.openpty()
    try:
        before = termios.tcgetattr(slave)
        p = subprocess.Popen([str(CITADEL), "run", "--", "/bin/sh", "-c",
                              "if [ -t 0 ]; then echo tty; else echo pipe; fi; sleep 1"],
                             stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                             env={"PATH": os.environ["PATH"]})
        first = p.stdout.readline()  # the program runs (for a second more): citadel is set up
        during = termios.tcgetattr(slave)
        out, err = p.communicate(timeout=30)
        out = first + out
    finally:
        os.close(master)
        os.close(slave)
    assert p.returncode == 0 and out == b"pipe\n", (out, err)
    assert during[3] & termios.ICANON and during[3] & termios.ECHO, "the terminal was put in raw mode"
    assert during == before


@pytest.mark.parametrize("warm", ["1", "0"])
def test_a_terminal_key_reaches_a_program_without_a_terminal(terminal, request, warm):
    """citadel's stdio are pipes but its controlling terminal is the test's: ^C there
    signals citadel, which forwards it (the sandbox is in a session of its own)."""
    if warm == "1":
        request.getfixturevalue("warm_pool")
    t = run_in(terminal, ["--", "/bin/sh", "-c", "echo ready; exec sleep 30"], stdin=subprocess.DEVNULL,
               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
               env={"PATH": os.environ["PATH"], "CITADEL_WARM": warm})
    assert t.proc.stdout.readline() == b"ready\n"
    t.type(b"\x03")
    assert t.wait(10) == 130


def process_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def descendants(pid):
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            for child in map(int, f.read().split()):
                found += [child, *descendants(child)]
    return found


def interactive_bash(terminal):
    t = terminal(["/bin/bash", "--norc", "--noprofile", "-i"],
                 env={"PATH": os.environ["PATH"], "PS1": "PROMPT$ ", "TERM": "dumb"})
    t.expect(b"PROMPT$ ")
    return t


def test_ctrl_z_stops_program_and_citadel_and_fg_resumes_both(terminal):
    import time
    sh = interactive_bash(terminal)
    shell_modes = sh.now()[1]
    sh.type(f"{CITADEL} run -- /bin/sh -c 'm=ed; echo start$m; sleep 1.5; echo finish$m'\n".encode())
    sh.expect(b"started\r\n")
    sh.type(b"\x1a")
    sh.expect(b"Stopped")
    sh.expect(b"PROMPT$ ")
    with open(f"/proc/{sh.proc.pid}/task/{sh.proc.pid}/children") as f:
        (citadel_pid,) = map(int, f.read().split())
    program = [p for p in descendants(citadel_pid) if open(f"/proc/{p}/cmdline", "rb").read().startswith(b"/bin/sh")]
    assert process_state(citadel_pid) == "T" and program and process_state(program[0]) == "T"
    assert sh.now()[1] == shell_modes, "the shell got its terminal back in another mode"
    time.sleep(2)  # stopped, the program does not finish
    assert b"finished" not in sh.screen
    sh.type(b"fg\n")
    sh.expect(b"finished\r\n")
    sh.expect(b"PROMPT$ ")
    sh.type(b"echo status=$?\n")
    sh.expect(b"status=0")
    assert sh.now()[1] == shell_modes


def test_a_run_in_the_background_leaves_the_terminal_alone(terminal):
    import termios
    sh = interactive_bash(terminal)
    sh.type(f"{CITADEL} run -- /bin/sh -c 'm=ing; echo runn$m; sleep 1; echo end$m' &\n".encode())
    sh.expect(b"running")
    modes = sh.now()[1]
    # The shell's line editor has its modes; a raw terminal would have no signals, no
    # output processing.
    assert modes[3] & termios.ISIG and modes[1] & termios.OPOST, "a background run changed the terminal"
    sh.expect(b"ending")
    sh.type(b"wait; echo status=$?\n")
    sh.expect(b"status=0")


# ---- warm pools: only a run of the pool's own context and mounts is served ------------------
#
# A warm sandbox is made by its pool's keeper and inherits the keeper's context; its view
# is made of the mounts of the moment it was made. A run may only be served one that it
# would have made itself: these tests change one thing of the caller's context (or of the
# mounts) and check that cold and warm runs still behave alike, whichever came first.

import time  # noqa: E402

SEP = b"\n--- citadel-test ---\n"


def run_as(prefix, args, script, *, warm=True, citadel=CITADEL):
    """Runs `citadel run ARGS -- sh -c SCRIPT` behind prefix (a command that changes the
    caller's context, then execs citadel). Returns (served warm, (status, what the script
    wrote)); a run that failed in setup wrote nothing."""
    env = {"PATH": os.environ["PATH"], **({} if warm else {"CITADEL_WARM": "0"})}
    r = subprocess.run([*prefix, str(citadel), "run", *args, "--", "/bin/sh", "-c",
                        "cat /proc/1/cmdline; printf '\\n--- citadel-test ---\\n'; " + script],
                       stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=60)
    head, _, out = r.stdout.partition(SEP)
    return head.startswith(b"citadel\0__keeper\0"), (r.returncode, out)


def until_served_warm(prefix, args, script, tries=50):
    """Runs until a run is served by a warm sandbox (the first starts the pool); returns
    that run's (status, output)."""
    for _ in range(tries):
        warm, result = run_as(prefix, args, script)
        if warm:
            return result
        time.sleep(0.1)
    pytest.fail(f"no run of {prefix} {args} was served warm")


def then_exec(code):
    """A prefix that runs Python code in the caller's own process, then execs the rest."""
    return ["/usr/bin/python3", "-c", "import ctypes, os, struct, sys\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n" + code + "\nos.execv(sys.argv[1], sys.argv[1:])"]


def assert_pools_keep_contexts_apart(prefix, script, pids):
    """The caller behind prefix and a plain caller each behave as they do cold, whether
    the other's pool exists already or not."""
    special = run_as(prefix, ["--pids", str(pids)], script, warm=False)[1]
    plain = run_as([], ["--pids", str(pids)], script, warm=False)[1]
    assert special != plain, "the context is not visible inside: the test would prove nothing"
    # The special caller's pool first: a plain caller must not be served from it.
    assert until_served_warm(prefix, ["--pids", str(pids)], script) == special
    for _ in range(3):
        assert run_as([], ["--pids", str(pids)], script)[1] == plain
    # A plain caller's pool first: the special caller must not be served from it.
    assert until_served_warm([], ["--pids", str(pids + 1)], script) == plain
    for _ in range(3):
        assert run_as(prefix, ["--pids", str(pids + 1)], script)[1] == special


SECCOMP_NO_UNAME = then_exec(
    "ins = lambda code, jt, jf, k: struct.pack('HBBI', code, jt, jf, k)\n"
    "prog = ctypes.create_string_buffer(ins(0x20, 0, 0, 0) + ins(0x15, 0, 1, 63) +\n"  # nr == uname?
    "                                   ins(0x06, 0, 0, 0x00050001) + ins(0x06, 0, 0, 0x7fff0000))\n"
    "fprog = struct.pack('HxxxxxxP', 4, ctypes.addressof(prog))\n"
    "assert libc.prctl(38, 1, 0, 0, 0) == 0\n"  # PR_SET_NO_NEW_PRIVS
    "assert libc.prctl(22, 2, ctypes.c_char_p(fprog), 0, 0) == 0")  # PR_SET_SECCOMP, a filter
LANDLOCK_NO_FIFOS = then_exec(
    "attr = ctypes.c_uint64(1 << 10)\n"  # LANDLOCK_ACCESS_FS_MAKE_FIFO, handled, allowed nowhere
    "fd = libc.syscall(444, ctypes.byref(attr), 8, 0)\n"  # landlock_create_ruleset
    "assert fd >= 0 and libc.syscall(446, fd, 0) == 0")  # landlock_restrict_self


@pytest.mark.parametrize("prefix,script,pids", [
    (["setarch", os.uname().machine, "-R"], "cat /proc/self/personality", 300),
    (["taskset", "-c", "0"], "grep Cpus_allowed_list /proc/self/status", 302),
    (then_exec("open('/proc/self/oom_score_adj', 'w').write('700')"), "cat /proc/self/oom_score_adj", 304),
    (["ionice", "-c", "3"], "ionice", 306),
    (["chrt", "-b", "0"], "chrt -p $$", 308),
    (["nice", "-n", "7"], "nice", 310),
    (then_exec("assert libc.prctl(29, 123456, 0, 0, 0) == 0"), "cat /proc/self/timerslack_ns", 312),
    (then_exec("assert libc.prctl(41, 1, 0, 0, 0) == 0"), "grep THP_enabled /proc/self/status", 314),
    (["/bin/sh", "-c", 'umask 077; exec "$0" "$@"'], "umask", 316),
    (["prlimit", "--fsize=1048576"], "ulimit -f", 318),
], ids=["personality", "cpu-affinity", "oom-score-adj", "io-priority", "scheduling-policy", "nice",
        "timer-slack", "thp-disable", "umask", "rlimit"])
def test_a_pool_serves_only_runs_of_its_makers_context(prefix, script, pids):
    """(F1) A warm sandbox inherits its keeper's context, which is that of the run that
    started the pool: ASLR off, a CPU set, an OOM bias, an I/O or CPU priority, ... must
    neither stick to the pool for the callers after it nor be lost for the callers that
    have it."""
    if prefix[0] == "taskset" and len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: no other affinity to give")
    assert_pools_keep_contexts_apart(prefix, script, pids)


@pytest.mark.parametrize("kind,args,script,setup", [
    # The interfaces, not their counters (the host's loopback carries other traffic meanwhile).
    ("net", ["--net", "host"], "cut -d: -f1 /proc/net/dev", []),
    ("uts", [], "cat /proc/sys/kernel/domainname", ["domainname", "citadel-test"]),
], ids=["net", "uts"])
def test_a_caller_in_other_namespaces_is_served_sandboxes_of_them(tmp_path, kind, args, script, setup):
    """(F1) A caller in a network namespace of its own must not get the host's network
    from a pool made outside it (--net host shares the caller's), nor a caller outside
    get the namespace's; likewise a UTS namespace (its domain name is copied into the
    sandbox's)."""
    ns = tmp_path / kind
    ns.touch()
    subprocess.run(["unshare", f"--{kind}={ns}", *(setup or ["true"])], check=True)
    try:
        prefix = ["nsenter", f"--{kind}={ns}", "--"]
        special = run_as(prefix, args, script, warm=False)[1]
        plain = run_as([], args, script, warm=False)[1]
        assert special != plain
        for first, second, expected in ((prefix, [], plain), ([], prefix, special)):
            until_served_warm(first, [*args, "--pids", "320" if first else "321"], script)
            for _ in range(3):
                assert run_as(second, [*args, "--pids", "320" if first else "321"], script)[1] == expected
    finally:
        subprocess.run(["umount", str(ns)], check=True)


@pytest.mark.parametrize("prefix,script,holds", [
    (SECCOMP_NO_UNAME, "uname -n", lambda status, out: status != 0 and b"citadel" not in out),
    (LANDLOCK_NO_FIFOS, "mkfifo /tmp/f && echo made", lambda status, out: b"made" not in out),
    (["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--"], "echo ran", lambda status, out: status == 125),
], ids=["seccomp", "landlock", "capabilities"])
def test_a_confined_caller_never_escapes_through_a_pool(prefix, script, holds):
    """(F1) A caller confined by a seccomp filter, a landlock domain or a capability
    bounding set runs under that confinement cold; a pool made by an unconfined caller
    must not hand it a sandbox without it. Filters and domains cannot be compared: such a
    caller always runs cold."""
    args = ["--pids", "330"]
    until_served_warm([], args, script)
    cold = run_as(prefix, args, script, warm=False)[1]
    assert holds(*cold), cold
    for _ in range(3):
        warm, result = run_as(prefix, args, script)
        assert not warm and result == cold


def mount_tmpfs(path, file):
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "citadel-test", str(path)], check=True)
    (path / file).write_text("x\n")


def root_tree(root):
    """A --root tree with a busybox of its own, as sh, cat, printf and ls."""
    (root / "bin").mkdir(parents=True)
    subprocess.run(["cp", "/bin/busybox", str(root / "bin" / "busybox")], check=True)
    for tool in ("sh", "cat", "printf", "ls"):
        (root / "bin" / tool).symlink_to("busybox")
    return root


@pytest.mark.parametrize("kind", ["ro", "rw", "root"])
def test_mounts_that_come_and_go_below_a_tree_reach_the_next_run(tmp_path, kind):
    """(F3) A warm sandbox's view is made of the mounts of the moment it was made. A mount
    below a tree of the view (a --ro or --rw bind, --root), its umount, or another mount
    in its place (which an older kernel may give the same 32-bit id) must show in the next
    run, warm or not, as they show cold."""
    tree = root_tree(tmp_path / "tree") if kind == "root" else tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "secret").write_text("under the mount point\n")
    tree.chmod(0o755)
    args, script = {
        "ro": (["--ro", f"{tree}:/in"], "ls /in/sub"),
        "rw": (["--rw", f"{tree}:/in"], "ls /in/sub"),
        "root": (["--root", str(tree), "--env", "PATH=/bin"], "ls /sub"),
    }[kind]
    args = [*args, "--pids", "340"]

    def every_run_shows(listing):
        for _ in range(3):
            assert run_as([], args, script)[1] == (0, listing)
        assert until_served_warm([], args, script) == (0, listing)

    every_run_shows(b"secret\n")
    try:
        mount_tmpfs(tree / "sub", "first")
        every_run_shows(b"first\n")
        umount_all([tree / "sub"])
        every_run_shows(b"secret\n")
        mount_tmpfs(tree / "sub", "first")
        every_run_shows(b"first\n")
        umount_all([tree / "sub"])
        mount_tmpfs(tree / "sub", "second")
        every_run_shows(b"second\n")
    finally:
        umount_all([tree / "sub"])


def test_a_read_only_remount_of_a_rw_source_holds_for_the_next_run(tmp_path):
    """(F3) A --rw bind is a clone of the source's mount taken when the sandbox is made: a
    source made read-only since (its own mount's flags) must be read-only for the next
    run, warm or not."""
    src = user_dir(tmp_path / "data")
    subprocess.run(["mount", "--bind", str(src), str(src)], check=True)
    try:
        args = ["--rw", f"{src}:/out", "--pids", "342"]
        script = "touch /out/f && echo wrote"
        assert until_served_warm([], args, script) == (0, b"wrote\n")
        subprocess.run(["mount", "-o", "remount,bind,ro", str(src)], check=True)
        for _ in range(4):
            assert b"wrote" not in run_as([], args, script)[1][1]
            time.sleep(0.1)
    finally:
        umount_all([src])


def private_citadel(tmp_path):
    """A copy of citadel: its pools and keepers are told apart by their executable."""
    import shutil
    copy = tmp_path / "citadel"
    shutil.copy(CITADEL, copy)
    st = os.stat(copy)
    return copy, f"/run/citadel/warm/{st.st_dev:x}-{st.st_ino:x}-{int(st.st_mtime):x}-"


def pools_and_keepers(copy, prefix):
    import glob
    from conftest import keepers
    return glob.glob(prefix + "*"), [pid for pid, exe in keepers().items() if exe == str(copy)]


@pytest.mark.parametrize("args", [["--ro", "{tmp}:/proc"], ["--rw", "{tmp}:/dev/null"],
                                  ["--ro", "{tmp}:/etc/newdir"]], ids=["ro-proc", "rw-dev-null", "ro-dir"])
def test_a_run_that_fails_in_setup_leaves_no_pool(tmp_path, args):
    """(F9) A configuration that fails even cold gets no keeper (it would fail to make
    sandboxes over and over) and no pool directory; one that works gets both."""
    copy, prefix = private_citadel(tmp_path)
    args = [a.format(tmp=tmp_path) for a in args]
    for _ in range(3):
        assert run_as([], args, "true", citadel=copy)[1][0] == 125
    time.sleep(1)
    assert pools_and_keepers(copy, prefix) == ([], [])
    run_as([], [], "true", citadel=copy)
    for _ in range(300):  # the keeper starts after the run
        pools, kept = pools_and_keepers(copy, prefix)
        if pools and kept:
            break
        time.sleep(0.1)
    assert pools and kept


def test_a_pool_whose_source_was_replaced_goes_away(tmp_path):
    """(F9) When its keeper finds a bind source replaced (another object at the path), its
    pool is obsolete: the keeper ends and removes the pool's directory, leaving nothing
    behind, and runs get the new source."""
    import glob
    src = tmp_path / "src"
    src.mkdir(mode=0o755)
    (src / "v").write_text("1\n")
    args = ["--ro", f"{src}:/in", "--pids", "344"]
    assert until_served_warm([], args, "cat /in/v") == (0, b"1\n")
    (pool,) = [os.path.dirname(c) for c in glob.glob("/run/citadel/warm/*/config")
               if f"\t{src}\t".encode() in open(c, "rb").read()]
    for _ in range(600):  # the run just claimed one: its keeper parks the next
        socks = [int(n.split(".")[0]) for n in os.listdir(pool) if n.endswith(".sock")]
        if socks:
            break
        time.sleep(0.05)
    (parked,) = socks[:1]
    src.rename(tmp_path / "old")
    src.mkdir(mode=0o755)
    (src / "v").write_text("2\n")
    # A parked sandbox of the old pool ends: its keeper makes another and finds the source
    # replaced. Only a citadel-warm child of a keeper is killed, through its pidfd.
    from conftest import is_keeper
    fd = os.pidfd_open(parked)
    try:
        keeper = int(open(f"/proc/{parked}/stat").read().rsplit(")", 1)[1].split()[1])
        assert open(f"/proc/{parked}/comm").read() == "citadel-warm\n" and is_keeper(keeper)
        signal.pidfd_send_signal(fd, signal.SIGKILL)
    finally:
        os.close(fd)
    for _ in range(600):
        if not os.path.exists(pool) and not os.path.exists(f"/proc/{keeper}"):
            break
        time.sleep(0.05)
    assert not os.path.exists(pool) and not os.path.exists(f"/proc/{keeper}")
    assert run_as([], args, "cat /in/v")[1] == (0, b"2\n")


@pytest.mark.parametrize("warm", ["1", "0"])
def test_the_sweep_removes_nested_empty_orphans(warm):
    """(F12) The cgroups of a citadel that was killed (a monitor's parent holds its
    sandboxes' beneath it) are removed by the next sweep, a cold run's or a keeper's:
    here citadel-N/citadel-M beside our own, N and M past pid_max (no process has them)."""
    base = int(open("/proc/sys/kernel/pid_max").read()) + 1 + (0 if warm == "1" else 2)
    if warm == "1":
        until_served_warm([], ["--pids", "346"], "true")  # a cold run sweeps too: first the pool
    made = []
    try:
        for parent in _own_cgroup_dirs():
            top = os.path.join(parent, f"citadel-{base}")
            made.append(top)
            os.makedirs(os.path.join(top, f"citadel-{base + 1}"))
        served, (status, _) = run_as([], ["--pids", "346"], "true", warm=warm == "1")
        assert status == 0 and served == (warm == "1")
        for _ in range(300):
            if not any(os.path.exists(d) for d in made):
                break
            time.sleep(0.1)
        assert [d for d in made if os.path.exists(d)] == []
    finally:
        for top in made:
            for d in (os.path.join(top, f"citadel-{base + 1}"), top):
                if os.path.exists(d):
                    os.rmdir(d)
