"""The import direction, as a test: every first-party import (at module level, inside functions and under
TYPE_CHECKING alike) is read from the source with `ast`, so a forbidden edge or a cycle fails here the day it is
written, whether or not any test executes it.

    museed (kit) <- synth
    museed <- embedding <- tagging, training, evaluation
    museed <- indexing
    museed <- discovery <- api, evaluation (the discovery engine runs when serving and in the report)
    api -> indexing, embedding, discovery, museed
    orchestration -> everything; only orchestration, benchmarks and tests import api or orchestration
    loadtests speak HTTP only (no first-party import at all)
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> the first-party packages it may import (itself always allowed)
ALLOWED: dict[str, frozenset[str]] = {
    "museed": frozenset(),
    "synth": frozenset({"museed"}),
    "embedding": frozenset({"museed"}),
    "tagging": frozenset({"museed", "embedding"}),
    "training": frozenset({"museed", "embedding"}),
    "evaluation": frozenset({"museed", "embedding", "discovery"}),
    "indexing": frozenset({"museed"}),
    "api": frozenset({"museed", "embedding", "indexing", "discovery"}),
    # the discovery engine: pure numpy over vectors the caller fetched, shared by serving and evaluation
    "discovery": frozenset({"museed"}),
    "orchestration": frozenset(
        {"museed", "synth", "embedding", "tagging", "training", "evaluation", "indexing", "api", "discovery"}
    ),
    "loadtests": frozenset(),
    # benchmarks time the stages as users run them, so they sit beside orchestration on the top floor
    "benchmarks": frozenset(
        {
            "museed",
            "synth",
            "embedding",
            "tagging",
            "training",
            "evaluation",
            "indexing",
            "api",
            "orchestration",
            "discovery",
        }
    ),
}
PACKAGES = frozenset(ALLOWED) | {"tests"}


def module_name(path: Path, root: Path) -> str:
    """`api/playlists/service.py` -> `api.playlists.service`; a package's `__init__.py` is the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def read_sources(root: Path) -> dict[str, str]:
    """Module name -> source text for every first-party module under `root` (tests included)."""
    sources: dict[str, str] = {}
    for package in sorted(PACKAGES):
        base = root / package
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            if "migrations" in path.parts and "versions" in path.parts:
                continue  # frozen migration scripts import nothing first-party on purpose
            sources[module_name(path, root)] = path.read_text(encoding="utf-8")
    return sources


def first_party_imports(module: str, source: str, known: set[str]) -> set[str]:
    """The first-party modules `module` imports anywhere in its body, resolved to the longest known name."""
    found: set[str] = set()
    is_package = module in known and any(k.startswith(module + ".") for k in known)
    for node in ast.walk(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            # `from pkg import sub` imports the submodule; `from mod import name` the module
            targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in known else stem for a in node.names]
        for target in targets:
            if target.split(".")[0] not in PACKAGES:
                continue
            name = target
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def import_graph(sources: Mapping[str, str]) -> dict[str, set[str]]:
    """Module -> the first-party modules it imports."""
    known = set(sources)
    return {module: first_party_imports(module, text, known) for module, text in sources.items()}


def _cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def violations(sources: Mapping[str, str]) -> list[str]:
    """Every broken rule, one line each: forbidden edges, then cycles between and inside packages."""
    graph = import_graph(sources)
    problems: list[str] = []
    for module, targets in sorted(graph.items()):
        package = module.split(".")[0]
        if package == "tests":
            continue
        for target in sorted(targets):
            other = target.split(".")[0]
            if other == package:
                continue
            if other not in ALLOWED[package]:
                problems.append(f"forbidden import: {module} -> {target} ({package} may not import {other})")
    # cycles between packages, between the sub-packages of one package, and between modules
    for depth in (1, 2, None):
        collapsed: dict[str, set[str]] = defaultdict(set)
        for module, targets in graph.items():
            if module.startswith("tests"):
                continue
            key = ".".join(module.split(".")[:depth]) if depth else module
            for target in targets:
                other = ".".join(target.split(".")[:depth]) if depth else target
                if depth == 2 and key.split(".")[0] != other.split(".")[0]:
                    continue  # depth 2 looks inside one package
                if other != key and not key.startswith(other + ".") and not other.startswith(key + "."):
                    collapsed[key].add(other)
        level = {1: "packages", 2: "sub-packages", None: "modules"}[depth]
        problems.extend(f"import cycle between {level}: {' <-> '.join(c)}" for c in _cycles(collapsed))
    return problems


def test_the_tree_keeps_the_import_direction() -> None:
    problems = violations(read_sources(ROOT))
    assert not problems, "\n".join(problems)


def test_every_package_is_under_a_rule() -> None:
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert on_disk <= set(ALLOWED), f"packages without an import rule: {sorted(on_disk - set(ALLOWED))}"


@pytest.mark.parametrize(
    ("planted_module", "source", "expected"),
    [
        ("museed.planted", "from api.app import create_app\n", "museed may not import api"),
        ("indexing.planted", "def f():\n    from embedding.encoders import load_encoder\n", "indexing may not import"),
        ("evaluation.planted", "import training.train\n", "evaluation may not import training"),
        ("embedding.planted", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import api\n", "embedding"),
        ("loadtests.planted", "from museed.settings import Settings\n", "loadtests may not import museed"),
        ("api.planted", "import orchestration.cli\n", "api may not import orchestration"),
    ],
)
def test_a_planted_forbidden_import_fails(planted_module: str, source: str, expected: str) -> None:
    sources = read_sources(ROOT)
    sources[planted_module] = source
    sources.setdefault(planted_module.split(".")[0], "")
    problems = violations(sources)
    assert any(expected in p and planted_module in p for p in problems), problems


def test_a_planted_cycle_fails() -> None:
    sources = read_sources(ROOT)
    sources["museed.cycle_a"] = "from museed.cycle_b import x\n"
    sources["museed.cycle_b"] = "def x():\n    from museed import cycle_a\n"
    problems = violations(sources)
    assert any("cycle between modules" in p and "museed.cycle_a" in p for p in problems), problems


def test_a_planted_cycle_between_api_domains_fails() -> None:
    sources = read_sources(ROOT)
    sources["api.zz_one"] = ""
    sources["api.zz_one.service"] = "from api.zz_two.service import y\n"
    sources["api.zz_two"] = ""
    sources["api.zz_two.service"] = "from api.zz_one.service import z\n"
    problems = violations(sources)
    assert any("sub-packages" in p and "api.zz_one" in p for p in problems), problems


def test_relative_imports_resolve() -> None:
    known = {"api", "api.playlists", "api.playlists.service", "api.playlists.schemas", "api.common"}
    assert first_party_imports("api.playlists.service", "from .schemas import X\n", known) == {"api.playlists.schemas"}
    assert first_party_imports("api.playlists", "from ..common import Y\n", known) == {"api.common"}
