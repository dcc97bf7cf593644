"""citadel run as a user drives it: programs run, data flows in and out, statuses and
errors are what the README promises."""
import os
import signal
import subprocess

import pytest

from conftest import CITADEL, citadel_run


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
    (["--ro", "relative", "--", "/bin/true"], b"absolute"),
    (["--ro", "/no/such/path", "--", "/bin/true"], b"/no/such/path"),
    (["--frobnicate", "--", "/bin/true"], b"citadel run"),
    ([], b"no command"),
])
def test_bad_options_are_clear_errors(citadel, args, msg):
    r = citadel(args)
    assert r.returncode == 125 and msg in r.stderr


def test_help(citadel):
    r = subprocess.run([str(CITADEL), "run", "--help"], capture_output=True)
    assert r.returncode == 0 and b"usage: citadel run" in r.stdout and b"--memory" in r.stdout
    r = subprocess.run([str(CITADEL), "--help"], capture_output=True)
    assert r.returncode == 0 and b"run" in r.stdout
    r = subprocess.run([str(CITADEL), "nonsense"], capture_output=True)
    assert r.returncode == 2 and b"unknown command" in r.stderr


def _own_cgroup_dirs():
    """The cgroup directories our sandboxes are made in: beneath this process's own cgroup in
    each hierarchy Citadel uses. Other sessions' cgroups on a shared machine are not ours."""
    dirs = []
    for line in open("/proc/self/cgroup").read().splitlines():
        _, ctls, path = line.split(":", 2)
        for ctl, mount in (("memory", "/sys/fs/cgroup/memory"), ("pids", "/sys/fs/cgroup/pids"),
                           ("", "/sys/fs/cgroup/unified")):
            if ctls == ctl or (ctl and ctl in ctls.split(",")):
                dirs.append(mount + path.rstrip("/"))
    return [d for d in dirs if os.path.isdir(d)]


def test_many_runs_leave_no_cgroups_or_processes(citadel):
    """Every run's cgroups go once its processes are gone. A warm sandbox's are removed by
    its pool keeper right after the run, so allow it a moment."""
    import time
    parents = _own_cgroup_dirs()
    assert parents
    for _ in range(5):
        assert citadel(["--", "/bin/true"]).returncode == 0
    deadline = time.monotonic() + 5
    while True:
        dirs = [os.path.join(p, d) for p in parents for d in os.listdir(p) if d.startswith("citadel-")]
        # A live pid's cgroup belongs to a running or warm sandbox, not a leak.
        leaked = [d for d in dirs if not os.path.exists(f"/proc/{d.rsplit('-', 1)[1]}")]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert leaked == []


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
    statuses = [subprocess.run([str(CITADEL), "run", "--timeout", "5", "--", "/bin/true"], env=env).returncode
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
