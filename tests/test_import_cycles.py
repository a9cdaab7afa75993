"""No import cycles in ``src/omniembed`` (issue 12): read with ``ast``, no module is imported.

What counts (decided here, documented in docs/server.md "Code layout"):

* **module-level imports fail on a cycle** — every ``import`` / ``from … import`` that runs when the module
  is loaded, including those under ``if TYPE_CHECKING:``: a cycle kept only for type hints is still two
  modules that each need the other (the server's ``app.py`` ⇄ ``gemini.py`` cycle was one);
* **function-level imports are reported, not failed** — an import inside a function (a lazy load of a
  heavy optional dependency, or of a plugin a registry names) is how a lower layer may reach a higher one
  on purpose; :func:`test_function_level_cycles_are_reported` prints the cycles they close.

An edge goes to the module named (``from .a.b import c`` → ``a.b``, or ``a.b.c`` when ``c`` is a
submodule), not to the packages above it: every module would otherwise be in a cycle with the root
``omniembed/__init__.py``, which re-exports the public API.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "omniembed"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _targets(node: ast.AST, module: str, modules: dict[str, Path]) -> list[str]:
    """The package modules an import statement loads."""
    found: list[str] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name in modules:
                found.append(alias.name)
        return found
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".") if _is_package(module, modules) else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target not in modules:
        return found
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        found.append(sub if sub in modules else target)
    return found


def _walk(tree: ast.AST, module: str, modules: dict[str, Path]):
    """(target, level) for every import: level is "module" (runs at import time, TYPE_CHECKING blocks
    included) or "function" (inside a def or lambda)."""
    def visit(node: ast.AST, in_function: bool):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for t in _targets(child, module, modules):
                    if t != module:
                        yield t, ("function" if in_function else "module")
            yield from visit(child, inner)

    yield from visit(tree, False)


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module-level edges, all edges) between the package's modules."""
    modules = _modules()
    top: dict[str, set[str]] = {m: set() for m in modules}
    every: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, level in _walk(tree, name, modules):
            every[name].add(target)
            if level == "module":
                top[name].add(target)
    return top, every


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return sorted(out)


def _describe(comp: list[str], graph: dict[str, set[str]]) -> str:
    members = set(comp)
    edges = [f"{a} -> {b}" for a in comp for b in sorted(graph[a]) if b in members]
    return "; ".join(edges)


def test_the_walker_sees_both_kinds_of_import():
    top, every = import_graph()
    assert "omniembed.server.services" in top["omniembed.server.app"]  # module level
    assert top["omniembed.server.gemini"] >= {"omniembed.wire.gemini", "omniembed.server.services"}
    assert len(top) > 40 and sum(map(len, every.values())) > sum(map(len, top.values()))


def test_no_module_level_import_cycle():
    top, _ = import_graph()
    found = cycles(top)
    assert not found, "import cycles (module level):\n" + "\n".join(_describe(c, top) for c in found)


def test_server_is_cycle_free_even_counting_function_level_imports():
    _, every = import_graph()
    server = {m: {t for t in ts if t.startswith("omniembed.server")} for m, ts in every.items()
              if m.startswith("omniembed.server")}
    found = cycles(server)
    assert not found, "cycles in omniembed.server:\n" + "\n".join(_describe(c, server) for c in found)


def test_function_level_cycles_are_reported(capsys):
    top, every = import_graph()
    found = [c for c in cycles(every) if c not in cycles(top)]
    with capsys.disabled():
        for c in found:
            print(f"\n[import cycle closed by a function-level import] {_describe(c, every)}")
