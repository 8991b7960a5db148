"""coursework.py (instructor-only, left out of the handout): the handout is the repository with stubs, the grader
gives the solution full marks, the handout zero, and typical wrong answers less than full marks."""

import json
import os
import shutil
import subprocess
import sys

import pytest

import coursework

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Two typical mistakes per exercise: (file, the solution's text, the wrong text). Each must cost points.
MISTAKES = {
    "windows": [
        ("data.py", "return np.maximum(t, episode_start[:, None])", "return np.maximum(t, 0)"),      # crosses episodes
        ("data.py", "n = int(ends[-1])", "n = int(ends[-1]) - 1"),                                  # drops the last window
    ],
    "kmeans_codec": [
        ("kmeans.py", "residuals = flat - centers[bins]", "residuals = centers[bins] - flat"),
        ("kmeans.py", "bins = squared_distances(flat, centers).argmin(dim=1)",
         "bins = squared_distances(flat, centers).argmax(dim=1)"),
    ],
    "focal_loss": [
        ("bet.py", "return (-(1 - logp.exp()) ** gamma * logp).mean()", "return (-logp).mean()"),     # ignores gamma
        ("bet.py", "return (-(1 - logp.exp()) ** gamma * logp).mean()",
         "return (-(1 - logp.exp()) ** gamma * logp).sum()"),                                       # sum, not mean
    ],
    "offset_loss": [
        ("bet.py", "return ((chosen - residuals) ** 2).sum(-1).mean()",
         "return ((pred_offsets - residuals.unsqueeze(-2)) ** 2).sum(-1).mean()"),                   # every bin, no mask
        ("bet.py", "return ((chosen - residuals) ** 2).sum(-1).mean()", "return ((chosen - residuals) ** 2).mean()"),
    ],
    "attention": [
        ("mingpt.py", 'att = att.masked_fill(self.future[:T, :T], float("-inf")).softmax(-1)', "att = att.softmax(-1)"),
        ("mingpt.py", "att = (q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])", "att = q @ k.transpose(-2, -1)"),
    ],
    "sample": [
        ("bet.py", "        if temperature == 0:\n            bins = logits.argmax(-1)",
         "        if True:\n            bins = logits.argmax(-1)"),                                   # argmax, never samples
        ("bet.py", "residuals = offsets[torch.arange(len(bins)), -1, bins]",
         "residuals = offsets[torch.arange(len(bins)), 0, bins]"),                                   # the first position's offset
    ],
    "dagger": [
        ("dagger.py", 'extra["episode_ends"] + len(demos["obs"])', 'extra["episode_ends"]'),        # boundaries not shifted
        ("dagger.py", "if coins[i].random() < beta_r:", "if coins[i].random() >= beta_r:"),          # mixing inverted
    ],
}


def copy_repository(dest):
    for rel in coursework.repository_files(ROOT) + [os.path.join(coursework.HIDDEN, "test_hidden.py")]:
        os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
        shutil.copyfile(os.path.join(ROOT, rel), os.path.join(dest, rel))


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


def test_handout_is_the_repository_with_stubs_and_no_hidden_tests(student, tmp_path):
    files = coursework.repository_files(ROOT)
    assert sorted(coursework.repository_files(str(student))) == files
    assert not os.path.exists(student / "tests" / "hidden") and not os.path.exists(student / "tests" / "test_coursework.py")
    changed = [f for f in files if open(os.path.join(ROOT, f), "rb").read() != open(student / f, "rb").read()]
    assert sorted(changed) == sorted(coursework.SOURCES)
    for f in changed:
        assert "### BEGIN SOLUTION" not in open(student / f).read()
    again = tmp_path / "again"
    coursework.handout(ROOT, str(again))
    assert all(open(student / f, "rb").read() == open(again / f, "rb").read() for f in files)   # deterministic
    with pytest.raises(ValueError, match="already exists"):
        coursework.handout(ROOT, str(again))


def test_handout_imports_and_every_exercise_test_fails_with_not_implemented(student):
    code = "import bet, kmeans, mingpt, data, dagger, train, evaluate, ablations, figures, bench"
    subprocess.run([sys.executable, "-c", code], cwd=student, check=True)
    for name in coursework.EXERCISES:
        results, _ = coursework.run_exercise(str(student), name)
        assert results and all(not passed for _, passed, _ in results), name
        assert all("NotImplementedError" in output for _, _, output in results), (name, results)


def test_handout_passes_its_tests_that_need_no_solution(student):
    """Everything but the exercises' tests and the tests marked needs_solutions runs green in the handout."""
    others = " and ".join(["not slow", "not needs_solutions"] + [f"not ex_{name}" for name in coursework.EXERCISES])
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-m", others],
                       cwd=student, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:]
    assert " passed" in p.stdout.splitlines()[-1]


def test_grading_the_solution_gives_full_marks_and_the_handout_zero(student, tmp_path):
    p = subprocess.run([sys.executable, "coursework.py", "grade", "--json", str(tmp_path / "r.json")], cwd=ROOT,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    results = json.load(open(tmp_path / "r.json"))
    assert results["score"] == sum(points for points, _ in coursework.EXERCISES.values()) == 100
    assert {t["tags"][0] for t in results["tests"]} == set(coursework.EXERCISES)
    assert all(set(t) >= {"name", "score", "max_score", "output"} for t in results["tests"])
    assert any(t["visibility"] == "after_due_date" for t in results["tests"])          # the hidden tests ran
    assert results["execution_time"] < 180
    handout = coursework.grade(str(student))
    assert handout["score"] == 0


@pytest.mark.parametrize("name, mistake", [(n, i) for n, ms in MISTAKES.items() for i in range(len(ms))],
                         ids=[f"{n}-{i}" for n, ms in MISTAKES.items() for i in range(len(ms))])
def test_typical_mistakes_lose_points(tmp_path, name, mistake):
    path, right, wrong = MISTAKES[name][mistake]
    copy_repository(tmp_path)
    source = open(tmp_path / path).read()
    assert source.count(right) == 1, (path, right)
    open(tmp_path / path, "w").write(source.replace(right, wrong))
    results, _ = coursework.run_exercise(str(tmp_path), name)
    assert not all(passed for _, passed, _ in results), f"{name}: the grader missed {wrong!r}"
