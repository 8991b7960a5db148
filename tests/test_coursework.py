"""coursework.py (instructor-only, left out of the handout): the handout is the tracked repository with stubs;
the grader runs a submission's answer regions in a sandbox and judges what comes back outside it, so the solution
scores 100, the blank handout 0, cheats what the same submission scores without them, and typical mistakes lose
points; the Gradescope bundle works."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

from plumbing import sandbox
from tools import coursework
from helpers import ROOT

FULL = sum(points for points, _ in coursework.EXERCISES.values())

# Typical mistakes per exercise: (file, the solution's text, the wrong text, serious). Each must cost points; a
# serious one (a wrong loss, no causal mask, wrong sampling) at least half the exercise.
MISTAKES = {
    "windows": [
        ("data.py", "return np.maximum(t, episode_start[:, None])", "return np.maximum(t, 0)", True),   # crosses episodes
        ("data.py", "n = int(ends[-1])", "n = int(ends[-1]) - 1", True),                             # drops the last window
        ("data.py", "t = np.arange(n)[:, None] + np.arange(-context + 1, 1)[None]",                  # looks ahead
         "t = np.minimum(np.arange(n)[:, None] + np.arange(context)[None], n - 1)", True),
    ],
    "kmeans_codec": [
        ("kmeans.py", "residuals = flat - centers[bins]", "residuals = centers[bins] - flat", True),
        ("kmeans.py", "bins = squared_distances(flat, centers).argmin(dim=1)",
         "bins = squared_distances(flat, centers).argmax(dim=1)", True),
        ("kmeans.py", "bins = squared_distances(flat, centers).argmin(dim=1)",                        # L1 distance
         "bins = (flat[:, None] - centers[None]).abs().sum(-1).argmin(dim=1)", False),
    ],
    "focal_loss": [
        ("bet.py", "return (-(1 - logp.exp()) ** gamma * logp).mean()", "return (-logp).mean()", True),   # ignores gamma
        ("bet.py", "return (-(1 - logp.exp()) ** gamma * logp).mean()",
         "return (-(1 - logp.exp()) ** gamma * logp).sum()", True),                                       # sum, not mean
        ("bet.py", "return (-(1 - logp.exp()) ** gamma * logp).mean()",                                  # a factor
         "return (-(1 - logp.exp()).detach() ** gamma * logp).mean()", True),                            # with no gradient
    ],
    "offset_loss": [
        ("bet.py", "return ((chosen - residuals) ** 2).sum(-1).mean()",
         "return ((pred_offsets - residuals.unsqueeze(-2)) ** 2).sum(-1).mean()", True),                 # every bin, no mask
        ("bet.py", "return ((chosen - residuals) ** 2).sum(-1).mean()", "return ((chosen - residuals) ** 2).mean()", True),
    ],
    "attention": [
        ("mingpt.py", 'att = att.masked_fill(self.future[:T, :T], float("-inf")).softmax(-1)', "att = att.softmax(-1)", True),
        ("mingpt.py", "att = (q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])", "att = q @ k.transpose(-2, -1)", True),
        ("mingpt.py", "y = self.attn_drop(att) @ v", "y = att @ v", False),                              # no dropout
        ("mingpt.py", 'att = att.masked_fill(self.future[:T, :T], float("-inf")).softmax(-1)',            # query axis
         'att = att.masked_fill(self.future[:T, :T], float("-inf")).softmax(-2)', True),
    ],
    "sample": [
        ("bet.py", "        if temperature == 0:\n            bins = logits.argmax(-1)",
         "        if True:\n            bins = logits.argmax(-1)", True),                                 # never samples
        ("bet.py", "residuals = offsets[torch.arange(len(bins)), -1, bins]",
         "residuals = offsets[torch.arange(len(bins)), 0, bins]", True),                                 # first position
        ("bet.py", "bins = torch.searchsorted(cdf, u[:, None], right=True).squeeze(1).clamp(max=self.k - 1)",
         "bins = torch.multinomial(F.softmax(logits / temperature, dim=-1), 1).squeeze(1)", True),      # ignores u
        ("bet.py", "cdf = F.softmax(logits / temperature, dim=-1).cumsum(-1)",
         "cdf = F.softmax(logits * temperature, dim=-1).cumsum(-1)", True),                            # T multiplies
        ("bet.py", "residuals = offsets[torch.arange(len(bins)), -1, bins]",                             # the argmax
         "residuals = offsets[torch.arange(len(bins)), -1, logits.argmax(-1)]", True),                  # bin's offset
    ],
    "dagger": [
        (os.path.join("tools", "dagger.py"), 'extra["episode_ends"] + len(demos["obs"])', 'extra["episode_ends"]', False),      # not shifted
        (os.path.join("tools", "dagger.py"), "if coins[i].random() < beta_r:", "if coins[i].random() >= beta_r:", True),        # mixing inverted
        (os.path.join("tools", "dagger.py"), "            labels[i].append(label(envs_[i]))\n"                # executed action
                      "            if coins[i].random() < beta_r:\n                actions[row] = labels[i][-1]\n",
         "            if coins[i].random() < beta_r:\n                actions[row] = label(envs_[i])\n"
         "            labels[i].append(actions[row].copy())\n", False),
    ],
}


def solution_files(dest):
    """The five exercise files of the worked solution as a student hands them in: the solution regions under the
    handout's ANSWER markers."""
    for name in coursework.SOURCES:
        os.makedirs(os.path.join(dest, os.path.dirname(name)), exist_ok=True)
        text = open(os.path.join(ROOT, name)).read()
        text = text.replace("### BEGIN SOLUTION", "### BEGIN ANSWER").replace("### END SOLUTION", "### END ANSWER")
        open(os.path.join(dest, name), "w").write(text)
    return dest


def exercise_scores(results):
    return {name: round(sum(t["score"] for t in results["tests"] if t["tags"] == [name]), 4) for name in coursework.EXERCISES
            if any(t["tags"] == [name] for t in results["tests"])}


def solution_lines():
    """Every solution line of some length (the regions' code) that the handout does not hold anyway: text that
    must never reach a student."""
    lines, public = set(), set()
    for name in coursework.SOURCES:
        inside = False
        text = open(os.path.join(ROOT, name)).read()
        public |= {line.strip() for line in coursework.strip_solutions(name, text).splitlines()}
        for line in text.splitlines():
            inside = (inside or bool(coursework.BEGIN.match(line))) and not coursework.END.match(line)
            if inside and len(line.strip()) > 40 and not line.strip().startswith("#"):
                lines.add(line.strip())
    return lines - public


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    out = tmp_path_factory.mktemp("coursework") / "handout"
    coursework.handout(ROOT, str(out))
    return out


def test_markers_are_balanced_and_name_known_exercises():
    assert coursework.strip_solutions("x.py", "a\n    ### BEGIN SOLUTION windows\n    b\n    ### END SOLUTION\nc\n") == \
        'a\n    ### BEGIN ANSWER windows\n    raise NotImplementedError("Exercise windows: ' + \
        coursework.EXERCISES["windows"][1] + '")\n    ### END ANSWER\nc\n'
    bad = {"    ### BEGIN SOLUTION windows\n    ### BEGIN SOLUTION sample\n": "x.py:2: BEGIN SOLUTION inside",
           "a\n### END SOLUTION\n": "x.py:2: END SOLUTION without",
           "a\n\n### BEGIN SOLUTION dagger\nb\n": "x.py:3: BEGIN SOLUTION is never closed",
           "### BEGIN SOLUTION nothing\n### END SOLUTION\n": "x.py:1: unknown exercise 'nothing'"}
    for text, message in bad.items():
        with pytest.raises(coursework.MarkerError, match=message):
            coursework.strip_solutions("x.py", text)


def test_handout_is_the_tracked_repository_with_stubs_and_no_hidden_tests(student, tmp_path):
    files = coursework.repository_files(ROOT)
    assert sorted(coursework.repository_files(str(student))) == files
    assert not os.path.exists(student / "tests" / "hidden") and not os.path.exists(student / "tests" / "test_coursework.py")
    changed = [f for f in files if open(os.path.join(ROOT, f), "rb").read() != open(student / f, "rb").read()]
    assert sorted(changed) == sorted(coursework.SOURCES + ("README.md",))
    assert open(student / "README.md").read() == open(os.path.join(ROOT, coursework.STUDENT_README)).read()
    assert not os.path.exists(student / coursework.STUDENT_README)
    for f in changed:
        assert "### BEGIN SOLUTION" not in open(student / f).read()
        assert not [line for line in solution_lines() if line in open(student / f).read()], f
    again = tmp_path / "again"
    coursework.handout(ROOT, str(again) + "/")                  # a trailing slash, as the README's command has
    assert all(open(student / f, "rb").read() == open(again / f, "rb").read() for f in files)   # deterministic
    with pytest.raises(ValueError, match="already exists"):
        coursework.handout(ROOT, str(again))
    with pytest.raises(ValueError, match="inside the repository"):
        coursework.handout(ROOT, os.path.join(ROOT, "tests", "handout"))


def test_the_handout_takes_tracked_files_only(tmp_path):
    """An editor backup of bet.py (the solutions included) or an untracked copy of the repository, hidden tests
    and all, never reaches the handout; without git, backups and nested hidden tests are left out too."""
    if not shutil.which("git"):
        pytest.skip("no git")
    repo = tmp_path / "repo"
    for rel in coursework.tracked_files(ROOT):
        os.makedirs(repo / os.path.dirname(rel), exist_ok=True)
        shutil.copyfile(os.path.join(ROOT, rel), repo / rel)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    shutil.copyfile(repo / "bet.py", repo / "bet.py~")
    shutil.copytree(repo / "tests", repo / "old-copy" / "tests")
    coursework.handout(str(repo), str(tmp_path / "handout"))
    handed = set(coursework.tracked_files(str(tmp_path / "handout")))
    assert "bet.py~" not in handed and not any(f.startswith("old-copy") for f in handed)
    shutil.rmtree(repo / ".git")                                # an unpacked copy: no git to ask
    assert not {"bet.py~", os.path.join("old-copy", "tests", "hidden", "test_hidden.py")} & set(coursework.tracked_files(str(repo)))


def test_no_working_solution_is_left_under_docs():
    """Every solution line of some length (the regions' code) is absent from docs/, so no ready answer ships."""
    lines = solution_lines()
    for rel in coursework.tracked_files(ROOT):
        if rel.startswith("docs") and rel.endswith(".py"):
            text = open(os.path.join(ROOT, rel)).read()
            assert not [line for line in lines if line in text], rel


def test_a_fresh_handout_reports_each_exercise_to_do_in_one_line(student):
    """`python -m pytest` in a fresh handout: every test that does not wait for an exercise passes, no error
    entries, one `not implemented yet` line per exercise, exit 1; a script stops with one line naming the stub.
    (Its suite runs in two processes at once, one core each: the converters' tests, about half of its time, and
    the rest.)"""
    converters = os.path.join("tests", "test_datasets.py")
    halves = ([converters], ["tests", "--ignore", converters])
    suites = [subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *half], cwd=student,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for half in halves]
    for suite in suites:
        out, _ = suite.communicate(timeout=600)
        lines = out.splitlines()
        assert suite.returncode == 1, out[-3000:]
        assert [line for line in lines if line.startswith("not implemented yet:")] == \
            [f"not implemented yet: {name} \u2014 {coursework.FILES[name]}" for name in coursework.EXERCISES]
        assert " passed" in lines[-1] and "failed" not in lines[-1] and "error" not in lines[-1], out[-3000:]
    p = subprocess.run([sys.executable, "train.py", "--env", "pointmass1", "--out", "runs/x"], cwd=student,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [
        "error: not implemented yet: windows: " + coursework.EXERCISES["windows"][1] +
        "; this script needs it (python -m pytest -m ex_windows checks your answer)"], p.stderr


# ---------------------------------------------------------------- the cases and their checks (no sandbox)

def wrong(value):
    """A near miss of an answer: integers off by one somewhere, floats off by 1e-3 of their scale."""
    value = value.copy()
    if value.dtype.kind in "iub":
        value.flat[len(value.flat) // 2] += 1
    else:
        value.flat[len(value.flat) // 2] += 1e-3 * max(1.0, float(np.abs(value).max()))
    return value


def test_every_case_accepts_the_solution_and_refuses_a_near_miss():
    """Each check passes the solution's own outputs and fails when any one output is off a little, or missing;
    the points of each exercise add up (load_cases asserts it)."""
    cases = coursework.load_cases(ROOT)
    refs = coursework.references(cases)
    assert {c["exercise"] for c in cases} == set(coursework.EXERCISES) and any(c["hidden"] for c in cases)
    for c, ref in zip(cases, refs):
        assert c["check"](ref, ref, c["inputs"]) is None, c["name"]
        for name in ref:
            assert c["check"]({**ref, name: wrong(ref[name])}, ref, c["inputs"]), (c["name"], name)
        assert c["check"]({}, ref, c["inputs"]), c["name"]


def test_answer_regions_are_read_and_spliced_in_order():
    text = "a\n  ### BEGIN ANSWER dagger\n  x = 1\n  ### END ANSWER\nb\n  ### BEGIN ANSWER dagger\n  y\n  ### END ANSWER\n"
    regions = coursework.answer_regions("f.py", text)
    assert regions == {"dagger": [["  x = 1\n"], ["  y\n"]]}
    stub = coursework.strip_solutions("f.py", text.replace("ANSWER", "SOLUTION"))
    assert coursework.splice(stub, "dagger", regions["dagger"]) == text
    for bad, message in (("### BEGIN ANSWER dagger\n### BEGIN ANSWER dagger\n", "opens inside"),
                         ("### END ANSWER\n", "never opened"), ("### BEGIN ANSWER nope\n", "unknown exercise"),
                         ("### BEGIN ANSWER dagger\n", "never closed")):
        with pytest.raises(coursework.MarkerError, match=message):
            coursework.answer_regions("f.py", bad)


def test_only_regular_files_of_bounded_size_are_read(tmp_path):
    """A symlink (to the solution, or anywhere), a FIFO, an oversized file and two copies are refused before any
    code runs: the exercises of that file score 0 with the reason."""
    sub = tmp_path / "s"
    solution_files(sub)
    os.remove(sub / "bet.py")
    os.symlink(os.path.join(ROOT, "bet.py"), sub / "bet.py")
    os.remove(sub / "data.py")
    os.mkfifo(sub / "data.py")
    (sub / "kmeans.py").write_text("#" * (coursework.SUBMITTED_BYTES + 1))
    os.makedirs(sub / "copy")
    shutil.copyfile(sub / "mingpt.py", sub / "copy" / "mingpt.py")
    found = coursework.answers(ROOT, str(sub))
    for name, reason in (("focal_loss", "symbolic link"), ("sample", "symbolic link"), ("windows", "not a regular file"),
                         ("kmeans_codec", "bytes, more than")):
        assert isinstance(found[name], str) and reason in found[name], (name, found[name])
    assert isinstance(found["attention"], list) and isinstance(found["dagger"], list)   # a top-level copy wins
    (sub / "copy" / "tools").mkdir()
    shutil.copyfile(sub / "tools" / "dagger.py", sub / "copy" / "tools" / "dagger.py")
    os.remove(sub / "tools" / "dagger.py")
    os.rmdir(sub / "tools")
    assert isinstance(coursework.answers(ROOT, str(sub))["dagger"], list)                 # one copy, one folder down


# ---------------------------------------------------------------- grading in the sandbox

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not sandbox.bwrap_works(),
                                reason="the sandbox needs root and bubblewrap (.ci/run installs it)")


def answer(path, name, code, k=0):
    """Write `code` (lines, unindented) as the k-th answer region of exercise `name` in the file at `path`."""
    lines = open(path).read().splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if coursework.BEGIN_ANSWER.match(line)
              and coursework.BEGIN_ANSWER.match(line).group(2) == name]
    i = starts[k]
    indent = coursework.BEGIN_ANSWER.match(lines[i]).group(1)
    j = next(j for j in range(i, len(lines)) if coursework.END_ANSWER.match(lines[j]))
    body = [indent + line + "\n" for line in code.strip("\n").splitlines()]
    open(path, "w").write("".join(lines[:i + 1] + body + lines[j:]))


def no_sandbox_processes():
    return not [pid for uid in (coursework.UID, coursework.UID + 1) for pid in sandbox.user_processes(uid)]


READ_THE_SOLUTION = r'''
import os, re, subprocess, time

def stolen(texts):
    for text in texts:
        found = re.search(r"### BEGIN SOLUTION windows\n(.*?)### END SOLUTION", text, re.S)
        if found:
            exec("def stolen(episode_ends, context):\n" + found.group(1), globals())
            return globals()["stolen"]

if "loot" in globals():                             # searched once, on the first case
    raise NotImplementedError(globals()["loot"])
deadline, texts = time.time() + 3, []
roots = ["/autograder/source", os.environ.get("PWD", "/"), os.path.expanduser("~")]
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            roots.append(os.readlink(f"/proc/{pid}/cwd"))
            texts.append(open(f"/proc/{pid}/cmdline").read() + open(f"/proc/{pid}/environ").read())
        except OSError:
            pass
for base in dict.fromkeys(roots):
    for command in (["git", "-C", base, "show", "HEAD:data.py"], ["cat", os.path.join(base, "data.py")]):
        try:
            texts.append(subprocess.run(command, capture_output=True, text=True, timeout=2).stdout)
        except Exception:
            pass
for folder, dirs, files in os.walk("/"):
    if time.time() > deadline or stolen(texts[-len(files) - 2:]):
        break
    dirs[:] = [d for d in dirs if os.path.join(folder, d) not in ("/proc", "/sys", "/dev")]
    for f in files:
        path = os.path.join(folder, f)
        if f in ("run_autograder", "setup.sh"):
            try:
                open(path, "a").write("\necho cheat\n")
            except OSError:
                pass
        if f.endswith((".py", ".json", ".xml")):
            try:
                texts.append(open(path, errors="ignore").read(200000))
            except OSError:
                pass
if stolen(texts):
    return stolen(texts)(episode_ends, context)
globals()["loot"] = f"read {len(texts)} files: no solution among them"
raise NotImplementedError(globals()["loot"])
'''
FORGE_THE_VERDICT = r'''
import gc, os, sys
for path in (os.path.expanduser("~/report.xml"), "/tmp/report.xml", "report.xml", "/autograder/results/results.json"):
    try:
        open(path, "w").write('{"score": 100, "tests": []}')
    except OSError:
        pass
for thing in gc.get_objects():
    if isinstance(thing, dict) and "check" in thing and "points" in thing:
        thing["check"] = lambda *a: None
print("all passed")
sys.stdout.flush()
os._exit(0)
'''
PATCH_THE_COMPARISONS = r'''
import numpy, torch
torch.allclose = torch.equal = numpy.allclose = numpy.array_equal = lambda *a, **k: True
numpy.testing.assert_allclose = numpy.testing.assert_array_equal = lambda *a, **k: None
'''
WRONG_FOCAL = r'''
logp = F.log_softmax(logits, dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
return (-logp).mean()
'''
OUTLIVE_THE_GRADER = r'''
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(15)
        for path in ("/autograder/results/results.json", os.environ.get("RESULTS", "/tmp/results.json")):
            try:
                open(path, "w").write('{"score": 100}')
            except OSError:
                pass
        os._exit(0)
    os._exit(0)
raise NotImplementedError("offset_loss")
'''
FUSED_ATTENTION = r'''
with torch._C.DisableTorchFunction():
    y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
'''
READ_THE_FRAMES = r'''
import gc, sys
frame = sys._getframe()
while frame is not None:
    for key in ("want", "ref", "refs", "expected"):
        if key in frame.f_locals:
            return frame.f_locals[key]["actions"]
    frame = frame.f_back
for thing in gc.get_objects():
    if isinstance(thing, dict) and "decoded_bins" in thing:
        return thing["actions"]
raise NotImplementedError("no expected value in reach")
'''
PLANT_AND_LEAK = r'''
import os, sys
hook = "import pytest\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n    yield\n"
for folder in sys.path + [os.getcwd(), os.path.join(os.getcwd(), "tests"), "/tmp", "/var/tmp", "/dev/shm", os.path.expanduser("~")]:
    for name, text in (("zz_cheat.pth", "import builtins; builtins.CHEATED = 1\n"), ("conftest.py", hook),
                       ("sitecustomize.py", "import builtins; builtins.CHEATED = 1\n"), ("planted", "x")):
        try:
            open(os.path.join(folder, name), "w").write(text)
        except OSError:
            pass
seen = []
for folder, dirs, files in os.walk(os.getcwd()):
    for f in files:
        seen.append(open(os.path.join(folder, f), errors="ignore").read())
raise RuntimeError("".join(seen))
'''


def cheating_submission(dest, student, removed=False):
    """The blank handout with a cheat in every exercise's region (one class of the issue each); with removed, the
    same submission without its cheats: blank but for focal_loss's wrong answer."""
    shutil.copytree(student, dest)
    if removed:
        answer(dest / "bet.py", "focal_loss", WRONG_FOCAL)
        return dest
    answer(dest / "data.py", "windows", READ_THE_SOLUTION)
    answer(dest / "kmeans.py", "kmeans_codec", FORGE_THE_VERDICT)
    answer(dest / "bet.py", "focal_loss", PATCH_THE_COMPARISONS + WRONG_FOCAL)
    answer(dest / "bet.py", "offset_loss", OUTLIVE_THE_GRADER)
    answer(dest / "mingpt.py", "attention", FUSED_ATTENTION)
    answer(dest / "bet.py", "sample", READ_THE_FRAMES)
    answer(dest / "tools" / "dagger.py", "dagger", PLANT_AND_LEAK)
    return dest


def planted_files():
    return [os.path.join(d, f) for d in ("/tmp", "/var/tmp", "/dev/shm") for f in os.listdir(d)
            if os.lstat(os.path.join(d, f)).st_uid in (coursework.UID, coursework.UID + 1)]


@needs_root
def test_cheats_score_what_the_submission_scores_without_them_in_the_gradescope_layout(student, tmp_path):
    """One cheat per exercise, each a class of the issue: reading the solution (file system, /proc, git, symlinks,
    /autograder/source), forging the verdict (report files, the grader's objects, exiting 0), patching comparisons,
    a daemon that outlives the grade, the fused kernel past the attention guard, the expected value from the
    frames, planting .pth / conftest / /tmp files and leaking what it reads through an error. Laid out as Gradescope
    lays it out, the grade equals the same submission's without the cheats; run_autograder and the results are
    untouched afterwards, no process of the sandbox's users is left, and the next, blank submission scores 0 (on
    two exercises, with and without torch: whatever a cheat left would reach every exercise alike)."""
    bundle = tmp_path / "autograder.zip"
    p = subprocess.run([sys.executable, "-m", "tools.coursework", "autograder", str(bundle)], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as z:
        assert {"setup.sh", "run_autograder", os.path.join("tools", "coursework.py"), coursework.CASES} <= set(z.namelist())
        z.extractall(root / "source")
    os.chmod(root / "source" / "run_autograder", 0o755)
    script = open(root / "source" / "run_autograder", "rb").read()
    cheating_submission(root / "submission", student)
    p = subprocess.run([str(root / "source" / "run_autograder")], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable,
                                RESULTS=str(root / "results" / "results.json")))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    results = json.load(open(root / "results" / "results.json"))
    honest = coursework.grade(ROOT, str(cheating_submission(tmp_path / "removed", student, removed=True)), only=["focal_loss"])
    expected = {name: 0.0 for name in coursework.EXERCISES} | exercise_scores(honest)
    assert exercise_scores(results) == expected and 0 < expected["focal_loss"] < 15
    assert results["execution_time"] < 60
    lines = solution_lines()
    for t in results["tests"]:
        assert not [line for line in lines if line in t["output"]], t["name"]      # no solution text shown
        assert len(t["output"]) <= 3000
    gone = time.time() + 2                                          # the sandbox's processes end with the grade
    while not no_sandbox_processes() and time.time() < gone:
        time.sleep(0.1)
    assert no_sandbox_processes() and planted_files() == []
    assert open(root / "source" / "run_autograder", "rb").read() == script
    assert json.load(open(root / "results" / "results.json")) == results           # nothing rewrote the verdict
    blank = coursework.grade(ROOT, str(student), only=["windows", "focal_loss"])
    assert blank["score"] == 0 and len(exercise_scores(blank)) == 2


@needs_root
@pytest.mark.parametrize("round_", [r if r == 0 else pytest.param(r, marks=pytest.mark.slow)
                                    for r in range(max(len(m) for m in MISTAKES.values()))])
def test_typical_mistakes_lose_points(tmp_path, round_):
    """Round r hands in the r-th mistake of every exercise (each exercise is graded on its own answer regions, so
    the others' answers do not matter). The first round is in the fast suite; the others (about 20 s, a check of
    tests/hidden/cases.py rather than of the grader) are slow tests."""
    todo = {name: ms[round_] for name, ms in MISTAKES.items() if round_ < len(ms)}
    sub = solution_files(tmp_path / "s")
    for name, (path, right, wrong, serious) in todo.items():
        source = open(sub / path).read()
        assert source.count(right) == 1, (path, right)
        open(sub / path, "w").write(source.replace(right, wrong))
    scores = exercise_scores(coursework.grade(ROOT, str(sub), only=list(todo)))
    for name, (path, right, wrong, serious) in todo.items():
        earned, points = scores[name], coursework.EXERCISES[name][0]
        assert earned < points, f"{name}: the grader missed {wrong!r}"
        assert not serious or earned <= points / 2, f"{name}: {wrong!r} keeps {earned} of {points}"


@needs_root
def test_only_the_answer_regions_are_graded(tmp_path):
    """An edit outside the regions changes nothing (BeT.loss taking the argmax bins, a syntax error further down);
    a syntax error inside one region costs that exercise only, and its output names the line; a helper written
    outside a region is not there when the region runs."""
    sub = solution_files(tmp_path / "s")
    text = open(sub / "bet.py").read()
    text = text.replace("bins, residuals = kmeans.encode(self.normalize_actions(actions), self.centers)",
                        "bins, residuals = logits.argmax(-1), self.normalize_actions(actions)")
    text += "\ndef broken(:\n"
    open(sub / "bet.py", "w").write(text)
    answer(sub / "bet.py", "focal_loss", "return (1 +")                        # a syntax error in focal_loss's region
    data_text = open(sub / "data.py").read()
    open(sub / "data.py", "w").write("def helper(ends, context):\n    return 0\n\n" + data_text)
    answer(sub / "data.py", "windows", "return helper(episode_ends, context)")
    results = coursework.grade(ROOT, str(sub), only=["focal_loss", "offset_loss", "sample", "windows"])
    scores = exercise_scores(results)
    assert scores == {"focal_loss": 0, "offset_loss": 15, "sample": 15, "windows": 0}, scores
    assert any(t["visibility"] == "after_due_date" for t in results["tests"]) and no_sandbox_processes()
    focal = [t["output"] for t in results["tests"] if t["tags"] == ["focal_loss"]]
    assert all("SyntaxError" in o and "bet.py" in o for o in focal), focal[0]
    assert all("NameError" in t["output"] for t in results["tests"] if t["tags"] == ["windows"])


@needs_root
def test_limits_end_what_would_run_away(student, tmp_path, monkeypatch):
    """A fork bomb, 20 GB of memory, a 1 GB file and an endless loop: each exercise ends at its limit and scores
    0, the grade goes on, and no process of the sandbox's users is left."""
    monkeypatch.setattr(coursework, "EXERCISE_TIMEOUT", 5)
    sub = tmp_path / "s"
    shutil.copytree(student, sub)
    answer(sub / "data.py", "windows", "import os, time\nfor _ in range(100000):\n    if os.fork() == 0:\n"
                                       "        time.sleep(60)\n        os._exit(0)")
    answer(sub / "kmeans.py", "kmeans_codec", "x = bytearray(20 << 30)")
    answer(sub / "bet.py", "focal_loss", "open('/tmp/big', 'wb').write(bytes(1 << 30))")
    answer(sub / "bet.py", "offset_loss", "while True:\n    pass")
    t0 = time.time()
    results = coursework.grade(ROOT, str(sub), only=["windows", "kmeans_codec", "focal_loss", "offset_loss"])
    assert results["score"] == 0 and time.time() - t0 < 45
    outputs = {t["tags"][0]: t["output"] for t in results["tests"]}
    assert "MemoryError" in outputs["kmeans_codec"] and "timed out" in outputs["offset_loss"], outputs
    assert no_sandbox_processes()


def test_grade_refuses_where_it_cannot_isolate(monkeypatch):
    """Not root (and no --unprotected): one line before any work. A uid with another user's name is refused."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ValueError, match="cannot isolate the submission: .*needs root.*--unprotected"):
        coursework.grade(ROOT)
    monkeypatch.undo()
    if os.geteuid() == 0:
        with pytest.raises(sandbox.CannotIsolate, match="belongs to 'root'"):
            sandbox.open_sandbox(0)


def permissions_view_runs():
    """Whether the sandbox user can run this Python with its packages on the real file system (not when the
    virtual environment lies in a folder only root can reach, as in a clone under `mktemp -d`)."""
    box = sandbox.open_sandbox(coursework.UID, "permissions")
    try:
        sandbox.check_cannot_read(box, [], sys.executable, ("numpy", "torch"))
        return True
    except sandbox.CannotIsolate:
        return False
    finally:
        box.close()


@needs_root
def test_the_permissions_view_refuses_when_the_sandbox_user_can_read_a_secret():
    """Without namespaces the sandbox user sees the real file system: the grader refuses when that user can read
    a file it must not, and not when the file is private."""
    import tempfile
    if not permissions_view_runs():
        pytest.skip("the sandbox user cannot reach this Python's packages (a venv under a root-only folder)")
    folder = tempfile.mkdtemp()
    try:
        secret = os.path.join(folder, "bet.py")
        open(secret, "w").write("### BEGIN SOLUTION windows\n")
        os.chmod(folder, 0o755), os.chmod(secret, 0o644)
        box = sandbox.open_sandbox(coursework.UID, "permissions")
        with pytest.raises(sandbox.CannotIsolate, match=f"can read {secret}"):
            sandbox.check_cannot_read(box, [secret], sys.executable)
        os.chmod(secret, 0o600)
        sandbox.check_cannot_read(box, [secret], sys.executable)
        with pytest.raises(sandbox.CannotIsolate, match="cannot run .* with no_such_package"):   # Python, but not ours
            sandbox.check_cannot_read(box, [], sys.executable, ("no_such_package",))
    finally:
        box.close()
        shutil.rmtree(folder)


def solve(sub, name):
    """Write exercise `name`'s worked solution into the answer regions of the submission folder `sub`."""
    path = coursework.FILES[name]
    solution = coursework.answer_regions(path, open(os.path.join(ROOT, path)).read(), coursework.BEGIN, coursework.END)
    for k, lines in enumerate(solution[name]):
        answer(sub / path, name, textwrap.dedent("".join(lines)), k)


@needs_root
def test_the_permissions_view_grades_a_private_copy(student, tmp_path):
    """Gradescope's view when bubblewrap cannot make namespaces: the instructor's tree is root-only (as setup.sh
    leaves /autograder/source), the code runs as the sandbox user on the real file system. In one submission,
    solved exercises score full marks, and those that forge, patch, outlive the grade and plant files score as
    without their cheats; what it left in /tmp is removed and none of its processes is left. (Reading the solution
    is kept out by the file permissions alone here; this machine's own checkout is readable to all, so that cheat
    is tested in bwrap.)"""
    if not permissions_view_runs():
        pytest.skip("the sandbox user cannot reach this Python's packages (a venv under a root-only folder)")
    private = tmp_path / "instructor"
    private.mkdir(mode=0o700)
    copy = private / "repo"
    for rel in coursework.tracked_files(ROOT):
        os.makedirs(copy / os.path.dirname(rel), exist_ok=True)
        shutil.copyfile(os.path.join(ROOT, rel), copy / rel)
    sub = tmp_path / "s"
    shutil.copytree(student, sub)
    solved = ("windows", "attention", "sample")
    for name in solved:
        solve(sub, name)
    answer(sub / "kmeans.py", "kmeans_codec", FORGE_THE_VERDICT)
    answer(sub / "bet.py", "focal_loss", PATCH_THE_COMPARISONS + WRONG_FOCAL)
    answer(sub / "bet.py", "offset_loss", OUTLIVE_THE_GRADER)
    answer(sub / "tools" / "dagger.py", "dagger", PLANT_AND_LEAK)
    results = coursework.grade(str(copy), str(sub), view="permissions")
    honest = coursework.grade(str(copy), str(cheating_submission(tmp_path / "removed", student, removed=True)),
                              unprotected=True, only=["focal_loss"])        # (our own wrong answer: no cheat in it)
    full = {name: float(coursework.EXERCISES[name][0]) for name in solved}
    assert exercise_scores(results) == full | {"kmeans_codec": 0, "offset_loss": 0, "dagger": 0} | exercise_scores(honest)
    assert no_sandbox_processes() and planted_files() == []


@needs_root
def test_unprotected_grades_as_this_user_and_the_cheat_then_reads_the_solution(student, tmp_path):
    """--unprotected runs the probes as this user outside any sandbox: the solution still scores, and the cheat
    that reads the solution (through the grader's /proc/PID/cwd and git) then succeeds, which is what the sandbox
    stops."""
    assert coursework.grade(ROOT, unprotected=True, only=["windows"])["score"] == 10
    sub = tmp_path / "s"
    shutil.copytree(student, sub)
    answer(sub / "data.py", "windows", READ_THE_SOLUTION)
    assert coursework.grade(ROOT, str(sub), unprotected=True, only=["windows"])["score"] == 10


def test_grade_json_is_checked_before_grading(tmp_path):
    (tmp_path / "notes.json").write_text("my notes")
    for target, message in ((tmp_path / "notes.json", "not a grading result"), (tmp_path / "r.txt", "ending in .json")):
        p = subprocess.run([sys.executable, "-m", "tools.coursework", "grade", "--json", str(target)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and message in p.stderr and "grading" not in p.stdout, p.stdout + p.stderr


@needs_root
def test_stopping_the_grader_stops_its_sandboxes_at_once(student, tmp_path):
    """SIGTERM to the grader while an exercise sleeps for a minute: exit 130 within seconds, and no process of
    the sandbox's users is left."""
    sub = tmp_path / "s"
    shutil.copytree(student, sub)
    answer(sub / "data.py", "windows", "import time\ntime.sleep(60)")
    p = subprocess.Popen([sys.executable, "-m", "tools.coursework", "grade", str(sub)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while no_sandbox_processes() and time.time() < deadline:
        time.sleep(0.2)
    assert not no_sandbox_processes(), "no exercise started"
    time.sleep(1)
    t0 = time.time()
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=90)
    assert p.returncode == 130 and "interrupted" in err, err
    assert time.time() - t0 < 15, f"the grader waited {time.time() - t0:.0f} s for its sandboxes"
    assert no_sandbox_processes(), "a sandboxed process outlived the stopped grader"


@needs_root
def test_a_submitted_pusht_checkpoint_is_evaluated_in_the_sandbox(tmp_path):
    """Part 3: pusht_model.pt in the submission is read by the safe loader and evaluated in the sandbox on the
    grader's seeds; its success count is what evaluate gives here, and the points follow the sheet's bars. A
    pickle that would run code, and a symlink, score 0 without running anything."""
    import pickle
    import evaluate
    import train
    from plumbing import runs
    from test_env_pusht import small_dataset
    small_dataset(str(tmp_path / "pusht.npz"))
    train.main(["--env", "pusht", "--data", str(tmp_path / "pusht.npz"), "--epochs", "1", "--episodes", "0",
                "--out", str(tmp_path / "run"), "--no-compile"])
    sub = tmp_path / "sub"
    sub.mkdir()
    shutil.copyfile(tmp_path / "run" / "model.pt", sub / coursework.POLICY["file"])
    entry = coursework.grade(ROOT, str(sub), only=[coursework.POLICY["name"]], policy_episodes=3)["tests"][0]
    model = runs.load_model(str(tmp_path / "run" / "model.pt"))
    rate = evaluate.evaluate(model, "pusht", 3, coursework.POLICY["seed"], runs.recorded_temperature(model, ""))["success_rate"]
    assert f"success in {round(rate * 3)} of 3 episodes" in entry["output"], entry
    assert entry["score"] == (20 if rate >= 0.8 else 10 if rate >= 0.6 else 0) and entry["max_score"] == 20

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))
    (sub / coursework.POLICY["file"]).write_bytes(pickle.dumps(Payload()))
    entry = coursework.grade(ROOT, str(sub), only=[coursework.POLICY["name"]], policy_episodes=2)["tests"][0]
    assert entry["score"] == 0 and "not a readable checkpoint (UnpicklingError)" in entry["output"], entry   # refused
    os.remove(sub / coursework.POLICY["file"])
    os.symlink(tmp_path / "run" / "model.pt", sub / coursework.POLICY["file"])
    entry = coursework.grade(ROOT, str(sub), only=[coursework.POLICY["name"]], policy_episodes=2)["tests"][0]
    assert entry["score"] == 0 and "not a regular file" in entry["output"], entry


def test_every_part_of_the_sheet_carries_points_and_the_rubric_adds_up():
    """200 points: Part 1's exercises (100) and Part 3's policy (20) by machine, questions 1-13 (80) by the
    rubric, one row per question, whose points match the sheet's."""
    sheet = open(os.path.join(ROOT, "docs", "assignment.md")).read()
    assert "**Points: 200.**" in sheet and FULL == 100 and coursework.POLICY["points"] == 20
    cells = [line.split("|")[1:3] for line in open(os.path.join(ROOT, "docs", "rubric.md")) if line.startswith("| ")]
    points = {int(q): int(p) for q, p in cells if q.strip().isdigit()}
    assert sorted(points) == list(range(1, 14)) and sum(points.values()) == 80
    assert {q for q, p in points.items() if p == 10} == {10, 11, 13}
    assert sheet.count("Questions (5 points each):") == 4 and "10 points each for 10, 11 and 13, 5 for 12" in sheet
    assert os.path.join("docs", "rubric.md") in coursework.INSTRUCTOR_ONLY        # never in the handout


def test_a_killed_handouts_leftover_is_removed_by_the_next(tmp_path):
    """kill -9 of a handout left OUT.partial, and the next one refused; its writer's pid is recorded in it, and the
    next handout removes a leftover whose writer is gone (a folder of that name without the record is kept)."""
    import subprocess
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    partial = tmp_path / "ho.partial"
    (partial / "tools").mkdir(parents=True)
    (partial / coursework.WRITER).write_text(dead.stdout.strip())
    (partial / "tools" / "half.py").write_text("# half written")
    coursework.handout(ROOT, str(tmp_path / "ho"))
    assert not partial.exists() and (tmp_path / "ho" / "train.py").exists()
    assert not (tmp_path / "ho" / coursework.WRITER).exists()


def test_ctrl_c_during_a_handout_removes_its_partial_folder(tmp_path):
    """SIGINT while OUT.partial is written: plumbing.early's immediate exit was still in place, so the folder
    stayed and the line said nothing was written. Now exit 130, one line, and no OUT.partial or OUT."""
    p = subprocess.Popen([sys.executable, "-m", "tools.coursework", "handout", str(tmp_path / "ho")], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while p.poll() is None and time.time() < deadline and not (tmp_path / "ho.partial" / "tools").exists():
        time.sleep(0.002)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    if p.returncode == 0:
        pytest.skip("the handout was written before the signal landed")
    assert p.returncode == 130 and err.strip().startswith("interrupted:") and err.count("\n") == 1, err
    assert os.listdir(tmp_path) == []
