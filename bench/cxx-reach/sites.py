#!/usr/bin/python3
# Lists every function definition of a C++ project (the bodies written in
# its own files, not in system headers) with where its body opens, using
# libclang (python3-clang-19), and writes an instrumented copy of the tree
# in which each body starts with HP_REACH_AT(ID) on the line of its '{'.
#
#   sites.py TREE OUT_TREE SITES.json -- CLANG_FLAGS... -- TU...
#
# The marker is inserted without a newline, so every line number (and
# __LINE__, and the debug line table) is the same as in the tree as
# shipped. bench/cxx-reach.sh defines HP_REACH_AT(k) to do nothing unless
# k is the -DHP_REACH=k of the build: the "old" build (HP_REACH=0) is the
# project's code, the "new" build of site k has that one body changed.
import json, os, shutil, sys
import clang.cindex as ci

ci.Config.set_library_file('/usr/lib/llvm-19/lib/libclang-19.so.1')

args = sys.argv[1:]
tree, out_tree, sites_json = [os.path.realpath(a) for a in args[:3]]
rest = args[4:]
sep = rest.index('--')
flags, tus = rest[:sep], rest[sep + 1:]

K = ci.CursorKind
FUNCS = {K.FUNCTION_DECL, K.CXX_METHOD, K.CONSTRUCTOR, K.DESTRUCTOR,
         K.CONVERSION_FUNCTION, K.FUNCTION_TEMPLATE}
SCOPES = {K.NAMESPACE, K.CLASS_DECL, K.STRUCT_DECL, K.UNION_DECL,
          K.CLASS_TEMPLATE, K.CLASS_TEMPLATE_PARTIAL_SPECIALIZATION,
          K.LINKAGE_SPEC, K.UNEXPOSED_DECL}

sites = {}   # (file, offset of '{') -> site
seen_by = {}  # (file, offset) -> TUs that parse it
texts = {}


def text(path):
    if path not in texts:
        texts[path] = open(path, 'rb').read()
    return texts[path]


def qualified(c):
    parts = []
    p = c
    while p is not None and p.kind != K.TRANSLATION_UNIT:
        if p.spelling:
            parts.append(p.spelling)
        p = p.semantic_parent
    return '::'.join(reversed(parts))


def visit(c, tu_name):
    f = c.location.file
    if f is None:
        return
    path = os.path.realpath(f.name)
    if not path.startswith(tree + '/'):
        return
    if c.kind in FUNCS and c.is_definition():
        body = [ch for ch in c.get_children() if ch.kind == K.COMPOUND_STMT]
        if not body:
            return  # = default, = delete, a function-try-block
        start = body[0].extent.start
        if start.file is None or os.path.realpath(start.file.name) != path:
            return
        off = start.offset
        src = text(path)
        if src[off:off + 1] != b'{':
            return  # the body comes from a macro
        key = (path, off)
        seen_by.setdefault(key, set()).add(tu_name)
        if key in sites:
            return
        # constexpr bodies cannot hold an asm statement before C++20
        toks = [t.spelling for t in c.get_tokens() if t.extent.start.offset < off]
        end = body[0].extent.end
        sites[key] = {
            'file': os.path.relpath(path, tree), 'offset': off,
            'line': start.line, 'end_line': end.line,
            'name': qualified(c), 'kind': c.kind.name.lower(),
            'template': c.kind == K.FUNCTION_TEMPLATE or any(
                p.kind in (K.CLASS_TEMPLATE, K.CLASS_TEMPLATE_PARTIAL_SPECIALIZATION)
                for p in parents(c)),
            'constexpr': 'constexpr' in toks,
            'in_class': c.lexical_parent is not None and c.lexical_parent.kind in SCOPES - {K.NAMESPACE, K.LINKAGE_SPEC, K.UNEXPOSED_DECL},
        }
        return
    if c.kind in SCOPES:
        for ch in c.get_children():
            visit(ch, tu_name)


def parents(c):
    p = c.semantic_parent
    while p is not None and p.kind != K.TRANSLATION_UNIT:
        yield p
        p = p.semantic_parent


index = ci.Index.create()
for tu_path in tus:
    tu_path = os.path.realpath(tu_path)
    tu = index.parse(tu_path, args=flags)
    errs = [d for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
    if errs:
        sys.exit(f'sites.py: {tu_path}: {errs[0]}')
    name = os.path.relpath(tu_path, tree)
    for ch in tu.cursor.get_children():
        visit(ch, name)

ordered = sorted(sites.values(), key=lambda s: (s['file'], s['offset']))
for i, s in enumerate(ordered, 1):
    s['id'] = i
    s['tus'] = sorted(seen_by[(os.path.join(tree, s['file']), s['offset'])])

# The instrumented tree: a copy with the markers inserted (not in constexpr
# bodies), from the end of each file so the offsets stay valid.
if os.path.exists(out_tree):
    shutil.rmtree(out_tree)
shutil.copytree(tree, out_tree, symlinks=True)
by_file = {}
for s in ordered:
    by_file.setdefault(s['file'], []).append(s)
for rel, ss in by_file.items():
    src = bytearray(text(os.path.join(tree, rel)))
    for s in sorted(ss, key=lambda s: -s['offset']):
        if s['constexpr']:
            continue
        src[s['offset'] + 1:s['offset'] + 1] = b' HP_REACH_AT(%d)' % s['id']
    open(os.path.join(out_tree, rel), 'wb').write(bytes(src))

json.dump(ordered, open(sites_json, 'w'), indent=0)
print(f'sites.py: {len(ordered)} function bodies in {len(by_file)} files, '
      f'{sum(s["constexpr"] for s in ordered)} constexpr (not instrumented)')
