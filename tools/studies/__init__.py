"""The one-off measurement scripts behind recorded results (docs/results.md, docs/history/): python -m tools.studies.X"""

import argparse
import os


def parser(module, doc):
    """A study's command line: its name, and its docstring's first paragraph as the description."""
    return argparse.ArgumentParser(allow_abbrev=False, prog=f"python -m {module}", description=doc.split("\n\n")[0].strip(),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def dagger_folder(module, doc, argv, env):
    """The tools.dagger run folder a DAgger study reads (default runs/dagger-<env>)."""
    p = parser(module, doc)
    p.add_argument("folder", nargs="?", default=os.path.join("runs", f"dagger-{env}"),
                   help="the tools.dagger run folder (default: %(default)s)")
    return p.parse_args(argv).folder
