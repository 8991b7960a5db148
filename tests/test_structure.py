"""The code's shape: the top level holds the paper's modules, modules import only downward, the core uses only
numpy and torch, no env names are compared outside envs/, and the README and docs stay small with working links."""

import ast
import os
import re

import data
from helpers import ROOT

# the data flow, bottom first: a module may import only modules of a lower layer. The top level holds the paper's
# modules; envs/, variants/, plumbing/ and tools/ hold the rest (tools/studies/ scripts sit above everything).
LAYERS = [("plumbing.stats", "plumbing.files", "plumbing.sandbox", "plumbing.early", "plumbing.processes"),
          ("plumbing.demofiles",),
          ("envs.record", "tools"), ("envs.pointmass", "envs.cartpole", "envs.track", "envs.blockpush",
          "envs.pusht_expert"), ("envs.pusht",), ("envs",), ("data",), ("kmeans", "mingpt"), ("bet", "variants.baselines", "variants.trunks"),
          ("variants.mdn", "variants.normalised"), ("variants.vae", "variants.flow", "variants.ibc"), ("variants",), ("plumbing.runs", "plumbing.plots"), ("evaluate",), ("train",),
          ("tools.dagger", "tools.ablations", "tools.figures", "tools.bench", "tools.datasets"), ("tools.probes",),
          ("tools.coursework",)]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
PAPER = ("kmeans", "mingpt", "bet", "data", "train", "evaluate")


def module_files():
    """{dotted module name: path} of every project module (tests and tools/studies/ scripts excluded)."""
    found = {}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith((".", "__")) and d not in ("tests", "runs", "docs", "data", "studies")]
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, f), ROOT)[:-3].replace(os.sep, ".")
                found[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(folder, f)
    return found


def project_imports(path):
    """Every project module a file imports, at the top or inside a function, as a dotted name in RANK
    (`from envs import blockpush` is envs.blockpush; `from envs import make` is envs)."""
    names = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in RANK else node.module for a in node.names}
    return names & set(RANK)


def test_modules_import_only_downward():
    modules = {name: path for name, path in module_files().items() if open(path).read().strip("\n").count("\n") > 1}
    assert set(modules) == set(RANK), "place every module in LAYERS"
    for name, path in modules.items():
        for imported in project_imports(path):
            assert RANK[imported] < RANK[name], f"{name} imports {imported}, which is not below it"


def test_the_top_level_holds_the_papers_modules_only():
    assert sorted(f[:-3] for f in os.listdir(ROOT) if f.endswith(".py")) == sorted(PAPER)


def heading_anchors(path):
    """The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces to '-'."""
    heads = [line.lstrip("#").strip() for line in open(path) if line.startswith("#")]
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in heads}


def links_to_headings(page):
    """(file, anchor) of every link in a Markdown page to a heading of a Markdown file; the file is resolved from
    the page's folder, and a bare `(#anchor)` points into the page itself."""
    for target, anchor in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", open(page).read()):
        path = os.path.normpath(os.path.join(os.path.dirname(page), target)) if target else page
        if not target.startswith("http") and path.endswith(".md"):
            yield path, anchor


def test_links_inside_docs_land_on_a_heading():
    """A renamed heading breaks the links to it: every `(#anchor)` and `(file.md#anchor)` in docs/ must resolve."""
    pages = [os.path.join(folder, f) for folder in (os.path.join(ROOT, "docs"), os.path.join(ROOT, "docs", "history"))
             for f in sorted(os.listdir(folder)) if f.endswith(".md")]
    links = [(os.path.relpath(page, ROOT), path, anchor) for page in pages for path, anchor in links_to_headings(page)]
    assert len(links) > 40, "docs/results.md and docs/history/experiments.md link between their sections"
    for page, path, anchor in links:
        assert anchor in heading_anchors(path), f"{page} links to {path}#{anchor}: no such heading"


def test_core_modules_use_only_numpy_torch_and_each_other():
    for name in ("kmeans", "mingpt", "bet", "variants.baselines", "variants.normalised", "variants.vae", "variants.flow",
                 "variants.ibc"):
        tree = ast.parse(open(module_files()[name]).read())
        third_party = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        third_party |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert third_party - set(RANK) - {"math", "dataclasses"} <= {"numpy", "torch"}, name
        assert third_party & set(RANK) <= {"kmeans", "mingpt", "bet", "variants"}, f"{name} imports {third_party & set(RANK)}"
        assert project_imports(module_files()[name]) <= {"kmeans", "mingpt", "bet", "variants.normalised"}, name


def test_results_page_holds_current_results_in_at_most_40_kb():
    assert os.path.getsize(os.path.join(ROOT, "docs", "results.md")) <= 40 * 1024   # the dated record: docs/history/


def python_files_outside(folder):
    """Every project .py file (tools/studies/ included, tests excluded) that is not under `folder`."""
    for name, path in module_files().items():
        if name != folder and not name.startswith(folder + "."):
            yield path
    studies = os.path.join(ROOT, "tools", "studies")
    yield from (os.path.join(studies, f) for f in sorted(os.listdir(studies)) if f.endswith(".py"))


def test_no_module_outside_envs_compares_environment_names():
    """An environment is one record (envs/<env>.py) that everything else looks up: no `name == "pusht"` or
    `name in ("pusht", ...)` anywhere else, so a new environment touches no other file."""
    import envs
    names = set(envs.ENV_NAMES)
    for path in python_files_outside("envs"):
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Compare):
                found = {c.value for part in [node.left, *node.comparators] for c in ast.walk(part)
                         if isinstance(c, ast.Constant) and c.value in names}
                assert not found, f"{os.path.relpath(path, ROOT)}:{node.lineno} compares env names {sorted(found)}"


def test_every_file_a_script_saves_is_written_atomically():
    """torch.save, np.savez and savefig write into the file object of files.atomic_write (whole or absent: a cache
    written with a plain torch.save was read back truncated after a kill), or into memory, never to a name."""
    for path in python_files_outside("tests"):
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("save", "savez", "savez_compressed", "savefig") and \
                    ast.unparse(node.func.value) in ("torch", "np", "fig"):
                torch_save = ast.unparse(node.func.value) == "torch"             # torch.save(obj, f); np.save(f, a)
                target = ast.unparse(node.args[1] if torch_save else node.args[0])
                assert target in ("f", "buffer"), f"{os.path.relpath(path, ROOT)}:{node.lineno} saves to {target}"


def test_ci_runs_the_suite_on_two_kernel_paths_and_two_thread_counts():
    """Bit-identity and outcome margins must hold on every CPU a user may have: CI runs the README's test command on
    the machine's own kernel path and again on torch's portable kernels with MKL capped at SSE4.2, on 1 thread."""
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    assert ci.count("python -m pytest") == 2
    assert "ATEN_CPU_CAPABILITY=default" in ci and "MKL_ENABLE_INSTRUCTIONS=SSE4_2" in ci and "BET_TEST_THREADS=1" in ci
    assert "get_cpu_capability()" in ci and "== 'DEFAULT'" in ci                 # the setting took
