"""zlib compression of the request, and decompression when asked.

Deploy and call it:

    citadel deploy compress examples/python/compress.py
    citadel invoke compress --file report.csv > report.csv.z                # compress
    citadel invoke compress --file report.csv.z --content-type application/zlib > report.csv
    citadel invoke compress --content-type application/json \\
        --data '{"op": "compress", "data": "aGVsbG8gaGVsbG8gaGVsbG8=", "level": 9}'
    curl --data-binary @report.csv 'http://127.0.0.1:8080/function/compress?level=9' > report.csv.z
    curl --data-binary @report.csv.z 'http://127.0.0.1:8080/function/compress?op=decompress'

What is done is asked, first found first:
- over HTTP, by the query: `op=compress` or `op=decompress`, and `level=0..9` (default
  zlib's, 6);
- by the request's content type: `application/zlib` is data to decompress;
- by a JSON request: {"op": "compress" | "decompress", "data": BASE64, "level": 0..9},
  answered in JSON: {"op", "data": BASE64, "size_in", "size_out"};
- else the body is compressed.
Raw bytes are answered as bytes: `application/zlib` when compressed, else
`application/octet-stream`. Output is the zlib format (RFC 1950), what Python's
`zlib.decompress`, `openssl zlib -d` or `pigz -dz` read.

Decompression stops at 16 MiB of output (the default --output-limit) and fails the call
saying so, so that a small "zip bomb" cannot fill the instance's memory. Data that is not
zlib's, an unknown op or a level out of range fail the call, saying which.
"""
import base64
import binascii
import zlib
from urllib.parse import parse_qs

MAX_OUTPUT = 16 << 20


def compress(data, level):
    return zlib.compress(data, level)


def decompress(data):
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, MAX_OUTPUT)
    except zlib.error as e:
        raise ValueError(f"the request is not zlib data: {e}") from None
    if d.unconsumed_tail:
        raise ValueError(f"the data decompresses to more than {MAX_OUTPUT} bytes")
    if not d.eof:
        raise ValueError("the zlib data is truncated")
    return out


def run(op, data, level):
    if op == "compress":
        if not (isinstance(level, int) and not isinstance(level, bool) and -1 <= level <= 9):
            raise ValueError(f"level is 0..9, not {level!r}")
        return compress(data, level)
    if op == "decompress":
        return decompress(data)
    raise ValueError(f"op is compress or decompress, not {op!r}")


def handle(event, context):
    if isinstance(event, dict):  # JSON in, JSON out
        try:
            data = base64.b64decode(event.get("data", ""), validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise ValueError('"data" is not base64') from None
        out = run(event.get("op", "compress"), data, event.get("level", zlib.Z_DEFAULT_COMPRESSION))
        return {"op": event.get("op", "compress"), "data": base64.b64encode(out).decode(),
                "size_in": len(data), "size_out": len(out)}
    if not isinstance(event, (bytes, bytearray)):
        raise ValueError('send bytes, or {"op": ..., "data": BASE64}')
    query = parse_qs(context.http.query) if context.http else {}
    if "op" in query:
        op = query["op"][0]
    elif context.content_type.split(";")[0].strip().lower() == "application/zlib":
        op = "decompress"
    else:
        op = "compress"
    level = query.get("level", [str(zlib.Z_DEFAULT_COMPRESSION)])[0]
    try:
        level = int(level)
    except ValueError:
        raise ValueError(f"level is 0..9, not {level!r}") from None
    out = run(op, bytes(event), level)
    context.content_type_out = "application/zlib" if op == "compress" else "application/octet-stream"
    return out
