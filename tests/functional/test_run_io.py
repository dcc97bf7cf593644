"""citadel run's stdio, its view's edge cases and its errors, as a user meets them: what
the caller's stdin and stdout are afterwards, output that cannot be written, files mounted
on their own, paths that cannot be bound, and messages that say what was wrong."""
import os
import stat
import subprocess
import time

import pytest

from conftest import CITADEL, umount_all

COLD = {**os.environ, "CITADEL_WARM": "0"}  # these runs must start no keeper


def sh(script, **kw):
    """Runs a shell script (with CITADEL set) and returns the completed process."""
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, timeout=60,
                          env={**COLD, "CITADEL": str(CITADEL)}, **kw)


# ---- stdin and stdout ------------------------------------------------------------------

@pytest.mark.parametrize("reader,rest", [
    ("true", b"line1\nline2\nline3\n"),             # reads nothing: the caller's offset stays
    ("head -c 6", b"line2\nline3\n"),               # reads a line's worth: the rest is left
    ("cat", b""),                                   # reads it all
])
def test_a_file_on_stdin_is_left_where_the_program_stopped(tmp_path, reader, rest):
    """A host file on stdin reaches the program through a pipe (so that it never holds the
    host's inode), and the caller's offset moves by what the program read, no more: the
    shell's next command reads on from there."""
    f = tmp_path / "in.txt"
    f.write_bytes(b"line1\nline2\nline3\n")
    r = sh(f'( "$CITADEL" run -- {reader} >/dev/null; cat ) < {f}')
    assert r.returncode == 0 and r.stdout == rest, (r.stdout, r.stderr)


def test_stdin_from_dev_null_and_a_device(tmp_path):
    r = sh('"$CITADEL" run -- sh -c "wc -c; ls -l /proc/self/fd/0" < /dev/null')
    assert r.returncode == 0 and r.stdout.startswith(b"0\n") and b"pipe:" in r.stdout, r.stdout
    r = sh('"$CITADEL" run -- head -c 100000 < /dev/zero | wc -c')
    assert r.stdout.strip() == b"100000", r


@pytest.mark.parametrize("opts,redirect,stream", [
    ("", "> /dev/full", "stdout"),
    ("", ">&-", "stdout"),
    ("--output-limit 0", "> /dev/full", "stdout"),
    ("", "2> /dev/full", "stderr"),
])
def test_output_that_cannot_be_written_is_an_error(opts, redirect, stream):
    """Output that could not be delivered (a full disk, a closed fd) is lost: citadel says
    so (where it can: not on a stderr that refuses) and exits 125, as echo(1) would fail,
    instead of reporting success."""
    out = "echo hi" if stream == "stdout" else "echo hi >&2"
    r = sh(f'"$CITADEL" run {opts} -- sh -c "{out}" {redirect}; echo "status=$?"')
    assert r.stdout.endswith(b"status=125\n"), (r.stdout, r.stderr)
    if stream == "stdout":
        assert b"writing its stdout" in r.stderr, r.stderr


def test_a_reader_that_leaves_is_no_error():
    """`| head` closing the pipe is the pipeline's business: the program sees EPIPE, as it
    would without citadel, and nothing is reported."""
    r = sh('"$CITADEL" run -- yes | head -n 2')
    assert r.returncode == 0 and r.stdout == b"y\ny\n" and r.stderr == b"", r


# ---- what the command is ---------------------------------------------------------------

def test_the_command_is_looked_up_in_the_sandbox_path(tmp_path):
    """The sandbox's PATH (its default, or --env PATH) finds the command, never the
    caller's: a cold and a warm run find the same."""
    tmp_path.chmod(0o755)
    (tmp_path / "mytool").write_text("#!/bin/sh\necho mytool ran\n")
    (tmp_path / "mytool").chmod(0o755)
    r = subprocess.run([str(CITADEL), "run", "--env", "PATH=/mybin:/usr/bin:/bin", "--ro", f"{tmp_path}:/mybin",
                        "--", "mytool"], capture_output=True, env=COLD, timeout=60)
    assert r.returncode == 0 and r.stdout == b"mytool ran\n", r
    r = subprocess.run([str(CITADEL), "run", "--ro", str(tmp_path), "--", "mytool"], capture_output=True,
                       env={**COLD, "PATH": f"{tmp_path}:{os.environ['PATH']}"}, timeout=60)
    assert r.returncode == 127 and b"not found in the sandbox's PATH" in r.stderr, r


def _descendants(pid):
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in map(int, f.read().split()):
                    found += [child, *_descendants(child)]
    except OSError:
        pass
    return found


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def test_ps_shows_the_arguments_as_given(tmp_path):
    p = subprocess.Popen([str(CITADEL), "run", "--ro", f"{tmp_path}:/data", "--", "sleep", "5"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=COLD)
    try:
        deadline = time.monotonic() + 30  # until the program runs: citadel is done setting up
        while b"sleep\x005\x00" not in map(_cmdline, _descendants(p.pid)):
            assert p.poll() is None and time.monotonic() < deadline, "the program did not start"
            time.sleep(0.02)
        args = open(f"/proc/{p.pid}/cmdline", "rb").read().split(b"\0")
        assert f"{tmp_path}:/data".encode() in args, args
    finally:
        p.kill()
        p.wait()


# ---- the view --------------------------------------------------------------------------

@pytest.fixture
def mounted(tmp_path):
    """A directory holding a file and a FIFO that are each mounted on their own (as
    container engines mount /etc/resolv.conf), over files holding something else."""
    d = tmp_path / "tree"
    d.mkdir()
    (tmp_path / "real").write_bytes(b"the mounted file\n")
    os.chmod(tmp_path / "real", 0o604)
    os.chown(tmp_path / "real", 4242, 4243)
    os.mkfifo(tmp_path / "fifo")
    mounts = []
    for name, src in (("file", "real"), ("pipe", "fifo")):
        (d / name).write_bytes(b"hidden beneath the mount\n")
        subprocess.run(["mount", "--bind", str(tmp_path / src), str(d / name)], check=True)
        mounts.append(d / name)
    yield d
    umount_all(mounts)


def test_a_file_mounted_on_its_own_is_shown_as_a_copy(mounted):
    """The file's content, owner and mode, as a host file would show, and a FIFO as a
    FIFO: what the host mounted, never what lies beneath it."""
    for args in (["--ro", str(mounted)], ["--ro", f"{mounted}/file:{mounted}/file", "--ro",
                                          f"{mounted}/pipe:{mounted}/pipe"]):
        r = subprocess.run([str(CITADEL), "run", *args, "--", "sh", "-c",
                            f"cat {mounted}/file; stat -c '%A %s' {mounted}/file {mounted}/pipe"],
                           capture_output=True, env=COLD, timeout=60)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.decode().splitlines()
        assert lines[0] == "the mounted file", lines
        assert lines[1] == f"-rw----r-- {len(b'the mounted file') + 1}", lines
        assert lines[2].startswith("prw"), lines


def test_a_big_file_mounted_on_its_own_is_refused_with_a_reason(tmp_path):
    d = tmp_path / "tree"
    d.mkdir()
    (d / "big").write_bytes(b"")
    with open(tmp_path / "big-src", "wb") as f:
        f.truncate(17 << 20)
    subprocess.run(["mount", "--bind", str(tmp_path / "big-src"), str(d / "big")], check=True)
    try:
        r = subprocess.run([str(CITADEL), "run", "--ro", str(d), "--", "true"], capture_output=True, env=COLD,
                           timeout=60)
    finally:
        umount_all([d / "big"])
    assert r.returncode == 125 and b"mounted on its own, of more than 16 MiB" in r.stderr, r.stderr


@pytest.mark.parametrize("src", ["/proc", "/proc/self", "/sys", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/pids",
                                 "/dev", "/dev/null"])
@pytest.mark.parametrize("kind", ["--ro", "--rw"])
def test_kernel_filesystems_are_never_bound(src, kind):
    """/proc, /sys, cgroups, the host's /dev: the kernel's view of the host, not data."""
    r = subprocess.run([str(CITADEL), "run", kind, f"{src}:/host", "--", "true"], capture_output=True, env=COLD,
                       timeout=60)
    assert r.returncode == 125 and b"kernel's view of the host" in r.stderr, r.stderr


@pytest.mark.parametrize("kind", ["--ro", "--rw"])
def test_kernel_filesystems_below_a_bound_tree_are_left_out(tmp_path, kind):
    """A procfs mounted below a tree stays hidden (an empty directory) in the view, read-only
    or writable; a tmpfs there is shown."""
    tree = tmp_path / "tree"
    (tree / "p").mkdir(parents=True)
    (tree / "t").mkdir()
    subprocess.run(["mount", "-t", "proc", "proc", str(tree / "p")], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "t", str(tree / "t")], check=True)
    try:
        (tree / "t" / "on-tmpfs").write_bytes(b"x")
        r = subprocess.run([str(CITADEL), "run", kind, f"{tree}:/tree", "--", "ls", "/tree/p", "/tree/t"],
                           capture_output=True, env=COLD, timeout=60)
    finally:
        umount_all([tree / "p", tree / "t"])
    assert r.returncode == 0 and r.stdout == b"/tree/p:\n\n/tree/t:\non-tmpfs\n", r


@pytest.mark.parametrize("dst", ["/proc", "/proc/sys/user", "/dev", "/dev/null", "/dev/shm/x"])
def test_the_sandbox_own_proc_and_dev_cannot_be_replaced(tmp_path, dst):
    r = subprocess.run([str(CITADEL), "run", "--rw", f"{tmp_path}:{dst}", "--", "true"], capture_output=True,
                       env=COLD, timeout=60)
    assert r.returncode == 125 and b"of its own" in r.stderr, r.stderr


# ---- errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("args,says", [
    (["--ro", ""], b"an empty path"),
    (["--rw", ""], b"an empty path"),
    (["--ro", ":/x"], b"an empty path"),
    (["--ro", "/tmp:"], b"an empty path"),
    (["--allow-socket", ""], b"an empty path"),
    (["--root", ""], b"an empty path"),
    (["--env", ""], b"NAME=VALUE"),
    (["--env", "--"], b"NAME=VALUE"),
    (["--env", "=x"], b"NAME=VALUE"),
    (["--ro", "/tmp:x"], b"splits at the first ':'"),
])
def test_empty_and_split_paths_are_refused(args, says):
    """An unset variable ($DIR) must not become the current directory, writable."""
    r = subprocess.run([str(CITADEL), "run", *args, "--", "true"], capture_output=True, env=COLD, timeout=60)
    assert r.returncode == 125 and says in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


def test_a_long_path_error_keeps_its_reason():
    path = "/" + "/".join(["d" * 200] * 19)
    r = subprocess.run([str(CITADEL), "run", "--ro", path, "--", "true"], capture_output=True, env=COLD,
                       timeout=60)
    assert r.returncode == 125 and r.stderr.endswith(b"No such file or directory\n"), r.stderr
    assert len(r.stderr.splitlines()) == 1 and b"..." in r.stderr


@pytest.mark.parametrize("args", [["--memory", "1M"], ["--tmp-size", "1"], ["--ro", "/x:/proc"]])
def test_a_validation_error_is_not_followed_by_an_errno_text(args):
    r = subprocess.run([str(CITADEL), "run", *args, "--", "true"], capture_output=True, env=COLD, timeout=60)
    assert r.returncode == 125 and not r.stderr.rstrip().endswith((b"Invalid argument", b"list too long")), \
        r.stderr


def test_commands_are_told_apart_in_one_line_each():
    r = subprocess.run([str(CITADEL), "bogus"], capture_output=True, timeout=60)
    assert r.returncode == 2 and r.stderr == b"citadel: unknown command 'bogus'\nsee 'citadel --help'\n"
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(CITADEL), "serve",
                        "--socket", "/nonexistent/x.sock"], capture_output=True, timeout=60)
    assert r.returncode == 1 and b"needs root" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
