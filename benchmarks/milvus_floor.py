"""The Milvus 2.3.5 server's own per-request latency floor on this machine.

    flock /tmp/museed-bench.lock python -m benchmarks.milvus_floor

Starts a server (the `milvus` PyPI package), then times one 10-NN search at a time against a 100-row FLAT
collection (the floor: almost no search work) and a 90,000-row FLAT collection (brute force inside Milvus), for
each consistency level. Dim 512, random unit vectors, 20 warm-up queries, 200 timed queries.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import typer
from pymilvus import DataType, MilvusClient

from benchmarks.common import Command, milvus_server, ms_per_query

app = typer.Typer(add_completion=False)


def flat_collection(client: MilvusClient, name: str, n: int, dim: int, rng: np.random.Generator) -> None:
    """Create, fill (random unit vectors), FLAT-index and load collection `name` of `n` rows."""
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=dim)
    client.create_collection(name, schema=schema)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    for s in range(0, n, 5000):
        client.insert(name, [{"id": i, "v": x[i].tolist()} for i in range(s, min(n, s + 5000))])
    client.flush(name)
    params = client.prepare_index_params()
    params.add_index("v", index_type="FLAT", metric_type="IP")
    client.create_index(name, params)
    client.load_collection(name)


def search_ms(client: MilvusClient, name: str, queries: np.ndarray, level: str, warmup: int = 20) -> float:
    """Mean ms of one 10-NN search at a time on collection `name` at consistency `level`, after `warmup`."""

    def search(q: np.ndarray) -> object:
        return client.search(name, [q.tolist()], limit=10, consistency_level=level)

    for q in queries[:warmup]:
        search(q)
    return ms_per_query(search, queries)


@app.command(cls=Command, help=__doc__)
def main(
    sizes: Annotated[list[int], typer.Option("--sizes")] = [100, 90_000],  # noqa: B006 (typer copies it, nothing mutates it)
    dim: Annotated[int, typer.Option("--dim")] = 512,
    queries_n: Annotated[int, typer.Option("--queries")] = 200,
) -> None:
    """Start a server, measure, print a markdown table."""
    rows = []
    with milvus_server("museed-floor-") as uri:
        client = MilvusClient(uri)
        rng = np.random.default_rng(0)
        for n in sizes:
            name = f"floor_{n}"
            flat_collection(client, name, n, dim, rng)
            queries = rng.normal(size=(queries_n, dim)).astype(np.float32)
            for level in ("Eventually", "Bounded", "Strong"):
                ms = search_ms(client, name, queries, level)
                rows.append((n, level, ms))
                print(f"{n} rows, FLAT, {level}: {ms:.2f} ms/query", flush=True)
            client.drop_collection(name)
    print("\n| rows | consistency | ms/query |\n|---|---|---|")
    for n, level, ms in rows:
        print(f"| {n} | {level} | {ms:.2f} |")


if __name__ == "__main__":
    app()
