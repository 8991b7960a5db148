"""
Coursework mode. The repository is the worked solution; this script makes the student handout and grades
a student's copy.

    python coursework.py handout OUT_DIR           # the student version: solutions become stubs, no hidden tests
    python coursework.py grade [DIR] [--json PATH]  # run each exercise's tests, print points, write Gradescope JSON

Exercises live in the real modules, between marker lines (nbgrader style), under a one-line hint:

    # Exercise focal_loss (Sec. 2.2): take log p_t from log_softmax, then weight it by (1 - p_t)^gamma.
    ### BEGIN SOLUTION focal_loss
    ...the solution...
    ### END SOLUTION

The handout replaces each marked region by `raise NotImplementedError("Exercise focal_loss: ...")`. An
exercise's tests carry the pytest marker ex_<name>; hidden ones live in tests/hidden/, which the handout
leaves out. Only the standard library is used here, so a grading image needs nothing beyond requirements.txt.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

# name: (points, title). The order is the suggested order of work (docs/assignment.md, Part 1).
EXERCISES = {
    "windows": (10, "the training windows of Algorithm 1 (data.window_index)"),
    "kmeans_codec": (10, "k-means encode and decode, Sec. 2.1 (kmeans.encode, kmeans.decode)"),
    "focal_loss": (15, "the focal loss of the bin head, Sec. 2.2 (bet.focal_loss)"),
    "offset_loss": (15, "the masked multi-task offset loss, Eq. 2 (bet.offset_loss)"),
    "attention": (15, "causal self-attention (mingpt.CausalSelfAttention)"),
    "sample": (15, "sampling an action, Sec. 2.4 (BeT.sample)"),
    "dagger": (20, "DAgger's labelled rollouts and aggregation (dagger.py)"),
}
SOURCES = ("data.py", "kmeans.py", "bet.py", "mingpt.py", "dagger.py")   # the files holding solution regions
HIDDEN = os.path.join("tests", "hidden")                                 # instructor-only: never in the handout
SKIP = {".git", ".venv", "runs", "__pycache__", ".pytest_cache", HIDDEN,
        os.path.join("tests", "test_coursework.py")}    # instructor-only too: it grades against the hidden tests
BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION (\w+)\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
TEST_TIMEOUT = 30       # seconds per test (tests/conftest.py enforces it when COURSEWORK_TEST_TIMEOUT is set)
EXERCISE_TIMEOUT = 120  # seconds for one exercise's whole pytest run


class MarkerError(ValueError):
    pass


def strip_solutions(path, text):
    """The student version of one source file: every marked region replaced by its stub. Raises MarkerError
    naming file:line for a nested, unterminated or unmatched marker, or an unknown exercise."""
    out, open_at = [], None
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if open_at:
                raise MarkerError(f"{path}:{number}: BEGIN SOLUTION inside the region opened at line {open_at}")
            indent, name = begin.groups()
            if name not in EXERCISES:
                raise MarkerError(f"{path}:{number}: unknown exercise '{name}' (known: {', '.join(EXERCISES)})")
            out.append(f'{indent}raise NotImplementedError("Exercise {name}: {EXERCISES[name][1]}")\n')
            open_at = number
        elif end:
            if not open_at:
                raise MarkerError(f"{path}:{number}: END SOLUTION without a BEGIN SOLUTION")
            open_at = None
        elif not open_at:
            out.append(line)
    if open_at:
        raise MarkerError(f"{path}:{open_at}: BEGIN SOLUTION is never closed by END SOLUTION")
    return "".join(out)


def repository_files(root):
    """Every file of the repository a student gets (relative paths, sorted), skipping SKIP folders."""
    files = []
    for folder, dirs, names in os.walk(root):
        rel = os.path.relpath(folder, root)
        dirs[:] = sorted(d for d in dirs if os.path.normpath(os.path.join(rel, d)) not in SKIP and d not in SKIP)
        files += [path for path in (os.path.normpath(os.path.join(rel, n)) for n in names)
                  if path not in SKIP and not path.endswith(".pyc")]
    return sorted(files)


def handout(root, out):
    """Write the student version of the repository at `root` into the new folder `out`: the same files,
    byte for byte, except that solution regions become stubs and tests/hidden/ is left out."""
    if not out:
        raise ValueError("the handout folder must not be empty")
    if os.path.exists(out):
        raise ValueError(f"{out}: already exists; choose a new folder (the handout never overwrites)")
    parent = os.path.dirname(os.path.abspath(out))
    if not (os.path.isdir(parent) and os.access(parent, os.W_OK | os.X_OK)):
        raise ValueError(f"{out}: cannot be created ({parent} is not a writable folder)")
    files = repository_files(root)
    stripped, found = {}, set()
    for rel in files:                                   # check every marker before writing anything
        if rel.endswith(".py") and rel != "coursework.py":     # (whose docstring shows the markers)
            text = open(os.path.join(root, rel), encoding="utf-8").read()
            student = strip_solutions(rel, text)
            if student != text:
                stripped[rel] = student
                found |= {m.group(2) for m in map(BEGIN.match, text.splitlines()) if m}
    missing = set(EXERCISES) - found
    if missing:
        raise MarkerError(f"no solution region for exercise(s) {', '.join(sorted(missing))}")
    tmp = out + ".partial"
    if os.path.exists(tmp):
        raise ValueError(f"{tmp}: already exists (an interrupted handout?); remove it first")
    try:
        for rel in files:
            os.makedirs(os.path.join(tmp, os.path.dirname(rel)), exist_ok=True)
            if rel in stripped:
                with open(os.path.join(tmp, rel), "w", encoding="utf-8", newline="") as f:
                    f.write(stripped[rel])
            else:
                shutil.copyfile(os.path.join(root, rel), os.path.join(tmp, rel))
        os.rename(tmp, out)
    except OSError as e:                                # e.g. a read-only or special file system
        raise ValueError(f"{out}: cannot write the handout there ({e.strerror})") from None
    finally:                                            # a failed copy leaves nothing behind
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(stripped)


def run_exercise(root, name):
    """Run one exercise's tests (public, and hidden when present) in a fresh process; a list of
    (test name, passed, output) and the seconds it took."""
    folders = ["tests"] + ([HIDDEN] if os.path.isdir(os.path.join(root, HIDDEN)) else [])
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.xml")
        command = [sys.executable, "-m", "pytest", "-q", "-m", f"ex_{name}", "-p", "no:cacheprovider",
                   "-o", "addopts=", f"--junitxml={report}", *folders]
        env = dict(os.environ, COURSEWORK_TEST_TIMEOUT=str(TEST_TIMEOUT))
        t0 = time.time()
        try:
            p = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=EXERCISE_TIMEOUT, env=env)
            log = p.stdout[-2000:] + p.stderr[-2000:]
        except subprocess.TimeoutExpired:
            return [(f"ex_{name}", False, f"timed out after {EXERCISE_TIMEOUT} s")], time.time() - t0
        if not os.path.exists(report):
            return [(f"ex_{name}", False, "pytest did not run:\n" + log)], time.time() - t0
        results = []
        for case in ET.parse(report).getroot().iter("testcase"):
            problems = [c for c in case if c.tag in ("failure", "error")]
            skipped = any(c.tag == "skipped" for c in case)
            output = "\n".join((c.get("message") or "")[:500] for c in problems)
            if not problems and skipped:
                output = "skipped"
            results.append((f"{case.get('classname')}::{case.get('name')}", not problems and not skipped, output))
        if not results:
            results = [(f"ex_{name}", False, "no tests were collected:\n" + log)]
        return results, time.time() - t0


def grade(root):
    """Score every exercise: its points split evenly over its tests. Returns the Gradescope results dict."""
    tests, t0 = [], time.time()
    for name, (points, title) in EXERCISES.items():
        results, seconds = run_exercise(root, name)
        share = points / len(results)
        for test, passed, output in results:
            hidden = test.startswith("tests.hidden.")       # junit classname of tests/hidden/*.py
            tests.append({"name": f"{name}: {test}", "score": round(share if passed else 0.0, 4),
                          "max_score": round(share, 4), "output": output, "visibility": "after_due_date" if hidden
                          else "visible", "tags": [name]})
        earned = sum(t["score"] for t in tests if t["tags"] == [name])
        print(f"{name:<14} {earned:>6.1f} / {points:<4} {sum(r[1] for r in results)}/{len(results)} tests  "
              f"{seconds:5.1f}s  {title}", flush=True)
    score = round(sum(t["score"] for t in tests), 2)
    print(f"{'total':<14} {score:>6.1f} / {sum(p for p, _ in EXERCISES.values())}   {time.time() - t0:.0f}s")
    return {"score": score, "execution_time": round(time.time() - t0, 1), "tests": tests}


class ArgumentParser(argparse.ArgumentParser):
    """argparse, except that a bad flag raises ValueError: one `error:` line, like any other bad input.
    (data.ArgumentParser's twin: coursework.py imports no project module, so the handout tools run on their own.)"""

    def error(self, message):
        raise ValueError(f"{message} (see {self.prog} --help)")


def is_results_file(path):
    """Whether `path` holds a results.json this grader wrote (the only file --json may replace)."""
    try:
        with open(path) as f:
            old = json.load(f)
    except (ValueError, UnicodeDecodeError, OSError):
        return False
    return isinstance(old, dict) and {"score", "tests"} <= set(old)


def main(argv=None):
    p = ArgumentParser(description="Make the student handout, or grade a copy of the exercises.")
    sub = p.add_subparsers(dest="command", required=True)
    h = sub.add_parser("handout", help="write the student version of this repository into OUT_DIR")
    h.add_argument("out_dir")
    g = sub.add_parser("grade", help="run each exercise's tests in DIR and print the points")
    g.add_argument("dir", nargs="?", default=os.path.dirname(os.path.abspath(__file__)))
    g.add_argument("--json", help="write the results in Gradescope's results.json format")
    args = p.parse_args(argv)
    root = os.path.dirname(os.path.abspath(__file__))
    if args.command == "handout":
        changed = handout(root, args.out_dir)
        print(f"wrote {args.out_dir}: {len(changed)} files with stubs ({', '.join(changed)}); {HIDDEN}/ left out")
        return
    if not os.path.isdir(os.path.join(args.dir, "tests")):
        raise ValueError(f"{args.dir}: not a copy of this repository (no tests/ folder)")
    if args.json is not None and (os.path.isdir(args.json) or not args.json.endswith(".json")):
        raise ValueError(f"--json {args.json}: must be a file ending in .json")
    if args.json and os.path.exists(args.json) and not is_results_file(args.json):
        raise ValueError(f"--json {args.json}: exists and is not a grading result; not overwriting it")
    if args.json:
        folder = os.path.dirname(os.path.abspath(args.json))
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise ValueError(f"--json {args.json}: cannot create its folder ({e.strerror})") from None
    results = grade(os.path.abspath(args.dir))
    if args.json:                      # written whole or not at all: a temp file of its own, then a rename
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".partial")
        with os.fdopen(fd, "w") as f:
            json.dump(results, f, indent=1)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    try:
        main()
    except ValueError as e:            # bad input: one line, exit 2 (MarkerError included)
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
