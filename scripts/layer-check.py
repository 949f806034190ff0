#!/usr/bin/python3
"""layer-check.py BUILD_DIR - check the layering of src/ (docs/architecture.md "Layers").

The build already refuses an upward #include: each layer's library compiles
against an include directory holding only the headers at or below it
(CMakeLists.txt).  This script checks what the compiler cannot see, and
that the compiler's check itself still works:

1. every quoted include in src/ is "folder/file.h" naming a file of src/
   (a bare "x.h" or "../x/y.h" would be found beside the including file,
   past the include path), and names a header of the file's own layer or a
   lower one;
2. for each library, a probe that includes a header of the next layer up
   (and of a higher layer sharing its folder) fails to compile with that
   library's own flags from compile_commands.json, and a probe that
   includes one of its own headers compiles: a check that cannot fail is
   not a check;
3. --self-test: the rule of 1. flags a planted violation.

BUILD_DIR/layers/layers.txt (written by CMake) gives "INDEX LAYER TARGET
FILE" per file.  Exit status 0 when everything holds, 1 otherwise.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def load_table(build):
    """{path: (index, layer, target)} and [(index, layer, target)] in order."""
    owner, layers = {}, []
    with open(os.path.join(build, "layers", "layers.txt")) as f:
        for line in f:
            idx, layer, target, path = line.split()
            idx = int(idx)
            if not layers or layers[-1][1] != layer:
                layers.append((idx, layer, target))
            if target != "-" and layers[-1][2] == "-":
                layers[-1] = (idx, layer, target)
            if path != "-":
                owner[path] = (idx, layer)
    return owner, layers


def include_violations(files, owner, exists):
    """files: {path: text}.  Returns "path:line: message" for each bad include.
    A file outside the table (src/daemon, src/cli) may include any layer."""
    bad = []
    for path, text in sorted(files.items()):
        mine = owner.get(path)
        for m in INCLUDE.finditer(text):
            inc = m.group(1)
            line = text.count("\n", 0, m.start()) + 1
            where = "%s:%d" % (path, line)
            parts = inc.split("/")
            if len(parts) != 2 or ".." in parts or not parts[0] or not parts[1]:
                bad.append('%s: #include "%s": name headers as "folder/file.h" from src/ '
                           "(a path relative to the including file bypasses the layer's "
                           "include directory)" % (where, inc))
                continue
            target = "src/" + inc
            if not exists(target):
                bad.append('%s: #include "%s": no such header in src/' % (where, inc))
                continue
            theirs = owner.get(target)
            if mine and theirs and theirs[0] > mine[0]:
                bad.append('%s: #include "%s": layer %s (%d) includes a header of layer %s (%d), '
                           "which is above it; pass a callback or a table down instead "
                           "(docs/architecture.md, Layers)" % (where, inc, mine[1], mine[0],
                                                               theirs[1], theirs[0]))
    return bad


def compile_argv(entry, probe):
    """The library's compiler command, turned into a syntax check of probe."""
    argv = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
    while argv and os.path.basename(argv[0]) in ("ccache", "sccache", "distcc"):
        argv = argv[1:]
    out, skip = [argv[0]], False
    for a in argv[1:]:
        if skip:
            skip = False
            continue
        if a in ("-o", "-c", "-MT", "-MF", "-MQ"):
            skip = True
            continue
        if a in ("-MD", "-MMD") or a == entry["file"]:
            continue
        if a.startswith("-fsanitize=fuzzer") or a.startswith("-fprofile"):
            continue
        out.append(a)
    return out + ["-fsyntax-only", "-x", "c", probe]


def probe(entry, header, workdir):
    path = os.path.join(workdir, "probe.c")
    with open(path, "w") as f:
        f.write('#include "%s"\nint at_layer_probe(void);\n' % header)
    r = subprocess.run(compile_argv(entry, path), cwd=entry.get("directory", workdir),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return r.returncode, r.stdout


def self_test():
    owner = {"src/low/a.c": (0, "low"), "src/low/a.h": (0, "low"),
             "src/high/b.h": (1, "high"), "src/high/b.c": (1, "high")}
    files = {"src/low/a.c": '#include "low/a.h"\n#include "high/b.h"\n',
             "src/high/b.c": '#include "low/a.h"\n#include "b.h"\n#include "../low/a.h"\n'}
    bad = include_violations(files, owner, lambda p: p in owner)
    want = ["src/high/b.c:2:", "src/high/b.c:3:", "src/low/a.c:2:"]
    got = [b.split(" ")[0] for b in bad]
    return got == want, "planted violations %s, found %s" % (want, got)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    failed = 0

    def report(ok, what):
        nonlocal failed
        print(("ok   - " if ok else "FAIL - ") + what)
        if not ok:
            failed += 1

    ok, what = self_test()
    report(ok, "the include rule flags planted violations (" + what + ")")
    if "--self-test" in sys.argv:
        return 1 if failed else 0
    if len(args) != 1:
        print("usage: layer-check.py BUILD_DIR [--self-test]", file=sys.stderr)
        return 2
    build = os.path.abspath(args[0])
    src_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    owner, layers = load_table(build)

    files = {}
    for d, _, names in os.walk(os.path.join(src_root, "src")):
        for n in names:
            if n.endswith((".c", ".h")):
                p = os.path.join(d, n)
                with open(p, errors="replace") as f:
                    files[os.path.relpath(p, src_root)] = f.read()
    missing = sorted(p for p in files if p not in owner and
                     p.split("/")[1] not in ("daemon", "cli"))
    report(not missing, "every file of src/ belongs to a layer" +
           ("" if not missing else ": " + ", ".join(missing) + " (add its folder to AT_LAYERS)"))
    bad = include_violations(files, owner,
                             lambda p: os.path.isfile(os.path.join(src_root, p)))
    for b in bad:
        print("       " + b)
    report(not bad, "includes follow the layers (%d files)" % len(files))

    with open(os.path.join(build, "compile_commands.json")) as f:
        commands = json.load(f)
    by_file = {os.path.relpath(os.path.abspath(os.path.join(e.get("directory", ""), e["file"])),
                               src_root): e for e in commands}
    headers = {}  # layer index -> its headers
    for p, (idx, _) in owner.items():
        if p.endswith(".h"):
            headers.setdefault(idx, []).append(p[len("src/"):])
    folder_of = {}
    for p, (idx, _) in owner.items():
        folder_of.setdefault(idx, p.split("/")[1])
    with tempfile.TemporaryDirectory() as work:
        for i, (idx, layer, target) in enumerate(layers):
            if target == "-":
                continue
            srcs = sorted(p for p, o in owner.items() if o[0] == idx and p.endswith(".c"))
            entry = next((by_file[p] for p in srcs if p in by_file), None)
            if not entry:
                report(False, "%s: no compile command for its sources" % layer)
                continue
            own = sorted(headers.get(idx, [])) or sorted(headers.get(0, []))
            rc, out = probe(entry, own[0], work)
            report(rc == 0, "%s compiles a probe including its own %s%s" %
                   (layer, own[0], "" if rc == 0 else ":\n" + out))
            above = []
            nxt = next((l for l in layers[i + 1:] if headers.get(l[0])), None)
            if nxt:
                above.append(sorted(headers[nxt[0]])[0])
            for l in layers[i + 1:]:  # a higher layer in the same folder (mcp over mcp_proto)
                if l[0] in headers and folder_of.get(l[0]) == folder_of.get(idx):
                    above.append(sorted(headers[l[0]])[0])
            for h in dict.fromkeys(above):
                rc, out = probe(entry, h, work)
                refused = rc != 0 and ("No such file" in out or "not found" in out)
                report(refused, "%s cannot include %s (a higher layer)%s" %
                       (layer, h, "" if refused else ": it compiled, or failed otherwise:\n" + out))
    print("%d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
