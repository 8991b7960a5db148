"""The one-off measurement scripts behind recorded results (docs/results.md, docs/history/): python -m tools.studies.X.
Each ends as every script here does (runs.cli): bad input is one `error:` line and exit 2, Ctrl-C one line and 130."""

import argparse
import os


def parser(module, doc):
    """A study's command line: its name, and its docstring's first paragraph as the description; a bad flag is one
    error line (runs.ArgumentParser)."""
    from plumbing import runs
    return runs.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n\n")[0].strip(),
                               formatter_class=argparse.RawDescriptionHelpFormatter)


def run(main):
    """A study's `if __name__ == "__main__"` block."""
    from plumbing import runs
    runs.cli(main)


def dagger_folder(module, doc, argv, env):
    """The tools.dagger run folder a DAgger study reads (default runs/dagger-<env>), checked before any work."""
    p = parser(module, doc)
    p.add_argument("folder", nargs="?", default=os.path.join("runs", f"dagger-{env}"),
                   help="the tools.dagger run folder (default: %(default)s)")
    folder = p.parse_args(argv).folder
    if not os.path.isfile(os.path.join(folder, "run.json")):
        raise ValueError(f"{folder}: not a tools.dagger run folder (no run.json); python -m tools.dagger --env {env} "
                         f"writes one")
    return folder


def ablation_table(folder, env, part):
    """`folder`/<env>/ablations.json as tools.ablations writes it, holding `part` ("table" or "runs"), or one
    ValueError."""
    from plumbing import runs
    path = os.path.join(folder, env, "ablations.json")
    table = runs.existing_json(path, "python -m tools.ablations writes it")
    if table is None or not isinstance(table.get(part), dict):
        raise ValueError(f"{path}: " + ("not found" if table is None else f"not an ablation table (no '{part}')") +
                         f"; python -m tools.ablations --env {env} writes one")
    return table
