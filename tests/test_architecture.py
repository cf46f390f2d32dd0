"""The shape of the house, checked from the source: who may import whom.

Imports are read with :mod:`ast` (nothing is imported), including imports inside functions,
so a lazy import counts as much as one at the top of a file.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "indexer")
#: The engine's public modules: the only ones the bot may import (``invocation`` names the
#: command the user typed, for the hints of both command lines).
ENGINE_DOORS = {
    "indexer.service",
    "indexer.records",
    "indexer.errors",
    "indexer.config",
    "indexer.invocation",
    "indexer.text_cleaning",
}
#: The playground, a harness around the bot like the tests, also uses the engine's demo: its
#: offline config, its synthetic pictures and its pictures with words (indexer/ocr/samples.py).
PLAYGROUND = "bot.playground"
PLAYGROUND_DOORS = {
    "indexer.cli.demo",
    "indexer.synthetic",
    "indexer.synthetic_clips",
    "indexer.ocr.samples",
}
#: The engine's layers, bottom first: a module may import its own layer and those before it,
#: never one after it. Each entry names top-level modules or packages of ``indexer``.
ENGINE_LAYERS: tuple[frozenset[str], ...] = (
    frozenset(
        {
            "records",
            "errors",
            "config",
            "atomic",
            "synthetic",
            "synthetic_clips",
            "invocation",
            "text_cleaning",
        }
    ),
    frozenset({"model"}),
    frozenset({"embed", "store", "ocr"}),
    frozenset({"vectors"}),
    frozenset({"parts"}),
    frozenset({"ingest", "search"}),
    frozenset({"service"}),
    frozenset({"training"}),
    frozenset({"cli"}),
)
#: The one module of ``indexer/vectors/`` that the rest of the engine may import.
VECTORS_DOOR = "indexer.vectors.backend"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules that ``name`` imports (``from a import b`` counts ``a.b`` when that
    is a module, else ``a``)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    return {module for module in found if module in known and module != name}


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {name: imported_modules(name, path, known) for name, path in modules.items()}


def imports_from(package: str, allowed: Callable[[str], bool]) -> list[str]:
    """``"a imports b"`` for every project module ``b`` that modules of ``package`` import
    against ``allowed``."""
    return sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        if module.split(".")[0] == package
        for target in targets
        if not allowed(target)
    )


def test_the_bot_enters_the_engine_only_through_its_public_modules() -> None:
    side_doors = imports_from(
        "bot", lambda target: target.split(".")[0] != "indexer" or target in ENGINE_DOORS
    )
    assert [door for door in side_doors if not _the_playground_using_the_demo(door)] == []


def _the_playground_using_the_demo(door: str) -> bool:
    module, _, target = door.partition(" imports ")
    return module.startswith(PLAYGROUND + ".") and target in PLAYGROUND_DOORS


def test_the_engine_never_imports_the_bot() -> None:
    assert not imports_from("indexer", lambda target: target.split(".")[0] != "bot")


def layer_of(module: str) -> int | None:
    """The index in :data:`ENGINE_LAYERS` of an engine module (None for ``indexer`` itself)."""
    parts = module.split(".")
    if parts[0] != "indexer" or len(parts) < 2 or parts[1] == "__main__":
        return None  # the package and its entry point stand above every layer
    for number, layer in enumerate(ENGINE_LAYERS):
        if parts[1] in layer:
            return number
    raise AssertionError(f"{module} is in no layer of ENGINE_LAYERS: add its folder there")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """``"a imports b"`` for every engine import that points to a later layer."""
    found = []
    for module, targets in graph.items():
        own = layer_of(module)
        for target in targets:
            theirs = layer_of(target)
            if own is not None and theirs is not None and theirs > own:
                found.append(f"{module} imports {target}")
    return sorted(found)


def test_no_engine_layer_imports_a_later_one() -> None:
    """records … → model → embed, store → vectors → parts → ingest, search → service →
    training → cli (docs/ARCHITECTURE.md)."""
    assert upward_imports(import_graph()) == []


def test_the_layer_rule_fails_on_an_upward_import() -> None:
    """The rule can fail: the store importing the service is caught."""
    graph = import_graph()
    graph["indexer.store.pictures"] = graph["indexer.store.pictures"] | {"indexer.service"}
    assert upward_imports(graph) == ["indexer.store.pictures imports indexer.service"]


def test_every_engine_module_sits_in_a_layer_and_indexer_top_stays_small() -> None:
    modules = [name for name in project_modules() if name.startswith("indexer.")]
    for module in modules:
        layer_of(module)
    top_level = [path for path in (ROOT / "indexer").glob("*.py")]
    assert len(top_level) <= 12, sorted(path.name for path in top_level)


def test_outside_vectors_only_its_backend_module_is_imported() -> None:
    side_doors = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        if not module.startswith("indexer.vectors")
        for target in targets
        if target.startswith("indexer.vectors.") and target != VECTORS_DOOR
    )
    assert side_doors == []


def test_no_module_imports_itself_back_through_others() -> None:
    try:
        TopologicalSorter(import_graph()).prepare()
    except CycleError as exc:
        raise AssertionError(f"import circle: {' -> '.join(exc.args[1])}") from None


def test_the_import_reader_sees_lazy_imports_and_would_catch_a_circle(tmp_path: Path) -> None:
    """The checks above can fail: a lazy import inside a function is an edge, and a circle is
    reported."""
    (tmp_path / "a.py").write_text("def f():\n    from b import g\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("import a\n", encoding="utf-8")
    known = {"a", "b"}
    graph = {
        "a": imported_modules("a", tmp_path / "a.py", known),
        "b": imported_modules("b", tmp_path / "b.py", known),
    }
    assert graph == {"a": {"b"}, "b": {"a"}}
    try:
        TopologicalSorter(graph).prepare()
    except CycleError:
        return
    raise AssertionError("a circle went unnoticed")
