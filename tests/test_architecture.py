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
}
#: The playground, a harness around the bot like the tests, also uses the engine's demo: its
#: offline config and its synthetic pictures.
PLAYGROUND = "bot.playground"
PLAYGROUND_DOORS = {"indexer.demo", "indexer.synthetic"}


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
