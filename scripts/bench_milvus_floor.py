"""The Milvus 2.3.5 server's own per-request latency floor on this machine.

    flock /tmp/museed-bench.lock python scripts/bench_milvus_floor.py

Starts a server (the `milvus` PyPI package), then times one 10-NN search at a time against a 100-row FLAT
collection (the floor: almost no search work) and a 90,000-row FLAT collection (brute force inside Milvus), for
each consistency level. Dim 512, random unit vectors, 20 warm-up queries, 200 timed queries.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from pymilvus import DataType, MilvusClient


def main() -> None:
    """Start a server, measure, print a markdown table."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_index import start_server

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 90_000])
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    server, uri = start_server(tempfile.mkdtemp(prefix="museed-floor-"))
    rows = []
    try:
        client = MilvusClient(uri)
        rng = np.random.default_rng(0)
        for n in args.sizes:
            name = f"floor_{n}"
            schema = MilvusClient.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("v", DataType.FLOAT_VECTOR, dim=args.dim)
            client.create_collection(name, schema=schema)
            x = rng.normal(size=(n, args.dim)).astype(np.float32)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            for s in range(0, n, 5000):
                client.insert(name, [{"id": i, "v": x[i].tolist()} for i in range(s, min(n, s + 5000))])
            client.flush(name)
            params = client.prepare_index_params()
            params.add_index("v", index_type="FLAT", metric_type="IP")
            client.create_index(name, params)
            client.load_collection(name)
            queries = rng.normal(size=(args.queries, args.dim)).astype(np.float32)
            for level in ("Eventually", "Bounded", "Strong"):
                for q in queries[:20]:
                    client.search(name, [q.tolist()], limit=10, consistency_level=level)
                t0 = time.perf_counter()
                for q in queries:
                    client.search(name, [q.tolist()], limit=10, consistency_level=level)
                ms = (time.perf_counter() - t0) * 1000 / len(queries)
                rows.append((n, level, ms))
                print(f"{n} rows, FLAT, {level}: {ms:.2f} ms/query", flush=True)
            client.drop_collection(name)
    finally:
        server.stop()
    print("\n| rows | consistency | ms/query |\n|---|---|---|")
    for n, level, ms in rows:
        print(f"| {n} | {level} | {ms:.2f} |")


if __name__ == "__main__":
    main()
