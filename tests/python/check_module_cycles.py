"""Fails when patchbay's modules (include/patchbay/<module>/ with src/<module>/) include each
other in a cycle. Usage: check_module_cycles.py SOURCE_DIR. Prints every cycle found."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
include = re.compile(r'^\s*#\s*include\s+"patchbay/([a-z_]+)/[^"]+"', re.M)
edges = {}
for top in (root / "include" / "patchbay", root / "src"):
    for path in top.rglob("*"):
        if path.suffix not in (".hpp", ".cpp") or path.parent == top:
            continue
        module = path.relative_to(top).parts[0]
        if module == "cli":  # the command line sits on top of everything; nothing includes it
            continue
        for target in include.findall(path.read_text(encoding="utf-8")):
            if target != module:
                edges.setdefault(module, {}).setdefault(target, set()).add(str(path.relative_to(root)))

# Tarjan's strongly connected components: a component of more than one module is a cycle.
index, low, stack, on_stack, components = {}, {}, [], set(), []
def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in edges.get(v, {}):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        component = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            component.append(w)
            if w == v:
                break
        if len(component) > 1:
            components.append(sorted(component))
for v in sorted(edges):
    if v not in index:
        visit(v)
for component in components:
    print("module cycle:", " <-> ".join(component))
    for a in component:
        for b in component:
            for where in sorted(edges.get(a, {}).get(b, ())):
                print(f"  {a} -> {b}: {where}")
print(f"module cycles: {len(components)} found among {len(edges)} modules")
sys.exit(1 if components else 0)
