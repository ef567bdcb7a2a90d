#!/usr/bin/env python3
"""Fails when a crate's top-level modules import each other in a cycle.

A module cycle (edits uses store, store uses edits) means neither can be
read, tested or moved without the other. Each `crate::NAME` path in a
file (in `use` lines, grouped `use crate::{a, b::c}`, and paths written
inline, tests included) is an edge from the file's top-level module to
NAME; a strongly connected group of two or more modules is a cycle.

Usage: module_cycles.py [--allow CRATE_SRC_DIR:A->B]... CRATE_SRC_DIR...
(exit 1 and the cycles named, or exit 0 and one line per crate). An allowed
edge is left out of the graph: a known cycle waiting to be cut, named so
that no new one hides behind it.
"""

import re
import sys
from pathlib import Path

ROOT_FILES = {"lib.rs", "main.rs"}
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def group_heads(text, start):
    """The first name of each item in the `{...}` opening at `start`."""
    depth, item_start, heads = 0, start + 1, []
    for i in range(start, len(text)):
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                heads.append(text[item_start:i])
                break
        elif c == "," and depth == 1:
            heads.append(text[item_start:i])
            item_start = i + 1
    names = []
    for item in heads:
        m = IDENT.match(item.strip())
        if m:
            names.append(m.group(0))
    return names


def imports(text):
    text = strip_comments(text)
    names = set()
    for m in re.finditer(r"\bcrate::", text):
        rest = m.end()
        if text[rest : rest + 1] == "{":
            names.update(group_heads(text, rest))
        else:
            ident = IDENT.match(text, rest)
            if ident:
                names.add(ident.group(0))
    return names


def top_module(src, path):
    rel = path.relative_to(src).parts
    if len(rel) == 1:
        return None if rel[0] in ROOT_FILES else rel[0][: -len(".rs")]
    return rel[0]


def graph(src, allowed=()):
    edges = {}
    files = [p for p in src.rglob("*.rs") if p.is_file()]
    modules = {m for m in (top_module(src, p) for p in files) if m}
    # A file outside any module (lib.rs, main.rs, a bin) is the root: it may
    # use anything without making a cycle.
    for path in files:
        here = top_module(src, path)
        if here is None or path.parent.name == "bin":
            continue
        for name in imports(path.read_text(encoding="utf-8")):
            if name in modules and name != here and (here, name) not in allowed:
                edges.setdefault(here, set()).add(name)
    return modules, edges


def cycles(modules, edges):
    """Tarjan's strongly connected components of two or more modules."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(modules):
        if v not in index:
            visit(v)
    return found


def parse_args(argv):
    dirs, allowed = [], {}
    args = iter(argv)
    for arg in args:
        if arg != "--allow":
            dirs.append(arg)
            continue
        spec = next(args, "")
        where, _, edge = spec.rpartition(":")
        a, _, b = edge.partition("->")
        if not (where and a and b):
            raise ValueError(f"--allow takes CRATE_SRC_DIR:A->B, not {spec!r}")
        allowed.setdefault(Path(where), set()).add((a.strip(), b.strip()))
    return dirs, allowed


def main(argv):
    try:
        dirs, allowed = parse_args(argv)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not dirs:
        print("usage: module_cycles.py [--allow DIR:A->B]... DIR...", file=sys.stderr)
        return 2
    failed = False
    for arg in dirs:
        src = Path(arg)
        modules, edges = graph(src, allowed.get(src, set()))
        groups = cycles(modules, edges)
        if not groups:
            print(f"{src}: {len(modules)} top-level modules, no cycles")
            continue
        failed = True
        for group in groups:
            links = [
                f"{a} -> {b}"
                for a in group
                for b in sorted(edges.get(a, ()))
                if b in group
            ]
            print(f"{src}: cycle among {', '.join(group)}: {'; '.join(links)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
