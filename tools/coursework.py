"""
Coursework mode. The repository is the worked solution; this script makes the student handout, grades a
submission with the instructor's cases, and bundles that grader for Gradescope.

    python -m tools.coursework handout OUT_DIR                 # the tracked files, solutions as stubs, no hidden cases
    python -m tools.coursework grade SUBMISSION [--json PATH]  # points per exercise (as root: the sandbox needs it)
    python -m tools.coursework autograder OUT.zip              # setup.sh, run_autograder and this tree, for Gradescope

Exercises live in the real modules, between marker lines (nbgrader style), under a one-line hint:

    # Exercise focal_loss (Sec. 2.2): take log p_t from log_softmax, then weight it by (1 - p_t)^gamma.
    ### BEGIN SOLUTION focal_loss
    ...the solution...
    ### END SOLUTION

The handout keeps the region as `### BEGIN ANSWER focal_loss`, a `raise NotImplementedError(...)` stub and
`### END ANSWER`; the student writes between those lines, and only those lines are graded.

Grading never runs a student's code where it could reach the verdict. For each exercise, the handout's modules
with that exercise's answer regions spliced in go to a sandbox (plumbing/sandbox.py: an unprivileged uid,
namespaces of its own, no network, limits on CPU, memory, processes and files; every process of the uid killed at
the end). There tools/probes.py runs the student's functions on the inputs of tests/hidden/cases.py and sends back
arrays; here the same probes run on the worked solution, and each case's check compares the two and gives its
points. No file the sandbox can read holds solution text, expected values or points.
Not protected against: what the kernel or bubblewrap get wrong, and (in the permissions view, see
plumbing/sandbox.py) files the instructor left readable to every user, which the grader checks for its own.
"""

import argparse
import concurrent.futures
import io
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
import zipfile

from plumbing import sandbox
from plumbing.files import atomic_write, check_creatable, check_not_anothers, interrupted, one_line, standard_output

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
STUDENT_README = os.path.join("docs", "handout_README.md")              # the handout's README.md (not the instructor's)
INSTRUCTOR_ONLY = (HIDDEN, os.path.join("tests", "test_coursework.py"),  # (which grades with the hidden cases)
                   os.path.join("tests", "test_readme.py"), STUDENT_README,     # (which reads the instructor's README)
                   os.path.join("docs", "rubric.md"))                           # the written questions' rubric
BACKUPS = re.compile(r"(~|\.bak|\.orig|\.swp|\.rej)$|(^|/)\.#")          # editor leftovers: never handed out
BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION (\w+)\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
BEGIN_ANSWER = re.compile(r"^(\s*)### BEGIN ANSWER (\w+)\s*$")      # the handout's markers around a student's answer
END_ANSWER = re.compile(r"^\s*### END ANSWER\s*$")
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
            out.append(f'{indent}### BEGIN ANSWER {name}\n{indent}raise NotImplementedError("Exercise {name}: '
                       f'{EXERCISES[name][1]}")\n{indent}### END ANSWER\n')
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
    check_creatable(out, f"the {what}")                # (a broken link or a loop would be replaced)
    out = os.path.normpath(os.path.abspath(out))
    if os.path.exists(out):
        raise ValueError(f"{out}: already exists; choose a new path (it is never overwritten)")
    if os.path.commonpath([out, os.path.abspath(root)]) == os.path.abspath(root):
        raise ValueError(f"{out}: inside the repository; write the {what} outside it")
    parent = os.path.dirname(out)
    if not (os.path.isdir(parent) and os.access(parent, os.W_OK | os.X_OK)):
        raise ValueError(f"{out}: cannot be created ({parent} is not a writable folder)")
    check_not_anothers(out, f"the {what}", parent)     # never into another script's run folder
    return out


def handout(root, out):
    """Write the student version of the repository at `root` into the new folder `out`: the tracked files, byte
    for byte, except that solution regions become stubs, the README is the student's (docs/handout_README.md) and
    the instructor-only files are left out."""
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
    readme = STUDENT_README if os.path.exists(os.path.join(root, STUDENT_README)) else "README.md"   # (a handout's own)
    stripped["README.md"] = open(os.path.join(root, readme), encoding="utf-8").read()
    tmp = out + ".partial"
    if os.path.isdir(tmp) and writer_gone(tmp):         # a killed handout's leftover: removed, as every writer's are
        shutil.rmtree(tmp)
    if os.path.exists(tmp):
        raise ValueError(f"{tmp}: already exists (an interrupted handout?); remove it first")
    try:
        os.makedirs(tmp)
        with open(os.path.join(tmp, WRITER), "w") as f:
            f.write(str(os.getpid()))
        copy_tree(root, files, tmp, stripped)
        os.remove(os.path.join(tmp, WRITER))
        os.rename(tmp, out)
    except OSError as e:                                # e.g. a read-only or special file system
        raise ValueError(f"{out}: cannot write the handout there ({e.strerror})") from None
    finally:                                            # a failed copy leaves nothing behind
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(f for f in stripped if f.endswith(".py"))


WRITER = ".handout-writer"      # in OUT.partial while it is written: the writer's pid


def writer_gone(tmp):
    """Whether `tmp` is a handout under way whose writer has ended (killed): its WRITER names a pid that is gone."""
    try:
        os.kill(int(open(os.path.join(tmp, WRITER)).read()), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError):                       # no such file (someone's folder), or not a pid, or not ours
        return False
    return False


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
#
# The student's code runs in a sandbox (plumbing/sandbox.py): as an unprivileged uid, in namespaces of its own, in
# a tree that is the handout with only this exercise's answer regions taken from the submission, and it only ever
# computes: tools/probes.py feeds it the cases' inputs and sends back arrays. The solution's own answers to the same
# probes, the comparisons and the points stay in this process. No file the sandbox can read holds solution text.

CASES = os.path.join(HIDDEN, "cases.py")
SUBMITTED_BYTES = 1 << 20    # an exercise file larger than this is refused
EXERCISE_TIMEOUT = 60        # seconds of wall clock for one exercise's probes
UID = 64100                  # the sandbox's uids: UID, UID + 1, ... one per exercise graded at once
# Part 3 of the sheet: the student's trained PushT policy, evaluated on the grader's seeds (docs/assignment.md)
POLICY = dict(name="pusht_policy", file="pusht_model.pt", env="pusht", episodes=100, seed=0, points=20, full=0.80,
              half=0.60, timeout=150, title="Part 3: the trained PushT policy on the grader's seeds 0-99")
POLICY_BYTES = 64 << 20      # a larger checkpoint is refused


def load_cases(root):
    """tests/hidden/cases.py's CASES (instructor-only), checked: every exercise's points add up."""
    path = os.path.join(root, CASES)
    if not os.path.exists(path):
        raise ValueError(f"{root}: has no {CASES}; grade in the instructor's repository, not in a handout")
    namespace = {"__name__": "cases", "__file__": path}
    exec(compile(open(path).read(), path, "exec"), namespace)
    cases = namespace["CASES"]
    for name, (points, _) in EXERCISES.items():
        total = sum(c["points"] for c in cases if c["exercise"] == name)
        assert abs(total - points) < 1e-9, f"{CASES}: {name}'s cases add up to {total}, not {points}"
    return cases


def answer_regions(path, text, begin=BEGIN_ANSWER, end=END_ANSWER):
    """{exercise: [the lines of each region, in order]} between begin/end marker lines (the student's answers;
    with BEGIN, END the instructor's solutions). Raises MarkerError for a nested, unclosed or unknown region."""
    regions, open_at, name = {}, None, None
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        if begin.match(line):
            if open_at:
                raise MarkerError(f"{path}:{number}: a region opens inside the one opened at line {open_at}")
            open_at, name = number, begin.match(line).group(2)
            if name not in EXERCISES:
                raise MarkerError(f"{path}:{number}: unknown exercise '{name}'")
            regions.setdefault(name, []).append([])
        elif end.match(line):
            if not open_at:
                raise MarkerError(f"{path}:{number}: a region closes that never opened")
            open_at = None
        elif open_at:
            regions[name][-1].append(line)
    if open_at:
        raise MarkerError(f"{path}:{open_at}: the region is never closed")
    return regions


def splice(handout_text, name, bodies):
    """The handout's file with exercise `name`'s stub regions replaced, in order, by `bodies`."""
    out, k, skipping = [], 0, False
    for line in handout_text.splitlines(keepends=True):
        begin = BEGIN_ANSWER.match(line)
        if begin and begin.group(2) == name:
            out.append(line)
            out += bodies[k]
            k, skipping = k + 1, True
        elif skipping and END_ANSWER.match(line):
            out.append(line)
            skipping = False
        elif not skipping:
            out.append(line)
    return "".join(out)


def read_submitted(submission, source):
    """The text of the submission's copy of `source`: a regular file (no symlink, device or FIFO) of at most
    SUBMITTED_BYTES, at the top of the submission or in the one folder below it that holds one. Raises ValueError."""
    if os.path.islink(submission) or not os.path.isdir(submission):
        raise ValueError(f"the submission {submission} is not a folder")
    candidates = [os.path.join(submission, source)] + [os.path.join(submission, d, source)
                                                        for d in sorted(os.listdir(submission))
                                                        if os.path.isdir(os.path.join(submission, d))
                                                        and not os.path.islink(os.path.join(submission, d))]
    found = [c for c in candidates if os.path.lexists(c)]
    if not found or (found[0] != candidates[0] and len(found) > 1):
        raise ValueError(f"the submission has no {source}" if not found else
                         f"the submission holds {len(found)} copies of {source}; hand in one")
    try:
        fd = os.open(found[0], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        raise ValueError(f"{source}: cannot be read ({'a symbolic link' if os.path.islink(found[0]) else e.strerror}); "
                         "hand in the file itself") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{source}: not a regular file; hand in the file itself")
        if info.st_size > SUBMITTED_BYTES:
            raise ValueError(f"{source}: {info.st_size} bytes, more than the {SUBMITTED_BYTES} an exercise file may have")
        return f.read(SUBMITTED_BYTES + 1).decode("utf-8", errors="replace")


def answers(root, submission):
    """{exercise: [region bodies] or the reason there are none}: the submission's answer regions (None: the
    instructor's own solutions)."""
    found = {}
    for source in SOURCES:
        names = [n for n in EXERCISES if FILES[n] == source]
        try:
            if submission is None:
                regions = answer_regions(source, open(os.path.join(root, source), encoding="utf-8").read(), BEGIN, END)
            else:
                regions = answer_regions(source, read_submitted(submission, source))
        except ValueError as e:                          # MarkerError included
            found.update({n: str(e) for n in names})
            continue
        stubs = answer_regions(source, student_sources(root)[source])
        for n in names:
            want, got = len(stubs[n]), regions.get(n, [])
            found[n] = got if len(got) == want else (
                f"{source}: {len(got)} answer region(s) of exercise {n}, the handout has {want}; keep each "
                f"'### BEGIN ANSWER {n}' ... '### END ANSWER' pair and write your code between them")
    return found


_STUDENT = {}


def student_sources(root):
    """{path: the handout's text} of every Python file the sandbox gets: the handout's modules (stubs in place of
    the solutions), no tests and not this script."""
    if root not in _STUDENT:
        files = [f for f in repository_files(root) if f.endswith(".py") and not f.startswith("tests" + os.sep)
                 and f != os.path.join("tools", "coursework.py")]
        _STUDENT[root] = {f: strip_solutions(f, open(os.path.join(root, f), encoding="utf-8").read()) for f in files}
    return _STUDENT[root]


def references(cases):
    """The worked solution's answer to every case, computed here by the same probes (instructor code, trusted)."""
    import torch
    from tools import probes
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                            # as the probes run in the sandbox
    try:
        out = []
        for c in cases:
            values = probes.PROBES[c["probe"]]({k: v.copy() for k, v in c["inputs"].items()}, c["params"])
            out.append({k: probes.as_array(v) for k, v in values.items()})
        return out
    finally:
        torch.set_num_threads(threads)


def job_bytes(cases):
    """The probes' stdin: one JSON line naming each case's probe and params, then an .npz of all inputs."""
    import numpy as np
    head = {"cases": [{"id": str(i), "probe": c["probe"], "params": c["params"]} for i, c in enumerate(cases)]}
    buffer = io.BytesIO()
    np.savez(buffer, **{f"{i}/{k}": v for i, c in enumerate(cases) for k, v in c["inputs"].items()})
    return json.dumps(head).encode() + b"\n" + buffer.getvalue()


def read_results(out, n):
    """{case index: (error, printed, {name: array})} from the probes' stdout; stops at the first malformed record
    (what follows counts as not run). Arrays are read as .npy without pickles."""
    import numpy as np
    results, stream = {}, io.BytesIO(out)
    while len(results) < n:
        line = stream.readline(1 << 16)
        try:
            head = json.loads(line)
            i = int(head["id"])
            arrays = {}
            for name, size in head["arrays"][:64]:
                blob = stream.read(int(size))
                arrays[str(name)] = np.load(io.BytesIO(blob), allow_pickle=False)
            results[i] = (head.get("error") and str(head["error"])[:1500], str(head.get("printed") or "")[-1500:], arrays)
        except (ValueError, TypeError, KeyError, OSError, EOFError):
            break
    return results


class Slots:
    """The sandboxes (one uid each) free for the next job: one per exercise running at once."""

    def __init__(self, boxes):
        self.free, self.lock = list(boxes), threading.Condition()

    def take(self):
        with self.lock:
            while not self.free:
                self.lock.wait()
            return self.free.pop()

    def give(self, box):
        with self.lock:
            self.free.append(box)
            self.lock.notify()


KERNEL_SETTINGS = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS")   # the child computes on the parent's path


def write_tree(tree, sources):
    """The files {relative path: text} under the folder `tree`."""
    for rel, text in sources.items():
        os.makedirs(os.path.join(tree, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(tree, rel), "w", encoding="utf-8") as f:
            f.write(text)


def run_in_box(box, tree, cases, timeout, given=None):
    """tools/probes.py on `cases` with `tree` as its working folder (read-only), in the sandbox `box` (None:
    unprotected, as this user); `given`, a folder of inputs, is visible read-only at in_box(box, given).
    Returns (stdout, the tail of stderr, what the run ended with)."""
    argv = [sys.executable, "-I", "-B", os.path.join("tools", "probes.py")]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "BET_PROBE_THREADS": "1",
           **{k: os.environ[k] for k in KERNEL_SETTINGS if k in os.environ}}
    if box is None:
        return run_unprotected(argv, job_bytes(cases), tree, env, timeout)
    folders = {in_box(box, tree, "/grade/tree"): tree, **({in_box(box, given): given} if given else {})}
    return box.run(argv, job_bytes(cases), folders, in_box(box, tree, "/grade/tree"), env, timeout)


def in_box(box, host, inside="/grade/in"):
    """Where the host folder `host` is seen from the sandbox: at `inside` in bubblewrap's view, else where it is."""
    return inside if box is not None and box.view == "bwrap" else host


def run_probes(root, name, bodies, cases, box):
    """Run exercise `name`'s cases in the sandbox `box` (None: unprotected, as this user) on the handout with the
    student's `bodies` spliced in. Returns ({case index: (error, printed, arrays)}, what the run ended with)."""
    sources = dict(student_sources(root))
    source = FILES[name]
    sources[source] = splice(sources[source], name, bodies)
    scratch = tempfile.mkdtemp(prefix=f"grade-{name}-")
    try:
        write_tree(os.path.join(scratch, "tree"), sources)
        out, err, status = run_in_box(box, os.path.join(scratch, "tree"), cases, EXERCISE_TIMEOUT)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return read_results(out, len(cases)), (status, err)


def run_unprotected(argv, stdin, cwd, env, timeout=None):
    """--unprotected: the probes as this user, with this user's rights (the verdict is still computed here)."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env,
                         start_new_session=True)
    Running.pids.add(p.pid)
    try:
        out, err = p.communicate(stdin, timeout=timeout or EXERCISE_TIMEOUT)
        return out, err.decode(errors="replace")[-16000:], f"exit {p.returncode}"
    except subprocess.TimeoutExpired:
        return b"", "", f"timed out after {timeout or EXERCISE_TIMEOUT} s"
    finally:
        kill_group(p.pid)
        Running.pids.discard(p.pid)


class Running:
    """What a stop (Ctrl-C, SIGTERM) must kill: the unprotected runs' groups and the sandboxes' uids."""
    pids, boxes = set(), []

    @classmethod
    def kill_all(cls):
        for pid in list(cls.pids):
            kill_group(pid)
        for box in cls.boxes:
            box.end()


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def score(name, cases, refs, results, ended):
    """Gradescope test entries for one exercise's cases: full points where the check finds nothing wrong, else 0,
    with what the student's own code raised or printed (cut short), never the expected values."""
    entries = []
    for i, (c, ref) in enumerate(zip(cases, refs)):
        if i not in results:
            status, err = ended
            passed, output = False, f"did not run ({status})" + (f":\n{last_lines(err, 8)[-1500:]}" if err.strip() else "")
        else:
            error, printed, got = results[i]
            problem = error or c["check"](got, ref, c["inputs"])
            passed, output = not problem, problem or ""
            if printed.strip() and not passed:
                output += "\nyour code printed:\n" + last_lines(printed, 8)[-800:]
        entries.append({"name": f"{name}: {c['name']}", "score": c["points"] if passed else 0.0,
                        "max_score": c["points"], "output": output,
                        "visibility": "after_due_date" if c["hidden"] else "visible", "tags": [name]})
    return entries


def last_lines(text, n):
    return "\n".join(text.strip().splitlines()[-n:])


def submitted_policy(submission):
    """The submission's checkpoint for Part 3 (a regular file of at most POLICY_BYTES at its top), or the reason
    there is none."""
    path = os.path.join(submission, POLICY["file"])
    if not os.path.lexists(path):
        return f"the submission has no {POLICY['file']} (Part 3: hand in runs/pusht/model.pt under that name)"
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        return f"{POLICY['file']}: not a regular file; hand in the file itself"
    if info.st_size > POLICY_BYTES:
        return f"{POLICY['file']}: {info.st_size} bytes, more than the {POLICY_BYTES} a checkpoint may have"
    return path


def grade_policy(root, checkpoint, box, episodes):
    """Part 3: evaluate the checkpoint in a sandbox on the worked solution's own modules (no student code runs
    there: the checkpoint is data, read by the safe loader) and score its success rate here. Returns one entry."""
    entry = {"name": f"{POLICY['name']}: {POLICY['title']}", "score": 0.0, "max_score": POLICY["points"],
             "visibility": "visible", "tags": [POLICY["name"]]}
    if not os.path.isfile(checkpoint):
        return {**entry, "output": checkpoint}
    scratch = tempfile.mkdtemp(prefix="grade-policy-")
    try:
        tree, given = os.path.join(scratch, "tree"), os.path.join(scratch, "in")
        write_tree(tree, {rel: open(os.path.join(root, rel), encoding="utf-8").read() for rel in repository_files(root)
                          if rel.endswith(".py") and not rel.startswith("tests" + os.sep)})
        os.makedirs(given)
        shutil.copyfile(checkpoint, os.path.join(given, "model.pt"), follow_symlinks=False)
        case = {"probe": "policy", "inputs": {}, "params": {
            "checkpoint": os.path.join(in_box(box, given), "model.pt"), "env": POLICY["env"], "episodes": episodes,
            "seed": POLICY["seed"]}}
        out, err, status = run_in_box(box, tree, [case], POLICY["timeout"], given)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results = read_results(out, 1)
    if 0 not in results:
        return {**entry, "output": f"not evaluated ({status})" + (f":\n{last_lines(err, 4)[-600:]}" if err.strip() else "")}
    error, _, arrays = results[0]
    success = arrays.get("success")
    if error or success is None or success.shape != (episodes,):
        return {**entry, "output": f"not evaluated: {error or 'no success per episode came back'}"}
    rate = float(success.mean())
    points = POLICY["points"] if rate >= POLICY["full"] else POLICY["points"] / 2 if rate >= POLICY["half"] else 0.0
    return {**entry, "score": points, "output": f"success in {int(success.sum())} of {episodes} episodes ({rate:.0%}); "
            f"full credit at >= {POLICY['full']:.0%}, half at >= {POLICY['half']:.0%}"}


def open_boxes(workers, uid, view, root):
    """One sandbox per worker, or refuse (CannotIsolate -> ValueError) before any work."""
    boxes = []
    try:
        for i in range(workers):
            boxes.append(sandbox.open_sandbox(uid + i, view))
        if boxes[0].view == "permissions":              # nothing of the instructor's may be readable by the uid
            secrets = [os.path.join(root, f) for f in tracked_files(root) if f.endswith(".py") or f.startswith(HIDDEN)]
            sandbox.check_cannot_read(boxes[0], secrets, sys.executable, ("numpy", "torch", "gymnasium"))
    except sandbox.CannotIsolate as e:
        for box in boxes:
            box.close()
        raise ValueError(f"cannot isolate the submission: {e}; pass --unprotected to grade without protection "
                         "(the submission then runs with your rights)") from None
    return boxes


def grade(root, submission=None, hidden=True, workers=WORKERS, unprotected=False, uid=UID, view="auto", only=None,
          policy_episodes=POLICY["episodes"]):
    """Score every exercise (or those in `only`) of `submission` (None: root's own solutions), `workers` exercises
    at a time, each in a sandbox of its own, and (with a submission, unless `only` leaves it out) Part 3's
    checkpoint on `policy_episodes` episodes. Returns the Gradescope results dict."""
    exercises = {n: v for n, v in EXERCISES.items() if only is None or n in only}
    cases = [c for c in load_cases(root) if (hidden or not c["hidden"]) and c["exercise"] in exercises]
    boxes = [None] * workers if unprotected else open_boxes(workers, uid, view, root)
    Running.boxes = [b for b in boxes if b is not None]
    found = answers(root, submission)
    policy = submitted_policy(submission) if submission is not None and (only is None or POLICY["name"] in only) else None
    print(f"grading {submission or root} against {CASES} of {root}: " +
          (f"{len(cases)} cases" if hidden else f"{len(cases)} visible cases (a practice grade)") +
          (", NOT PROTECTED: the submission runs with your rights" if unprotected else
           f", each exercise in a sandbox ({boxes[0].view}, uid {uid}..{uid + workers - 1})"), flush=True)
    refs = references(cases)
    slots, tests, t0 = Slots(boxes), [], time.time()
    mine = {name: [i for i, c in enumerate(cases) if c["exercise"] == name] for name in exercises}

    def one(name):
        t = time.time()
        if isinstance(found[name], str):                 # no answer to run: every case scores 0, with the reason
            return [(i, found[name]) for i in mine[name]], None, time.time() - t
        box = slots.take()
        try:
            results, ended = run_probes(root, name, found[name], [cases[i] for i in mine[name]], box)
        finally:
            slots.give(box)
        return results, ended, time.time() - t

    def part3():
        box = slots.take()
        try:
            return grade_policy(root, policy, box, policy_episodes)
        finally:
            slots.give(box)

    pool = concurrent.futures.ThreadPoolExecutor(workers)
    try:
        policy_future = pool.submit(part3) if policy is not None else None      # the longest job first
        futures = {name: pool.submit(one, name) for name in exercises}
        for name, (points, title) in exercises.items():
            results, ended, seconds = futures[name].result()
            if ended is None:
                entries = [{"name": f"{name}: {cases[i]['name']}", "score": 0.0, "max_score": cases[i]["points"],
                            "output": reason, "visibility": "visible", "tags": [name]} for i, reason in results]
            else:
                entries = score(name, [cases[i] for i in mine[name]], [refs[i] for i in mine[name]], results, ended)
            tests += entries
            passed = sum(e["score"] == e["max_score"] for e in entries)
            print(f"{name:<14} {sum(e['score'] for e in entries):>6.1f} / {points:<4} {passed}/{len(entries)} cases  "
                  f"{seconds:5.1f}s  {title}", flush=True)
            if ended is None:
                print(f"    {results[0][1]}", flush=True)
        if policy_future is not None:
            entry = policy_future.result()
            tests.append(entry)
            print(f"{POLICY['name']:<14} {entry['score']:>6.1f} / {POLICY['points']:<4} {entry['output']}", flush=True)
    except BaseException:                               # Ctrl-C or SIGTERM: no new exercise, every running one killed
        pool.shutdown(wait=False, cancel_futures=True)
        Running.kill_all()
        raise
    finally:
        pool.shutdown(wait=True)
        Running.kill_all()
        for box in Running.boxes:
            box.close()
    total = round(sum(t["score"] for t in tests), 2)
    print(f"{'total':<14} {total:>6.1f} / {sum(t['max_score'] for t in tests):g}   {time.time() - t0:.0f}s")
    return {"score": total, "execution_time": round(time.time() - t0, 1), "tests": tests}


# ---------------------------------------------------------------- the Gradescope bundle

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image, as root. Base image: Ubuntu 24.04 (Python 3.12);
# 22.04's Python 3.10 is too old for the pinned numpy and torch.
set -euo pipefail
apt-get update -q && apt-get install -y -q python3 python3-pip python3-venv bubblewrap util-linux
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "setup.sh: this image has $(python3 --version); the grader needs Python >= 3.11: choose the Ubuntu 24.04 base image" >&2
    exit 1; }
python3 -m venv /opt/bet-venv                          # outside /autograder: the sandbox user must run it, not change it
/opt/bet-venv/bin/pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
/opt/bet-venv/bin/pip install -q -r /autograder/source/requirements.txt
for i in 0 1; do                                       # the sandbox's users: they own nothing and log in nowhere
    id -u bet-student$i >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin \\
        --uid $((64100 + i)) --user-group bet-student$i
done
chmod -R go-rwx /autograder/source                     # the solutions and the cases: root only
"""
RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission, as root: the grader runs the student's code as bet-student0/1 in a
# sandbox and writes results.json itself.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_PYTHON:-/opt/bet-venv/bin/python}"
mkdir -p "$ROOT/results"
chmod go-rwx "$ROOT/source" "$ROOT/results" "$ROOT/submission"
cd "$ROOT/source"
"$PYTHON" -m tools.coursework grade "$ROOT/submission" --json "$ROOT/results/results.json"
"""


def autograder(root, out):
    """A Gradescope autograder zip: setup.sh and run_autograder at its top, beside every tracked file of root
    (the hidden cases included), which Gradescope unpacks into /autograder/source."""
    if not out.endswith(".zip"):
        raise ValueError(f"{out}: the bundle must end in .zip")
    out = check_new_folder(out, root, "bundle")
    load_cases(root)                                    # (a handout has none: it cannot be bundled)
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
    """argparse, except that a bad flag raises ValueError: one `error:` line, like any other bad input, and no
    flag is taken by a prefix. (runs.ArgumentParser's twin: the grader imports no training code.)"""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})

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
    check_creatable(path, "--json")
    if os.path.exists(path) and (not stat.S_ISREG(os.stat(path).st_mode) or not is_results_file(path)):
        raise ValueError(f"--json {path}: exists and is not a grading result; not overwriting it")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--json {path}: cannot create its folder ({e.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"--json {path}: its folder {folder} is not writable")


def check_uids(uid):
    """--uid: the sandbox's uids uid .. uid + WORKERS - 1 are ordinary (1000 .. 2**31 - 1) and belong to no account
    but the sandbox's own (setup.sh's bet-student<i>), so a submission run as one can touch no one's files."""
    import pwd
    if not 1000 <= uid <= 2 ** 31 - WORKERS:
        raise ValueError(f"--uid must be between 1000 and {2 ** 31 - WORKERS} (got {uid}); the default is {UID}")
    for u in range(uid, uid + WORKERS):
        try:
            name = pwd.getpwuid(u).pw_name
        except KeyError:
            continue
        if not name.startswith("bet-student"):
            raise ValueError(f"--uid {uid}: uid {u} is the account {one_line(name)}'s; give uids no account has "
                             f"(the default is {UID})")


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
    g.add_argument("--public-only", action="store_true", help="leave out the hidden cases (a practice grade)")
    g.add_argument("--unprotected", action="store_true",
                   help="run the submission as yourself, without the sandbox (only for code you trust)")
    g.add_argument("--uid", type=int, default=UID, help=f"the sandbox's first uid (one per worker; default {UID})")
    a = sub.add_parser("autograder", help="write a Gradescope autograder zip (setup.sh, run_autograder, this tree)")
    a.add_argument("out_zip")
    args = p.parse_args(argv)
    if args.command == "handout":
        changed = handout(ROOT, args.out_dir)
        print(f"wrote {args.out_dir}: {len(changed)} files with stubs ({', '.join(changed)}), the student's README "
              f"({STUDENT_README}); {HIDDEN}/ left out")
        return
    if args.command == "autograder":
        print(f"wrote {autograder(ROOT, args.out_zip)}: upload it as the Gradescope autograder")
        return
    if args.submission is not None and not os.path.isdir(args.submission):
        raise ValueError(f"{args.submission}: not a folder holding the exercise files")
    if args.json is not None:
        check_json(args.json)
    check_uids(args.uid)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        results = grade(ROOT, args.submission and os.path.abspath(args.submission), hidden=not args.public_only,
                        unprotected=args.unprotected, uid=args.uid)
    except KeyboardInterrupt:
        Running.kill_all()
        interrupted("every test process stopped; nothing written")
        sys.exit(130)
    if args.json:                      # written whole or not at all (a killed writer's temp file is removed next time)
        atomic_write(args.json, lambda f: f.write(json.dumps(results, indent=1).encode()))


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)     # plumbing.early's immediate exit ends with the imports:
    signal.signal(signal.SIGTERM, interrupt)                      # from here a stop removes what it was writing
    try:
        with standard_output():
            main()
    except ValueError as e:            # bad input: one line, exit 2 (MarkerError included)
        print(f"error: {one_line(e)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:          # (grade reports its own stop)
        interrupted("nothing was written (a half-written handout or bundle was removed)")
        sys.exit(130)
