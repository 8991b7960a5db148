"""
Coursework mode. The repository is the worked solution; this script makes the student handout, grades a
submission against the instructor's own tree, and bundles that grader for Gradescope.

    python -m tools.coursework handout OUT_DIR                 # the tracked files, solutions as stubs, no hidden tests
    python -m tools.coursework grade SUBMISSION [--json PATH]  # points per exercise, hidden tests included
    python -m tools.coursework autograder OUT.zip              # setup.sh, run_autograder and this tree, for Gradescope

Exercises live in the real modules, between marker lines (nbgrader style), under a one-line hint:

    # Exercise focal_loss (Sec. 2.2): take log p_t from log_softmax, then weight it by (1 - p_t)^gamma.
    ### BEGIN SOLUTION focal_loss
    ...the solution...
    ### END SOLUTION

The handout replaces each marked region by `raise NotImplementedError("Exercise focal_loss: ...")`. An
exercise's tests carry the pytest marker ex_<name>; hidden ones live in tests/hidden/, which the handout leaves
out, with tests/hidden/grading.json: the fixed points of every test the grade expects.

Grading trusts nothing a student hands in but the file that holds each exercise. Every exercise runs pytest in
a scratch copy of this repository (its tests, conftest.py, pytest.ini, this script) in which only that one file
comes from the submission, forked from an isolated (`python -I`) process that has imported torch once, in a
process group of its own that is killed whole at its end, at its time limit or when the grader stops. A test
that does not run scores 0; nothing the submission adds counts.
Not contained: the submission's code runs with the grader's rights (it can read and write wherever the grader
can), so run grades of untrusted code in a container, as Gradescope does. Only the standard library is used.
"""

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
import zipfile

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
FILES = {"windows": "data.py", "kmeans_codec": "kmeans.py", "focal_loss": "bet.py", "offset_loss": "bet.py",
         "attention": "mingpt.py", "sample": "bet.py", "dagger": os.path.join("tools", "dagger.py")}     # the file holding each exercise
SOURCES = tuple(sorted(set(FILES.values())))
HIDDEN = os.path.join("tests", "hidden")                                 # instructor-only: never in the handout
WEIGHTS = os.path.join(HIDDEN, "grading.json")
INSTRUCTOR_ONLY = (HIDDEN, os.path.join("tests", "test_coursework.py"))  # (which grades against the hidden tests)
BACKUPS = re.compile(r"(~|\.bak|\.orig|\.swp|\.rej)$|(^|/)\.#")          # editor leftovers: never handed out
BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION (\w+)\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
TEST_TIMEOUT = 30       # seconds per test (tests/conftest.py enforces it when COURSEWORK_TEST_TIMEOUT is set)
EXERCISE_TIMEOUT = 120  # seconds for one exercise's whole pytest run
WORKERS = 2             # exercises graded at once
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class MarkerError(ValueError):
    pass


# ---------------------------------------------------------------- the handout

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


def tracked_files(root):
    """The repository's files (relative paths, sorted): those git tracks, so never a stray backup, a run's output
    or an untracked copy; without git (an unpacked bundle or handout), every file below root except caches,
    runs, editor backups and nested copies' hidden tests."""
    if os.path.exists(os.path.join(root, ".git")) and shutil.which("git"):     # a folder, or a worktree's file
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
        return sorted(f for f in listed.decode().split("\0") if f and os.path.isfile(os.path.join(root, f)))
    files = []
    for folder, dirs, names in os.walk(root):
        rel = os.path.relpath(folder, root)
        dirs[:] = sorted(d for d in dirs if d not in (".git", ".venv", "runs", "__pycache__", ".pytest_cache")
                         and not (d == "hidden" and os.path.basename(folder) == "tests" and rel != "tests"))
        files += [os.path.normpath(os.path.join(rel, n)) for n in names
                  if n != ".git" and not n.endswith(".pyc") and not BACKUPS.search(n)]
    return sorted(files)


def repository_files(root):
    """Every file of the repository a student gets: the tracked files but the instructor-only ones."""
    return [f for f in tracked_files(root) if not any(f == p or f.startswith(p + os.sep) for p in INSTRUCTOR_ONLY)]


def check_new_folder(out, root, what):
    """`out` must be a new path outside the repository (a copy inside would be copied into the next handout)."""
    if not out:
        raise ValueError(f"the {what} path must not be empty")
    out = os.path.normpath(os.path.abspath(out))
    if os.path.exists(out):
        raise ValueError(f"{out}: already exists; choose a new path (it is never overwritten)")
    if os.path.commonpath([out, os.path.abspath(root)]) == os.path.abspath(root):
        raise ValueError(f"{out}: inside the repository; write the {what} outside it")
    parent = os.path.dirname(out)
    if not (os.path.isdir(parent) and os.access(parent, os.W_OK | os.X_OK)):
        raise ValueError(f"{out}: cannot be created ({parent} is not a writable folder)")
    return out


def handout(root, out):
    """Write the student version of the repository at `root` into the new folder `out`: the tracked files, byte
    for byte, except that solution regions become stubs and the instructor-only files are left out."""
    out = check_new_folder(out, root, "handout")
    files = repository_files(root)
    stripped, found = {}, set()
    for rel in files:                                   # check every marker before writing anything
        if rel.endswith(".py") and rel != os.path.join("tools", "coursework.py"):     # (whose docstring shows the markers)
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
        copy_tree(root, files, tmp, stripped)
        os.rename(tmp, out)
    except OSError as e:                                # e.g. a read-only or special file system
        raise ValueError(f"{out}: cannot write the handout there ({e.strerror})") from None
    finally:                                            # a failed copy leaves nothing behind
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(stripped)


def copy_tree(root, files, dest, replaced=None):
    """Copy `files` (relative to root) into dest; `replaced` maps some of them to new text."""
    for rel in files:
        os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
        if replaced and rel in replaced:
            with open(os.path.join(dest, rel), "w", encoding="utf-8", newline="") as f:
                f.write(replaced[rel])
        else:
            shutil.copyfile(os.path.join(root, rel), os.path.join(dest, rel))


# ---------------------------------------------------------------- grading

def submitted_file(submission, name):
    """The submission's copy of one exercise file: at its top level, or in exactly one folder below it (an upload
    that kept its folder); None if there is none."""
    if submission is None:
        return None
    top = os.path.join(submission, name)
    if os.path.isfile(top):
        return top
    below = [os.path.join(submission, d, name) for d in sorted(os.listdir(submission))
             if os.path.isfile(os.path.join(submission, d, name))]
    return below[0] if len(below) == 1 else None


class Running:
    """The process groups of the exercises being graded, so that a stop (Ctrl-C, SIGTERM) kills them whole."""
    groups, stopped = set(), False

    @classmethod
    def kill_all(cls):
        for pgid in list(cls.groups):
            kill_group(pgid)
        Server.stop()


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_exercise(root, name, submission=None, hidden=True):
    """Run one exercise's tests (public, and hidden when `hidden`) in a scratch copy of root's tree, with the
    exercise's file taken from `submission` (None: root's own). Returns ([(test id, passed, output)], seconds)."""
    t0, source = time.time(), FILES[name]
    theirs = submitted_file(submission, source) if submission is not None else os.path.join(root, source)
    if theirs is None:
        return [(f"ex_{name}", False, f"the submission has no {source}")], time.time() - t0
    try:
        compile(open(theirs, encoding="utf-8", errors="replace").read(), source, "exec")
    except SyntaxError as e:
        return [(f"ex_{name}", False, f"{source}:{e.lineno}: SyntaxError: {e.msg}")], time.time() - t0
    with tempfile.TemporaryDirectory(prefix=f"grade-{name}-") as scratch:
        tree = os.path.join(scratch, "repo")
        copy_tree(root, tracked_files(root), tree)
        shutil.copyfile(theirs, os.path.join(tree, source))
        report = os.path.join(scratch, "report.xml")
        args = ["-q", "-m", f"ex_{name}", "-p", "no:cacheprovider", "-o", "addopts=", f"--junitxml={report}",
                *test_files(root, name, hidden)]
        env = dict(os.environ, COURSEWORK_TEST_TIMEOUT=str(TEST_TIMEOUT), HOME=scratch)
        log = run_contained(args, tree, env, os.path.join(scratch, "pytest.log"))
        if not os.path.exists(report):
            return [(f"ex_{name}", False, "pytest did not run:\n" + log)], time.time() - t0
        return read_report(report, log), time.time() - t0


def test_files(root, name, hidden):
    """The test files that hold an exercise's graded tests (collecting only them saves importing the rest), or
    every public test file for a practice grade."""
    weights = load_weights(root) if hidden else None
    if weights is None:
        return ["tests", f"--ignore={HIDDEN}"]
    return sorted({test.split("::")[0].replace(".", os.sep) + ".py" for test in weights[name]})


# Each exercise's pytest is forked from one `python -I` process that has imported torch once (3 s a process
# otherwise); the child starts a session of its own (its process group) before it reads a student's file.
SERVER = r"""
import json, os, sys, threading
import numpy, torch, gymnasium, pytest
lock = threading.Lock()
def say(message):
    with lock:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()
def reap(pid):
    say({"pid": pid, "status": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])})
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.setsid()
        os.chdir(job["cwd"])
        os.environ.clear(); os.environ.update(job["env"])
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1); os.dup2(log, 2)
        try:
            code = int(pytest.main(job["args"]))
        except BaseException:
            code = 3
        os._exit(code)
    say({"job": job["id"], "pid": pid})
    threading.Thread(target=reap, args=(pid,), daemon=True).start()
"""


class Server:
    """The preloaded `python -I` process that forks every exercise's pytest, and what it has said of each job."""
    proc, lock, started, ended, pids = None, threading.Lock(), {}, {}, set()

    @classmethod
    def submit(cls, job):
        with cls.lock:
            if cls.proc is None or cls.proc.poll() is not None:
                cls.proc = subprocess.Popen([sys.executable, "-I", "-c", SERVER], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, text=True, start_new_session=True)
                threading.Thread(target=cls.listen, args=(cls.proc,), daemon=True).start()
            cls.started[job["id"]] = threading.Event()
            cls.proc.stdin.write(json.dumps(job) + "\n")
            cls.proc.stdin.flush()

    @classmethod
    def listen(cls, proc):
        for line in proc.stdout:
            message = json.loads(line)
            if "job" in message:
                cls.pids.add(message["pid"])
                cls.started[message["job"]].pid = message["pid"]
                cls.ended.setdefault(message["pid"], threading.Event())
                cls.started[message["job"]].set()
            else:
                cls.pids.discard(message["pid"])
                cls.ended.setdefault(message["pid"], threading.Event()).set()

    @classmethod
    def stop(cls):
        """Kill the server and every process group it started; wake everyone waiting on them."""
        if cls.proc is not None:
            kill_group(cls.proc.pid)
        for pid in list(cls.pids):
            kill_group(pid)
        for event in list(cls.started.values()) + list(cls.ended.values()):
            event.set()


def run_contained(args, cwd, env, log):
    """Run pytest with `args` in `cwd`, forked from the preloaded server into a process group of its own; kill the
    whole group when it ends, times out or the grader stops. Returns the end of its output."""
    job = {"id": f"{os.getpid()}-{threading.get_ident()}-{time.time()}", "args": args, "cwd": cwd, "env": env, "log": log}
    Server.submit(job)
    started = Server.started[job["id"]]
    if not started.wait(60) or not hasattr(started, "pid"):
        return "stopped" if Running.stopped else "the grading process did not start"
    pid = Server.started.pop(job["id"]).pid
    Running.groups.add(pid)
    try:
        if Running.stopped:                             # the grader was stopped while this one started
            kill_group(pid)
        if not Server.ended[pid].wait(EXERCISE_TIMEOUT):
            kill_group(pid)
            return f"timed out after {EXERCISE_TIMEOUT} s"
        if Running.stopped:
            return "stopped"
        return last_lines(open(log, errors="replace").read(), 40)[-4000:]
    finally:
        kill_group(pid)                                 # and any process it left behind
        Running.groups.discard(pid)
        Server.ended.pop(pid, None)


def read_report(report, log):
    """(test id, passed, output) for every test case of a junit report; a collection error shows its message."""
    results = []
    for case in ET.parse(report).getroot().iter("testcase"):
        problems = [c for c in case if c.tag in ("failure", "error")]
        skipped = any(c.tag == "skipped" for c in case)
        output = "\n".join(((c.get("message") or "") + "\n" + last_lines(c.text or "", 8)).strip()[:1500]
                           for c in problems)
        results.append((f"{case.get('classname')}::{case.get('name')}", not problems and not skipped,
                        "skipped" if skipped and not problems else output))
    return results or [("collection", False, "no tests were collected:\n" + log)]


def last_lines(text, n):
    return "\n".join(text.strip().splitlines()[-n:])


def load_weights(root):
    """{exercise: {test id: points}} from tests/hidden/grading.json, or None in a copy without hidden tests."""
    path = os.path.join(root, WEIGHTS)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        weights = json.load(f)
    for name, (points, _) in EXERCISES.items():
        assert abs(sum(weights[name].values()) - points) < 1e-9, f"{WEIGHTS}: {name}'s tests must add up to {points}"
    return weights


def score(name, results, weights):
    """Gradescope test entries for one exercise: each expected test its fixed points if it passed, 0 if it failed
    or did not run; without weights (a practice grade), the points split evenly over the tests that ran."""
    points, _ = EXERCISES[name]
    ran = {test: (passed, output) for test, passed, output in results}
    expected = weights[name] if weights else {test: points / len(results) for test, _, _ in results}
    problem = "\n".join(output for test, passed, output in results if test not in expected and not passed)
    entries = []
    for test, share in expected.items():
        passed, output = ran.get(test, (False, "did not run" + (f":\n{problem}" if problem else "")))
        hidden = test.startswith("tests.hidden.")       # junit classname of tests/hidden/*.py
        entries.append({"name": f"{name}: {test}", "score": round(share if passed else 0.0, 4),
                        "max_score": round(share, 4), "output": output,
                        "visibility": "after_due_date" if hidden else "visible", "tags": [name]})
    return entries


def grade(root, submission=None, hidden=True, workers=WORKERS):
    """Score every exercise of `submission` (None: root's own files) against root's tests, `workers` exercises at
    a time. Returns the Gradescope results dict."""
    weights = load_weights(root) if hidden else None
    print(f"grading {submission or root} against the tests of {root}: " +
          ("public and hidden tests, fixed points per test" if weights else
           "public tests only, points split evenly (a practice grade: no tests/hidden/grading.json here)"), flush=True)
    tests, t0 = [], time.time()
    pool = concurrent.futures.ThreadPoolExecutor(workers)
    try:
        futures = {name: pool.submit(run_exercise, root, name, submission, weights is not None) for name in EXERCISES}
        for name, (points, title) in EXERCISES.items():
            results, seconds = futures[name].result()
            entries = score(name, results, weights)
            tests += entries
            passed = sum(e["score"] == e["max_score"] for e in entries)
            print(f"{name:<14} {sum(e['score'] for e in entries):>6.1f} / {points:<4} {passed}/{len(entries)} tests  "
                  f"{seconds:5.1f}s  {title}", flush=True)
            for test, ok, output in results:         # a failure no expected test shows: a syntax or collection error
                unexpected = test not in weights[name] if weights else test.startswith(("ex_", "collection"))
                if not ok and unexpected:
                    print("    " + last_lines(output, 3).replace("\n", "\n    "), flush=True)
    except BaseException:                               # Ctrl-C or SIGTERM: no new exercise, every running one killed
        Running.stopped = True
        pool.shutdown(wait=False, cancel_futures=True)
        Running.kill_all()
        raise
    finally:
        pool.shutdown(wait=True)
    total = round(sum(t["score"] for t in tests), 2)
    print(f"{'total':<14} {total:>6.1f} / {sum(p for p, _ in EXERCISES.values())}   {time.time() - t0:.0f}s")
    return {"score": total, "execution_time": round(time.time() - t0, 1), "tests": tests}


# ---------------------------------------------------------------- the Gradescope bundle

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image (Ubuntu, as root).
set -euo pipefail
apt-get update -q && apt-get install -y -q python3 python3-pip python3-venv git
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/pip install -q -r /autograder/source/requirements.txt
"""
RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission: grade /autograder/submission against the bundled instructor tree.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
mkdir -p "$ROOT/results"
cd "$ROOT/source"
"$PYTHON" -m tools.coursework grade "$ROOT/submission" --json "$ROOT/results/results.json"
"""


def autograder(root, out):
    """A Gradescope autograder zip: setup.sh and run_autograder at its top, beside every tracked file of root
    (hidden tests and their points included), which Gradescope unpacks into /autograder/source."""
    if not out.endswith(".zip"):
        raise ValueError(f"{out}: the bundle must end in .zip")
    out = check_new_folder(out, root, "bundle")
    if load_weights(root) is None:
        raise ValueError(f"{root}: has no {WEIGHTS}; bundle the instructor's repository, not a handout")
    tmp = out + ".partial"
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for name, text in (("setup.sh", SETUP), ("run_autograder", RUN)):
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFREG | 0o755) << 16
                z.writestr(info, text)
            for rel in tracked_files(root):
                z.write(os.path.join(root, rel), rel)
        os.rename(tmp, out)
    except OSError as e:
        raise ValueError(f"{out}: cannot write the bundle there ({e.strerror})") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out


# ---------------------------------------------------------------- command line

class ArgumentParser(argparse.ArgumentParser):
    """argparse, except that a bad flag raises ValueError: one `error:` line, like any other bad input.
    (runs.ArgumentParser's twin: coursework.py imports no project module, so the grader runs on its own.)"""

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


def check_json(path):
    """--json: a new file or an earlier grade, in a folder that exists or can be made and is writable; checked
    before grading so that a grade is never run, then lost."""
    if os.path.isdir(path) or not path.endswith(".json"):
        raise ValueError(f"--json {path}: must be a file ending in .json")
    if os.path.exists(path) and (not stat.S_ISREG(os.stat(path).st_mode) or not is_results_file(path)):
        raise ValueError(f"--json {path}: exists and is not a grading result; not overwriting it")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--json {path}: cannot create its folder ({e.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"--json {path}: its folder {folder} is not writable")
    return folder


def interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    p = ArgumentParser(prog="python -m tools.coursework", description="Make the student handout, grade a submission, or bundle the grader for Gradescope.")
    sub = p.add_subparsers(dest="command", required=True)
    h = sub.add_parser("handout", help="write the student version of this repository into OUT_DIR")
    h.add_argument("out_dir")
    g = sub.add_parser("grade", help="grade the exercise files in SUBMISSION against this repository's tests")
    g.add_argument("submission", nargs="?", help="a folder holding the exercise files (default: this repository's own)")
    g.add_argument("--json", help="write the results in Gradescope's results.json format")
    g.add_argument("--public-only", action="store_true", help="leave out the hidden tests (a practice grade)")
    a = sub.add_parser("autograder", help="write a Gradescope autograder zip (setup.sh, run_autograder, this tree)")
    a.add_argument("out_zip")
    args = p.parse_args(argv)
    if args.command == "handout":
        changed = handout(ROOT, args.out_dir)
        print(f"wrote {args.out_dir}: {len(changed)} files with stubs ({', '.join(changed)}); {HIDDEN}/ left out")
        return
    if args.command == "autograder":
        print(f"wrote {autograder(ROOT, args.out_zip)}: upload it as the Gradescope autograder")
        return
    if args.submission is not None and not os.path.isdir(args.submission):
        raise ValueError(f"{args.submission}: not a folder holding the exercise files")
    folder = check_json(args.json) if args.json is not None else None
    signal.signal(signal.SIGTERM, interrupt)
    try:
        results = grade(ROOT, args.submission and os.path.abspath(args.submission), hidden=not args.public_only)
    except KeyboardInterrupt:
        Running.kill_all()
        print("\ninterrupted: every test process stopped; nothing written", file=sys.stderr)
        sys.exit(130)
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
