"""
What the coursework grader gives each typical mistake of tests/test_coursework.py's MISTAKES table: the worked
solution handed in with one mistake, graded (in the sandbox, so as root) on the mistake's exercise only.
Prints a Markdown table: exercise, mistake, serious, points.

    python -m tools.studies.grader_mistakes
"""

import os
import sys
import tempfile

from tools import coursework, studies


def main(argv=None):
    studies.parser(__spec__.name, __doc__).parse_args(argv)
    sys.path.insert(0, os.path.join(coursework.ROOT, "tests"))
    import test_coursework                                   # instructor-only: MISTAKES and solution_files
    print("| exercise | mistake | serious | points |\n|---|---|---|---|")
    for name, mistakes in test_coursework.MISTAKES.items():
        for path, right, wrong, serious in mistakes:
            with tempfile.TemporaryDirectory() as folder:
                sub = test_coursework.solution_files(os.path.join(folder, "s"))
                text = open(os.path.join(sub, path)).read()
                open(os.path.join(sub, path), "w").write(text.replace(right, wrong))
                results = coursework.grade(coursework.ROOT, sub, only=[name])
            shown = " ".join(wrong.split())[:70]
            print(f"| {name} ({coursework.EXERCISES[name][0]}) | `{shown}` | {'yes' if serious else 'no'} | "
                  f"{results['score']:g} |", flush=True)


if __name__ == "__main__":
    studies.run(main)
