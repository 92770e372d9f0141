"""One Milvus version: the compose file deploys the server version the tests run (the `milvus` PyPI package)."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from pymilvus import MilvusClient

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def compose_milvus_tag() -> str:
    """The tag of the Milvus image docker-compose.yml deploys ("v2.3.5")."""
    image = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]["milvus"]["image"]
    name, _, tag = str(image).partition(":")
    assert name == "milvusdb/milvus", image
    return tag


def test_compose_pins_the_tested_milvus_package() -> None:
    assert compose_milvus_tag() == f"v{version('milvus')}"


@pytest.mark.milvus_server
def test_the_test_server_reports_the_composed_version(milvus_server: str) -> None:
    client = MilvusClient(uri=milvus_server)
    try:
        # the package's binary is the 2.3.5 release built for embedding: it reports "v2.3.5-lite"
        assert client.get_server_version().removesuffix("-lite") == compose_milvus_tag()
    finally:
        client.close()
