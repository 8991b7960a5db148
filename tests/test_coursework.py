"""coursework.py (instructor-only, left out of the handout): the handout is the tracked repository with stubs;
the grader grades a submission against the instructor's own tests with fixed points, so the solution scores
100, the blank handout 0, cheats nothing, and typical mistakes lose points; the Gradescope bundle works."""

import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import pytest

from tools import coursework
from helpers import ROOT, processes

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
    """The five exercise files of the worked solution, as a student would hand them in."""
    os.makedirs(dest, exist_ok=True)
    for name in coursework.SOURCES:
        os.makedirs(os.path.join(dest, os.path.dirname(name)), exist_ok=True)
        shutil.copyfile(os.path.join(ROOT, name), os.path.join(dest, name))
    return dest


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    out = tmp_path_factory.mktemp("coursework") / "handout"
    coursework.handout(ROOT, str(out))
    return out


def test_markers_are_balanced_and_name_known_exercises():
    assert coursework.strip_solutions("x.py", "a\n    ### BEGIN SOLUTION windows\n    b\n    ### END SOLUTION\nc\n") == \
        'a\n    raise NotImplementedError("Exercise windows: ' + coursework.EXERCISES["windows"][1] + '")\nc\n'
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
    assert sorted(changed) == sorted(coursework.SOURCES)
    for f in changed:
        assert "### BEGIN SOLUTION" not in open(student / f).read()
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
    lines = set()
    for name in coursework.SOURCES:
        inside = False
        for line in open(os.path.join(ROOT, name)):
            inside = (inside or bool(coursework.BEGIN.match(line))) and not coursework.END.match(line)
            if inside and len(line.strip()) > 40 and not line.strip().startswith("#"):
                lines.add(line.strip())
    for rel in coursework.tracked_files(ROOT):
        if rel.startswith("docs") and rel.endswith(".py"):
            text = open(os.path.join(ROOT, rel)).read()
            assert not [line for line in lines if line in text], rel


def test_handout_passes_its_tests_that_need_no_solution(student):
    """Everything but the exercises' tests and the tests marked needs_solutions runs green in the handout."""
    others = " and ".join(["not slow", "not needs_solutions"] + [f"not ex_{name}" for name in coursework.EXERCISES])
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-m", others],
                       cwd=student, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:]
    assert " passed" in p.stdout.splitlines()[-1]


PLUGIN = """
import json, os
def pytest_collection_modifyitems(session, config, items):
    found = {}
    for item in items:
        module = item.nodeid.split("::")[0][:-3].replace("/", ".")
        for marker in item.iter_markers():
            if marker.name.startswith("ex_"):
                found.setdefault(marker.name[3:], []).append(module + "::" + item.name)
    with open(os.environ["COLLECTED"], "w") as f:
        json.dump(found, f)
"""


def test_every_expected_test_has_fixed_points(tmp_path):
    """grading.json lists exactly the tests each exercise's marker collects (public and hidden), with points
    that add up to the exercise's."""
    (tmp_path / "collect_plugin.py").write_text(PLUGIN)
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "collect_plugin", "-p",
                        "no:cacheprovider", "-o", "addopts=", "tests"], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(tmp_path), COLLECTED=str(tmp_path / "c.json")))
    assert p.returncode == 0, p.stdout[-2000:]
    collected, weights = json.load(open(tmp_path / "c.json")), coursework.load_weights(ROOT)
    for name, (points, _) in coursework.EXERCISES.items():
        assert set(collected[name]) == set(weights[name]), (name, set(collected[name]) ^ set(weights[name]))
        assert sum(weights[name].values()) == pytest.approx(points) and min(weights[name].values()) > 0


def test_a_blank_handout_with_every_cheat_scores_zero(student, tmp_path):
    """The blank handout, handed in with a conftest.py that passes every test, a fake `pytest` package, and 200
    empty tests per exercise: the grader takes only the exercise files from it, so it scores 0, and every
    exercise shows NotImplementedError."""
    submission = tmp_path / "submission"
    shutil.copytree(student, submission)
    (submission / "tests" / "conftest.py").write_text(
        "import pytest\n@pytest.hookimpl(hookwrapper=True)\ndef pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n    report = outcome.get_result()\n    report.outcome = 'passed'\n")
    (submission / "pytest").mkdir()
    (submission / "pytest" / "__init__.py").write_text("import sys; print('all passed'); sys.exit(0)\n")
    (submission / "tests" / "test_mine.py").write_text("import pytest\n" + "".join(
        f"@pytest.mark.ex_{name}\ndef test_{name}_{i}():\n    pass\n" for name in coursework.EXERCISES for i in range(200)))
    results = coursework.grade(ROOT, str(submission))
    assert results["score"] == 0
    for name in coursework.EXERCISES:
        assert any("NotImplementedError" in t["output"] for t in results["tests"] if t["tags"] == [name]), name


def test_a_broken_file_costs_only_its_exercises_and_shows_the_error(tmp_path):
    """A syntax error in bet.py zeroes its three exercises, with file:line in the output, and no other one."""
    submission = solution_files(tmp_path / "submission")
    text = open(submission / "bet.py").read()
    open(submission / "bet.py", "w").write(text.replace("def focal_loss(", "def focal_loss(:", 1))
    weights = coursework.load_weights(ROOT)
    for name in ("windows", "focal_loss", "offset_loss", "sample"):
        entries = coursework.score(name, coursework.run_exercise(ROOT, name, str(submission))[0], weights)
        earned = sum(e["score"] for e in entries)
        if coursework.FILES[name] == "bet.py":
            assert earned == 0 and all("bet.py:" in e["output"] and "SyntaxError" in e["output"] for e in entries)
        else:
            assert earned == coursework.EXERCISES[name][0], (name, earned)


@pytest.mark.parametrize("round_", range(max(len(m) for m in MISTAKES.values())))
def test_typical_mistakes_lose_points(tmp_path, round_):
    """Round r hands in the r-th mistake of every exercise at once (each exercise is graded with only its own
    file from the submission, and its file holds only its own mistake)."""
    todo = {name: ms[round_] for name, ms in MISTAKES.items() if round_ < len(ms)}
    for name, (path, right, wrong, serious) in todo.items():
        dest = solution_files(tmp_path / name)
        source = open(dest / path).read()
        assert source.count(right) == 1, (path, right)
        open(dest / path, "w").write(source.replace(right, wrong))
    with concurrent.futures.ThreadPoolExecutor(coursework.WORKERS) as pool:
        graded = {name: pool.submit(coursework.run_exercise, ROOT, name, str(tmp_path / name)) for name in todo}
    for name, (path, right, wrong, serious) in todo.items():
        entries = coursework.score(name, graded[name].result()[0], coursework.load_weights(ROOT))
        earned, points = sum(e["score"] for e in entries), coursework.EXERCISES[name][0]
        assert earned < points, f"{name}: the grader missed {wrong!r}"
        assert not serious or earned <= points / 2, f"{name}: {wrong!r} keeps {earned} of {points}"


def test_the_gradescope_bundle_grades_a_submission_end_to_end(tmp_path):
    """`coursework.py autograder` writes a zip; laid out as Gradescope lays it out, its run_autograder grades
    /autograder/submission and writes /autograder/results/results.json: 100 for the solution."""
    bundle = tmp_path / "autograder.zip"
    p = subprocess.run([sys.executable, "-m", "tools.coursework", "autograder", str(bundle)], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as z:
        assert {"setup.sh", "run_autograder", os.path.join("tools", "coursework.py"), coursework.WEIGHTS} <= set(z.namelist())
        z.extractall(root / "source")
    os.chmod(root / "source" / "run_autograder", 0o755)
    solution_files(root / "submission")
    p = subprocess.run([str(root / "source" / "run_autograder")], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    results = json.load(open(root / "results" / "results.json"))
    assert results["score"] == FULL and results["execution_time"] < 60
    assert {t["tags"][0] for t in results["tests"]} == set(coursework.EXERCISES)
    assert any(t["visibility"] == "after_due_date" for t in results["tests"])          # the hidden tests ran


def test_grade_json_is_checked_before_grading(tmp_path):
    (tmp_path / "notes.json").write_text("my notes")
    for target, message in ((tmp_path / "notes.json", "not a grading result"), (tmp_path / "r.txt", "ending in .json")):
        p = subprocess.run([sys.executable, "-m", "tools.coursework", "grade", "--json", str(target)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and message in p.stderr and "grading" not in p.stdout, p.stdout + p.stderr


def live_group(pgid):
    return [pid for pid, _, group in processes() if group == pgid]


def live_group_children(parent):
    """Process groups led by live descendants of `parent`, two generations deep (the grader's preloaded server,
    and each exercise's pytest forked from it, lead their own)."""
    table = processes()
    children = {pid for pid, ppid, _ in table if ppid == parent}
    return [pid for pid, ppid, group in table if group == pid and (ppid == parent or ppid in children)]


def test_a_grade_leaves_no_process_behind(tmp_path):
    """A submission that spawns a sleeping grandchild when imported: it is killed with its exercise's group."""
    submission = solution_files(tmp_path / "submission")
    pid_file = tmp_path / "grandchild.pid"
    text = open(submission / "data.py").read()
    spawn = (f"import subprocess as _s\n_p = _s.Popen(['sleep', '120'])\nopen({str(pid_file)!r}, 'w').write(str(_p.pid))\n")
    open(submission / "data.py", "w").write(spawn + text)
    results, _ = coursework.run_exercise(ROOT, "windows", str(submission))
    assert all(passed for _, passed, _ in results)
    pid = int(pid_file.read_text())
    state = open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] if os.path.exists(f"/proc/{pid}") else "gone"
    assert state in ("Z", "gone"), f"the grandchild {pid} outlived the grade ({state})"


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_stopping_the_grader_stops_its_tests_at_once(tmp_path):
    """SIGTERM to the grader kills every running exercise's process group, not waiting for them: here the windows
    exercise would hang for a minute in the submission's data.py."""
    submission = solution_files(tmp_path / "s")
    text = open(submission / "data.py").read()
    open(submission / "data.py", "w").write("import time\ntime.sleep(60)\n" + text)
    p = subprocess.Popen([sys.executable, "-m", "tools.coursework", "grade", str(submission)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    groups, deadline = [], time.time() + 60
    while len(groups) < 3 and time.time() < deadline:  # the server and both workers' exercises, each a group
        time.sleep(0.2)
        groups = live_group_children(p.pid)
    assert groups, "no exercise started"
    t0 = time.time()
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=90)
    assert p.returncode == 130 and "interrupted" in err, err
    assert time.time() - t0 < 15, f"the grader waited {time.time() - t0:.0f} s for its tests instead of killing them"
    time.sleep(0.5)
    assert not [g for g in groups if live_group(g)], "a test process outlived the stopped grader"

