"""tools"""
import sys

if sys.argv[:1] == ["-m"]:          # `python -m tools.X` starting: Ctrl-C while it loads is one line, exit 130
    import plumbing.early  # noqa: F401
