#!/usr/bin/env python3
"""layers.py BUILD_DIR - checks the daemon's layering rules on the built
objects (docs/architecture.md), from the symbols each object defines and
uses (nm), so that the rules hold for what is compiled, not for what a
grep of the sources finds:
  - the engine (daemon/engine) uses no libuv symbol and nothing the
    daemon's glue defines;
  - no two glue files call each other in a loop, longer loops included,
    except the two halves of a VM (vm.c and hstream.c).
Prints the call graph between glue files; exits 1 on a violation."""
import glob
import os
import subprocess
import sys

ALLOWED_LOOP = {"vm.c", "hstream.c"}


def symbols(objdir):
    defs, uses = {}, {}
    objs = glob.glob(os.path.join(objdir, "*.o"))
    if not objs:
        sys.exit(f"layers: no objects in {objdir}")
    for o in objs:
        name = os.path.basename(o)[: -len(".o")]
        out = subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            p = line.split()
            if len(p) == 3 and p[1] in "TDBRC":
                defs[p[2]] = name
            elif len(p) == 2 and p[0] == "U":
                uses.setdefault(name, set()).add(p[1])
    return defs, uses


def loops(edges):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def main():
    build = sys.argv[1]
    bad = 0
    glue_defs, glue_uses = symbols(os.path.join(build, "daemon", "vmsvcd.p"))
    eng_defs, eng_uses = symbols(os.path.join(build, "daemon", "engine", "libvmsvcd_engine.a.p"))
    for obj, used in sorted(eng_uses.items()):
        for s in sorted(used):
            if s.startswith("uv_") or (s in glue_defs and s not in eng_defs):
                print(f"engine/{obj} uses {s} (from the daemon's glue or libuv)")
                bad = 1
    edges = {}
    for obj, used in glue_uses.items():
        for s in used:
            d = glue_defs.get(s)
            if d and d != obj:
                edges.setdefault(obj, set()).add(d)
    for obj in sorted(edges):
        print(f"{obj} -> {' '.join(sorted(edges[obj]))}")
    for comp in loops(edges):
        if comp != ALLOWED_LOOP:
            print(f"loop between {' '.join(sorted(comp))}")
            bad = 1
    print("layers: ok" if not bad else "layers: violated")
    return bad


sys.exit(main())
