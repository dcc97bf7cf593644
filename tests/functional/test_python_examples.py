"""The Python examples (examples/python/, docs/python.md#examples): each is deployed as
its docstring says, through the CLI, to a monitor of the test's own, and its answers are
checked as a user would check them: the thumbnail decodes and is 64x64, compression
round-trips, PageRank sums to 1, the spanning tree weighs what igraph says, a page shows
what it was sent as text. One test calls them over HTTP through a gateway of its own."""
import base64
import html
import io
import json
import random
import re
import urllib.parse
import zlib

import igraph
import pytest
from PIL import Image, ImageDraw
from conftest import ROOT
from test_http import Gateway
from test_monitor import Monitor

EXAMPLES = ROOT / "examples" / "python"

# name: (file, deploy options), as each example's docstring deploys it.
DEPLOYS = {
    "hello": ("hello.py", ()),
    "orders": ("json_transform.py", ()),
    "page": ("page.py", ()),
    "thumbnail": ("thumbnail.py", ("--memory", "512M")),
    "compress": ("compress.py", ()),
    "graph-bfs": ("graph.py", ("--handler", "graph.bfs")),
    "graph-pagerank": ("graph.py", ("--handler", "graph.pagerank")),
    "graph-mst": ("graph.py", ("--handler", "graph.mst")),
}


def deploy(mon, name):
    file, opts = DEPLOYS[name]
    r = mon.cli("deploy", name, str(EXAMPLES / file), *opts)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"deployed {name} (measurement ".encode()), r.stdout


@pytest.fixture(scope="module")
def mon(tmp_path_factory):
    m = Monitor(tmp_path_factory.mktemp("pyexamples")).start()
    try:
        for name in DEPLOYS:
            deploy(m, name)
        yield m
    finally:
        m.stop()


def call(mon, name, data=None, content_type=None, input=None):
    """The CompletedProcess of `citadel invoke NAME` (--data, else input on stdin)."""
    args = ["invoke", name] + (["--data", data] if data is not None else [])
    if content_type is not None:
        args += ["--content-type", content_type]
    return mon.cli(*args, input=input)


def ok(r):
    assert r.returncode == 0, r.stderr
    return r.stdout


def fails(r, *words):
    assert r.returncode == 1, (r.stdout, r.stderr)
    for w in words:
        assert w.encode() in r.stderr, r.stderr
    return r.stderr


def call_json(mon, name, obj):
    return json.loads(ok(call(mon, name, json.dumps(obj), "application/json")))


# ---- the examples and their documentation --------------------------------------------------

def test_each_example_says_how_to_deploy_and_call_it_and_is_listed_in_the_docs():
    docs = (ROOT / "docs" / "python.md").read_text()
    examples = docs.split("## Examples", 1)[1].split("\n## ", 1)[0]
    files = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert set(files) == {f for f, _ in DEPLOYS.values()}, files
    for f in files:
        text = (EXAMPLES / f).read_text()
        doc = re.match(r'\s*"""(.*?)"""', text, re.S)
        assert doc, f"{f} has no docstring"
        for what in ("citadel deploy ", "citadel invoke ", "curl "):
            assert what in doc.group(1), (f, what)
        assert f"examples/python/{f}" in examples, f"docs/python.md's Examples do not show {f}"
        for line in doc.group(1).splitlines():  # what the docstring deploys, the test deploys
            m = re.match(r"\s*citadel deploy (\S+) examples/python/(\S+)(.*)", line)
            if m:
                assert DEPLOYS[m.group(1)] == (m.group(2), tuple(m.group(3).split())), line
    readme = (ROOT / "README.md").read_text()
    assert "examples/python" in readme.split("## Functions", 1)[1].split("\n## ", 1)[0]


# ---- hello -----------------------------------------------------------------------------------

def test_hello_greets_the_body_or_the_world(mon):
    assert ok(call(mon, "hello", "Ada")) == b"Hello, Ada!\n"
    assert ok(call(mon, "hello", input=b"")) == b"Hello, world!\n"
    assert ok(call(mon, "hello", "Zo\u00eb \n")) == "Hello, Zo\u00eb!\n".encode()
    assert ok(call(mon, "hello", '{"name": "Grace"}', "application/json")) == b"Hello, Grace!\n"


# ---- json_transform ---------------------------------------------------------------------

ORDER = {"items": [{"name": "tea", "category": "drinks", "price": 3.5, "quantity": 2},
                   {"name": "scone", "category": "food", "price": 2.25},
                   {"name": "coffee", "category": "drinks", "price": 2.8, "quantity": 3}]}


def test_json_transform_totals_and_groups_an_order(mon):
    want = {"items": 3, "quantity": 6, "total": 17.65,
            "by_category": {"drinks": {"items": 2, "quantity": 5, "total": 15.4, "names": ["coffee", "tea"]},
                            "food": {"items": 1, "quantity": 1, "total": 2.25, "names": ["scone"]}},
            "largest": {"name": "coffee", "total": 8.4}}
    assert call_json(mon, "orders", ORDER) == want
    # Without the JSON content type the body is parsed all the same.
    assert json.loads(ok(call(mon, "orders", json.dumps(ORDER)))) == want
    # Amounts are decimals: 3 x 0.1 + 0.2 is 0.5, not 0.5000000000000001.
    got = call_json(mon, "orders", {"items": [{"name": "a", "price": 0.1, "quantity": 3},
                                              {"name": "b", "price": 0.2}]})
    assert got["total"] == 0.5 and got["by_category"]["other"]["names"] == ["a", "b"], got
    assert call_json(mon, "orders", {"items": []}) == {"items": 0, "quantity": 0, "total": 0.0,
                                                       "by_category": {}, "largest": None}


def test_json_transform_says_what_is_wrong_with_a_bad_order(mon):
    fails(call(mon, "orders", '{"items": [{"name": "x", "price": -1}]}', "application/json"),
          "ValueError: items[0] (x): price is not a number >= 0")
    fails(call(mon, "orders", '{"items": [{"name": "x", "price": 1, "quantity": 1.5}]}', "application/json"),
          "quantity is not a whole number")
    fails(call(mon, "orders", '[1, 2]', "application/json"), 'ValueError: the request is not {"items": [...]}')
    fails(call(mon, "orders", "not json"), "ValueError: the request is not JSON")


# ---- page -----------------------------------------------------------------------------------

XSS = '<script>alert("owned")</script>'


def test_page_renders_html_and_escapes_what_it_is_sent(mon):
    out = ok(call(mon, "page", "Ada")).decode()
    assert out.startswith("<!doctype html>") and "Hello, <strong>Ada</strong>!" in out, out
    assert "<footer>page, call " in out
    out = ok(call(mon, "page", XSS)).decode()
    # Autoescaped: shown as the text it is, never run.
    assert "<script" not in out and "&lt;script&gt;" in out, out
    assert html.unescape(re.search(r"Hello, <strong>(.*?)</strong>!", out).group(1)) == XSS, out
    img = '<img src=x onerror="alert(1)">'
    out = ok(call(mon, "page", json.dumps({"name": "Ada & co", "items": ["tea", img]}), "application/json")).decode()
    assert "Hello, <strong>Ada &amp; co</strong>!" in out, out
    items = [html.unescape(i) for i in re.findall(r"<li>(.*?)</li>", out)]
    assert items == ["tea", img] and "<img" not in out, out


# ---- thumbnail -------------------------------------------------------------------------------

def image_bytes(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def halves(size, first, second, mode="RGB"):
    """An image whose left half is `first` and right half `second`."""
    img = Image.new(mode, size, first)
    ImageDraw.Draw(img).rectangle([size[0] // 2, 0, size[0], size[1]], fill=second)
    return img


def thumb(mon, data):
    out = ok(call(mon, "thumbnail", input=data))
    img = Image.open(io.BytesIO(out))
    assert img.format == "PNG" and img.size == (64, 64), (img.format, img.size)
    return img.convert("RGBA")


def close(pixel, want, tol=40):
    return all(abs(a - b) <= tol for a, b in zip(pixel, want)), (pixel, want)


def test_thumbnail_makes_a_64x64_png_of_the_middle_of_an_image(mon):
    red, blue = (255, 0, 0), (0, 0, 255)
    # A wide JPEG, left half red, right half blue: scaled to 64 high and cropped to its
    # middle, so the halves stay halves (not squashed: the colours meet in the middle).
    t = thumb(mon, image_bytes(halves((640, 320), red, blue), "JPEG", quality=95))
    assert close(t.getpixel((8, 32)), red + (255,)) and close(t.getpixel((56, 32)), blue + (255,))
    # A tall PNG with transparency: the alpha is kept.
    t = thumb(mon, image_bytes(halves((100, 300), (0, 255, 0, 255), (0, 0, 0, 0), "RGBA"), "PNG"))
    assert t.getpixel((8, 32))[3] == 255 and t.getpixel((56, 32))[3] == 0, (t.getpixel((8, 32)), t.getpixel((56, 32)))
    # Small images are scaled up; GIF is read too.
    t = thumb(mon, image_bytes(Image.new("P", (10, 10), 3), "GIF"))
    assert t.size == (64, 64)


def test_thumbnail_follows_the_exif_orientation(mon):
    img = halves((200, 100), (255, 0, 0), (0, 0, 255))  # red left, blue right
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: red on top, blue below
    t = thumb(mon, image_bytes(img, "JPEG", quality=95, exif=exif.tobytes()))
    assert close(t.getpixel((32, 8)), (255, 0, 0, 255)) and close(t.getpixel((32, 56)), (0, 0, 255, 255))


def test_thumbnail_refuses_what_is_not_an_image_or_too_large(mon):
    e = fails(call(mon, "thumbnail", "hello, not an image"), "ValueError: not an image Pillow can read")
    assert b"0x" not in e  # no address of the instance's in the message
    bomb = image_bytes(Image.new("1", (8000, 8000)), "PNG")  # 64 megapixels in a few KiB
    assert len(bomb) < 100_000
    fails(call(mon, "thumbnail", input=bomb), "DecompressionBombError")
    fails(call(mon, "thumbnail", "{}", "application/json"), "ValueError: send the image's bytes")


# ---- compress -------------------------------------------------------------------------------

def test_compress_round_trips(mon):
    rng = random.Random(1)
    words = [bytes(rng.choices(b"abcdefghij", k=rng.randint(2, 9))) for _ in range(500)]
    data = b" ".join(rng.choice(words) for _ in range(200_000)) + bytes(range(256))  # ~1.2 MB
    z = ok(call(mon, "compress", input=data))
    assert zlib.decompress(z) == data and len(z) < len(data) // 2, len(z)
    # Asked by the content type: application/zlib is decompressed.
    assert ok(call(mon, "compress", content_type="application/zlib", input=z)) == data
    assert ok(call(mon, "compress", input=b"")) == zlib.compress(b"")


def test_compress_in_json(mon):
    data = b"hello hello hello hello " * 100
    got = call_json(mon, "compress", {"op": "compress", "data": base64.b64encode(data).decode(), "level": 9})
    z = base64.b64decode(got["data"])
    assert zlib.decompress(z) == data and (got["op"], got["size_in"], got["size_out"]) == ("compress", len(data), len(z))
    stored = call_json(mon, "compress", {"data": base64.b64encode(data).decode(), "level": 0})
    assert stored["size_out"] > len(data) > got["size_out"]  # level 0 only frames the data
    back = call_json(mon, "compress", {"op": "decompress", "data": got["data"]})
    assert base64.b64decode(back["data"]) == data and back["size_out"] == len(data)


def test_compress_refuses_bad_data_and_bombs(mon):
    fails(call(mon, "compress", content_type="application/zlib", input=b"not zlib at all"),
          "ValueError: the request is not zlib data")
    fails(call(mon, "compress", content_type="application/zlib", input=zlib.compress(b"x" * 1000)[:-6]),
          "truncated")
    bomb = zlib.compress(bytes(17 << 20), 9)  # 17 MiB of zeros in ~17 KiB
    fails(call(mon, "compress", content_type="application/zlib", input=bomb), "more than 16777216 bytes")
    fails(call(mon, "compress", json.dumps({"op": "explode", "data": ""}), "application/json"),
          "op is compress or decompress, not 'explode'")
    fails(call(mon, "compress", json.dumps({"data": "aGk=", "level": 12}), "application/json"), "level is 0..9")
    fails(call(mon, "compress", json.dumps({"data": "%%%"}), "application/json"), '"data" is not base64')


# ---- graph: bfs, pagerank, mst ---------------------------------------------------------------

def graph(size, m=10, seed=42):
    """The graph the example makes for {"size", "m", "seed"}, made here with igraph itself,
    and its generator (which the MST's weights come from next)."""
    rng = random.Random(seed)
    igraph.set_random_number_generator(rng)
    return igraph.Graph.Barabasi(size, m), rng


def distances(g, root):
    """Breadth-first distances from root, computed here from the edge list."""
    adj = {v: set() for v in range(g.vcount())}
    for a, b in g.get_edgelist():
        adj[a].add(b)
        adj[b].add(a)
    dist, frontier = {root: 0}, [root]
    while frontier:
        nxt = []
        for v in frontier:
            for w in adj[v]:
                if w not in dist:
                    dist[w] = dist[v] + 1
                    nxt.append(w)
        frontier = nxt
    return dist


def test_bfs_visits_every_reachable_vertex_level_by_level_from_the_root(mon):
    got = call_json(mon, "graph-bfs", {"size": 2000, "m": 2, "seed": 7, "root": 5, "order": True})
    g, _ = graph(2000, 2, 7)
    dist = distances(g, 5)
    order = got["order"]
    assert order[0] == 5 and got["root"] == 5
    assert len(order) == len(set(order)) == got["visited"] == len(dist) == 2000
    assert set(order) == set(dist)
    levels = [dist[v] for v in order]
    assert levels == sorted(levels)  # breadth first: never nearer after farther
    assert got["per_level"] == [levels.count(d) for d in range(max(levels) + 1)] and got["depth"] == max(levels)
    assert (got["vertices"], got["edges"]) == (g.vcount(), g.ecount())
    assert set(got["ms"]) == {"graph", "compute"}


def test_bfs_takes_a_bare_size_and_says_what_is_wrong(mon):
    got = json.loads(ok(call(mon, "graph-bfs", "300")))
    assert got["vertices"] == 300 and got["root"] == 0 and got["visited"] == 300 and "order" not in got
    fails(call(mon, "graph-bfs", json.dumps({"size": 10, "root": 10}), "application/json"),
          "ValueError: root is a vertex from 0 to 9, not 10")
    fails(call(mon, "graph-bfs", "lots"), "ValueError: the request is a size or a JSON object")
    fails(call(mon, "graph-bfs", "0"), "ValueError: size is a whole number from 1 to 1,000,000, not 0")


def test_pagerank_sums_to_one_and_ranks_as_igraph_does(mon):
    got = call_json(mon, "graph-pagerank", {"size": 5000, "seed": 3, "top": 5})
    assert got["sum"] == pytest.approx(1.0, abs=1e-9)
    g, _ = graph(5000, 10, 3)
    ranks = g.pagerank()
    want = sorted(range(5000), key=lambda v: -ranks[v])[:5]
    assert [v for v, _ in got["top"]] == want, (got["top"], want)
    assert [r for _, r in got["top"]] == pytest.approx([ranks[v] for v in want], rel=1e-9)
    # The same request makes the same graph, so the same ranks (up to rounding).
    again = call_json(mon, "graph-pagerank", {"size": 5000, "seed": 3, "top": 5})
    assert [v for v, _ in again["top"]] == want and again["edges"] == got["edges"]
    assert [r for _, r in again["top"]] == pytest.approx([r for _, r in got["top"]], rel=1e-9)
    other = call_json(mon, "graph-pagerank", {"size": 5000, "seed": 4, "top": 5})
    assert other["top"] != got["top"]


def test_mst_weighs_what_igraph_computes_and_spans_the_graph(mon):
    got = call_json(mon, "graph-mst", {"size": 3000, "m": 4, "seed": 11, "tree": True})
    g, rng = graph(3000, 4, 11)
    weights = [rng.randint(1, 1000) for _ in range(g.ecount())]
    want = sum(weights[e] for e in g.spanning_tree(weights=weights, return_tree=False))
    assert got["weight"] == want and got["tree_edges"] == 2999
    # The tree: edges of the graph with their weights, summing to the weight, joining all.
    weight_of = {tuple(sorted(e.tuple)): w for e, w in zip(g.es, weights)}
    parent = list(range(3000))

    def root(v):
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v
    for u, v, w in got["tree"]:
        assert weight_of[tuple(sorted((u, v)))] == w
        assert root(u) != root(v), "a cycle"
        parent[root(u)] = root(v)
    assert len({root(v) for v in range(3000)}) == 1
    assert sum(w for _, _, w in got["tree"]) == got["weight"]
    # A bare size: the defaults (m 10, seed 42).
    g, rng = graph(500)
    weights = [rng.randint(1, 1000) for _ in range(g.ecount())]
    assert json.loads(ok(call(mon, "graph-mst", "500")))["weight"] == \
        sum(weights[e] for e in g.spanning_tree(weights=weights, return_tree=False))


# ---- over HTTP -------------------------------------------------------------------------------

def test_the_examples_over_http(tmp_path):
    """As their docstrings' curl lines call them: the query, Content-Type and the response's
    status and content type."""
    gw = Gateway(tmp_path)
    try:
        for name in ("page", "thumbnail", "compress", "orders"):
            deploy(gw.m, name)
        st, h, body = gw.request("GET", "/function/page?name=" + urllib.parse.quote(XSS))
        assert st == 200 and h["content-type"] == "text/html; charset=utf-8", (st, h)
        assert b"<script" not in body and b"&lt;script&gt;" in body, body
        assert b"<th>method</th><td>GET</td>" in body
        st, h, body = gw.request("GET", "/function/page/nowhere")
        assert st == 404 and h["content-type"] == "text/html; charset=utf-8" and b"<code>/nowhere</code>" in body
        st, h, body = gw.request("POST", "/function/thumbnail", image_bytes(Image.new("RGB", (300, 200), "teal"), "PNG"))
        assert st == 200 and h["content-type"] == "image/png" and Image.open(io.BytesIO(body)).size == (64, 64)
        data = b"over http " * 5000
        st, h, z = gw.request("POST", "/function/compress?level=9", data)
        assert st == 200 and h["content-type"] == "application/zlib" and zlib.decompress(z) == data
        assert z == zlib.compress(data, 9)
        st, h, body = gw.request("POST", "/function/compress?op=decompress", z)
        assert st == 200 and h["content-type"] == "application/octet-stream" and body == data
        st, h, body = gw.request("POST", "/function/compress?op=decompress", data)
        assert st == 500 and b"not zlib data" in body, (st, body)
        st, h, body = gw.request("POST", "/function/orders", json.dumps(ORDER).encode(),
                                 {"Content-Type": "application/json"})
        assert st == 200 and h["content-type"] == "application/json" and json.loads(body)["total"] == 17.65
    finally:
        gw.stop()
