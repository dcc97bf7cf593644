"""Exec functions with a bundle (docs/functions.md, "Bundles: a program with its own
files"): the CLI packs a directory into a canonical tar archive, the monitor unpacks it in
a confined program, and the function runs its program from it, read-only at /bundle.
Archives the CLI would never make are sent byte for byte by tests/tools/raw_deploy."""
import hashlib
import io
import os
import shutil
import socket
import stat
import subprocess
import tarfile
import time

import pytest
from conftest import BUILD, CITADEL
from test_exec import Mon

RAW_DEPLOY = BUILD / "tests" / "raw_deploy"

RUN_SH = """#!/bin/sh
# the working directory is the bundle; the request is stdin
printf 'cwd=%s\\n' "$(pwd)"
cat data/greeting.txt
tr a-z A-Z
"""


@pytest.fixture(scope="module")
def mon(tmp_path_factory):
    m = Mon(tmp_path_factory.mktemp("bundle"))
    yield m
    m.stop()


def make_bundle(root):
    """A small tree: a script, data beside it, a link inside, a deep and a long name."""
    (root / "bin").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "bin" / "run.sh").write_text(RUN_SH)
    (root / "bin" / "run.sh").chmod(0o700)
    (root / "data" / "greeting.txt").write_text("hello from the bundle\n")
    (root / "data" / "greeting.txt").chmod(0o600)
    os.symlink("data/greeting.txt", root / "greeting")
    long_dir = root / ("d" * 90) / ("e" * 90)
    long_dir.mkdir(parents=True)
    (long_dir / ("f" * 99)).write_bytes(b"long name\n")
    (root / ("g" * 120)).write_bytes(b"needs a pax header\n")
    return root


def canonical_tar(top):
    """The archive docs/architecture.md ("Bundles") defines, written from the tree alone."""
    out = bytearray()

    def octal(v, width):
        return b"%0*o" % (width - 1, v) + b"\0"

    def header(name, typ, mode, size=0, link=b""):
        h = bytearray(512)
        if len(name) > 100:
            split = None
            for i in range(len(name) - 1, 0, -1):
                if name[i:i + 1] == b"/" and len(name) - i - 1 <= 100 and i + 1 < len(name):
                    split = i
                    if i <= 155:
                        break
            if split is not None and split <= 155:
                h[345:345 + split] = name[:split]
                h[0:len(name) - split - 1] = name[split + 1:]
            else:
                pax(b"path", name)
                h[0:100] = name[:100]
        else:
            h[0:len(name)] = name
        if len(link) > 100:
            pax(b"linkpath", link)
        h[157:157 + min(len(link), 100)] = link[:100]
        h[100:108] = octal(mode, 8)
        h[108:116] = octal(0, 8)
        h[116:124] = octal(0, 8)
        h[124:136] = octal(size, 12)
        h[136:148] = octal(0, 12)
        h[156:157] = typ
        h[257:263] = b"ustar\0"
        h[263:265] = b"00"
        h[329:337] = octal(0, 8)
        h[337:345] = octal(0, 8)
        h[148:156] = b" " * 8
        h[148:156] = b"%06o\0 " % sum(h)
        out.extend(h)

    def pad():
        out.extend(b"\0" * (-len(out) % 512))

    def pax(key, value):
        body = 1 + len(key) + 1 + len(value) + 1
        n = body + 1
        while n != body + len(str(n)):
            n = body + len(str(n))
        header(b"PaxHeader", b"x", 0o644, n)
        out.extend(b"%d %s=%s\n" % (n, key, value))
        pad()

    def walk(d, prefix):
        for name in sorted(os.listdir(d), key=os.fsencode):
            p = os.path.join(d, name)
            rel = prefix + os.fsencode(name)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                header(rel, b"2", 0o777, 0, os.fsencode(os.readlink(p)))
            elif stat.S_ISDIR(st.st_mode):
                header(rel + b"/", b"5", 0o755)
                walk(p, rel + b"/")
            else:
                data = open(p, "rb").read()
                header(rel, b"0", 0o755 if st.st_mode & 0o111 else 0o644, len(data))
                out.extend(data)
                pad()

    walk(top, b"")
    out.extend(b"\0" * 1024)
    return bytes(out)


def measurement_of(bundle_dir, command, program_bytes):
    """The measurement docs/architecture.md defines for an exec function with a bundle and
    every option at its default."""
    enc = b"citadel-function 1\nruntime exec 1\n"
    enc += b"memory %d\ntimeout_ms 10000\noutput_bytes %d\n" % (256 << 20, 16 << 20)
    enc += b"max_instances 16\nmin_instances 0\nkeep_alive_s 60\nfresh 0\ncpus_milli 1000\npids 256\n"
    for a in command:
        enc += b"arg %d:%s\n" % (len(a), a.encode())
    enc += b"code sha256:%s\n" % hashlib.sha256(program_bytes).hexdigest().encode()
    enc += b"bundle sha256:%s\n" % hashlib.sha256(canonical_tar(bundle_dir)).hexdigest().encode()
    return hashlib.sha256(enc).hexdigest()


def deployed(r):
    assert r.returncode == 0, r.stderr
    return r.stdout.split(b"measurement ")[1].split(b")")[0].decode()


def test_a_bundled_program_runs_in_its_bundle(mon, tmp_path):
    b = make_bundle(tmp_path / "b")
    deployed(mon.cli("deploy", "greet", "--bundle", str(b), "--", "bin/run.sh"))
    r = mon.invoke("greet", b"shout this")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"cwd=/bundle\nhello from the bundle\nSHOUT THIS", r.stdout
    # Copied at deploy: the directory changing afterwards changes nothing.
    (b / "data" / "greeting.txt").write_text("changed\n")
    assert b"hello from the bundle" in mon.invoke("greet", b"x").stdout


def test_the_measurement_is_recomputed_from_the_files_alone(mon, tmp_path):
    b = make_bundle(tmp_path / "b")
    got = deployed(mon.cli("deploy", "measured", "--bundle", str(b), "--", "bin/run.sh"))
    assert got == measurement_of(b, ["bin/run.sh"], RUN_SH.encode())
    # The same tree elsewhere, with other times and modes but the same execute bits, is
    # the same function; one byte more in a data file is another.
    c = tmp_path / "c"
    shutil.copytree(b, c, symlinks=True)
    os.utime(c / "data" / "greeting.txt", (1, 1))
    (c / "data" / "greeting.txt").chmod(0o644)
    assert deployed(mon.cli("deploy", "measured2", "--bundle", str(c), "--", "bin/run.sh")) == got
    (c / "data" / "greeting.txt").write_text("hello from the bundle!\n")
    other = deployed(mon.cli("deploy", "measured3", "--bundle", str(c), "--", "bin/run.sh"))
    assert other != got and other == measurement_of(c, ["bin/run.sh"], RUN_SH.encode())
    # The archive the monitor keeps the hash of is the canonical one.
    assert (mon.state / "functions" / "measured" / "bundle.sha256").read_text().strip() == \
        hashlib.sha256(canonical_tar(b)).hexdigest()


def test_the_bundle_is_read_only_and_tmpdir_is_writable(mon, tmp_path):
    b = tmp_path / "w"
    b.mkdir()
    (b / "try.sh").write_text("#!/bin/sh\n"
                              "if echo x > /bundle/new 2>/dev/null; then echo WROTE-BUNDLE; fi\n"
                              "if echo x >> try.sh 2>/dev/null; then echo CHANGED-PROGRAM; fi\n"
                              "echo ok > \"$TMPDIR/scratch\" && cat \"$TMPDIR/scratch\"\n")
    (b / "try.sh").chmod(0o755)
    deployed(mon.cli("deploy", "ro", "--bundle", str(b), "--", "./try.sh"))
    r = mon.invoke("ro")
    assert r.returncode == 0 and r.stdout == b"ok\n", (r.stdout, r.stderr)


def test_a_bundled_function_survives_a_monitor_restart(tmp_path):
    b = make_bundle(tmp_path / "b")
    (tmp_path / "mon").mkdir()
    m = Mon(tmp_path / "mon")
    try:
        got = deployed(m.cli("deploy", "kept", "--bundle", str(b), "--", "bin/run.sh"))
        m.stop()
        shutil.rmtree(b)  # the monitor has its own copy
        m = Mon(tmp_path / "mon")
        r = m.invoke("kept", b"again")
        assert r.returncode == 0 and r.stdout.endswith(b"AGAIN"), r.stderr
        assert got[:16].encode() in m.cli("ls").stdout
        # Removed with the function.
        assert m.cli("rm", "kept").returncode == 0
        assert not (tmp_path / "mon" / "state" / "functions" / "kept").exists()
    finally:
        if m.proc.poll() is None:
            m.stop()


def _link_out(b):
    os.symlink("../../etc", b / "evil")
    return b"evil -> ../../etc: a symbolic link out of the bundle"


def _absolute_link(b):
    os.symlink("/etc/passwd", b / "abs")
    return b"abs -> /etc/passwd: a symbolic link out of the bundle"


def _fifo(b):
    os.mkfifo(b / "fifo")
    return b"fifo: a FIFO cannot be in a bundle"


def _socket(b):
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(b / "sock"))
    s.close()
    return b"sock: a socket cannot be in a bundle"


def _too_deep(b):
    (b / "/".join(["d"] * 130)).mkdir(parents=True)
    return b"more than 128 directories deep"


def _link_out_through_links(b):
    # Each reads as inside; resolved through x/l (-> ..), y leads out.
    (b / "x").mkdir()
    os.symlink("..", b / "x" / "l")
    os.symlink("x/l/x/l/x/l/../../../etc", b / "y")
    return b"y -> x/l/x/l/x/l/../../../etc: a symbolic link out of the bundle"


@pytest.mark.parametrize("spoil", [_link_out, _absolute_link, _link_out_through_links, _fifo, _socket, _too_deep])
def test_the_cli_refuses_what_cannot_be_bundled(mon, tmp_path, spoil):
    b = tmp_path / "x"
    b.mkdir()
    (b / "run").write_text("#!/bin/sh\ncat\n")
    (b / "run").chmod(0o755)
    says = spoil(b)
    r = mon.cli("deploy", "bad", "--bundle", str(b), "--", "run")
    assert r.returncode == 1 and says in r.stderr, r.stderr
    assert b"bad " not in mon.cli("ls").stdout


@pytest.mark.parametrize("args, says", [
    (["--bundle", "B", "--", "/bin/cat"], b"must be a path inside the bundle"),
    (["--bundle", "B", "--", "../run"], b"must be a path inside the bundle"),
    (["--bundle", "B", "--", "sub/../../run"], b"must be a path inside the bundle"),
    (["--bundle", "B", "--", "missing"], b"the program is not in the bundle"),
    (["--bundle", "B", "--", "data.txt"], b"not an executable file"),
    (["--bundle", "B", "B/run"], b"--bundle is for exec functions"),
    (["--bundle", "NOPE", "--", "run"], b"No such file or directory"),
    (["--bundle", "B/run", "--", "run"], b"not a directory"),
    (["--bundle", "", "--", "run"], b"--bundle wants a directory"),
])
def test_bad_bundle_deploys_are_refused_clearly(mon, tmp_path, args, says):
    b = tmp_path / "B"
    b.mkdir()
    (b / "run").write_text("#!/bin/sh\ncat\n")
    (b / "run").chmod(0o755)
    (b / "data.txt").write_text("not a program\n")
    args = [str(b) + a[1:] if a.startswith("B") else str(tmp_path / "nope") if a == "NOPE" else a for a in args]
    r = mon.cli("deploy", "badb", *args)
    assert r.returncode in (1, 2) and says in r.stderr, r.stderr
    assert b"badb " not in mon.cli("ls").stdout


def tar_of(entries):
    """A tar archive from (TarInfo, bytes or None) pairs, as another client could send."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def entry(name, type=tarfile.REGTYPE, data=None, link="", mode=0o755):
    i = tarfile.TarInfo(name)
    i.type, i.linkname, i.mode = type, link, mode
    return i, data


RUN = b"#!/bin/sh\ncat\n"


@pytest.mark.parametrize("entries, says", [
    ([entry("run", data=RUN), entry("../escape", data=b"x")], b"has a name outside it"),
    ([entry("run", data=RUN), entry("/etc/escape", data=b"x")], b"has a name outside it"),
    ([entry("run", data=RUN), entry("a/../../escape", data=b"x")], b"has a name outside it"),
    ([entry("run", data=RUN), entry("null", tarfile.CHRTYPE)], b"has null, a character device"),
    ([entry("run", data=RUN), entry("sda", tarfile.BLKTYPE)], b"has sda, a block device"),
    ([entry("run", data=RUN), entry("p", tarfile.FIFOTYPE)], b"has p, a FIFO"),
    ([entry("run", data=RUN), entry("h", tarfile.LNKTYPE, link="run")], b"has a hard link: h"),
    ([entry("run", data=RUN), entry("l", tarfile.SYMTYPE, link="/etc")], b"has a symbolic link out of it: l -> /etc"),
    ([entry("run", data=RUN), entry("a/l", tarfile.SYMTYPE, link="../../x")], b"a symbolic link out of it"),
    # Writing through a link the archive itself made: to the top, and to the outside.
    ([entry("run", data=RUN), entry("l", tarfile.SYMTYPE, link="."), entry("l/f", data=b"x")],
     b"inside something that is not a directory"),
    ([entry("run", data=RUN), entry("d", tarfile.DIRTYPE), entry("d/l", tarfile.SYMTYPE, link=".."),
      entry("d/l/run", data=b"replaced")], b"inside something that is not a directory"),
    ([entry("run", data=RUN), entry("x", tarfile.DIRTYPE), entry("x/l", tarfile.SYMTYPE, link=".."),
      entry("y", tarfile.SYMTYPE, link="x/l/x/l/x/l/../../../etc")], b"has a symbolic link out of it: y"),
    ([entry("run", data=RUN), entry("run", data=b"#!/bin/sh\necho replaced\n")], b"has run twice"),
    ([entry("run", data=RUN), entry("x", data=b"a"), entry("x", tarfile.DIRTYPE)], b"has x twice"),
])
def test_the_monitor_refuses_archives_the_cli_never_makes(mon, tmp_path, entries, says):
    """What a client other than the CLI sends is checked by the monitor's unpacker itself,
    and a refused deploy leaves nothing behind: not in ls, not in the state directory, and
    nothing outside the bundle."""
    archive = tmp_path / "a.tar"
    archive.write_bytes(tar_of(entries))
    def kept():  # what a refused deploy might leave: NAME.new is discarded (.trash-*, removed)
        return sorted(n for n in os.listdir(mon.state / "functions") if not n.startswith(".trash-"))
    before = kept()
    r = subprocess.run([str(RAW_DEPLOY), mon.sock, "rawbad", str(archive), "run"], capture_output=True, timeout=60)
    assert r.returncode == 1 and says in r.stdout, (r.stdout, r.stderr)
    deadline = time.monotonic() + 30  # NAME.new is discarded just after the reply
    while kept() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kept() == before
    assert not (mon.state / "escape").exists() and not (mon.state / "functions" / "escape").exists()
    assert b"rawbad " not in mon.cli("ls").stdout


def test_the_monitor_takes_any_tar_format_a_client_sends(mon, tmp_path):
    """GNU tar's own archive of a tree ("./" names, its own header fields) is a bundle too."""
    b = make_bundle(tmp_path / "b")
    archive = tmp_path / "gnu.tar"
    subprocess.run(["tar", "-C", str(b), "-cf", str(archive), "."], check=True)
    r = subprocess.run([str(RAW_DEPLOY), mon.sock, "gnutar", str(archive), "bin/run.sh"], capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout
    got = r.stdout.split()[1].decode()
    # Measured over the bytes sent: not the canonical archive's hash, but its own.
    assert got != measurement_of(b, ["bin/run.sh"], RUN_SH.encode())
    assert mon.invoke("gnutar", b"tar").stdout.endswith(b"TAR")
    assert (mon.state / "functions" / "gnutar" / "bundle.sha256").read_text().strip() == \
        hashlib.sha256(archive.read_bytes()).hexdigest()


def test_a_manifest_with_a_bundle(mon, tmp_path):
    b = make_bundle(tmp_path / "app")
    m = tmp_path / "f.json"
    m.write_text('{"name": "mb", "bundle": "app", "command": ["bin/run.sh"]}')
    got = deployed(mon.cli("deploy", "--manifest", str(m)))
    assert got == measurement_of(b, ["bin/run.sh"], RUN_SH.encode())
    assert mon.invoke("mb", b"m").stdout.endswith(b"M")
    m.write_text('{"name": "mb2", "bundle": "app", "code": "x.so"}')
    r = mon.cli("deploy", "--manifest", str(m))
    assert r.returncode == 2 and b'"bundle" is for exec functions' in r.stderr, r.stderr
