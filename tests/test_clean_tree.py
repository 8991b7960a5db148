"""No script writes a tracked file unless told to: every script's default run, in a fresh copy of the repository
under git, leaves `git status` clean (its outputs go under runs/, which git ignores), and touches no tracked file
of this checkout either."""

import os
import shutil
import subprocess

import pytest

from helpers import ROOT

pytestmark = pytest.mark.needs_solutions     # trains and evaluates: the handout cannot run it

DEFAULT_RUNS = [   # (module, argv): small settings, no output path named
    ("train", ["--env", "pointmass1", "--epochs", "1", "--episodes", "2"]),
    ("evaluate", ["runs/pointmass1-epochs1/model.pt", "--episodes", "2"]),
    ("tools.ablations", ["--env", "pointmass1", "--seeds", "1", "--epochs", "1", "--episodes", "2", "--variants", "BeT",
                         "--k-sweep", "none"]),
    ("tools.dagger", ["--env", "track", "--seeds", "1", "--rounds", "1", "--episodes", "1", "--eval-episodes", "2",
                      "--steps", "5", "--round-steps", "5", "--workers", "1"]),
    ("tools.figures", ["--bins-only"]),
    ("tools.bench", ["--env", "pointmass1", "--steps", "2", "--repeats", "2", "--episodes", "0"]),
]


def tracked_state(root):
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout.decode()
    return {f: os.stat(os.path.join(root, f)).st_mtime_ns for f in listed.split("\0") if f and os.path.exists(os.path.join(root, f))}


@pytest.mark.skipif(not shutil.which("git") or not os.path.isdir(os.path.join(ROOT, ".git")), reason="needs git")
def test_every_scripts_default_run_leaves_git_status_clean(tmp_path, monkeypatch, capsys):
    import importlib
    copy = tmp_path / "repo"
    for rel in tracked_state(ROOT):
        os.makedirs(copy / os.path.dirname(rel), exist_ok=True)
        shutil.copyfile(os.path.join(ROOT, rel), copy / rel)
    git = lambda *a: subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *a], cwd=copy,
                                    capture_output=True, text=True, check=True).stdout
    git("init", "-q"), git("add", "-A"), git("commit", "-qm", "copy")
    before = tracked_state(ROOT)
    monkeypatch.chdir(copy)
    for module, argv in DEFAULT_RUNS:
        importlib.import_module(module).main(argv)
    assert os.path.isdir(copy / "runs")
    assert git("status", "--porcelain") == "", f"a default run wrote tracked or unignored files:\n{git('status', '--porcelain')}"
    assert tracked_state(ROOT) == before, "a default run wrote into this checkout's tracked files"
