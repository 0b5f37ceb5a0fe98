"""The import architecture: the contracts in ``.importlinter`` are kept, and no modules import
each other in a cycle.

Both checks count every import, also one made inside a function. Each has a companion test that
feeds it a broken case, so a check that silently stopped checking would fail too.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import grimp

from tests.conftest import REPO

CONTRACTS = REPO / ".importlinter"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(config: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on one config file, without writing a cache."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(config)],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_import_contracts_are_kept() -> None:
    result = lint_imports(CONTRACTS, REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_contract_fails_lint_imports(tmp_path: Path) -> None:
    package = tmp_path / "layered"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "high.py").write_text("")
    (package / "low.py").write_text("def use() -> None:\n    from layered import high\n")
    config = tmp_path / "contracts.ini"
    config.write_text(
        "[importlinter]\nroot_package = layered\n\n"
        "[importlinter:contract:layers]\nname = high over low\ntype = layers\n"
        "layers =\n    layered.high\n    layered.low\n"
    )

    result = lint_imports(config, tmp_path, PYTHONPATH=str(tmp_path))

    assert result.returncode == 1, result.stdout + result.stderr
    assert "layered.low is not allowed to import layered.high" in result.stdout


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module, each sorted (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        while work:
            module, imported = work[-1]
            for other in imported:
                if other not in index:
                    index[other] = low[other] = len(index)
                    stack.append(other)
                    on_stack.add(other)
                    work.append(
                        (other, iter(sorted(graph.find_modules_directly_imported_by(other))))
                    )
                    break
                if other in on_stack:
                    low[module] = min(low[module], index[other])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return sorted(components)


def cycle_in(graph: grimp.ImportGraph, component: list[str]) -> list[str]:
    """One shortest cycle through the component's first module: ``[a, b, …, a]``."""
    start, members = component[0], set(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for other in sorted(
                graph.find_modules_directly_imported_by(module) & members - {module}
            ):
                if other == start:
                    path = [module]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if other not in previous:
                    previous[other] = module
                    following.append(other)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {component}")


def describe(graph: grimp.ImportGraph, cycle: list[str]) -> str:
    """The cycle, one import a line, with its line number and text."""
    lines = []
    for importer, imported in itertools.pairwise(cycle):
        details = graph.get_import_details(importer=importer, imported=imported)
        where = (
            f" (l.{details[0]['line_number']}: {details[0]['line_contents']})" if details else ""
        )
        lines.append(f"  {importer} -> {imported}{where}")
    return "\n".join(lines)


def import_cycles(graph: grimp.ImportGraph) -> list[str]:
    """One import cycle per strongly connected component, described."""
    return [
        f"{len(c)} modules import each other, e.g.:\n{describe(graph, cycle_in(graph, c))}"
        for c in strongly_connected(graph)
    ]


def test_no_import_cycle_between_modules() -> None:
    cycles = import_cycles(grimp.build_graph("gpuledger", cache_dir=None))
    assert not cycles, "import cycles:\n" + "\n\n".join(cycles)


def test_import_cycles_are_found_and_shown() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [
        ("p.a", "p.b"),
        ("p.b", "p.c"),
        ("p.c", "p.a"),
        ("p.c", "p.d"),
        ("p.d", "p.e"),
        ("p.e", "p.d"),
        ("p.f", "p.a"),
    ]:
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="x")

    assert import_cycles(graph) == [
        "3 modules import each other, e.g.:\n"
        "  p.a -> p.b (l.1: x)\n  p.b -> p.c (l.1: x)\n  p.c -> p.a (l.1: x)",
        "2 modules import each other, e.g.:\n  p.d -> p.e (l.1: x)\n  p.e -> p.d (l.1: x)",
    ]
