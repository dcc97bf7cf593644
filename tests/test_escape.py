"""Escape tests: each row runs one attack of the helper (tests/attack/attack.c) in
`citadel run` and checks two things.

- The attack failed: the helper said BLOCKED (the kernel refused) and exited 0, or the
  sandbox was killed for it (159 for a forbidden system call, 137 out of memory, ...). It
  never says ESCAPED (exit 66). When the helper says DONE, the row's own check judges
  from outside.
- The host did not change: its files and directories, mounts, clock and hostname; a canary
  process the test started is alive and not stopped; the loopback listeners the test
  opened got no connection; no process of a sandbox's uid outlived its sandbox.

Every row runs in a cold sandbox, with the helper bound in. The rows that need no bind
also run in a warm one (made ahead of time by the pool's keeper), with the helper handed
over on stdin, since a bind would make the run cold; and a warm sandbox must hold nothing
of the run that started its pool's keeper. Last, a few attacks run straight on the host,
to show that they are real: there, they escape."""
import dataclasses
import fcntl
import glob
import hashlib
import os
import pty
import re
import shutil
import socket
import stat
import subprocess
import termios
import time
import tty
from pathlib import Path
from typing import Callable, Optional

import pytest

from conftest import CITADEL

ENV = {"PATH": os.environ["PATH"]}  # as conftest's runs have it

ID_BASE = 0x70000000  # sandboxes run as host uids from here up (src/sandbox/idmap.h)
ESCAPED = 66          # the helper's exit status when an attack worked
SECRET = b"host secret: the sandbox must never read this\n"
BASE_OPTS = ("--timeout", "20s")  # every run; a row's own options come after and win
HELPER = "/attack"    # where cold runs bind the helper
# Warm runs: the helper arrives on stdin, and runs from the sandbox's /tmp.
WARM_SHELL = 'cat > /tmp/attack && chmod 755 /tmp/attack && exec /tmp/attack "$@"'

OK = frozenset({0})           # the helper ran to the end and reported
SECCOMP = frozenset({159})    # killed for a forbidden system call (SIGSYS)
OOM = frozenset({137})        # SIGKILL from the memory cgroup
TIMEOUT = frozenset({124})
CPU = frozenset({152})        # SIGXCPU, RLIMIT_CPU's soft limit
CPU_HARD = frozenset({137})   # SIGKILL, its hard limit a second later
OUTPUT = frozenset({153})     # over the output limit


@dataclasses.dataclass(frozen=True)
class Attack:
    """One row. `{name}` fields in argv and opts come from Host.fields."""
    argv: tuple                   # the helper's arguments
    status: frozenset = OK        # the exit statuses the run may end with
    opts: tuple = ()              # citadel options, after BASE_OPTS
    via: str = "pipe"             # stdio and descriptors: see Host.run
    check: Optional[Callable] = None  # more assertions: check(run, host)


@dataclasses.dataclass
class Run:
    status: int
    out: str
    err: str
    seconds: float
    injected: bytes = b""         # what reached the terminal's input ("pty" runs)

    def __str__(self):
        return (f"exit {self.status} after {self.seconds:.2f}s\nstdout: {self.out[-2000:]!r}\n"
                f"stderr: {self.err[-2000:]!r}")


# ---- row checks ------------------------------------------------------------------------

def forks_below(limit):
    def check(run, host):
        n = int(re.search(r"after (\d+) forks", run.out).group(1))
        assert n < limit, f"{n} processes forked under a limit of {limit}"
    return check


def tmp_at_most(size):
    def check(run, host):
        n = int(re.search(r"ENOSPC after (\d+) bytes", run.out).group(1))
        assert n <= size, f"{n} bytes written to a /tmp of {size}"
    return check


def output_at_most(limit):
    def check(run, host):
        assert len(run.out) <= limit, f"{len(run.out)} bytes relayed under a limit of {limit}"
    return check


def within(seconds):
    def check(run, host):
        assert run.seconds < seconds, f"the run took {run.seconds:.1f}s"
    return check


def nothing_injected(run, host):
    assert run.injected == b"", f"the terminal's input received {run.injected!r}"


def no_setuid_root_planted(run, host):
    """A file the sandbox made setuid in a writable bind must not be setuid to host root
    (nor setgid to its group): on the host, whoever runs it would become root."""
    path = host.rw / "planted-setuid"
    if not path.exists():
        return
    st = os.lstat(path)
    suid_root = st.st_mode & stat.S_ISUID and st.st_uid == 0
    sgid_root = st.st_mode & stat.S_ISGID and st.st_gid == 0
    assert not (suid_root or sgid_root), (
        f"the sandbox left {path} on the host: {stat.filemode(st.st_mode)}, owner {st.st_uid}:{st.st_gid}")


# ---- the attacks -----------------------------------------------------------------------

RW = ("--rw", "{rw}:/data")          # a writable host directory
RO = ("--ro", "{suid_dir}:/suid")     # a read-only one, holding a setuid-root helper
ROWS = [
    # The filesystem view: host paths outside it, read-only files, /proc, /sys, /dev.
    pytest.param(Attack(("read-file", "{secret}")), id="read-host-secret"),
    pytest.param(Attack(("read-file", "/etc/shadow")), id="read-etc-shadow"),
    pytest.param(Attack(("write-file", "/citadel-escape")), id="write-root"),
    pytest.param(Attack(("write-file", "/usr/citadel-escape")), id="write-usr"),
    pytest.param(Attack(("write-file", "/etc/citadel-escape")), id="write-etc"),
    pytest.param(Attack(("write-file", "/etc/passwd")), id="write-etc-passwd"),
    # A read-only bind: idmapped, its files are the sandbox root's, so only the mount's
    # read-only flag and landlock refuse.
    pytest.param(Attack(("write-file", "/suid/attack"), opts=RO), id="write-ro-bind-file"),
    pytest.param(Attack(("write-file", "/suid/new"), opts=RO), id="write-ro-bind-new"),
    pytest.param(Attack(("write-file", "/proc/sys/kernel/hostname")), id="write-proc-hostname"),
    pytest.param(Attack(("write-file", "/proc/sys/kernel/core_pattern")), id="write-core-pattern"),
    pytest.param(Attack(("write-file", "/proc/sysrq-trigger")), id="write-sysrq-trigger"),
    pytest.param(Attack(("write-file", "/sys/kernel/uevent_helper")), id="write-sys-uevent-helper"),
    pytest.param(Attack(("read-file", "/sys/fs/cgroup/pids/cgroup.procs")), id="read-sys-cgroup"),
    pytest.param(Attack(("read-file", "/dev/mem")), id="read-dev-mem"),
    pytest.param(Attack(("read-file", "/dev/kmsg")), id="read-dev-kmsg"),
    pytest.param(Attack(("read-file", "/dev/vda")), id="read-dev-vda"),
    pytest.param(Attack(("read-file", "/dev/sda")), id="read-dev-sda"),
    pytest.param(Attack(("read-file", "/proc/self/root{secret}")), id="proc-self-root"),
    pytest.param(Attack(("read-file", "/proc/self/cwd/../../../..{secret}")), id="proc-self-cwd"),
    pytest.param(Attack(("read-file", "/proc/1/root{secret}")), id="proc-init-root"),
    pytest.param(Attack(("read-file", "/proc/1/cwd{secret}")), id="proc-init-cwd"),
    # Init is citadel forked, never exec'd: its exe is the host's citadel binary.
    pytest.param(Attack(("read-file", "/proc/1/exe")), id="proc-init-exe"),
    pytest.param(Attack(("write-file", "/proc/1/exe")), id="proc-init-exe-write"),
    pytest.param(Attack(("read-file", "/proc/1/environ")), id="proc-init-environ"),
    pytest.param(Attack(("read-file", "/proc/1/mem")), id="proc-init-mem"),
    pytest.param(Attack(("chdir-escape", "{secret}")), id="chdir-dotdot"),
    pytest.param(Attack(("open-by-handle",), SECCOMP), id="open-by-handle"),
    pytest.param(Attack(("mknod-dev",)), id="mknod-dev-null"),
    # A writable bind: links out of it, links the test planted in it beforehand, and what
    # the sandbox leaves in it for the host.
    pytest.param(Attack(("symlink-write", "/data"), opts=RW), id="symlink-write"),
    pytest.param(Attack(("hardlink", "/data"), opts=RW), id="hardlink-etc-shadow"),
    pytest.param(Attack(("read-file", "/data/planted"), opts=RW), id="planted-symlink"),
    pytest.param(Attack(("read-file", "/data/planted-dir/secret"), opts=RW), id="planted-symlink-dir"),
    pytest.param(Attack(("read-file", "/data/planted-relative"), opts=RW), id="planted-symlink-relative"),
    pytest.param(Attack(("fcaps", "/data"), opts=RW), id="file-capabilities"),
    pytest.param(Attack(("plant-setuid", "/data"), opts=RW, check=no_setuid_root_planted), id="plant-setuid"),
    # Privilege.
    pytest.param(Attack(("setuid-caps", "/suid/attack"), opts=RO), id="setuid-caps"),
    pytest.param(Attack(("capset",)), id="capset"),
    pytest.param(Attack(("sched-fifo",)), id="sched-fifo"),
    pytest.param(Attack(("nice",)), id="nice"),
    pytest.param(Attack(("personality", "0x0006")), id="personality-bsd"),
    pytest.param(Attack(("personality", "0x0040000")), id="personality-addr-no-randomize"),
    # Other processes: the canary is a host process the sandbox must not reach.
    pytest.param(Attack(("kill", "{canary}")), id="kill-canary"),
    pytest.param(Attack(("pidfd-kill", "{canary}")), id="pidfd-kill-canary"),
    pytest.param(Attack(("proc-pids",)), id="proc-pids"),
    pytest.param(Attack(("ptrace-attach", "{canary}"), SECCOMP), id="ptrace-attach-canary"),
    pytest.param(Attack(("ptrace-seize", "{canary}"), SECCOMP), id="ptrace-seize-canary"),
    pytest.param(Attack(("ptrace-child",), SECCOMP), id="ptrace-child"),
    pytest.param(Attack(("process-vm-readv", "{canary}"), SECCOMP), id="process-vm-readv-canary"),
    # Namespaces and mounts.
    pytest.param(Attack(("mount-tmpfs",), SECCOMP), id="mount-tmpfs"),
    pytest.param(Attack(("umount-proc",), SECCOMP), id="umount-proc"),
    pytest.param(Attack(("chroot",)), id="chroot"),
    pytest.param(Attack(("unshare-user",), SECCOMP), id="unshare-user"),
    pytest.param(Attack(("setns", "/proc/1/ns/mnt")), id="setns-init-mnt"),
    pytest.param(Attack(("setns", "/proc/self/ns/user"), SECCOMP), id="setns-self-user"),
    pytest.param(Attack(("clone-newuser",), SECCOMP), id="clone-newuser"),
    pytest.param(Attack(("clone3-newuser",)), id="clone3-newuser"),
    # The network: the host's loopback listeners.
    pytest.param(Attack(("connect-tcp", "{port}")), id="connect-host-tcp"),
    pytest.param(Attack(("abstract-unix", "{abstract}")), id="abstract-unix"),
    # With the host's network, abstract sockets are shared; landlock's scope still holds.
    pytest.param(Attack(("abstract-unix", "{abstract}"), opts=("--net", "host")),
                 id="abstract-unix-net-host"),
    pytest.param(Attack(("raw-socket",), SECCOMP), id="raw-socket"),
    pytest.param(Attack(("packet-socket",), SECCOMP), id="packet-socket"),
    # The kernel's attack surface and the machine.
    pytest.param(Attack(("bpf",), SECCOMP), id="bpf-prog-load"),
    pytest.param(Attack(("keyctl",), SECCOMP), id="keyctl"),
    pytest.param(Attack(("add-key",), SECCOMP), id="add-key"),
    pytest.param(Attack(("userfaultfd",), SECCOMP), id="userfaultfd"),
    pytest.param(Attack(("io-uring",), SECCOMP), id="io-uring-setup"),
    pytest.param(Attack(("perf-event-open",), SECCOMP), id="perf-event-open"),
    pytest.param(Attack(("kexec-load",), SECCOMP), id="kexec-load"),
    pytest.param(Attack(("init-module",), SECCOMP), id="init-module"),
    pytest.param(Attack(("reboot",), SECCOMP), id="reboot"),
    pytest.param(Attack(("swapon",), SECCOMP), id="swapon"),
    pytest.param(Attack(("acct",), SECCOMP), id="acct"),
    pytest.param(Attack(("settimeofday",), SECCOMP), id="settimeofday"),
    pytest.param(Attack(("clock-settime",), SECCOMP), id="clock-settime"),
    pytest.param(Attack(("sethostname",), SECCOMP), id="sethostname"),
    # Typing into the caller's terminal (a pty of the test's, citadel's controlling tty).
    pytest.param(Attack(("tiocsti", "-"), via="pty", check=nothing_injected), id="tiocsti-stdin"),
    pytest.param(Attack(("tiocsti", "/dev/tty"), via="pty", check=nothing_injected), id="tiocsti-dev-tty"),
    pytest.param(Attack(("tiocsti-high", "-"), via="pty", check=nothing_injected), id="tiocsti-high-bits"),
    # Other system call entries.
    pytest.param(Attack(("x32-getpid",), SECCOMP), id="x32-syscall"),
    pytest.param(Attack(("i386-getpid",), SECCOMP), id="i386-int80"),
    pytest.param(Attack(("nr-high-bits",), SECCOMP), id="syscall-nr-high-bits"),
    # Descriptors: a host directory citadel inherited; host files as its stdio.
    pytest.param(Attack(("inherited-fds",), via="fd"), id="inherited-host-dir-fd"),
    pytest.param(Attack(("read-file", "/proc/self/fd/1"), opts=("--output-limit", "0"), via="stdout-file"),
                 id="reopen-stdout-file-for-reading"),
    pytest.param(Attack(("write-file", "/proc/self/fd/0"), via="stdin-file"),
                 id="reopen-stdin-file-for-writing"),
    # Resources.
    pytest.param(Attack(("fork-bomb", "256"), opts=("--pids", "32"), check=forks_below(32)), id="fork-bomb"),
    pytest.param(Attack(("fork-bomb", "512"), check=forks_below(128)), id="fork-bomb-default-limit"),
    pytest.param(Attack(("memory-bomb", str(256 << 20)), OOM, ("--memory", "64M")), id="memory-bomb"),
    pytest.param(Attack(("memory-bomb", str(1 << 30)), OOM), id="memory-bomb-default-limit"),
    pytest.param(Attack(("tmp-fill", str(1 << 20)), opts=("--tmp-size", "1M"), check=tmp_at_most(1 << 20)),
                 id="tmp-fill"),
    pytest.param(Attack(("tmp-fill", str(64 << 20)), check=tmp_at_most(64 << 20)),
                 id="tmp-fill-default-limit"),
    pytest.param(Attack(("tmp-fill", str(256 << 20)), OOM, ("--memory", "32M", "--tmp-size", "256M")),
                 id="tmp-fill-past-memory"),
    pytest.param(Attack(("sleep",), TIMEOUT, ("--timeout", "1"), check=within(10)), id="timeout"),
    pytest.param(Attack(("output-flood", str(8 << 20)), OUTPUT, ("--output-limit", "1M"),
                        check=output_at_most(1 << 20)), id="output-flood"),
    pytest.param(Attack(("cpu-burn",), CPU, ("--cpu-time", "1")), id="cpu-time"),
    pytest.param(Attack(("cpu-burn-ignore",), CPU_HARD, ("--cpu-time", "1"), check=within(10)),
                 id="cpu-time-ignoring-sigxcpu"),
]

# The rows a warm sandbox can serve: no bind, no terminal, stdin free for the helper, and
# default limits (a pool exists per set of limits; --timeout and --output-limit are not
# among them).
WARM_IDS = {
    "read-host-secret", "read-etc-shadow", "write-root", "write-etc-passwd", "write-core-pattern",
    "proc-self-root", "proc-init-root", "proc-init-exe", "proc-init-exe-write", "proc-init-environ",
    "proc-init-mem", "chdir-dotdot", "mknod-dev-null", "capset", "kill-canary",
    "pidfd-kill-canary", "proc-pids", "ptrace-attach-canary", "process-vm-readv-canary", "mount-tmpfs",
    "unshare-user", "setns-init-mnt", "connect-host-tcp", "abstract-unix", "keyctl", "add-key",
    "inherited-host-dir-fd", "fork-bomb-default-limit", "memory-bomb-default-limit", "tmp-fill-default-limit",
    "timeout", "output-flood",
}
WARM = [p for p in ROWS if p.id in WARM_IDS]
assert len(WARM) == len(WARM_IDS), "a warm row names no row"

# Attacks that work on the host, run there without the sandbox: proof that the rows above
# test something. Each must escape.
UNCONFINED = [
    pytest.param(Attack(("read-file", "{secret}")), id="read-host-secret"),
    pytest.param(Attack(("setuid-caps", "{suid_dir}/attack")), id="setuid-caps"),
    pytest.param(Attack(("proc-pids",)), id="proc-pids"),
    pytest.param(Attack(("connect-tcp", "{port}")), id="connect-host-tcp"),
    pytest.param(Attack(("abstract-unix", "{abstract}")), id="abstract-unix"),
    pytest.param(Attack(("tiocsti", "-"), via="pty"), id="tiocsti-stdin"),
    pytest.param(Attack(("inherited-fds",), via="fd"), id="inherited-host-dir-fd"),
    pytest.param(Attack(("read-file", "/proc/self/fd/1"), via="stdout-file"),
                 id="reopen-stdout-file-for-reading"),
    pytest.param(Attack(("write-file", "/proc/self/fd/0"), via="stdin-file"),
                 id="reopen-stdin-file-for-writing"),
]


# ---- the host --------------------------------------------------------------------------

def digest(path):
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as e:
        return f"unreadable: {e.strerror}"


def proc_status(pid):
    """The status fields of a host process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def orphans():
    """Processes of a sandbox's uid (ID_BASE and up) whose sandbox is gone: every one of
    them must share its pid namespace with a living init (pid 1 there). Warm sandboxes
    parked in a pool are alive, with their init."""
    procs, inits = [], set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = proc_status(entry)
        try:
            ns = os.readlink(f"/proc/{entry}/ns/pid")
        except OSError:
            continue
        if not st:
            continue
        if st.get("NSpid", "").split()[-1:] == ["1"]:
            inits.add(ns)
        uid = max((int(u) for u in st["Uid"].split()), default=0)
        if uid >= ID_BASE:
            procs.append((entry, st["Name"], uid, ns))
    return [f"pid {pid} ({name}) uid {uid}" for pid, name, uid, ns in procs if ns not in inits]


def take_ctty():
    """In citadel's child, after setsid: the pty on stdin becomes its controlling tty."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Host:
    """What a test sets up on the host, and what must not change there."""

    WATCHED_DIRS = ("/", "/etc", "/usr", "/opt")
    WATCHED_FILES = ("/etc/passwd", "/etc/shadow", "/etc/group", "/etc/hosts", "/etc/hostname")

    def __init__(self, tmp, citadel, helper_bind):
        self.citadel = citadel
        self.helper_bind = helper_bind
        self.helper_host = helper_bind[1].split(":")[0]
        self.tmp = tmp
        # The secret: a host file outside the view (the sandbox's /tmp is its own).
        self.secret_dir = tmp / "secret"
        self.secret_dir.mkdir(mode=0o755)
        self.secret = self.secret_dir / "secret"
        self.secret.write_bytes(SECRET)
        # The writable bind, with symlinks planted towards the secret.
        self.rw = tmp / "rw"
        self.rw.mkdir()
        self.rw.chmod(0o777)
        (self.rw / "planted").symlink_to(self.secret)
        (self.rw / "planted-dir").symlink_to(self.secret_dir)
        (self.rw / "planted-relative").symlink_to("../secret/secret")
        # A setuid-root copy of the helper.
        self.suid_dir = tmp / "suid"
        self.suid_dir.mkdir(mode=0o755)
        suid = self.suid_dir / "attack"
        shutil.copy(self.helper_host, suid)
        os.chown(suid, 0, 0)
        suid.chmod(0o4755)
        # The canary and the listeners.
        self.canary = subprocess.Popen(["sleep", "300"])
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(1)
        self.tcp.setblocking(False)
        self.abstract = f"citadel-escape-{os.getpid()}-{self.canary.pid}"
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind("\0" + self.abstract)
        self.unix.listen(1)
        self.unix.setblocking(False)
        self.fields = {"secret": str(self.secret), "rw": str(self.rw), "suid_dir": str(self.suid_dir),
                       "canary": str(self.canary.pid), "port": str(self.tcp.getsockname()[1]),
                       "abstract": self.abstract}

    def close(self):
        self.canary.kill()
        self.canary.wait()
        self.tcp.close()
        self.unix.close()

    def snapshot(self):
        files = (*self.WATCHED_FILES, self.secret, self.helper_host, self.suid_dir / "attack")
        return {
            "dirs": {d: sorted(os.listdir(d)) for d in (*self.WATCHED_DIRS, self.secret_dir, self.suid_dir)},
            "files": {str(f): digest(f) for f in files},
            "mounts": sorted(Path("/proc/self/mountinfo").read_text().splitlines()),
            "hostname": (socket.gethostname(), Path("/proc/sys/kernel/hostname").read_text()),
            # The wall clock against the monotonic one: moves only when the clock is set.
            "clock": time.time() - time.monotonic(),
        }

    def assert_unchanged(self, before):
        after = self.snapshot()
        assert abs(after.pop("clock") - before.pop("clock")) < 1.0, "the host's clock was set"
        for key, value in before.items():
            assert after[key] == value, f"the host's {key} changed"
        assert self.canary.poll() is None, f"the canary died: {self.canary.returncode}"
        state = proc_status(self.canary.pid)["State"]
        assert state[0] in "SR", f"the canary is {state}"
        for name, listener in (("TCP", self.tcp), ("abstract unix", self.unix)):
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                continue
            conn.close()
            pytest.fail(f"the {name} listener got a connection")
        left = orphans()
        for _ in range(20):  # processes still exiting get a moment
            if not left:
                break
            time.sleep(0.05)
            left = orphans()
        assert not left, f"processes outlived their sandbox: {left}"

    def command(self, attack, mode):
        """What runs, and what it gets on stdin, for mode "cold" (citadel's arguments, with
        the helper bound in), "warm" (the same, with the helper on stdin) or "host" (the
        helper's own command line)."""
        argv = [f.format(**self.fields) for f in attack.argv]
        opts = [f.format(**self.fields) for f in (*BASE_OPTS, *attack.opts)]
        if mode == "cold":
            return [*self.helper_bind, *opts, "--", HELPER, *argv], None
        if mode == "warm":
            helper = Path(self.helper_host).read_bytes()
            return [*opts, "--", "/bin/sh", "-c", WARM_SHELL, "sh", *argv], helper
        return [self.helper_host, *argv], None

    def run(self, attack, mode="cold"):
        """Runs attack (see command()). attack.via sets up its stdio and descriptors:
          pipe         stdio are pipes (the conftest fixture's run)
          pty          stdin is a pty in raw mode, the controlling terminal
          fd           a host directory is open, inheritable, as the command starts
          stdout-file  stdout is a host file holding SECRET, opened write-only
          stdin-file   stdin is a host file holding SECRET, mode 0666, opened read-only"""
        args, stdin = self.command(attack, mode)
        cmd = args if mode == "host" else [str(CITADEL), "run", *args]
        popen = {"env": ENV, "timeout": 60, "capture_output": True}
        start = time.monotonic()
        injected, out_file = b"", None
        if attack.via == "pipe" and mode != "host":
            proc = self.citadel(args, input=stdin)
        elif attack.via in ("pipe", "fd"):
            fd = os.open(self.secret_dir, os.O_RDONLY | os.O_DIRECTORY) if attack.via == "fd" else None
            try:
                proc = subprocess.run(cmd, input=stdin, pass_fds=() if fd is None else (fd,), **popen)
            finally:
                if fd is not None:
                    os.close(fd)
        elif attack.via == "pty":
            master, slave = pty.openpty()
            try:
                tty.setraw(slave)
                proc = subprocess.run(cmd, stdin=slave, start_new_session=True, preexec_fn=take_ctty, **popen)
                os.set_blocking(slave, False)
                try:
                    injected = os.read(slave, 4096)
                except BlockingIOError:
                    pass
            finally:
                os.close(master)
                os.close(slave)
        elif attack.via == "stdout-file":
            out_file = self.tmp / "stdout"
            out_file.write_bytes(SECRET)
            with open(out_file, "ab") as out:
                del popen["capture_output"]
                proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, **popen)
        elif attack.via == "stdin-file":
            in_file = self.tmp / "stdin"
            in_file.write_bytes(SECRET)
            in_file.chmod(0o666)
            with open(in_file, "rb") as f:
                proc = subprocess.run(cmd, stdin=f, **popen)
            assert in_file.read_bytes() == SECRET, "the host file on stdin changed"
        else:
            raise ValueError(attack.via)
        out = proc.stdout if out_file is None else out_file.read_bytes()[len(SECRET):]
        return Run(proc.returncode, out.decode(errors="replace"), proc.stderr.decode(errors="replace"),
                   time.monotonic() - start, injected)


@pytest.fixture(scope="session")
def helper_bind(attack):
    """conftest's bind of the helper, attached at HELPER instead of /opt/attack: /opt is a
    read-only bind, where citadel cannot make a mount point."""
    return ["--ro", f"{attack[1].split(':')[0]}:{HELPER}"]


@pytest.fixture
def host(tmp_path, citadel, helper_bind):
    h = Host(tmp_path, citadel, helper_bind)
    yield h
    h.close()


def parked_since(t):
    """Whether a pool's keeper parked a sandbox (a socket under /run/citadel/warm/) at or
    after time t."""
    for sock in glob.glob("/run/citadel/warm/*/*.sock"):
        try:
            if os.lstat(sock).st_mtime >= t:
                return True
        except FileNotFoundError:  # claimed meanwhile
            pass
    return False


@pytest.fixture(scope="module")
def warm_pool(citadel):
    """Starts the pool (its first run is cold, and starts the keeper) and waits, up to 5 s,
    for a parked sandbox. The keeper replaces each claimed one within tens of ms, so the
    warm rows are served warm."""
    start = time.time() - 1  # file times are coarser than the clock
    run = citadel(["--", "/bin/true"], input=b"")
    assert run.returncode == 0, run.stderr
    for _ in range(50):
        if parked_since(start):
            return
        time.sleep(0.1)
    pytest.fail("no warm sandbox was parked")


# ---- the tests -------------------------------------------------------------------------

def attack_and_check(host, row, mode):
    before = host.snapshot()
    run = host.run(row, mode)
    assert run.status != ESCAPED and "ESCAPED" not in run.out, f"the attack escaped:\n{run}"
    assert run.status in row.status, f"expected exit status {sorted(row.status)}:\n{run}"
    if run.status == 0:
        assert re.search(r"^(BLOCKED|DONE) ", run.out, re.M), f"no verdict from the helper:\n{run}"
    if row.check:
        row.check(run, host)
    host.assert_unchanged(before)


@pytest.mark.parametrize("row", ROWS)
def test_escape(host, row):
    attack_and_check(host, row, "cold")


@pytest.mark.parametrize("row", WARM)
def test_escape_warm(host, warm_pool, row):
    attack_and_check(host, row, "warm")


def test_warm_sandbox_holds_nothing_of_another_run(tmp_path, helper_bind):
    """A warm sandbox's init comes from its pool's keeper, which an earlier run started:
    nothing of that run may show in it. A copy of citadel has a pool of its own, so the
    run that starts the keeper is this test's first, with a secret in its command line;
    the next runs (once one is served warm) read their init's command line."""
    copy = tmp_path / "citadel"
    shutil.copy(CITADEL, copy)
    secret = f"secret-of-another-run-{os.getpid()}"
    first = subprocess.run([str(copy), "run", "--", "/bin/true", secret], stdin=subprocess.DEVNULL,
                           capture_output=True, env=ENV, timeout=60)
    assert first.returncode == 0, first.stderr
    helper = Path(helper_bind[1].split(":")[0]).read_bytes()
    for _ in range(50):  # until a run is served warm: then its init is not its own citadel
        run = subprocess.run([str(copy), "run", "--", "/bin/sh", "-c", WARM_SHELL, "sh", "init-cmdline"],
                             input=helper, capture_output=True, env=ENV, timeout=60)
        seen = run.stdout.decode(errors="replace")
        assert run.returncode == 0 and seen.startswith("DONE "), seen + run.stderr.decode(errors="replace")
        assert secret not in seen, f"a warm sandbox read another run's command line: {seen}"
        if WARM_SHELL not in seen:
            return
        time.sleep(0.1)
    pytest.fail("no run was served warm")


def sandboxed(cmdline):
    """The sandboxed processes (uid ID_BASE and up) running cmdline: {pid: uid line}."""
    found = {}
    for entry in os.listdir("/proc"):
        st = proc_status(entry) if entry.isdigit() else None
        try:
            running = Path(f"/proc/{entry}/cmdline").read_bytes() if st else b""
        except OSError:
            continue
        if running.split(b"\0")[:-1] == cmdline and int(st["Uid"].split()[0]) >= ID_BASE:
            found[entry] = st["Uid"]
    return found


@pytest.mark.parametrize("mode", ["cold", "warm"])
def test_killing_citadel_ends_the_sandbox(host, warm_pool, mode):
    """citadel killed (SIGKILL: it can do nothing about it) must take the whole sandbox
    with it, a process of the program forked into the background included."""
    args, stdin = host.command(Attack(("sleep",)), mode)
    helper = HELPER if mode == "cold" else "/tmp/attack"
    proc = subprocess.Popen([str(CITADEL), "run", *args], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=ENV)
    try:
        proc.stdin.write(stdin or b"")
        proc.stdin.close()
        for _ in range(50):  # the helper and its child, asleep
            pids = sandboxed([helper.encode(), b"sleep"])
            if len(pids) == 2:
                break
            time.sleep(0.1)
        assert len(pids) == 2, "the sandbox did not start"
    finally:
        proc.kill()
        proc.wait()
    for _ in range(50):
        left = [pid for pid, uid in pids.items() if (proc_status(pid) or {}).get("Uid") == uid]
        if not left:
            break
        time.sleep(0.1)
    assert not left, f"sandboxed processes outlived citadel: {left}"
    assert not orphans(), f"processes outlived their sandbox: {orphans()}"


@pytest.mark.parametrize("row", UNCONFINED)
def test_attack_works_unconfined(host, row):
    run = host.run(row, "host")
    assert run.status == ESCAPED and run.out.startswith("ESCAPED "), f"the attack failed on the host:\n{run}"
    if row.via == "pty":
        assert run.injected == b"#"
