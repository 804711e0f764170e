#!/usr/bin/env python3
"""Prints a crate's module graph (top-level modules, from `crate::` references) and its cycles.

    scripts/module-cycles.py CRATE_SRC_DIR [--check]

With --check it exits 1 when any cycle exists. A module's submodules count as the module, and
`super::` references inside a module stay inside it, so only edges between top-level modules
are drawn: that is where a cycle makes a module impossible to understand (or move) alone.
"""
import re
import sys
from pathlib import Path

CRATE_REF = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
GROUPED = re.compile(r"\bcrate::\{([^}]*)\}", re.S)


def top_module(src: Path, file: Path) -> str:
    parts = file.relative_to(src).with_suffix("").parts
    if parts[0] in ("lib", "main"):
        return "(root)"
    return parts[0]


def graph(src: Path) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for file in sorted(src.rglob("*.rs")):
        module = top_module(src, file)
        text = file.read_text()
        # Test modules may reach anywhere; they are not part of the production graph.
        text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
        # Comments (doc links included) name modules without depending on them.
        text = re.sub(r"//[^\n]*", "", text)
        targets = set(CRATE_REF.findall(text))
        for group in GROUPED.findall(text):
            targets |= {t.strip().split("::")[0] for t in group.split(",") if t.strip()}
        targets = {t for t in targets if t not in ("self", module) and t.isidentifier()}
        edges.setdefault(module, set()).update(targets)
    # `crate::name` may also be a macro or an item of the crate root: keep modules only.
    return {module: targets & edges.keys() for module, targets in edges.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one member."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def main() -> int:
    src = Path(sys.argv[1])
    edges = graph(src)
    for module in sorted(edges):
        print(f"  {module:<14} -> {', '.join(sorted(edges[module])) or '-'}")
    found = cycles(edges)
    for component in found:
        print(f"  cycle: {' <-> '.join(component)}")
    print(f"{src}: {len(found)} cycle(s)")
    return 1 if found and "--check" in sys.argv else 0


if __name__ == "__main__":
    sys.exit(main())
