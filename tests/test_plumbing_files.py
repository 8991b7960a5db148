"""plumbing/files.py and plumbing/demofiles.py: every file is written atomically (no half file, no temp file
left, not even on a full disk or after a kill), and a dataset file is checked as it is read (corrupt or odd .npz
files are one error line, outliers one warning)."""

import errno
import os
import threading

import numpy as np
import pytest
import torch

import data
import train
from helpers import cli, interrupted_when_made, one_error_line
from plumbing import demofiles
from plumbing import runs

DATASET = data.default_path("pusht")


# ---------------------------------------------------------------- plumbing/files.py: atomic writes

def test_atomic_write_never_leaves_half_a_file_or_a_temp_file(tmp_path):
    path = tmp_path / "out.json"
    runs.write_json(path, {"run": "old"})
    def broken(f):
        f.write(b'{"run": "ne')
        raise KeyboardInterrupt                     # the write dies half way
    with pytest.raises(KeyboardInterrupt):
        runs.atomic_write(path, broken)
    assert path.read_text() == '{\n  "run": "old"\n}' and os.listdir(tmp_path) == ["out.json"]


def test_concurrent_writers_do_not_collide(tmp_path):
    """Unique temp names: many writers to one path leave one whole file, from one of them, and no temp files."""
    path = tmp_path / "shared.bin"
    payloads = [bytes([i]) * 200_000 for i in range(8)]
    threads = [threading.Thread(target=lambda p=p: [runs.atomic_write(path, lambda f: f.write(p)) for _ in range(5)])
               for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_bytes() in payloads and os.listdir(tmp_path) == ["shared.bin"]


@pytest.mark.needs_solutions
def test_a_full_disk_at_save_keeps_the_earlier_model_and_its_results(run_dir, tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    for name in ("model.pt", "train_log.json", "eval.json"):
        (out / name).write_bytes((run_dir / name).read_bytes())
    before = {name: (out / name).read_bytes() for name in ("model.pt", "eval.json")}
    real = torch.save
    def full_disk(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and "config" in obj:                 # the checkpoint, not the training state
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(obj, f, *args, **kwargs)
    monkeypatch.setattr(torch, "save", full_disk)
    code, err = cli(train, "--env", "pointmass1", "--epochs", "1", "--episodes", "2", "--out", out)
    one_error_line(code, err, "model.pt", "No space left on device")
    assert {name: (out / name).read_bytes() for name in before} == before
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


@pytest.mark.needs_solutions
def test_temp_files_of_a_killed_save_are_removed_by_the_next_run(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".train_state.pt.k1ll3d.tmp").write_bytes(b"half a state")       # SIGKILL during an atomic write
    train.main(["--env", "pointmass1", "--epochs", "1", "--episodes", "0", "--out", str(out)])
    assert sorted(os.listdir(out)) == ["model.pt", "train_log.json"]


# ---------------------------------------------------------------- plumbing/demofiles.py: dataset files

def _expect_data_error(path, what):
    with pytest.raises(demofiles.DataError) as e:
        demofiles.load_demos(str(path), obs_dim=18, act_dim=2, extra={"state": 5})
    msg = str(e.value)
    assert str(path) in msg and what in msg and "\n" not in msg
    return msg


def test_loader_rejects_corrupt_files(tmp_path):
    # truncated: a partial copy of the shipped file; the bad file must be left as it is (not regenerated)
    blob = open(DATASET, "rb").read()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(blob[: len(blob) // 2])
    _expect_data_error(truncated, "not a readable .npz")
    assert truncated.read_bytes() == blob[: len(blob) // 2]
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    _expect_data_error(garbage, "not a readable .npz")

    d = dict(np.load(DATASET))
    wrong_key = tmp_path / "wrong_key.npz"
    np.savez(wrong_key, **{("observations" if k == "obs" else k): v for k, v in d.items()})
    _expect_data_error(wrong_key, "missing key")
    wrong_shape = tmp_path / "wrong_shape.npz"
    np.savez(wrong_shape, **{**d, "state": d["state"][:, :4]})
    _expect_data_error(wrong_shape, "'state' has shape")
    wrong_ends = tmp_path / "wrong_ends.npz"
    np.savez(wrong_ends, **{**d, "episode_ends": d["episode_ends"][:-1]})
    _expect_data_error(wrong_ends, "episode_ends")


@pytest.mark.needs_solutions
def test_odd_npz_files_are_one_line(tmp_path):
    demos = demofiles.load_demos(data.default_path("pointmass1"), 2, 2)
    import zipfile
    with zipfile.ZipFile(tmp_path / "text_member.npz", "w") as z:
        z.writestr("obs.txt", "1 2 3")
    np.savez(tmp_path / "scalar_obs.npz", obs=np.float32(1.0), actions=demos["actions"], episode_ends=demos["episode_ends"])
    wrapped = demos["episode_ends"].astype(np.uint64)
    wrapped[0] = np.uint64(2 ** 64 - 3)                          # becomes -3 as int64
    np.savez(tmp_path / "wrapped.npz", obs=demos["obs"], actions=demos["actions"], episode_ends=wrapped)
    for name, message in (("text_member", "member 'obs.txt' is not a .npy array"), ("scalar_obs", "holds no steps"),
                          ("wrapped", "'episode_ends' must be strictly increasing")):
        one_error_line(*cli(train, "--env", "pointmass1", "--data", tmp_path / f"{name}.npz", "--out", tmp_path / "o"),
                       f"{name}.npz", message)


@pytest.mark.needs_solutions
def test_outliers_warn_in_one_line_naming_file_and_dimension(tmp_path, capsys):
    demos = demofiles.load_demos(data.default_path("pointmass1"), 2, 2)
    obs = demos["obs"].copy()
    obs[7, 1] = 1e30                                               # one sample, dimension 1
    np.savez(tmp_path / "outlier.npz", obs=obs, actions=demos["actions"], episode_ends=demos["episode_ends"])
    demofiles.load_demos(str(tmp_path / "outlier.npz"), 2, 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "outlier.npz" in err[0] and "'obs' dimension 1" in err[0], err
    demofiles.load_demos(data.default_path("pointmass1"), 2, 2)        # the shipped data is clean
    assert capsys.readouterr().err == ""


def test_a_writer_removes_what_killed_writers_of_the_same_file_left(tmp_path):
    """Temporary files and folders carry their writer's pid: the next write of that file removes a dead writer's
    (a file and a folder here), keeps a running writer's and other files' temporaries, and an export's earlier
    folder goes back in place when the kill came between the two renames."""
    import subprocess
    from plumbing import files
    from tools import datasets
    dead = subprocess.Popen(["true"])
    dead.wait()
    out = tmp_path / "out.npz"
    leftovers = [tmp_path / f".out.npz.{dead.pid}.abc.tmp", tmp_path / f".out.npz.{dead.pid}.def.tmp"]
    leftovers[0].write_bytes(b"half")
    leftovers[1].mkdir()
    running = tmp_path / f".out.npz.{os.getpid()}.xyz.tmp"
    other = tmp_path / f".other.npz.{dead.pid}.abc.tmp"
    running.write_bytes(b"mine"), other.write_bytes(b"not out.npz's")
    files.write_json(str(out), {"a": 1})
    assert not any(p.exists() for p in leftovers) and running.exists() and other.exists()
    zarr_path = tmp_path / "e.zarr"
    old = tmp_path / f".e.zarr.{dead.pid}.q.old.tmp"
    (old / "replaced").mkdir(parents=True)
    (old / "replaced" / "marker").write_text("the earlier export")
    assert datasets.restored(str(old), str(zarr_path)) is False
    assert (zarr_path / "marker").read_text() == "the earlier export"


def test_control_characters_never_reach_the_terminal_raw(tmp_path):
    """An output name with ESC, DEL, a C1 control or a direction override is refused before any work, and every
    message prints such characters as \\xNN or \\uNNNN (an ESC would start a terminal escape sequence; U+202E shows
    the rest of the line reversed)."""
    from plumbing import files, runs
    for name in ("a\x1b[2Jb", "a\x7fb", "a\nb", "a\x9b2Jb", "run\u202egpj.exe", "a\u200bb", "p\u061cq", "s\u00adh",
                 "l\u2028m", "t\U000e0041g", "c\u180ex"):
        with pytest.raises(ValueError, match="a control character in the name") as e:
            files.check_creatable(str(tmp_path / name), "--out")
        assert not files.has_control(runs.one_line(e.value)) and "\n" not in runs.one_line(e.value)
    assert runs.one_line("x\x1b[31my\x7f\u202ez") == "x\\x1b[31my\\x7f\\u202ez"
    files.check_creatable(str(tmp_path / "café — 日本"), "--out")          # printable non-ASCII stays allowed
    code, err = cli(train, "--env", "pointmass1", "--out", tmp_path / "run\x1b[2J")
    one_error_line(code, err, "--out", "\\x1b[2J")
    assert not (tmp_path / "run\x1b[2J").exists()


def test_a_stop_under_way_ignores_a_second_signal(capsys):
    """A second Ctrl-C or SIGTERM while ablations' workers were torn down printed a KeyboardInterrupt traceback after
    the stop's line. The line (no blank one before it off a terminal) and then both signals ignored."""
    import signal
    from plumbing import files
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        files.interrupted("after 0 of 2 runs")
        assert all(signal.getsignal(sig) == signal.SIG_IGN for sig in before)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    assert capsys.readouterr().err == "interrupted: after 0 of 2 runs\n"


def test_an_npz_declaring_a_huge_array_is_refused_from_its_headers(tmp_path, monkeypatch):
    """A 1.9 MB .npz whose 'obs' decompresses to 2 GB was read whole (2.2 GB, 15 s) before its shape was checked, by
    train.py --data, --collect's guard, convert's OUT guard and export. Refused from the .npy headers, before
    np.load (here with MAX_BYTES lowered to 8000, so the file stays small), in bytes as read (at least 8 a number:
    a 2 MB file of 10^9 int8 grew past 5 GB as it was widened): one string of 10^6 characters is one number and 4 MB; a member that is not a .npy (np.load reads it whole, as bytes) is refused unread."""
    import numpy as np
    from plumbing import demofiles
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, obs=np.zeros((500, 2), np.float32), actions=np.zeros((500, 2), np.float32),
                        episode_ends=np.array([500]))
    monkeypatch.setattr(demofiles, "MAX_BYTES", 8_000)                    # 'obs' as read: 1000 numbers x 8 bytes
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load ran before the sizes were checked"))
    with pytest.raises(demofiles.DataError, match=r"'actions.npy' declares \(500, 2\) of float32: more than MAX_BYTES = "
                       r"8000"):
        demofiles.load_demos(str(path), 2, 2)
    narrow = tmp_path / "narrow.npz"                                      # 1200 bytes stored, 9600 as read
    np.savez(narrow, obs=np.zeros((600, 2), np.int8), actions=np.zeros((600, 2), np.int8), episode_ends=np.array([600]))
    with pytest.raises(demofiles.DataError, match=r"'obs.npy' declares \(600, 2\) of int8: more than MAX_BYTES"):
        demofiles.load_demos(str(narrow), 2, 2)
    text = tmp_path / "text.npz"
    np.savez_compressed(text, obs=np.array(["x" * 1_000_000]), actions=np.zeros((1, 2), np.float32),
                        episode_ends=np.array([1]))
    with pytest.raises(demofiles.DataError, match=r"'obs.npy' declares \(1,\) of <U1000000: more than MAX_BYTES"):
        demofiles.load_demos(str(text), 2, 2)
    import zipfile
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("notes", "0" * 10_000_000)                     # 10 MB read whole as bytes by np.load
    monkeypatch.setattr(demofiles, "MAX_BYTES", 10 ** 9)
    with pytest.raises(demofiles.DataError, match=r"member 'notes' is not a .npy array"):
        demofiles.load_demos(str(path), 2, 2)
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    raw = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header      # 128 bytes declaring 8 TB
    small = tmp_path / "small.npz"
    np.savez(small, obs=np.zeros((4, 2), np.float32), actions=np.zeros((4, 2), np.float32), episode_ends=np.array([4]))
    many = tmp_path / "many.npz"
    np.savez(many, **{f"a{i}": np.zeros(1) for i in range(65)})
    for name, content, message in (("raw.npz", raw, "it is one .npy array"),          # np.load read the .npy header
                                   ("polyglot.npz", raw + small.read_bytes(), "it is one .npy array"),   # zip after it
                                   ("many.npz", many.read_bytes(), "65 members, more than MAX_MEMBERS = 64")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(demofiles.DataError, match=message):
            demofiles.load_demos(str(tmp_path / name), 2, 2)


def test_a_video_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """evaluate --video on a full disk left a 0-byte GIF, and an MP4 "wrote" with no file at all (OpenCV reports no
    failure). Both now end in one ValueError, with an earlier video unchanged and no temporary file or folder left."""
    from PIL import Image
    import cv2
    from plumbing import plots
    size = plots.VIDEO_SIZE
    film = [{"frames": [np.full((size, size, 3), 40 * i, np.uint8) for i in range(4)], "success": True, "seed": 0,
             "score": [0.1, 0.2, 0.3, 0.4]}]
    for name in ("v.gif", "v.mp4"):
        plots.write_video(film, str(tmp_path / name))
    assert sorted(os.listdir(tmp_path)) == ["v.gif", "v.mp4"]
    before = {name: (tmp_path / name).read_bytes() for name in ("v.gif", "v.mp4")}
    assert all(before.values())

    def full_disk(self, f, *args, **kwargs):
        f.write(b"GIF89a")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(Image.Image, "save", full_disk)
    with pytest.raises(ValueError, match="v.gif: could not write it"):
        plots.write_video(film, str(tmp_path / "v.gif"))

    real = cv2.VideoWriter

    class Silent:                                       # OpenCV on a full disk: no error, and no file
        def __init__(self, *args):
            pass
        write = release = __init__

    class Truncated:                                    # or the file cut short, its index (moov) never written
        def __init__(self, name, *args):
            self.name, self.writer = name, real(name, *args)
        def write(self, frame):
            self.writer.write(frame)
        def release(self):
            self.writer.release()
            with open(self.name, "r+b") as f:
                f.truncate(os.path.getsize(self.name) * 2 // 3)
    for writer in (Silent, Truncated):
        monkeypatch.setattr(cv2, "VideoWriter", writer)
        with pytest.raises(ValueError, match="v.mp4: OpenCV wrote no whole video"):
            plots.write_video(film, str(tmp_path / "v.mp4"))
    assert {name: (tmp_path / name).read_bytes() for name in sorted(os.listdir(tmp_path))} == before


def test_an_interrupt_as_the_temporary_file_is_made_leaves_nothing(tmp_path, monkeypatch):
    """A SIGINT landing just after mkstemp made atomic_write's temporary file, before its name was held: the file
    stayed. The interrupt now waits until the name is held; the file is removed and the target never written."""
    from plumbing import files
    interrupted_when_made(monkeypatch, "mkstemp")
    with pytest.raises(KeyboardInterrupt):
        files.atomic_write(str(tmp_path / "x.json"), lambda f: f.write(b"{}"))
    assert os.listdir(tmp_path) == []


def test_a_path_too_long_for_the_system_is_one_line_before_any_work(tmp_path):
    """A path of 40 folders of 120 bytes (each name allowed, the whole past Linux's 4096): train.py's lock failed
    with an ENAMETOOLONG traceback. Refused before any work."""
    deep = os.path.join(str(tmp_path), *["d" * 120] * 40, "run")
    code, err = cli(train, "--env", "pointmass1", "--epochs", "1", "--episodes", "0", "--out", deep)
    one_error_line(code, err, "--out", "at most 3800")
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_stdout_that_cannot_be_written_is_one_line(tmp_path):
    """`... > /dev/full` (stdout on a full disk) was a traceback; now one error line, exit 2."""
    import subprocess
    import sys
    from helpers import ROOT
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "train.py", "--help"], cwd=ROOT, stdout=full, stderr=subprocess.PIPE,
                           text=True, timeout=120)
    one_error_line(p.returncode, p.stderr, "could not write to standard output (No space left on device)")


def test_ffmpegs_own_lines_never_reach_the_terminal(capfd):
    """An MP4 on a full disk printed FFmpeg's "moov atom not found" (from C, on file descriptor 2) beside the one
    error line: OpenCV's writing and reading back run with descriptor 2 silenced, and it is restored after."""
    from plumbing import plots
    with plots.native_stderr_silenced():
        os.write(2, b"moov atom not found\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_a_file_refused_gets_its_error_line_alone(tmp_path, capsys):
    """A dataset with an outlier and broken episode_ends printed two outlier warnings before its one error line:
    the warnings are for a file that passed its checks."""
    obs = np.zeros((10, 2), np.float32)
    obs[3] = 1e6
    np.savez(tmp_path / "bad.npz", obs=obs, actions=obs.copy(), episode_ends=np.array([4, 12]))
    with pytest.raises(demofiles.DataError, match="episode_ends"):
        demofiles.load_demos(str(tmp_path / "bad.npz"), 2, 2)
    assert capsys.readouterr().err == ""


@pytest.mark.needs_solutions                 # (tools.figures runs k-means)
def test_a_script_started_with_stdout_closed_does_its_work_quietly(tmp_path):
    """With stdout closed (>&-), Python's sys.stdout is None: every script did its work, then ended in an
    AttributeError traceback (exit 1). It now writes its files and exits 0 with nothing on stderr."""
    import subprocess
    import sys
    from helpers import ROOT
    p = subprocess.run([sys.executable, "-m", "tools.figures", "--bins-only", "--out", str(tmp_path)], cwd=ROOT,
                       stderr=subprocess.PIPE, text=True, preexec_fn=lambda: os.close(1), timeout=120)
    assert p.returncode == 0 and p.stderr == "" and (tmp_path / "bins.png").exists(), p.stderr
