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
import hashlib
import os
import pty
import re
import select
import signal
import shutil
import socket
import stat
import struct
import subprocess
import termios
import time
import tty
import types
from pathlib import Path
from typing import Callable, Optional

import pytest

from conftest import ATTACK, CITADEL, umount_all

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


def _host_has_i386_entry():
    """Whether this kernel takes `int 0x80` from a 64-bit process at all. Where IA-32
    emulation is off (CONFIG_IA32_EMULATION=n, `ia32_emulation=false`, or a hypervisor
    that refuses it) the instruction is a general protection fault, SIGSEGV, before any
    filter runs: the attack is then refused by the host, and the sandbox's filter cannot
    be seen. Asked of the attack helper itself, run outside any sandbox."""
    r = subprocess.run([str(ATTACK), "i386-getpid"], capture_output=True, timeout=30)
    if r.returncode == -signal.SIGSEGV:
        return False
    assert r.returncode == ESCAPED, f"i386-getpid on the host: exit {r.returncode} {r.stderr!r}"
    return True


# killed for the i386 entry: by our filter (SIGSYS), or by a host without that entry (SIGSEGV)
I386 = SECCOMP if _host_has_i386_entry() else frozenset({128 + signal.SIGSEGV})
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
    # What other processes do while the attack runs, once the helper's first line says it
    # is ready: during(host) returns what reached them ("" when nothing did).
    during: Optional[Callable] = None
    settle: float = 0.0           # "tty" runs: seconds to wait before the terminal is judged


@dataclasses.dataclass
class Run:
    status: int
    out: str
    err: str
    seconds: float
    injected: bytes = b""         # what reached the terminal's input ("pty", "tty" runs)
    reached: str = ""             # what the attack did to other processes (Attack.during)
    terminal: tuple = ()          # "tty" runs: the caller's terminal before and after

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


def reported_at_most(name, bound):
    """A resource attack's figure, when it lived to report it (the memory cgroup may kill
    it instead): at most bound."""
    def check(run, host):
        if run.status != 0:
            return
        n = int(re.search(rf"\b{name}: (\d+) ", run.out).group(1))
        assert n <= bound, f"{name}: {n} held in a sandbox, over its bound of {bound}"
    return check


def within(seconds):
    def check(run, host):
        assert run.seconds < seconds, f"the run took {run.seconds:.1f}s"
    return check


def nothing_reached(run, host):
    assert run.reached == "", f"the attack reached other processes: {run.reached}"


def fifo_unwritten(run, host):
    """The host's reader of the FIFO mounted in the view got nothing."""
    try:
        got = os.read(host.fifo_reader, 64)
    except BlockingIOError:
        got = b""
    assert got == b"", f"the host's FIFO reader received {got!r}"


def nothing_injected(run, host):
    assert run.injected == b"", f"the terminal's input received {run.injected!r}"


def terminal_unchanged(run, host):
    """The caller's terminal ("tty" runs) is as it was: line discipline, modes, window
    size, not exclusive, output flowing; and nothing was typed into it."""
    before, after = run.terminal
    for name, was, now in zip(("line discipline", "modes", "window size", "exclusive use", "output flow"),
                              before, after):
        assert now == was, f"the caller's terminal changed: {name} {was!r} -> {now!r}"
    nothing_injected(run, host)


def terminal_shows_at_most(limit):
    """What the caller's terminal showed stays within the output limit (and citadel's own
    line saying so)."""
    def check(run, host):
        assert len(run.out) <= limit + 200, f"{len(run.out)} bytes shown under a limit of {limit}"
    return check


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


# ---- what other processes do meanwhile (Attack.during) -----------------------------------

def others_use(*paths, sandboxed=()):
    """The host reads (or, for a directory, creates, writes and removes a file in) each
    path, and another sandbox runs each command of sandboxed: activity a watch must not
    report. Nothing to judge here: the helper reports what it saw."""
    def during(host):
        for cmd in sandboxed:
            subprocess.run([str(CITADEL), "run", "--", *cmd], capture_output=True, env=ENV, timeout=30)
        for p in paths:
            p = Path(str(p).format(**host.fields))
            if p.is_dir():
                f = p / f"host-activity-{os.getpid()}"
                f.write_bytes(b"host")
                f.read_bytes()
                f.unlink()
            else:
                with open(p, "rb") as fh:
                    fh.read(1)
        return ""
    return during


def host_locks(kind, path):
    """The host takes a lock conflicting with the sandbox's, without waiting: it must get
    it. Returns what stopped it, if anything."""
    def during(host):
        target = str(path).format(**host.fields)
        if kind == "lease":
            try:  # a lease held elsewhere makes a writer's open wait for it (EWOULDBLOCK)
                os.close(os.open(target, os.O_WRONLY | os.O_NONBLOCK))
            except BlockingIOError:
                return f"the host could not open {target} for writing: a lease of the sandbox's"
            return ""
        fd = os.open(target, os.O_RDWR)
        try:
            if kind == "flock":
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            return f"the host could not {kind}-lock {target}: {e.strerror}"
        finally:
            os.close(fd)
        return ""
    return during


# ---- the attacks -----------------------------------------------------------------------

# Resources the kernel counts machine-wide (docs/sandbox.md, "Kernel-wide resources"). Each
# attack pins what it can and stops once it holds more than the bound it is given (then it
# says ESCAPED), so that it never pins much more on a host where nothing bounds it. The
# bound is what the sandbox allows by the docs; the row's check reads the figure again.
MIB = 1 << 20
MEM = 32 * MIB                          # --memory of the rows that set it
MEM_OPTS = ("--memory", "32M")
DEFAULT_MEM = 256 * MIB                 # citadel's default --memory


def socket_bound(mem):
    """Socket buffers on cgroup v1: the memory limit, and the supervisor kills the sandbox
    past it by a quarter of it, at least 8 MiB (src/sandbox/cgroup.h)."""
    return mem + max(mem // 4, 8 * MIB)


NOFILE, DEFAULT_NOFILE = 64, 1024
SCM_MAX_FD = 253                        # descriptors one message may carry
SIGPENDING = 1024                       # RLIMIT_SIGPENDING (src/sandbox/rlimit.h)
INOTIFY_INSTANCES, INOTIFY_WATCHES = 32, 8192  # src/sandbox/ucounts.h
MEMLOCK, MSGQUEUE = 8 * MIB, 1 * MIB    # RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE (src/sandbox/rlimit.c)
PTY_MAX = 64                            # the devpts max= of a sandbox with a terminal (mount.c)


def kernel_wide(name, argv, bound, status=OK, opts=(), via="pipe", marks=()):
    """A row of a resource attack: the helper gets bound as its last argument, and the
    row's check reads what it reports against it."""
    attack = Attack((*argv, str(bound)), status, opts, via, reported_at_most(argv[0], bound))
    return pytest.param(attack, id=name, marks=marks)


KERNEL_WIDE = [
    # TCP and UDP buffers: a counter of their own on cgroup v1, charged only with a limit;
    # one process, then many sockets (each may pass a full limit by a packet).
    kernel_wide("tcp-buffers", ("tcp-buffers", "1", "64"), socket_bound(MEM), OK | OOM, MEM_OPTS),
    kernel_wide("tcp-buffers-many-sockets", ("tcp-buffers", "16", "250"), socket_bound(MEM), OK | OOM,
                MEM_OPTS),
    kernel_wide("tcp-buffers-default-limit", ("tcp-buffers", "4", "250"), socket_bound(DEFAULT_MEM),
                OK | OOM),
    kernel_wide("udp-buffers", ("udp-buffers", "64"), socket_bound(MEM), OK | OOM, MEM_OPTS),
    kernel_wide("udp-buffers-default-limit", ("udp-buffers", "64"), socket_bound(DEFAULT_MEM), OK | OOM),
    # Charged to the memory limit with the rest: the cgroup's OOM killer ends them.
    kernel_wide("unix-buffers", ("unix-buffers", "64"), MEM, OK | OOM, MEM_OPTS),
    kernel_wide("pipe-buffers", ("pipe-buffers", "256"), MEM, OK | OOM, MEM_OPTS),
    kernel_wide("sysv-msg", ("sysv-msg",), MEM, OK | OOM, MEM_OPTS),
    kernel_wide("sysv-shm", ("sysv-shm",), MEM, OK | OOM, MEM_OPTS),
    kernel_wide("memfd-fill", ("memfd-fill",), MEM, OK | OOM, MEM_OPTS),
    kernel_wide("mlock-many-processes", ("mlock", "8"), MEM, OK | OOM, MEM_OPTS),
    # 200,000 watches would hold more than 16 MiB: killed, or refused before.
    kernel_wide("epoll-watches", ("epoll-watches", "500"), 200000, OK | OOM, ("--memory", "16M")),
    # Counted per user, and the sandbox's id is its own.
    kernel_wide("unix-inflight", ("unix-inflight",), NOFILE + SCM_MAX_FD, opts=("--nofile", str(NOFILE))),
    kernel_wide("unix-inflight-default-limit", ("unix-inflight",), DEFAULT_NOFILE + SCM_MAX_FD),
    kernel_wide("signal-queue", ("signal-queue",), SIGPENDING),
    kernel_wide("posix-timers", ("posix-timers",), SIGPENDING),
    kernel_wide("inotify-instances", ("inotify-instances",), INOTIFY_INSTANCES),
    kernel_wide("inotify-watches", ("inotify-watches", "/usr"), INOTIFY_WATCHES),
    kernel_wide("mlock", ("mlock", "1"), MEMLOCK),
    # Landlock refuses the queue's file (outside every writable path); RLIMIT_MSGQUEUE behind.
    kernel_wide("mq-bytes", ("mq-bytes",), MSGQUEUE),
    # Files: at most --nofile in each of --pids processes.
    kernel_wide("open-files", ("open-files", "6"), 8 * NOFILE,
                opts=("--pids", "8", "--nofile", str(NOFILE))),
    kernel_wide("open-files-default-limit", ("open-files", "100"), 128 * DEFAULT_NOFILE),
    kernel_wide("ptys", ("ptys",), PTY_MAX, via="pty"),
]

RW = ("--rw", "{rw}:/data")          # a writable host directory
RO = ("--ro", "{suid_dir}:/suid")     # a read-only one, holding a setuid-root helper
SOCKS = ("--ro", "{sockdir}")          # a host directory holding host daemons' sockets
SOCKS_ELSEWHERE = ("--ro", "{sockdir}:/srv/s")
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
    # Host services behind pathname sockets in a read-only view: connect, sendto, sendmsg,
    # each socket type, through a link, at another destination, in a --root tree.
    pytest.param(Attack(("unix-connect", "{sockdir}/stream.sock"), opts=SOCKS), id="unix-connect-ro-bind"),
    pytest.param(Attack(("unix-connect", "{sockdir}/seqpacket.sock"), opts=SOCKS), id="unix-connect-seqpacket"),
    pytest.param(Attack(("unix-connect", "{sockdir}/link.sock"), opts=SOCKS), id="unix-connect-through-link"),
    pytest.param(Attack(("unix-connect", "/srv/s/stream.sock"), opts=SOCKS_ELSEWHERE), id="unix-connect-ro-bind-dst"),
    pytest.param(Attack(("unix-send", "{sockdir}/dgram.sock"), opts=SOCKS), id="unix-sendto-sendmsg-dgram"),
    pytest.param(Attack(("unix-connect", "/s/stream.sock"), opts=("--root", "{rootfs}")), id="unix-connect-in-root"),
    pytest.param(Attack(("unix-connect", "{sockdir}/sub/stream.sock"), opts=SOCKS), id="unix-connect-in-submount"),
    # Families the policy refuses, reached another way (socketpair, odd types, protocols).
    pytest.param(Attack(("socket-families",)), id="socket-families"),
    # Other processes' activity on shared files: watches and locks.
    pytest.param(Attack(("watch", "inotify", "/etc", "2"), during=others_use("/etc/hostname", "/etc/shadow",
                        sandboxed=[("cat", "/etc/passwd")]), check=nothing_reached), id="inotify-etc"),
    pytest.param(Attack(("watch", "inotify", "/usr/bin", "2"), during=others_use("/usr/bin/true",
                        sandboxed=[("true",)]), check=nothing_reached), id="inotify-usr-bin"),
    pytest.param(Attack(("watch", "inotify", "{sockdir}", "2"), opts=SOCKS, during=others_use("{sockdir}"),
                        check=nothing_reached), id="inotify-ro-bind"),
    pytest.param(Attack(("watch", "inotify", "/dev/null", "2"), during=others_use("/dev/null",
                        sandboxed=[("sh", "-c", "echo > /dev/null")]), check=nothing_reached), id="inotify-dev"),
    pytest.param(Attack(("watch", "dnotify", "/etc", "2"), during=others_use("/etc/hostname"),
                        check=nothing_reached), id="dnotify-etc"),
    pytest.param(Attack(("watch", "fanotify", "/etc", "2")), id="fanotify"),
    pytest.param(Attack(("lock", "flock", "/etc/hostname", "3"), during=host_locks("flock", "/etc/hostname"),
                        check=nothing_reached), id="flock-etc-hostname"),
    pytest.param(Attack(("lock", "posix", "/etc/hostname", "3"), during=host_locks("posix", "/etc/hostname"),
                        check=nothing_reached), id="posix-lock-etc-hostname"),
    pytest.param(Attack(("lock", "ofd", "{sockdir}/file", "3"), opts=SOCKS,
                        during=host_locks("ofd", "{sockdir}/file"), check=nothing_reached), id="ofd-lock-ro-bind"),
    pytest.param(Attack(("lock", "lease", "/user/file", "3"), opts=("--ro", "{userdir}:/user"),
                        during=host_locks("lease", "{userdir}/file"), check=nothing_reached), id="lease-ro-bind"),
    # Files mounted on their own below a read-only tree (as container engines mount
    # /etc/resolv.conf), or named as the source: what the sandbox holds is a copy, so its
    # locks, watches and a FIFO's writes reach no host process.
    pytest.param(Attack(("lock", "flock", "{sockdir}/mounted-file", "3"), opts=SOCKS,
                        during=host_locks("flock", "{sockdir}/mounted-file"), check=nothing_reached),
                 id="flock-file-mount"),
    pytest.param(Attack(("lock", "posix", "/f", "3"), opts=("--ro", "{sockdir}/mounted-file:/f"),
                        during=host_locks("posix", "{sockdir}/mounted-file"), check=nothing_reached),
                 id="posix-lock-file-mount-source"),
    pytest.param(Attack(("watch", "inotify", "{sockdir}/mounted-file", "2"), opts=SOCKS,
                        during=others_use("{sockdir}/mounted-file"), check=nothing_reached),
                 id="inotify-file-mount"),
    pytest.param(Attack(("open-write", "{sockdir}/mounted-fifo"), opts=SOCKS, check=fifo_unwritten),
                 id="fifo-mount-write"),
    pytest.param(Attack(("open-write", "/tmp/p"), opts=("--ro", "{sockdir}/mounted-fifo:/tmp/p"), check=fifo_unwritten),
                 id="fifo-mount-source-write"),
    # The caller's stdin, a host file or /dev/null: the program reads it through a pipe.
    pytest.param(Attack(("lock", "flock", "fd:0", "3"), via="stdin-file",
                        during=host_locks("flock", "{stdin}"), check=nothing_reached), id="flock-stdin-file"),
    pytest.param(Attack(("watch", "inotify", "/proc/self/fd/0", "2"), via="stdin-devnull",
                        during=others_use("/dev/null"), check=nothing_reached), id="inotify-stdin-devnull"),
    pytest.param(Attack(("lock", "flock", "fd:2", "3"), via="stderr-file", opts=("--output-limit", "0"),
                        during=host_locks("flock", "{stderr}"), check=nothing_reached), id="flock-stderr-file"),
    pytest.param(Attack(("raw-socket",), SECCOMP), id="raw-socket"),
    pytest.param(Attack(("packet-socket",), SECCOMP), id="packet-socket"),
    # The kernel's attack surface and the machine.
    pytest.param(Attack(("bpf",), SECCOMP), id="bpf-prog-load"),
    pytest.param(Attack(("keyctl",), SECCOMP), id="keyctl"),
    pytest.param(Attack(("add-key",), SECCOMP), id="add-key"),
    pytest.param(Attack(("request-key",), SECCOMP), id="request-key"),
    pytest.param(Attack(("userfaultfd",), SECCOMP), id="userfaultfd"),
    pytest.param(Attack(("io-uring",), SECCOMP), id="io-uring-setup"),
    pytest.param(Attack(("aio-setup",)), id="aio-setup"),
    pytest.param(Attack(("fanotify-init",)), id="fanotify-init"),
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
    # The caller's terminal: citadel runs in a terminal of the test's (all its stdio, its
    # controlling terminal); the program goes for it by each route, then tries to leave
    # it damaged (tests/attack/attack.c a_tty). It must get a terminal of its own.
    *[pytest.param(Attack(("tty", game, tty), via="tty", check=terminal_unchanged), id=f"tty-{game}{suffix}")
      for game in ("damage", "notty", "flush") for tty, suffix in (("-", ""), ("/dev/tty", "-dev-tty"))],
    pytest.param(Attack(("tty", "sctty", "-"), via="tty", check=terminal_unchanged), id="tty-sctty"),
    pytest.param(Attack(("tty", "jobctl", "-"), via="tty", check=lambda run, host: (
        terminal_unchanged(run, host), within(10)(run, host))), id="tty-jobctl"),
    pytest.param(Attack(("tty", "hold", "-"), via="tty", check=terminal_unchanged, settle=1.5), id="tty-hold"),
    pytest.param(Attack(("tty", "hold", "/dev/tty"), via="tty", check=terminal_unchanged, settle=1.5),
                 id="tty-hold-dev-tty"),
    *[pytest.param(Attack(("tty", "write", tty), OK | OUTPUT, ("--output-limit", "1M"), via="tty",
                          check=terminal_shows_at_most(1 << 20)), id=f"tty-write{suffix}")
      for tty, suffix in (("-", ""), ("/dev/tty", "-dev-tty"))],
    # Other system call entries.
    pytest.param(Attack(("x32-getpid",), SECCOMP), id="x32-syscall"),
    pytest.param(Attack(("i386-getpid",), I386), id="i386-int80"),
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
    *KERNEL_WIDE,
]

# The rows also run warm: no bind (the helper comes on stdin instead), no terminal, stdin
# free for the helper.
WARM_IDS = {
    "read-host-secret", "read-etc-shadow", "write-root", "write-etc-passwd", "write-core-pattern",
    "proc-self-root", "proc-init-root", "proc-init-exe", "proc-init-exe-write", "proc-init-environ",
    "proc-init-mem", "chdir-dotdot", "mknod-dev-null", "capset", "kill-canary",
    "pidfd-kill-canary", "proc-pids", "ptrace-attach-canary", "process-vm-readv-canary", "mount-tmpfs",
    "unshare-user", "setns-init-mnt", "connect-host-tcp", "abstract-unix", "keyctl", "add-key",
    "inherited-host-dir-fd", "socket-families", "inotify-etc", "inotify-usr-bin", "inotify-dev", "dnotify-etc",
    "fanotify", "flock-etc-hostname", "posix-lock-etc-hostname", "fork-bomb-default-limit",
    "memory-bomb-default-limit", "tmp-fill-default-limit", "timeout", "output-flood", "request-key", "aio-setup",
    "fanotify-init", "tcp-buffers-default-limit", "udp-buffers-default-limit", "unix-inflight-default-limit",
    "signal-queue", "posix-timers", "inotify-instances", "inotify-watches", "open-files-default-limit",
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
    pytest.param(Attack(("unix-connect", "{sockdir}/stream.sock")), id="unix-connect"),
    pytest.param(Attack(("unix-send", "{sockdir}/dgram.sock")), id="unix-sendto-dgram"),
    pytest.param(Attack(("socket-families",)), id="socket-families"),
    pytest.param(Attack(("watch", "inotify", "/etc", "2"), during=others_use("/etc/hostname")), id="inotify-etc"),
    pytest.param(Attack(("lock", "flock", "/etc/hostname", "3"), during=host_locks("flock", "/etc/hostname")),
                 id="flock-etc-hostname"),
    pytest.param(Attack(("tiocsti", "-"), via="pty"), id="tiocsti-stdin"),
    pytest.param(Attack(("aio-setup",)), id="aio-setup"),
    pytest.param(Attack(("fanotify-init",)), id="fanotify-init"),
    pytest.param(Attack(("inherited-fds",), via="fd"), id="inherited-host-dir-fd"),
    pytest.param(Attack(("read-file", "/proc/self/fd/1"), via="stdout-file"),
                 id="reopen-stdout-file-for-reading"),
    pytest.param(Attack(("write-file", "/proc/self/fd/0"), via="stdin-file"),
                 id="reopen-stdin-file-for-writing"),
    # What the kernel-wide rows pin, unbounded: more than the sandbox's bound. Not the
    # System V ones: their objects would stay in the host's IPC namespace; nor mq-bytes:
    # the host's own RLIMIT_MSGQUEUE may be below the sandbox's.
    *(pytest.param(p.values[0], id=p.id) for p in KERNEL_WIDE
      if not p.id.startswith("sysv-") and not p.id.endswith("-default-limit") and p.id != "mq-bytes"),
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


def lasting_orphans(window=3.0):
    """orphans() that stay orphans for the whole window (seconds). A process between
    unshare and its sandbox's init (a warm pool's keeper making the next sandbox) is briefly
    of a sandbox's uid with no init yet; a process left behind by a sandbox stays."""
    deadline = time.monotonic() + window
    left = orphans()
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in orphans() if p in left]
    return left


def take_ctty():
    """In citadel's child, after setsid: the pty on stdin becomes its controlling tty."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def terminal_state(master, fd):
    """What a program could leave changed on the terminal fd (master: its other end):
    line discipline, modes, window size, exclusive use, and whether output flows (a
    stopped terminal takes none: a byte written to it never reaches the master)."""
    ldisc = struct.unpack("i", fcntl.ioctl(fd, termios.TIOCGETD, b"\0" * 4))[0]
    try:
        modes = termios.tcgetattr(fd)
    except termios.error as e:  # another line discipline may not answer
        modes = f"unreadable: {e}"
    size = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    excl = struct.unpack("i", fcntl.ioctl(fd, TIOCGEXCL, b"\0" * 4))[0]
    os.set_blocking(fd, False)
    try:
        os.write(fd, b"\0")
        flowing = bool(select.select([master], [], [], 1)[0]) and os.read(master, 4096) == b"\0"
    except OSError:  # EAGAIN: stopped; EOPNOTSUPP: a line discipline that takes no output
        flowing = False
    finally:
        os.set_blocking(fd, True)
    return ldisc, modes, size, excl, flowing


TIOCGEXCL = 0x80045440  # _IOR('T', 0x40, int): not in Python's termios


def run_in_terminal(cmd, settle, popen):
    """Runs cmd with a terminal of ours as its stdin, stdout, stderr and controlling
    terminal, reading what it shows; returns (status, screen, terminal before and after,
    what was typed into it). The terminal is judged `settle` seconds after the end."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    try:
        before = terminal_state(master, slave)
        proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                                preexec_fn=take_ctty, env=popen["env"])
        screen = b""
        end = time.monotonic() + popen["timeout"]
        while time.monotonic() < end and (proc.poll() is None or select.select([master], [], [], 0.2)[0]):
            if select.select([master], [], [], 0.05)[0]:
                try:
                    screen += os.read(master, 1 << 20)
                except OSError:
                    break
        if proc.poll() is None:
            proc.kill()
        status = proc.wait()
        time.sleep(settle)
        after = terminal_state(master, slave)
        # What is queued for reading, typed or injected: readable once not line by line.
        try:
            mode = termios.tcgetattr(slave)
            mode[3] &= ~termios.ICANON
            termios.tcsetattr(slave, termios.TCSANOW, mode)
            os.set_blocking(slave, False)
            injected = os.read(slave, 4096)
        except (termios.error, OSError):
            injected = b""
        return status, screen, (before, after), injected
    finally:
        os.close(master)
        os.close(slave)


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
        # Host daemons' pathname sockets (mode 0777: any process may connect), in a
        # directory, in a mount below it, and in a --root tree; a file to lock.
        self.sockdir = tmp / "sockets"
        (self.sockdir / "sub").mkdir(parents=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "citadel-escape", str(self.sockdir / "sub")],
                       check=True)
        self.rootfs = tmp / "rootfs"
        (self.rootfs / "s").mkdir(parents=True)
        self.listeners = [self.unix_listener(self.sockdir / "stream.sock", socket.SOCK_STREAM),
                          self.unix_listener(self.sockdir / "seqpacket.sock", socket.SOCK_SEQPACKET),
                          self.unix_listener(self.sockdir / "sub" / "stream.sock", socket.SOCK_STREAM),
                          self.unix_listener(self.rootfs / "s" / "stream.sock", socket.SOCK_STREAM)]
        self.dgram = self.unix_listener(self.sockdir / "dgram.sock", socket.SOCK_DGRAM)
        (self.sockdir / "link.sock").symlink_to("stream.sock")
        (self.sockdir / "file").write_bytes(b"lock me\n")
        # A file and a FIFO mounted on their own below it; the host reads the FIFO.
        (tmp / "mount-src").write_bytes(b"a file mounted on its own\n")
        os.mkfifo(tmp / "fifo-src")
        os.chmod(tmp / "fifo-src", 0o666)  # any process may write to it
        for name, src in (("mounted-file", "mount-src"), ("mounted-fifo", "fifo-src")):
            (self.sockdir / name).write_bytes(b"beneath the mount\n")
            subprocess.run(["mount", "--bind", str(tmp / src), str(self.sockdir / name)], check=True)
        self.fifo_reader = os.open(self.sockdir / "mounted-fifo", os.O_RDONLY | os.O_NONBLOCK)
        # A user's directory (idmapped when bound: the sandbox owns its files there).
        self.userdir = tmp / "user"
        self.userdir.mkdir()
        (self.userdir / "file").write_bytes(b"the user's\n")
        for p in (self.userdir, self.userdir / "file"):
            os.chown(p, 4242, 4242)
        self.fields = {"secret": str(self.secret), "rw": str(self.rw), "suid_dir": str(self.suid_dir),
                       "canary": str(self.canary.pid), "port": str(self.tcp.getsockname()[1]),
                       "abstract": self.abstract, "sockdir": str(self.sockdir), "rootfs": str(self.rootfs),
                       "userdir": str(self.userdir), "stdin": str(tmp / "stdin"), "stderr": str(tmp / "stderr")}

    @staticmethod
    def unix_listener(path, kind):
        sock = socket.socket(socket.AF_UNIX, kind)
        sock.bind(str(path))
        os.chmod(path, 0o777)
        if kind != socket.SOCK_DGRAM:
            sock.listen(4)
        sock.setblocking(False)
        return sock

    def close(self):
        self.canary.kill()
        self.canary.wait()
        for sock in (self.tcp, self.unix, self.dgram, *self.listeners):
            sock.close()
        os.close(self.fifo_reader)
        umount_all([self.sockdir / name for name in ("sub", "mounted-file", "mounted-fifo")])

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
        for listener in (self.tcp, self.unix, *self.listeners):
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                continue
            conn.close()
            pytest.fail(f"the listener at {listener.getsockname()!r} got a connection")
        try:
            got = self.dgram.recv(64)
            pytest.fail(f"the datagram socket received {got!r}")
        except BlockingIOError:
            pass
        left = lasting_orphans()
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
          tty          stdin, stdout and stderr are a pty in its default modes, the
                       controlling terminal; the run's output is what it showed
          fd           a host directory is open, inheritable, as the command starts
          stdout-file  stdout is a host file holding SECRET, opened write-only
          stdin-file   stdin is a host file holding SECRET, mode 0666, opened read-only
          stdin-devnull  stdin is the host's /dev/null
          stderr-file  stderr is a host file (only with Attack.during)"""
        args, stdin = self.command(attack, mode)
        cmd = args if mode == "host" else [str(CITADEL), "run", *args]
        popen = {"env": ENV, "timeout": 60, "capture_output": True}
        start = time.monotonic()
        injected, out_file, terminal = b"", None, ()
        if attack.via == "tty":
            status, screen, terminal, injected = run_in_terminal(cmd, attack.settle, popen)
            return Run(status, screen.decode(errors="replace"), "", time.monotonic() - start, injected,
                       terminal=terminal)
        if attack.during:
            proc, injected = self.run_during(attack, cmd, stdin), b""
        elif attack.via == "pipe" and mode != "host":
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
            with self.stdin_file() as f:
                proc = subprocess.run(cmd, stdin=f, **popen)
            assert (self.tmp / "stdin").read_bytes() == SECRET, "the host file on stdin changed"
        else:
            raise ValueError(attack.via)
        out = proc.stdout if out_file is None else out_file.read_bytes()[len(SECRET):]
        return Run(proc.returncode, out.decode(errors="replace"), proc.stderr.decode(errors="replace"),
                   time.monotonic() - start, injected, reached=getattr(proc, "reached", ""))

    def stdin_file(self):
        in_file = self.tmp / "stdin"
        in_file.write_bytes(SECRET)
        in_file.chmod(0o666)
        return open(in_file, "rb")

    def run_during(self, attack, cmd, stdin):
        """Runs cmd; once the helper's first line says it is in place (a watch, a lock),
        attack.during acts as the other processes and says what reached them. stdin is
        what to write to the command's stdin pipe, or attack.via names another stdin or
        stdout (see run())."""
        source = {"stdin-file": self.stdin_file, "stdin-devnull": lambda: open(os.devnull, "rb")}.get(attack.via)
        stdin_file = source() if source else None
        err_file = open(self.tmp / "stderr", "w+b") if attack.via == "stderr-file" else None
        proc = subprocess.Popen(cmd, stdin=stdin_file or subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err_file or subprocess.PIPE, env=ENV)
        first, reached = b"", ""
        try:
            if stdin_file:
                stdin_file.close()
            else:
                proc.stdin.write(stdin or b"")
                proc.stdin.close()
                proc.stdin = None  # communicate() below has nothing more to send
            deadline = time.monotonic() + 30
            while not first.endswith(b"\n") and time.monotonic() < deadline:
                ready, _, _ = select.select([proc.stdout], [], [], 1)
                chunk = os.read(proc.stdout.fileno(), 1) if ready else b""
                if ready and not chunk:
                    break
                first += chunk
            if first.startswith(b"DONE "):
                reached = attack.during(self)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if err_file:
                err_file.seek(0)
                err = err_file.read()
                err_file.close()
        return types.SimpleNamespace(returncode=proc.returncode, stdout=first + out, stderr=err, reached=reached)


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
        for _ in range(300):  # the helper and its child, asleep
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
    left = lasting_orphans()
    assert not left, f"processes outlived their sandbox: {left}"


@pytest.mark.parametrize("row", [p for p in ROWS if p.id in (
    "tty-damage", "tty-damage-dev-tty", "tty-jobctl", "tty-hold", "tty-write")])
def test_terminal_attack_works_unconfined(host, row):
    """The terminal rows, run on the host: there each leaves the terminal changed (or, for
    the write, floods it)."""
    run = host.run(row, "host")
    with pytest.raises(AssertionError):
        row.check(run, host)


@pytest.mark.parametrize("row", UNCONFINED)
def test_attack_works_unconfined(host, row):
    run = host.run(row, "host")
    if row.during and row.argv[0] == "lock":  # the helper cannot tell; the host's lock can
        assert run.reached, f"the lock did not reach the host:\n{run}"
        return
    assert run.status == ESCAPED and "ESCAPED " in run.out, f"the attack failed on the host:\n{run}"
    if row.argv[0].startswith("tiocsti"):
        assert run.injected == b"#"


@pytest.mark.parametrize("mode", ["cold", "warm"])
def test_host_socket_in_the_system_view(host, warm_pool, mode):
    """A host daemon's socket inside the system directories every sandbox sees (here a
    directory the test makes under /opt) refuses the sandbox as one in a bind does."""
    where = Path(f"/opt/citadel-escape-{os.getpid()}")
    where.mkdir()
    try:
        listener = Host.unix_listener(where / "daemon.sock", socket.SOCK_STREAM)
        host.listeners.append(listener)
        attack_and_check(host, Attack(("unix-connect", str(where / "daemon.sock"))), mode)
    finally:
        shutil.rmtree(where)
