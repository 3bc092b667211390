"""The import direction of STYLE.md: a pure core, edges that do not know each other."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "digest"
CORE = ["models", "errors", "extract", "rank", "render", "serialize", "summary", "htmltext", "urls"]
EDGES = ["sources", "store", "deliver", "archive", "embed"]
IO_LIBRARIES = {"httpx", "feedparser", "sqlite3", "smtplib", "apscheduler", "socket", "subprocess"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__")


def imports_of(path: Path) -> set[str]:
    """Absolute names imported by one module, relative imports resolved within digest."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path).split(".")
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.add(node.module or "")
                continue
            base = here if is_package else here[:-1]
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            target = ".".join(p for p in [*base, node.module or ""] if p)
            found.add(f"digest.{target}" if target else "digest")
            for alias in node.names:  # `from . import x` may name a module
                found.add(f"digest.{target}.{alias.name}" if target else f"digest.{alias.name}")
    return found


def modules() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def top(name: str) -> str:
    return name.split(".")[0]


def test_core_does_no_io() -> None:
    for name, imported in modules().items():
        if top(name) in CORE:
            bad = {i for i in imported if top(i) in IO_LIBRARIES}
            assert not bad, f"digest.{name} imports {bad}"


def test_core_never_imports_edges_or_wiring() -> None:
    for name, imported in modules().items():
        if top(name) in CORE:
            inner = {i.split(".")[1] for i in imported if i.startswith("digest.") and i.count(".") >= 1}
            bad = inner & {*EDGES, "pipeline", "cli", "schedule"}
            assert not bad, f"digest.{name} imports {bad}"


def test_edges_do_not_import_each_other() -> None:
    for name, imported in modules().items():
        if top(name) in EDGES:
            inner = {i.split(".")[1] for i in imported if i.startswith("digest.") and i.count(".") >= 1}
            bad = inner & (set(EDGES) - {top(name)})
            assert not bad, f"digest.{name} imports {bad}"


def test_only_fetch_imports_httpx_and_only_parse_imports_feedparser() -> None:
    for name, imported in modules().items():
        if "httpx" in {top(i) for i in imported}:
            assert name == "sources.fetch", name
        if "feedparser" in {top(i) for i in imported}:
            assert name == "sources.parse", name
        if "sqlite3" in {top(i) for i in imported}:
            assert name.startswith("store"), name
