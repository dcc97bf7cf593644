"""Graph kernels with python-igraph, after SeBS's graph-bfs, graph-pagerank and graph-mst:
three functions from one file, each deployed with its own entry point (--handler).

Deploy and call them:

    citadel deploy graph-bfs examples/python/graph.py --handler graph.bfs
    citadel deploy graph-pagerank examples/python/graph.py --handler graph.pagerank
    citadel deploy graph-mst examples/python/graph.py --handler graph.mst
    citadel invoke graph-pagerank --data 100000            # a graph of 100,000 vertices
    citadel invoke graph-bfs --content-type application/json --data '{"size": 1000, "root": 5, "order": true}'
    curl -H 'Content-Type: application/json' -d '{"size": 50000, "seed": 7}' \\
        http://127.0.0.1:8080/function/graph-mst

The request is the graph's size (a number), or JSON: {"size": N (1 to 1,000,000, default
1,000; past about 100,000 deploy it with more --memory, e.g. --memory 1G), "m": edges each new vertex brings (1 to 20, default 10), "seed": S (default 42)}.
Each call makes a Barabási-Albert graph of that size, undirected, from a random number
generator seeded with S (the same request makes the same graph), then:

- bfs: a breadth-first search from "root" (default 0): {"visited", "depth", "per_level":
  vertices at each distance} and, with "order": true, the order of the visit;
- pagerank: PageRank ("damping", default 0.85): {"sum" (1 up to rounding), "top": the
  "top" (default 10) highest [vertex, rank]};
- mst: each edge gets a whole weight from 1 to 1,000 from the same generator, and a minimum
  spanning tree (Prim's): {"weight": its total, "tree_edges"} and, with "tree": true, its
  edges, each [u, v, weight].

Every answer also says "vertices", "edges" and "ms": how long making the graph and the
computation each took. igraph is imported once, in the function's template.
"""
import random
import time

import igraph


def params(event, **defaults):
    """The request's parameters: a number (the size) or a JSON object."""
    if isinstance(event, (bytes, bytearray)):
        text = event.decode("ascii", "replace").strip()
        try:
            event = {"size": int(text)} if text else {}
        except ValueError:
            raise ValueError(f"the request is a size or a JSON object, not {text[:40]!r}") from None
    if not isinstance(event, dict):
        raise ValueError('the request is a size or a JSON object {"size": N, ...}')
    p = {"size": 1000, "m": 10, "seed": 42, **defaults, **event}
    for key, low, high in (("size", 1, 1_000_000), ("m", 1, 20)):
        if isinstance(p[key], bool) or not isinstance(p[key], int) or not low <= p[key] <= high:
            raise ValueError(f"{key} is a whole number from {low} to {high:,}, not {p[key]!r}")
    return p


def make_graph(p):
    """A Barabási-Albert graph of p["size"] vertices, and the generator that made it."""
    rng = random.Random(p["seed"])
    igraph.set_random_number_generator(rng)
    return igraph.Graph.Barabasi(p["size"], p["m"]), rng


def timed(kernel):
    """Runs kernel(graph, params, rng) on the request's graph; adds the graph's size and
    the times to its answer."""
    def handle(event, context):
        p = params(event)
        t0 = time.perf_counter()
        g, rng = make_graph(p)
        t1 = time.perf_counter()
        out = kernel(g, p, rng)
        t2 = time.perf_counter()
        return {"vertices": g.vcount(), "edges": g.ecount(), **out,
                "ms": {"graph": round((t1 - t0) * 1e3, 3), "compute": round((t2 - t1) * 1e3, 3)}}
    handle.__name__ = kernel.__name__
    handle.__doc__ = kernel.__doc__
    return handle


@timed
def bfs(g, p, rng):
    """Breadth-first search from p["root"]."""
    root = p.get("root", 0)
    if isinstance(root, bool) or not isinstance(root, int) or not 0 <= root < g.vcount():
        raise ValueError(f"root is a vertex from 0 to {g.vcount() - 1}, not {root!r}")
    order, starts, _parents = g.bfs(root)
    levels = [b - a for a, b in zip(starts, starts[1:])]
    out = {"root": root, "visited": len(order), "depth": len(levels) - 1, "per_level": levels}
    if p.get("order"):
        out["order"] = order
    return out


@timed
def pagerank(g, p, rng):
    """PageRank, and the highest-ranked vertices."""
    ranks = g.pagerank(damping=float(p.get("damping", 0.85)))
    top = sorted(range(len(ranks)), key=lambda v: (-ranks[v], v))[:int(p.get("top", 10))]
    return {"sum": sum(ranks), "top": [[v, ranks[v]] for v in top]}


@timed
def mst(g, p, rng):
    """A minimum spanning tree with weights drawn from the graph's generator."""
    g.es["weight"] = [rng.randint(1, 1000) for _ in range(g.ecount())]
    tree = g.spanning_tree(weights="weight")
    out = {"weight": sum(tree.es["weight"]), "tree_edges": tree.ecount()}
    if p.get("tree"):
        out["tree"] = [[e.source, e.target, e["weight"]] for e in tree.es]
    return out
