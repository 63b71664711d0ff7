#!/usr/bin/python3
# The measuring half of bench/cxx-reach.sh: for every function body that
# sites.py found, pick a translation unit whose code holds it, build that TU
# again with -DHP_REACH=ID (that one body gets an `asm volatile("")` at its
# start), run hp-diff on the old and new object, and tally the outcomes.
#
#   reach.py CONFIG.json
#
# CONFIG (written by the shell script) names the trees, the old objects,
# the compiler and its flags, the tools, the results directory and JOBS.
# A site's result is kept (RESULTS/ID.txt) and not measured again while the
# tools and flags are the same (the script keys RESULTS by their hashes).
import collections, concurrent.futures as cf, json, os, re, subprocess, sys, time

cfg = json.load(open(sys.argv[1]))
inst, old_dir, results = cfg['inst'], cfg['old'], cfg['results']
sites = json.load(open(cfg['sites']))
os.makedirs(results, exist_ok=True)


def obj_name(tu):  # src/contrib/graphbuilder.cpp -> src_contrib_graphbuilder.o
    return tu[:-len('.cpp')].replace('/', '_') + '.o'


def log(msg):
    print('cxx-reach: ' + msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------ line tables

def line_rows(obj):
    """{absolute source path: {line: rows}} of OBJ's line table."""
    out = subprocess.run([cfg['dwarfdump'], '--debug-line', obj], capture_output=True,
                         text=True, check=True).stdout
    rows = collections.defaultdict(collections.Counter)
    dirs, files, cur = {}, {}, None
    in_rows = False
    for ln in out.splitlines():
        m = re.match(r'include_directories\[\s*(\d+)\] = "(.*)"', ln)
        if m:
            if m.group(1) == '0':  # a new line table
                dirs, files, in_rows = {}, {}, False
            dirs[int(m.group(1))] = m.group(2)
            continue
        m = re.match(r'file_names\[\s*(\d+)\]:', ln)
        if m:
            cur = int(m.group(1))
            files[cur] = ['', 0]
            continue
        m = re.match(r'\s+name: "(.*)"', ln)
        if m and cur is not None:
            files[cur][0] = m.group(1)
            continue
        m = re.match(r'\s+dir_index: (\d+)', ln)
        if m and cur is not None:
            files[cur][1] = int(m.group(1))
            continue
        if ln.startswith('Address'):
            in_rows = True
            paths = {i: os.path.normpath(os.path.join(dirs.get(d, ''), n))
                     for i, (n, d) in files.items()}
            continue
        if in_rows:
            m = re.match(r'0x[0-9a-f]+\s+(\d+)\s+\d+\s+(\d+)', ln)
            if m and m.group(1) != '0':
                rows[paths.get(int(m.group(2)), '?')][int(m.group(1))] += 1
    return rows


tus = sorted({t for s in sites for t in s['tus']})
log(f'reading the line tables of {len(tus)} objects')
rows_of = {tu: line_rows(os.path.join(old_dir, obj_name(tu))) for tu in tus}


def code_in(tu, s):
    r = rows_of[tu].get(os.path.join(cfg['debug_root'], s['file']), {})
    return sum(n for line, n in r.items() if s['line'] <= line <= s['end_line'])


# A site is measured in the TU that holds the most of its code (by the
# line tables): its own .cpp, or for a header function the TU where it is
# compiled or inlined most. A body with no line of code anywhere may still
# matter (an accessor that compiles to nothing once inlined, whose change
# would change its callers): it is tried in up to TRIES of the TUs that
# parse it, its own .cpp first, then those whose source names it most,
# until one gives a patch or a refusal; if none does, it has no code in
# the build (a template never instantiated, an inline function nothing
# uses).
TRIES = 3
src_text = {tu: open(os.path.join(inst, tu), errors='replace').read() for tu in tus}
for s in sites:
    best = max(s['tus'], key=lambda t: (code_in(t, s), t == s['file'], t))
    if code_in(best, s):
        s['candidates'] = [best]
        continue
    short = re.sub(r'<.*', '', s['name'].split('::')[-1])
    s['candidates'] = sorted(s['tus'], key=lambda t: (t != s['file'],
                             -len(re.findall(r'\b%s\b' % re.escape(short), src_text[t])),
                             t))[:TRIES]
    s['no_rows'] = True

# ------------------------------------------------------------ the old tables

def table(obj):
    j = json.loads(subprocess.run([cfg['hp_inspect'], '--json', obj], capture_output=True,
                                  text=True, check=True).stdout)
    fns = {}
    for f in j['files']:
        for o in f['objects']:
            for r in o['records']:
                for fn in r['functions']:
                    fns[fn['name']] = fn
    return fns


tables = {tu: table(os.path.join(old_dir, obj_name(tu))) for tu in tus}


def demangle(names):
    if not names:
        return []
    out = subprocess.run([cfg['cxxfilt']], input='\n'.join(names), capture_output=True,
                         text=True, check=True).stdout
    return out.splitlines()


# ------------------------------------------------------------ measuring

def needs_all_tus(body):
    tu_line = body.split('\n')[1].split()
    if body.startswith('TIMES') and len(tu_line) > 2 and tu_line[1:] == sorted(tu_line[1:]):
        return []  # measured with more TUs already, in link order
    return COMDAT_ELSEWHERE.findall(body)



def measure_in(s, tu, more=()):
    tmp = os.path.join(results, f"tmp-{s['id']}")
    os.makedirs(tmp, exist_ok=True)
    new_o, patch = os.path.join(tmp, obj_name(tu)), os.path.join(tmp, 'fix.hp')
    t0 = time.time()
    pairs = []
    # In link order (the library was linked from the objects sorted by
    # name), as --old-dir would pair them.
    for t in sorted((tu,) + tuple(more)):
        cc = subprocess.run(cfg['cxx'] + cfg['flags'] + [f"-DHP_REACH={s['id']}", '-c',
                            os.path.join(inst, t), '-o', os.path.join(tmp, obj_name(t))],
                            capture_output=True, text=True)
        if cc.returncode:
            break
        pairs += [os.path.join(old_dir, obj_name(t)), os.path.join(tmp, obj_name(t))]
    t1 = time.time()
    if cc.returncode:
        body = 'COMPILE FAILED\n' + cc.stderr
    else:
        d = subprocess.run([cfg['hp_diff'], '--target', cfg['target']] + pairs + ['-o', patch],
                           capture_output=True, text=True)
        body = f'EXIT {d.returncode}\n' + d.stdout + d.stderr
    t2 = time.time()
    if not cc.returncode:
        # What the edit changed, by the tables: hp-diff says it for a patch,
        # not for a refusal, and the old rule asks whether it has landing pads.
        old_t, new_t = tables[tu], table(new_o)
        for nm, fn in sorted(new_t.items()):
            o = old_t.get(nm)
            if o is None or o['fingerprint'] != fn['fingerprint']:
                body += f"CHANGED {nm} {int(bool(fn['landing_pads']))} {'new' if o is None else 'changed'}\n"
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)
    return f'TIMES {t1 - t0:.3f} {t2 - t1:.3f}\nTU {" ".join((tu,) + tuple(more))}\n' + body


COMDAT_ELSEWHERE = re.compile(r"function '(\w+)' is not the code the old objects have")


def measure(s):
    res = os.path.join(results, f"{s['id']}.txt")
    if os.path.exists(res) and not needs_all_tus(open(res).read()):
        return
    for tu in s['candidates']:
        body = measure_in(s, tu)
        if 'hp-diff: nothing to patch' not in body:
            break
    # An inline function is compiled into every TU that uses it, each copy
    # optimised in its own TU, and the library keeps one of them. Diffing
    # one TU whose copy is not the kept one is refused (the target's entry
    # is not that TU's old code); a change to a header changes every TU
    # that compiles it, so measure the site as a user would diff it: with
    # every TU whose old object has a copy of the refused functions.
    names = needs_all_tus(body)
    if names:
        more = [t for t in s['tus'] if t != tu and any(n in tables[t] for n in names)]
        body = measure_in(s, tu, more)
    with open(res + '.tmp', 'w') as f:
        f.write(body)
    os.rename(res + '.tmp', res)


todo = [s for s in sites if not s['constexpr'] and (
    not os.path.exists(os.path.join(results, f"{s['id']}.txt"))
    or needs_all_tus(open(os.path.join(results, f"{s['id']}.txt")).read()))]
# In a random order (fixed seed): a run stopped early, or with LIMIT, has
# measured a sample of the whole project, not its first files.
import random
random.Random(12).shuffle(todo)
limit = int(cfg.get('limit') or 0)
if limit:
    todo = todo[:max(limit, 0)]  # LIMIT=-1: only the tally of what is measured
log(f"{len(sites)} bodies, {sum(1 for s in sites if not s.get('no_rows'))} with lines of code; "
    f"measuring {len(todo)} ({cfg['jobs']} at a time)")
t_start = time.time()
done = 0
with cf.ThreadPoolExecutor(int(cfg['jobs'])) as ex:
    for _ in ex.map(measure, todo):
        done += 1
        if done % 50 == 0:
            el = time.time() - t_start
            log(f'{done}/{len(todo)} in {el:.0f} s, ~{el / done * (len(todo) - done):.0f} s left')

# ------------------------------------------------------------ tally

def kind_of(reason):
    """A refusal's words with the names taken out: the kind it is of."""
    k = re.sub(r"'[^']*'", "'…'", reason)
    k = re.sub(r'"[^"]*"', '"…"', k)
    k = re.sub(r'\b_Z\w+', 'SYM', k)
    k = re.sub(r'\b\d+\b', 'N', k)
    return k


outcome = {}      # id -> patched | refused | empty | compile-failed | not-measured kinds
refusals = collections.defaultdict(list)  # kind -> [(site, full line)]
replaced_of = {}
changed_lp = {}
warn_kinds = collections.Counter()
times = []
for s in sites:
    sid = s['id']
    if s['constexpr']:
        outcome[sid] = 'constexpr (not instrumented)'
        continue
    res = os.path.join(results, f'{sid}.txt')
    if not os.path.exists(res):
        outcome[sid] = 'not measured (stopped early, or LIMIT)'
        continue
    txt = open(res).read().splitlines()
    times.append(tuple(float(x) for x in txt[0].split()[1:]))
    if txt[1].startswith('TU '):
        s['measured_in'] = txt[1].split()[1]
        s['tus_diffed'] = len(txt[1].split()) - 1
        txt = txt[1:]
    else:  # a result from before the TU was written down
        s['measured_in'] = s['candidates'][0]
    if txt[1].startswith('COMPILE FAILED'):
        outcome[sid] = 'compile failed'
        refusals['(compile failed) ' + (txt[2] if len(txt) > 2 else '')].append((s, ''))
        continue
    code = int(txt[1].split()[1])
    lines = txt[2:]
    changed_lp[sid] = any(ln.split()[2] == '1' for ln in lines if ln.startswith('CHANGED '))
    lines = [ln for ln in lines if not ln.startswith('CHANGED ')]
    for ln in lines:
        if ln.startswith('hp-diff: warning: '):
            warn_kinds[kind_of(ln[len('hp-diff: warning: '):])] += 1
    if code == 0:
        if any(ln.startswith('hp-diff: nothing to patch') for ln in lines):
            outcome[sid] = ('line numbers only' if any('line numbers only' in ln for ln in lines)
                            else 'no code in the build' if s.get('no_rows')
                            else 'nothing to patch')
        else:
            outcome[sid] = 'patched'
            replaced_of[sid] = [ln.strip().split(': ', 1) for ln in lines
                                if ln.startswith('  ') and ': ' in ln]
        continue
    outcome[sid] = 'refused'
    errs = [ln for ln in lines if ln.startswith('hp-diff: error: ')]
    kinds = set()
    for e in errs:
        why = e[len('hp-diff: error: '):].split(': ', 1)[-1]
        k = kind_of(why)
        if k not in kinds:
            refusals[k].append((s, e))
            kinds.add(k)
    if not errs:
        refusals['(exit %d, no error line)' % code].append((s, '\n'.join(lines[:3])))

measured = [s for s in sites if outcome[s['id']] in
            ('patched', 'refused', 'nothing to patch', 'line numbers only', 'compile failed')]
n = len(measured)
c = collections.Counter(outcome.values())
print()
print(f"C++ reach of hp-diff on {cfg['project']}: one function body changed at a time")
print(f"  function bodies in the project's files: {len(sites)} "
      f"({sum(s['file'].endswith('.cpp') for s in sites)} in .cpp files, "
      f"{sum(not s['file'].endswith('.cpp') for s in sites)} in headers; "
      f"{sum(s['template'] for s in sites)} templates)")
for k in ('no code in the build', 'constexpr (not instrumented)', 'not measured (stopped early, or LIMIT)'):
    if c[k]:
        print(f'  {k}: {c[k]}')
print(f'  measured: {n}')
for k in ('patched', 'refused', 'nothing to patch', 'line numbers only', 'compile failed'):
    if c[k]:
        print(f'    {k}: {c[k]} ({100.0 * c[k] / n:.1f}%)')

# The old rule: a changed function with landing pads was refused. A patch
# that replaces any function with landing pads would have been refused.
def has_lp(sid, name):
    return bool(tables[next(s for s in sites if s['id'] == sid)['measured_in']]
                .get(name, {}).get('landing_pads'))


old_refused = [sid for sid, rep in replaced_of.items() if any(has_lp(sid, nm) for nm, _ in rep)]
own_lp = [sid for sid, rep in replaced_of.items()
          if any(has_lp(sid, nm) for nm, why in rep if why == 'its source changed')]
print(f'  of the {c["patched"]} patched, {len(old_refused)} replace a function with landing '
      f'pads ({len(own_lp)} the changed function itself): the old rule refused them, so the '
      f'reach before unwind tables was {c["patched"] - len(old_refused)}/{n} '
      f'({100.0 * (c["patched"] - len(old_refused)) / max(n, 1):.1f}%), now '
      f'{c["patched"]}/{n} ({100.0 * c["patched"] / max(n, 1):.1f}%)')
multi = [s for s in measured if s.get('tus_diffed', 1) > 1]
if multi:
    print(f'  {len(multi)} diffed with every TU that has a copy of an inline function, in link '
          f'order, because one TU alone was refused (docs/limits.md: a COMDAT copy the linker '
          f'did not keep): ' + ', '.join(s['name'] for s in multi))
sizes = collections.Counter(len(r) for r in replaced_of.values())
print('  functions per patch: ' + ', '.join(f'{k}: {v}' for k, v in sorted(sizes.items())))

refused_sites = [s for s in measured if outcome[s['id']] == 'refused']
if refusals:
    print()
    print('Refusals by kind (a site refused for two kinds counts in both):')
    for k, lst in sorted(refusals.items(), key=lambda kv: -len(kv[1])):
        ex_site, ex_line = lst[0]
        print(f'  {len(lst):4d}  {k}')
        print(f"        e.g. {ex_site['name']} ({ex_site['file']}:{ex_site['line']}, "
              f"in {ex_site['measured_in']}):")
        print(f'        {ex_line}')
    lp = [s for s in refused_sites if changed_lp.get(s['id'])]
    print(f'  {len(lp)} of the {len(refused_sites)} refused change a function with landing pads')
    print()
if warn_kinds:
    print('Warnings by kind (over all patched sites):')
    for k, v in warn_kinds.most_common():
        print(f'  {v:4d}  {k}')
    print()

# Every function of the build, from the old tables (COMDAT copies counted once).
allfn = {}
for tu in tus:
    for nm, fn in tables[tu].items():
        if fn.get('kind', 'function') != 'function':
            continue
        allfn.setdefault(nm, fn)
names = sorted(allfn)
dem = dict(zip(names, demangle(names)))


def qualified_name(d):
    """std::vector<int>::push_back from 'void std::vector<int>::push_back(int&&)'."""
    d = d.split('(')[0]
    while True:
        e = re.sub(r'<[^<>]*>', '', d)
        if e == d:
            break
        d = e
    return d.split()[-1] if d.split() else d


qn = {nm: qualified_name(dem[nm]) for nm in names}
own = [nm for nm in names if qn[nm].startswith(('YAML::', '(anonymous'))]
std = [nm for nm in names if qn[nm].startswith(('std::', '__gnu_cxx::'))]
covered = set()
for rep in replaced_of.values():
    covered.update(nm for nm, why in rep)


def share(lst, pred):
    k = sum(1 for nm in lst if pred(allfn[nm]))
    return f'{k}/{len(lst)} ({100.0 * k / max(len(lst), 1):.1f}%)'


print('Every function of the build (the fingerprint tables, COMDAT copies once):')
print(f'  {len(names)} functions with code; yaml-cpp\'s own (YAML::, anonymous namespaces) '
      f'{len(own)}, libstdc++ instantiations {len(std)}, other {len(names) - len(own) - len(std)}')
print(f'  with landing pads (refused by the old rule): all {share(names, lambda f: f["landing_pads"])}, '
      f'own {share(own, lambda f: f["landing_pads"])}, libstdc++ {share(std, lambda f: f["landing_pads"])}')
print(f'  without a patchable prologue: {share(names, lambda f: not f["patchable"])}')
print(f'  own functions replaced by some measured site\'s patch: {len(covered & set(own))}/{len(own)}')
if times:
    print(f'  per site: compile {sum(t[0] for t in times) / len(times):.2f} s, '
          f'hp-diff and reading the new table {1000 * sum(t[1] for t in times) / len(times):.0f} ms (means)')

# A machine-readable copy for the README and for anyone digging further.
with open(os.path.join(results, '..', 'summary.json'), 'w') as f:
    json.dump({'outcome': {str(k): v for k, v in outcome.items()},
               'sites': sites, 'refusals': {k: [s['id'] for s, _ in v]
                                            for k, v in refusals.items()}}, f, indent=0)
