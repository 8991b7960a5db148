"""tools/datasets.py, the standard PushT datasets (issue 25): converting Diffusion Policy's zarr and LeRobot's parquet, exporting ours.

Every source file here is written by the test itself, in the on-disk schema of the public code that writes the real
one (docs/datasets.md names it), from real states of data/pusht.npz; each converted observation is compared with
gym-pusht's own, its bodies placed at the state."""

import contextlib
import io
import json
import time
import os
import subprocess
import sys
import types
import zipfile

import numpy as np
import pytest

import data
from conftest import deadline
from helpers import ROOT, interrupted_when_made, two_at_a_time
from tools import datasets as pusht_datasets
from envs import pusht
from plumbing import demofiles

zarr = pytest.importorskip("zarr")
numcodecs = pytest.importorskip("numcodecs")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

EPISODES = (0, 1, 2)          # real episodes of data/pusht.npz


@pytest.fixture(scope="module")
def demos():
    """A few real expert episodes (state, actions, episode_ends); the second one's angles shifted by -2 pi and the
    third one's by +2 pi, as Diffusion Policy's recorder stores the unwrapped body angle."""
    d = demofiles.load_demos(os.path.join(ROOT, "data", "pusht.npz"), 18, 2, extra={"state": 5})
    episodes = data.split_episodes(d)
    chosen = [episodes[i] for i in EPISODES]
    for shift, ep in zip((0.0, -2 * np.pi, 2 * np.pi), chosen):
        ep["state"] = ep["state"].copy()
        ep["state"][:, 4] += shift
    return data.join_episodes([{k: e[k] for k in ("state", "actions", "obs")} for e in chosen])


def gym_pusht_obs(state):
    """(N, 18): gym-pusht's own observation with its agent and block bodies set to each state (N, 5) and no physics
    step (the oracle; the angle is set before the position so that the body's origin lands on the state)."""
    from gym_pusht.envs.pusht import PushTEnv
    env = PushTEnv(obs_type="environment_state_agent_pos")
    env.reset(seed=1)
    rows = []
    for s in np.asarray(state, dtype=np.float64):
        env.agent.position = tuple(s[:2])
        env.block.angle = s[4]
        env.block.position = tuple(s[2:4])
        assert np.abs(np.array(env.block.position) - s[2:4]).max() < 1e-9    # exact but for pymunk's rounding
        obs = env.get_obs()
        rows.append(np.concatenate([obs["environment_state"], obs["agent_pos"]]))
    return np.array(rows)


# ---------------------------------------------------------------- writers of the two schemas

def write_dp_zarr(path, state, actions, ends, drop=(), replace=None):
    """A zarr folder as Diffusion Policy's demo_pusht.py + ReplayBuffer write it: zarr format 2, data/* float32
    (img uint8) chunked by the first episode's length ("disk" Blosc zstd, bit shuffle), meta/episode_ends int64 in
    one uncompressed chunk. `drop`: keys left out; `replace`: {key: array} written instead."""
    n, first = len(state), int(ends[0])
    disk = numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE)
    arrays = {"data/state": np.float32(state), "data/action": np.float32(actions),
              "data/keypoint": np.zeros((n, 9, 2), np.float32), "data/n_contacts": np.zeros((n, 1), np.float32),
              "data/img": np.zeros((n, 96, 96, 3), np.uint8), "meta/episode_ends": np.asarray(ends, np.int64)}
    arrays.update(replace or {})
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    for key, a in arrays.items():
        if key in drop:
            continue
        meta = key.startswith("meta/")
        chunks = a.shape if meta else (min(first, 73) if a.ndim == 4 else first,) + a.shape[1:]
        root.create_array(key, shape=a.shape, dtype=a.dtype, chunks=chunks, compressors=None if meta else disk)[...] = a
    return str(path)


def zip_folder(folder, path, prefix):
    """`folder` zipped under `prefix`/ (pusht.zip holds pusht/pusht_cchi_v7_replay.zarr/...)."""
    with zipfile.ZipFile(path, "w") as z:
        for d, _, files in os.walk(folder):
            for f in files:
                z.write(os.path.join(d, f), os.path.join(prefix, os.path.relpath(os.path.join(d, f), folder)))
    return str(path)


def gym_pusht_keypoints(state):
    """(N, 16) as LeRobot's pusht_zarr_format.py computes observation.environment_state: a fresh T from gym-pusht's
    add_tee at the block pose, then gym-pusht's get_keypoints."""
    import pymunk
    from gym_pusht.envs.pusht import PushTEnv
    rows = []
    for s in np.asarray(state, dtype=np.float64):
        _, shapes = PushTEnv.add_tee(pymunk.Space(), s[2:4].tolist(), float(s[4]))
        rows.append(PushTEnv.get_keypoints(shapes).flatten())
    return np.array(rows)


def write_lerobot(folder, state, actions, ends, drop=(), replace=None, env_state=True):
    """A LeRobot v2 dataset folder: data/chunk-000/episode_XXXXXX.parquet per episode, the columns and dtypes of
    pusht_keypoints (fixed-size float32 lists, int64 indices, float32 timestamp and reward, bool done/success) and
    meta/info.json. env_state=False writes lerobot/pusht's columns (agent position only)."""
    ends = np.asarray(ends)
    starts = np.concatenate([[0], ends[:-1]])
    cols = {"observation.state": np.float32(state[:, :2]), "observation.environment_state":
            np.float32(gym_pusht_keypoints(state)), "action": np.float32(actions)}
    cols.update(replace or {})
    os.makedirs(os.path.join(folder, "data", "chunk-000"))
    os.makedirs(os.path.join(folder, "meta"))
    for e, (s, t) in enumerate(zip(starts, ends)):
        table = {}
        for name, a in cols.items():
            if name in drop or (name == "observation.environment_state" and not env_state):
                continue
            table[name] = pa.FixedSizeListArray.from_arrays(pa.array(a[s:t].ravel()), a.shape[1])
        k = np.arange(t - s)
        table.update({"episode_index": pa.array(np.full(t - s, e, np.int64)), "frame_index": pa.array(k),
                      "timestamp": pa.array(np.float32(k / 10)), "next.reward": pa.array(np.zeros(t - s, np.float32)),
                      "next.done": pa.array(k == t - s - 1), "next.success": pa.array(np.zeros(t - s, bool)),
                      "index": pa.array(np.arange(s, t)), "task_index": pa.array(np.zeros(t - s, np.int64))})
        for name in drop:
            table.pop(name, None)
        pq.write_table(pa.table(table), os.path.join(folder, "data", "chunk-000", f"episode_{e:06d}.parquet"))
    with open(os.path.join(folder, "meta", "info.json"), "w") as f:
        json.dump({"codebase_version": "v2.0", "fps": 10, "total_episodes": len(ends), "total_frames": int(ends[-1]),
                   "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"}, f)
    return str(folder)


def run_cli(*args, process=False):
    """`python -m tools.datasets ARGS`: (returncode, stderr), in this process (fast), or as a real process."""
    if process:
        return subprocess.run([sys.executable, "-m", "tools.datasets", *map(str, args)], capture_output=True,
                              text=True, cwd=ROOT)
    err, code = io.StringIO(), 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            pusht_datasets.main([str(a) for a in args])
        except SystemExit as e:
            code = e.code
    return types.SimpleNamespace(returncode=code, stderr=err.getvalue())


# ---------------------------------------------------------------- conversion, both formats

@pytest.fixture(params=["zarr folder", "zarr zip", "lerobot"])
def source(request, demos, tmp_path):
    """A source in each schema, from the same states."""
    state, actions, ends = demos["state"], demos["actions"], demos["episode_ends"]
    if request.param == "lerobot":
        return request.param, write_lerobot(tmp_path / "pusht_keypoints", state, actions, ends)
    folder = write_dp_zarr(tmp_path / "pusht_cchi_v7_replay.zarr", state, actions, ends)
    if request.param == "zarr zip":
        return request.param, zip_folder(folder, tmp_path / "pusht.zip", "pusht/pusht_cchi_v7_replay.zarr")
    return request.param, folder


def test_converts_keeps_episodes_and_matches_gym_pusht_on_every_step(source, demos, tmp_path):
    kind, path = source
    out = tmp_path / "human.npz"
    pusht_datasets.main(["convert", path, str(out)])
    got = demofiles.load_demos(str(out), 18, 2, extra={"state": 5})
    np.testing.assert_array_equal(got["episode_ends"], demos["episode_ends"])
    np.testing.assert_array_equal(got["actions"], np.float32(demos["actions"]))
    assert np.abs(got["obs"] - gym_pusht_obs(got["state"])).max() <= 1e-4          # keypoint by keypoint, in px
    assert np.abs(got["obs"] - gym_pusht_obs(demos["state"])).max() <= 1e-4         # and at the source's own state
    assert (got["seeds"] == -1).all() and got["seeds"].shape == got["episode_ends"].shape
    with np.load(out, allow_pickle=False) as f:                                     # provenance, no pickles
        assert str(f["source_name"]) == os.path.basename(path)
        assert len(str(f["source_sha256"])) == 64 and str(f["source_format"]).split("_")[0] in ("diffusion", "lerobot")


def test_the_source_hash_names_the_bytes(demos, tmp_path):
    a = write_dp_zarr(tmp_path / "a.zarr", demos["state"], demos["actions"], demos["episode_ends"])
    actions = demos["actions"].copy()
    actions[5, 0] += 1
    b = write_dp_zarr(tmp_path / "b.zarr", demos["state"], actions, demos["episode_ends"])

    assert pusht_datasets.sha256(a) != pusht_datasets.sha256(b)
    pusht_datasets.main(["convert", a, str(tmp_path / "a.npz")])
    with np.load(tmp_path / "a.npz") as f:
        assert str(f["source_sha256"]) == pusht_datasets.sha256(a)


def test_lerobot_episodes_come_back_in_order_from_shuffled_rows(demos, tmp_path):
    """One parquet file whose rows are shuffled: episodes and frames are put back in episode/frame order."""
    folder = write_lerobot(tmp_path / "ds", demos["state"], demos["actions"], demos["episode_ends"])
    tables = [pq.read_table(os.path.join(folder, "data", "chunk-000", f))
              for f in sorted(os.listdir(os.path.join(folder, "data", "chunk-000")))]
    table = pa.concat_tables(tables)
    table = table.take(np.random.default_rng(0).permutation(len(table)))
    pq.write_table(table, tmp_path / "one.parquet")
    pusht_datasets.main(["convert", str(tmp_path / "one.parquet"), str(tmp_path / "one.npz")])
    got = demofiles.load_demos(str(tmp_path / "one.npz"), 18, 2, extra={"state": 5})
    np.testing.assert_array_equal(got["episode_ends"], demos["episode_ends"])
    np.testing.assert_array_equal(got["actions"], np.float32(demos["actions"]))


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing written

def nan_at(a, row=3, value=np.nan):
    """A float32 copy of `a` with one bad number."""
    a = np.array(a, dtype=np.float32)
    a[row, 0] = value
    return a


ZARR_CASES = {
    "missing state": dict(drop=("data/state",)),
    "missing episode_ends": dict(drop=("meta/episode_ends",)),
    "action of width 3": dict(replace=lambda d: {"data/action": np.ones((len(d["state"]), 3), np.float32)}),
    "NaN in state": dict(replace=lambda d: {"data/state": nan_at(d["state"])}),
    "inf in action": dict(replace=lambda d: {"data/action": nan_at(d["actions"], value=np.inf)}),
    "ends short of N": dict(replace=lambda d: {"meta/episode_ends": d["episode_ends"] - 1}),
    "ends not increasing": dict(replace=lambda d: {"meta/episode_ends": d["episode_ends"][[1, 0, 2]]}),
    "img of another length": dict(replace=lambda d: {"data/img": np.zeros((5, 96, 96, 3), np.uint8)}),
}


MESSAGES = {"missing state": "missing 'data/state'", "missing episode_ends": "missing 'meta/episode_ends'",
            "action of width 3": "'data/action' has shape", "NaN in state": "'data/state' contains NaN",
            "inf in action": "'data/action' contains NaN or inf", "ends short of N": "end at the",
            "ends not increasing": "strictly increasing", "img of another length": "'data/img' has shape",
            "missing action": "missing column(s) ['action']", "missing frame_index": "missing column(s) ['frame_index']",
            "agent of width 3": "column 'observation.state' holds 267 values in 89 rows, more than 2 a row",   # (its footer)
            "NaN in keypoints": "'observation.environment_state' contains NaN",
            "keypoints of no rigid T": "not the keypoints of gym-pusht's T",
            "lerobot/pusht: no block pose": "convert lerobot/pusht_keypoints"}


@pytest.mark.parametrize("case", ZARR_CASES)
def test_a_bad_zarr_is_one_error_line_exit_2(case, demos, tmp_path):
    spec = ZARR_CASES[case]
    replace = spec["replace"](demos) if "replace" in spec else None
    path = write_dp_zarr(tmp_path / "bad.zarr", demos["state"], demos["actions"], demos["episode_ends"],
                         drop=spec.get("drop", ()), replace=replace)
    r = run_cli("convert", path, tmp_path / "out.npz")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert MESSAGES[case] in r.stderr and not os.path.exists(tmp_path / "out.npz")


LEROBOT_CASES = {
    "missing action": dict(drop=("action",)),
    "missing frame_index": dict(drop=("frame_index",)),
    "agent of width 3": dict(replace=lambda d: {"observation.state": np.zeros((len(d["state"]), 3), np.float32)}),
    "NaN in keypoints": dict(replace=lambda d: {"observation.environment_state":
                                                nan_at(gym_pusht_keypoints(d["state"]))}),
    "keypoints of no rigid T": dict(replace=lambda d: {"observation.environment_state":
                                                       np.float32(gym_pusht_keypoints(d["state"]) * 1.01)}),
    "lerobot/pusht: no block pose": dict(env_state=False),
}


@pytest.mark.parametrize("case", LEROBOT_CASES)
def test_a_bad_lerobot_dataset_is_one_error_line_exit_2(case, demos, tmp_path):
    spec = dict(LEROBOT_CASES[case])
    if "replace" in spec:
        spec["replace"] = spec["replace"](demos)
    path = write_lerobot(tmp_path / "bad", demos["state"], demos["actions"], demos["episode_ends"], **spec)
    r = run_cli("convert", path, tmp_path / "out.npz")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert MESSAGES[case] in r.stderr and not os.path.exists(tmp_path / "out.npz")


def test_unknown_unreadable_and_foreign_outputs_are_refused(demos, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    good = write_dp_zarr(tmp_path / "good.zarr", demos["state"], demos["actions"], demos["episode_ends"])
    for args in (("convert", tmp_path / "notes.txt", tmp_path / "o.npz"),
                 ("convert", tmp_path / "broken.zip", tmp_path / "o.npz"),
                 ("convert", tmp_path / "missing.zarr", tmp_path / "o.npz"),
                 ("convert", good, tmp_path / "notes.txt"),                 # OUT is not a dataset: left alone
                 ("convert", good, tmp_path / "o.zarr"),                    # OUT must be an .npz,
                 ("export", os.path.join(ROOT, "data", "pusht.npz"), tmp_path / "o.npz")):    # and an export a .zarr
        r = run_cli(*args, process=args[1] == tmp_path / "notes.txt")      # one as a real `python -m tools.datasets`
        assert r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, (args, r.stderr)
    assert (tmp_path / "notes.txt").read_text() == "hello" and not (tmp_path / "o.npz").exists()
    assert not (tmp_path / "o.zarr").exists()
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_an_existing_dataset_is_replaced_whole(demos, tmp_path):
    good = write_dp_zarr(tmp_path / "good.zarr", demos["state"], demos["actions"], demos["episode_ends"])
    out = tmp_path / "out.npz"
    pusht_datasets.main(["convert", good, str(out)])
    before = out.read_bytes()
    bad = write_dp_zarr(tmp_path / "bad.zarr", demos["state"], demos["actions"], demos["episode_ends"],
                        replace={"data/state": nan_at(demos["state"])})
    r = run_cli("convert", bad, out)
    assert r.returncode == 2 and "NaN" in r.stderr
    assert out.read_bytes() == before                                              # the failed run changed nothing
    pusht_datasets.main(["convert", good, str(out)])                                         # a PushT dataset may be replaced
    assert demofiles.load_demos(str(out), 18, 2)["obs"].shape == (len(demos["state"]), 18)


# ---------------------------------------------------------------- export, and training on a converted file

def test_export_then_convert_gives_back_the_same_arrays(tmp_path):
    """On the first 40 of our 500 expert episodes (the whole file takes 10 s: the gym-pusht check of every step)."""
    shipped = demofiles.load_demos(os.path.join(ROOT, "data", "pusht.npz"), 18, 2, extra={"state": 5})
    first = data.join_episodes(data.split_episodes(shipped)[:40])
    src = str(tmp_path / "pusht40.npz")
    np.savez(src, **first, seeds=shipped["seeds"][:40])
    out = tmp_path / "pusht-expert.zarr"
    pusht_datasets.main(["export", src, str(out)])
    root = zarr.open_group(str(out), mode="r")
    assert root["data/state"].metadata.zarr_format == 2 and root["data/state"].dtype == np.float32
    assert root["meta/episode_ends"].dtype == np.int64 and sorted(root["data"].array_keys()) == ["action", "state"]
    pusht_datasets.main(["export", src, str(out)])                                           # our own export may be replaced
    pusht_datasets.main(["convert", str(out), str(tmp_path / "back.npz")])
    mine, back = demofiles.load_demos(src, 18, 2, extra={"state": 5}), demofiles.load_demos(str(tmp_path / "back.npz"), 18, 2)
    np.testing.assert_array_equal(back["episode_ends"], mine["episode_ends"])
    np.testing.assert_array_equal(back["actions"], mine["actions"])
    np.testing.assert_array_equal(back["state"], np.float32(mine["state"]))       # Diffusion Policy stores float32
    assert np.abs(back["obs"] - mine["obs"]).max() <= 1e-4                          # px: the float32 state's rounding
    (tmp_path / "other.zarr").mkdir()
    r = run_cli("export", src, tmp_path / "other.zarr")                            # not ours: refused, untouched
    assert r.returncode == 2 and r.stderr.startswith("error: ") and os.listdir(tmp_path / "other.zarr") == []


@pytest.mark.needs_solutions                       # trains a BeT: the handout cannot run it
def test_a_bet_trains_one_epoch_on_a_converted_file(demos, tmp_path):
    import train
    path = write_dp_zarr(tmp_path / "pusht_cchi_v7_replay.zarr", demos["state"], demos["actions"],
                         demos["episode_ends"])
    pusht_datasets.main(["convert", path, str(tmp_path / "human.npz")])
    train.main(["--env", "pusht", "--data", str(tmp_path / "human.npz"), "--epochs", "1", "--episodes", "0",
                "--no-compile", "--threads", "1", "--out", str(tmp_path / "run")])
    assert os.path.exists(tmp_path / "run" / "model.pt")


def test_an_output_name_that_cannot_be_created_is_one_line_before_any_read(tmp_path, capsys):
    """convert / export OUT with a 250-character name (its temporary name would pass 255 bytes), or inside a
    symbolic link loop: one `error:` line, exit 2, nothing written."""
    from tools import datasets
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    for command, out in (("convert", str(tmp_path / ("x" * 250)) + ".npz"), ("export", str(tmp_path / "loop"))):
        with pytest.raises(SystemExit) as stop:
            datasets.main([command, str(tmp_path / "missing"), out])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1, err
        assert "at most 200" in err or "loop" in err
    assert sorted(os.listdir(tmp_path)) == ["loop"]


def test_lerobot_indices_never_pass_through_floats_and_keypoints_stay_in_the_arena(demos, tmp_path):
    """An episode_index of INT64_MAX keeps its place (through float64 it would round and move); keypoints at 1e30
    (a T collapsed to a point far away passes the rigid-T check) are refused with one line."""
    n = int(demos["episode_ends"][-1])
    big = tmp_path / "big"
    write_lerobot(big, demos["state"], demos["actions"], demos["episode_ends"])
    files = sorted(os.listdir(big / "data" / "chunk-000"))
    first = pq.read_table(big / "data" / "chunk-000" / files[0])
    table = first.set_column(first.schema.get_field_index("episode_index"), "episode_index",
                             pa.array(np.full(len(first), np.iinfo(np.int64).max, np.int64)))
    pq.write_table(table, big / "data" / "chunk-000" / files[0])
    p = run_cli("convert", big, tmp_path / "big.npz")
    assert p.returncode == 0, p.stderr
    got = demofiles.load_demos(str(tmp_path / "big.npz"), 18, 2, extra={"state": 5})
    np.testing.assert_array_equal(got["actions"][-len(first):], np.float32(demos["actions"][:len(first)]))  # last
    far = write_lerobot(tmp_path / "far", demos["state"], demos["actions"], demos["episode_ends"],
                        replace={"observation.environment_state": np.full((n, 16), 1e30, np.float32)})
    p = run_cli("convert", far, tmp_path / "far.npz")
    assert p.returncode == 2 and "within -256..768" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / "far.npz").exists()
    with pytest.raises(ValueError, match="'episode_index' holds 18446744073709551615, beyond int64"):    # (was -1)
        pusht_datasets.checked_indices("f", "episode_index", np.array([0, 2 ** 64 - 1], np.uint64), 2)


def test_a_zarr_with_a_missing_chunk_or_an_absurd_size_is_refused(demos, tmp_path):
    """A chunk of data/state deleted (a partial download) would read as zeros: refused with one line. A .zarray
    declaring 2e6 rows with no chunks: refused at once, before any allocation."""
    path = write_dp_zarr(tmp_path / "dp.zarr", demos["state"], demos["actions"], demos["episode_ends"])
    chunk = sorted(f for f in os.listdir(os.path.join(path, "data", "state")) if not f.startswith("."))[1]
    os.remove(os.path.join(path, "data", "state", chunk))
    p = run_cli("convert", path, tmp_path / "out.npz")
    assert p.returncode == 2 and "chunks missing" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    meta = os.path.join(path, "data", "action", ".zarray")
    spec = json.load(open(meta))
    spec["shape"][0] = 2_000_000
    json.dump(spec, open(meta, "w"))
    state_meta = os.path.join(path, "data", "state", ".zarray")
    spec = json.load(open(state_meta))
    spec["shape"][0] = 2_000_000
    json.dump(spec, open(state_meta, "w"))
    t0 = time.time()
    p = run_cli("convert", path, tmp_path / "out.npz")
    assert p.returncode == 2 and "more than MAX_STEPS" in p.stderr and time.time() - t0 < 5, p.stderr
    assert not (tmp_path / "out.npz").exists()


# ---------------------------------------------------------------- broken metadata, FIFOs, far values, OUT, Ctrl-C

def edit_json(path, edit):
    """Replace a zarr metadata file's JSON: by `edit` itself when it is not a dict, else by the file's updated with it."""
    spec = json.load(open(path)) if isinstance(edit, dict) else edit
    if isinstance(edit, dict):
        spec.update(edit)
    with open(path, "w") as f:
        json.dump(spec, f)


METADATA_CASES = {                      # (array, the metadata file under it, the edit): zarr's TypeError once
    "shape a string": ("data/action", ".zarray", {"shape": "288"}),
    "shape of floats": ("data/action", ".zarray", {"shape": [288.5, 2]}),
    "fill_value not a number": ("data/action", ".zarray", {"fill_value": "abc"}),
    ".zarray a list": ("data/action", ".zarray", []),
    ".zarray null": ("data/action", ".zarray", None),
    "episode_ends chunks a string": ("meta/episode_ends", ".zarray", {"chunks": "3"}),
    "an unknown codec": ("data/action", ".zarray", {"compressor": {"id": "nosuchcodec"}}),
    "chunks of another dtype": ("data/action", ".zarray", {"dtype": "<f8"}),      # numpy's reshape error, unnamed
    "data/.zgroup a list": ("data", ".zgroup", []),
    "an array not read, .zarray a list": ("data/foo", ".zarray", []),
    "an array not read, shape a string": ("data/foo", ".zarray", {"shape": "288"}),
    "an array not read, no zarr_format": ("data/foo", ".zarray", {"zarr_format": None}),
    "order F for C-ordered chunks": ("data/state", ".zarray", {"order": "F"}),   # would read scrambled, in range
    "rows of a billion numbers": ("data/action", ".zarray", {"shape": [288, 10 ** 9], "chunks": [288, 10 ** 9]}),
}


@pytest.mark.parametrize("kind", ["folder", "zip"])
@pytest.mark.parametrize("case", METADATA_CASES)
def test_broken_zarr_metadata_is_one_line_naming_the_file_and_array(case, kind, demos, tmp_path):
    """A .zarray or .zgroup zarr cannot parse (its TypeError escaped as a traceback), in a read array, in one of
    data/ that is not read (data/foo, a copy of data/action's), or in data/.zgroup: one `error:` line, exit 2,
    naming the dataset and the array, in a folder and in a .zip."""
    array, name, edit = METADATA_CASES[case]
    path = write_dp_zarr(tmp_path / "dp.zarr", demos["state"], demos["actions"], demos["episode_ends"],
                         drop=("data/img", "data/keypoint", "data/n_contacts"))
    if array == "data/foo":
        os.mkdir(os.path.join(path, "data", "foo"))
        with open(os.path.join(path, "data", "action", ".zarray")) as f, \
                open(os.path.join(path, "data", "foo", ".zarray"), "w") as g:
            g.write(f.read())
    edit_json(os.path.join(path, array, name), edit)
    if kind == "zip":
        path = zip_folder(path, tmp_path / "dp.zip", "pusht/dp.zarr")
    r = run_cli("convert", path, tmp_path / "out.npz")
    assert r.returncode == 2 and r.stderr.startswith(f"error: {path}: ") and r.stderr.count("\n") == 1, r.stderr
    assert f"'{array}'" in r.stderr and not (tmp_path / "out.npz").exists(), r.stderr


def test_a_broken_parquet_file_is_named(demos, tmp_path):
    """pyarrow's errors are ValueErrors (ArrowInvalid) that name no file: they were printed as they came."""
    folder = write_lerobot(tmp_path / "ds", demos["state"], demos["actions"], demos["episode_ends"])
    broken = os.path.join(folder, "data", "chunk-000", "episode_000001.parquet")
    with open(broken, "wb") as f:
        f.write(b"not parquet")
    r = run_cli("convert", folder, tmp_path / "out.npz")
    assert r.returncode == 2 and r.stderr.startswith(f"error: {broken}: ") and r.stderr.count("\n") == 1, r.stderr


def within(seconds, fifos):
    """The block is stopped by a TimeoutError after `seconds`, and a reader blocked on one of `fifos` (zarr's, in its
    own thread) released by a writer's opening it: a failure, not a hang of the test or of its exit."""
    def release():
        for fifo in fifos:
            with contextlib.suppress(OSError):                  # ENXIO: nobody is reading that one
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    return deadline(seconds, f"still running after {seconds} s", release)


def test_a_fifo_in_a_dataset_is_refused_not_opened(demos, tmp_path):
    """A FIFO named *.parquet in a LeRobot dataset's data/, one in place of a zarr's .zarray, and one as SOURCE: opening
    one blocks for ever (past SIGTERM and Ctrl-C, inside pyarrow); each is one `error:` line naming it, exit 2."""
    lerobot = write_lerobot(tmp_path / "ds", demos["state"], demos["actions"], demos["episode_ends"])
    fifo = os.path.join(lerobot, "data", "chunk-000", "a.parquet")
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):                    # listed, never opened
        pusht_datasets.parquet_files(lerobot)
    dp = write_dp_zarr(tmp_path / "dp.zarr", demos["state"], demos["actions"], demos["episode_ends"])
    meta = os.path.join(dp, "data", "action", ".zarray")
    os.remove(meta)
    os.mkfifo(meta)
    os.mkfifo(tmp_path / "one.parquet")
    for source, named in ((lerobot, fifo), (dp, meta), (tmp_path / "one.parquet", tmp_path / "one.parquet")):
        with within(20, [named]):
            r = run_cli("convert", source, tmp_path / "out.npz")
        assert r.returncode == 2 and r.stderr.startswith(f"error: {named}: not a regular file"), r.stderr
        assert r.stderr.count("\n") == 1 and not (tmp_path / "out.npz").exists()


def far(a, row, columns, by):
    """A float64 copy of `a` with `by` added to `columns` of one row."""
    a = np.array(a, dtype=np.float64)
    a[row, columns] += by
    return a


FAR_CASES = {            # (format, the column named, what is written in place of the demos' arrays)
    "lerobot: an action at 1e30": ("lerobot", "action", lambda d: {"action": far(d["actions"], 7, 0, 1e30)}),
    "lerobot: an int64 action of 2**62": ("lerobot", "action", lambda d: {"action": np.int64(
        far(np.round(d["actions"]), 7, 1, 2 ** 62))}),
    "lerobot: the agent 5000 px right": ("lerobot", "observation.state",
                                         lambda d: {"observation.state": far(d["state"][:, :2], 7, 0, 5000)}),
    "zarr: agent and block 1200 px off": ("zarr", "data/state",
                                          lambda d: {"data/state": np.float32(far(d["state"], 7, [0, 1, 2, 3], 1200))}),
    "zarr: an action at -1e6": ("zarr", "data/action",
                                lambda d: {"data/action": np.float32(far(d["actions"], 7, 1, -1e6))}),
}


@pytest.mark.parametrize("case", FAR_CASES)
def test_positions_and_actions_far_outside_the_arena_are_refused(case, demos, tmp_path):
    """Actions, the agent position and the zarr state's positions outside ARENA (-256..768 px) were accepted (an
    action at 1e30 only warned, naming a temporary file already gone): one line naming the file, column and step.
    The state's angle is not a position (Diffusion Policy stores it unwrapped)."""
    kind, column, replace = FAR_CASES[case]
    write = write_lerobot if kind == "lerobot" else write_dp_zarr
    path = write(tmp_path / "src", demos["state"], demos["actions"], demos["episode_ends"], replace=replace(demos))
    r = run_cli("convert", path, tmp_path / "out.npz")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(f"error: {path}: '{column}' holds "), r.stderr
    assert ("episode_index 0, frame_index 7" if kind == "lerobot" else "step 7") in r.stderr
    assert not (tmp_path / "out.npz").exists()


def test_an_outlier_warning_names_the_file_written(demos, tmp_path):
    """Constant actions but one (inside the arena): the outlier warning names OUT, not the temporary file that
    demofiles' check reads (gone once the warning is read)."""
    actions = np.full((len(demos["actions"]), 2), 256.0)
    actions[7] = 700.0
    path = write_dp_zarr(tmp_path / "src.zarr", demos["state"], actions, demos["episode_ends"])
    r = run_cli("convert", path, tmp_path / "out.npz")
    warnings = r.stderr.strip().splitlines()
    assert r.returncode == 0 and len(warnings) == 2, r.stderr                          # dimensions 0 and 1
    assert all(w.startswith(f"warning: {tmp_path / 'out.npz'}: 'actions' dimension") for w in warnings), r.stderr


def test_an_out_in_no_folder_or_empty_is_refused_before_any_read(tmp_path):
    """OUT inside a regular file, inside a missing folder, or '' (the conversion ran first, then failed, or
    mkdtemp's NotADirectoryError was a traceback): one line about OUT, before SOURCE (missing here) is read."""
    (tmp_path / "afile").write_text("not a folder")
    for command in ("convert", "export"):
        for out in (tmp_path / "afile" / "x.out", tmp_path / "nofolder" / "x.out", ""):
            r = run_cli(command, tmp_path / "missing", out)
            assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
            assert r.stderr.startswith(f"error: OUT {out}".rstrip()), r.stderr
    assert sorted(os.listdir(tmp_path)) == ["afile"]


def test_an_out_in_a_folder_that_refuses_writes_is_refused_before_any_read(tmp_path, monkeypatch):
    """OUT in a read-only or immutable folder: the whole conversion ran, then writing failed. Now one line about OUT's
    folder before SOURCE (missing here) is read. The folder is refused by os.access, as the kernel would say for a
    read-only mount (root passes a chmod 555)."""
    (tmp_path / "ro").mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **k: False if os.path.abspath(path) == str(tmp_path / "ro")
                        and mode & os.W_OK else real(path, mode, **k))
    for command, out in (("convert", tmp_path / "ro" / "x.npz"), ("export", tmp_path / "ro" / "x.zarr")):
        r = run_cli(command, tmp_path / "missing", out)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert r.stderr.startswith(f"error: OUT's folder {tmp_path / 'ro'}: not writable"), r.stderr
    assert os.listdir(tmp_path / "ro") == []


def test_an_interrupt_as_the_temporary_folder_is_made_leaves_nothing(demos, tmp_path, monkeypatch):
    """A SIGINT landing just after mkdtemp made the export's folder, before its name was held (seen under load):
    the folder stayed. The interrupt now waits until the name is held; the folder is removed."""
    interrupted_when_made(monkeypatch, "mkdtemp")
    with pytest.raises(KeyboardInterrupt):
        pusht_datasets.export(str(tmp_path / "x.zarr"), demos["state"], demos["actions"], demos["episode_ends"], "s", "0")
    assert os.listdir(tmp_path) == []


def test_ctrl_c_during_an_export_removes_its_temporary_folder(tmp_path):
    """SIGINT once the export's temporary folder is there (plumbing.early's start-up handler, which exits at once,
    used to cover the whole run: it left the folder and said "while starting"): exit 130, one line, the earlier
    export unchanged and no temporary file beside it."""
    import signal
    out = tmp_path / "x.zarr"
    src = os.path.join(ROOT, "data", "pusht.npz")
    out.mkdir()
    zarr.open_group(str(out), mode="w", zarr_format=2).attrs.update(written_by=pusht_datasets.EXPORT_MARK)
    before = pusht_datasets.sha256(str(out))
    p = subprocess.Popen([sys.executable, "-m", "tools.datasets", "export", src, str(out)], cwd=ROOT, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while p.poll() is None and time.time() < deadline and not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]:
        time.sleep(0.002)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and err.strip() == "interrupted: OUT was not written (any earlier one there is unchanged)", \
        err
    assert sorted(os.listdir(tmp_path)) == ["x.zarr"] and pusht_datasets.sha256(str(out)) == before


def test_messages_print_control_characters_escaped_and_zarr_warnings_stay_quiet(demos, tmp_path):
    """A SOURCE named with an ESC prints as \\x1b (raw, it would drive the terminal); a zarr holding both a v3
    zarr.json and v2 .zgroup made zarr warn in two lines before the error line."""
    r = run_cli("convert", str(tmp_path / "\x1b[2Jnope.zarr"), tmp_path / "out.npz")
    assert r.returncode == 2 and "\x1b" not in r.stderr and "\\x1b[2Jnope.zarr" in r.stderr, r.stderr
    path = write_dp_zarr(tmp_path / "dp.zarr", demos["state"], demos["actions"], demos["episode_ends"],
                         drop=("data/img", "data/keypoint", "data/n_contacts"))
    with open(os.path.join(path, "zarr.json"), "w") as f:
        f.write('{"zarr_format": 3, "node_type": "group"}')
    r = run_cli("convert", path, tmp_path / "out.npz")
    assert r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_zarr_metadata_too_large_to_be_metadata_is_refused_unread(kind, demos, tmp_path):
    """data/action/.zarray a link to a 3 GB (sparse) file, or a 2 MB member of a zip: zarr read it whole (7 GB
    peak) before its error. Refused by its size, in under 5 s, with one line."""
    path = write_dp_zarr(tmp_path / "dp.zarr", demos["state"], demos["actions"], demos["episode_ends"])
    meta = os.path.join(path, "data", "action", ".zarray")
    if kind == "folder":
        huge = tmp_path / "huge"
        with open(huge, "wb") as f:
            f.truncate(3 * 2 ** 30)
        os.remove(meta)
        os.symlink(huge, meta)
    else:
        spec = open(meta).read()
        with open(meta, "w") as f:
            f.write(spec + " " * 2 ** 21)                  # still valid JSON, 2 MB
        path = zip_folder(path, tmp_path / "dp.zip", "pusht/dp.zarr")
    t0 = time.time()
    p = run_cli("convert", path, tmp_path / "out.npz")
    assert p.returncode == 2 and "more than MAX_METADATA" in p.stderr and time.time() - t0 < 5, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.npz").exists(), p.stderr


def test_a_damaged_chunk_is_one_line_without_zarrs_shutdown_noise(demos, tmp_path):
    """A chunk cut in half or emptied: the error line was followed by ~150 lines of "Event loop is closed"
    tracebacks from zarr's pending reads at exit (a real process shows them)."""
    path = str(tmp_path / "all.zarr")                   # many chunks, so that reads are pending when one fails
    assert run_cli("export", os.path.join(ROOT, "data", "pusht.npz"), path).returncode == 0
    with open(os.path.join(path, "data", "state", "7.0"), "r+b") as f:
        f.truncate(os.path.getsize(f.name) // 2)
    r = run_cli("convert", path, tmp_path / "out.npz", process=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "'data/state' is not readable" in r.stderr, r.stderr


def test_a_chunk_larger_than_its_declared_shape_is_refused_unread(demos, tmp_path):
    """A chunk file linked to a 2 GB sparse file was read whole (2.2 GB peak, 9 s) before its decompression failed;
    a 50 GB one ran out of memory. Refused by its size at once."""
    path = write_dp_zarr(tmp_path / "dp.zarr", demos["state"], demos["actions"], demos["episode_ends"])
    chunk = os.path.join(path, "data", "action", sorted(f for f in os.listdir(os.path.join(path, "data", "action"))
                                                         if not f.startswith("."))[1])
    huge = tmp_path / "huge"
    with open(huge, "wb") as f:
        f.truncate(50 * 2 ** 30)
    os.remove(chunk)
    os.symlink(huge, chunk)
    t0 = time.time()
    r = run_cli("convert", path, tmp_path / "out.npz")
    assert r.returncode == 2 and "more than a chunk of" in r.stderr and time.time() - t0 < 5, r.stderr


def test_parquet_sizes_are_checked_from_the_footer_before_any_value_is_read(demos, tmp_path, monkeypatch):
    """Rows past MAX_STEPS (a 1 MB file declaring 1e7 rows ran for minutes) and a list column with more values than
    its width a row (one 2.8 KB file decompressed to 5 GB) are refused from the file's metadata."""
    folder = write_lerobot(tmp_path / "ds", demos["state"], demos["actions"], demos["episode_ends"])
    monkeypatch.setattr(pusht_datasets, "MAX_STEPS", int(demos["episode_ends"][-1]) - 1)
    r = run_cli("convert", folder, tmp_path / "out.npz")
    assert r.returncode == 2 and "pass MAX_STEPS" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    monkeypatch.undo()
    f = os.path.join(folder, "data", "chunk-000", sorted(os.listdir(os.path.join(folder, "data", "chunk-000")))[0])
    table = clean = pq.read_table(f)
    rows = [[0.0, 0.0]] * len(table)
    rows[0] = [0.0] * 10_000_000                                      # one action of 1e7 numbers
    table = table.set_column(table.schema.get_field_index("action"), "action", pa.array(rows, pa.list_(pa.float32())))
    pq.write_table(table, f, compression="zstd")
    r = run_cli("convert", folder, tmp_path / "out.npz")
    assert r.returncode == 2 and "column 'action' holds 10000" in r.stderr and "more than 2 a row" in r.stderr, r.stderr
    assert not (tmp_path / "out.npz").exists()
    nested = [[[0.0, 0.0]]] * len(table)                              # a list of lists: its leaf is action.list...
    nested[0] = [[0.0] * 1_000_000]
    huge_string = ["x" * 10_000_000] + ["0"] * (len(table) - 1)       # one value, 10 MB
    for column, values, typ, message in (
            ("action", nested, pa.list_(pa.list_(pa.float32())), "column 'action' holds 1000"),
            ("frame_index", huge_string, pa.string(), "column 'frame_index' holds 100")):
        t = clean.set_column(clean.schema.get_field_index(column), column, pa.array(values, typ))
        pq.write_table(t, f, compression="zstd")
        r = run_cli("convert", folder, tmp_path / "out.npz")
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "out.npz").exists()


def test_a_footer_whose_row_count_is_not_its_row_groups_is_refused():
    """A footer declaring 1,000 rows over row groups of 1,200,000 passed MAX_STEPS (pyarrow reads the row groups):
    the two counts must agree."""
    group = types.SimpleNamespace(num_rows=1_200_000, num_columns=0)
    footer = types.SimpleNamespace(num_rows=1_000, num_row_groups=1, row_group=lambda g: group)
    with pytest.raises(ValueError, match="its row groups hold 1200000 rows, and its footer says 1000"):
        pusht_datasets.check_parquet_sizes("lie.parquet", footer, 0)
    group.num_rows = 1_000
    assert pusht_datasets.check_parquet_sizes("honest.parquet", footer, 0) == 1_000


def test_a_chunk_that_decompresses_past_its_declared_size_is_stopped_by_the_memory_budget(demos, tmp_path):
    """A 112-byte bz2 chunk of data/state decompressed to 128 MB (1 GiB from 785 bytes in the sweep) before zarr
    compared it with the chunk's shape: the read is now bounded by READ_BASE + rows x READ_PER_ROW (lowered here to
    64 MB, which the honest dataset fits in): one line, exit 2."""
    import bz2
    honest = write_dp_zarr(tmp_path / "honest.zarr", demos["state"], demos["actions"], demos["episode_ends"])
    bomb = write_dp_zarr(tmp_path / "bomb.zarr", demos["state"], demos["actions"], demos["episode_ends"])
    state = os.path.join(bomb, "data", "state")
    meta = json.load(open(os.path.join(state, ".zarray")))
    for name in os.listdir(state):
        if not name.startswith("."):
            os.remove(os.path.join(state, name))
    meta.update(compressor={"id": "bz2", "level": 9}, chunks=meta["shape"])        # one chunk, declared (N, 5)
    with open(os.path.join(state, ".zarray"), "w") as f:
        json.dump(meta, f)
    squeeze = bz2.BZ2Compressor(9)
    chunk = b"".join(squeeze.compress(bytes(1 << 24)) for _ in range(8)) + squeeze.flush()        # 128 MB of zeros
    with open(os.path.join(state, "0.0"), "wb") as f:
        f.write(chunk)
    budget = "import tools.datasets as d; d.READ_BASE = 64 << 20; d.cli()"
    runs = two_at_a_time([lambda name=name, source=source: subprocess.run(
        [sys.executable, "-c", budget, "convert", source, str(tmp_path / f"{name}.npz")], capture_output=True,
        text=True, cwd=ROOT) for name, source in (("h", honest), ("b", bomb))])
    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[1].returncode == 2 and runs[1].stderr.count("\n") == 1 and "MemoryError" in runs[1].stderr, runs[1].stderr
    assert not (tmp_path / "b.npz").exists()


def test_an_export_cuts_an_array_into_at_most_max_chunks(demos, tmp_path, monkeypatch):
    """Chunks of the first episode's length (Diffusion Policy's layout): a first episode of one step wrote one file a
    step, and Ctrl-C waited for all of them (58 s at 30k steps). At most MAX_CHUNKS now (lowered here to 10)."""
    monkeypatch.setattr(pusht_datasets, "MAX_CHUNKS", 10)
    ends = np.concatenate([[1], demos["episode_ends"]])
    pusht_datasets.export(str(tmp_path / "e.zarr"), demos["state"], demos["actions"], ends, "s", "0")
    for key in ("state", "action"):
        chunks = [n for n in os.listdir(tmp_path / "e.zarr" / "data" / key) if not n.startswith(".")]
        assert 1 < len(chunks) <= 10, chunks
    import zarr
    stored = zarr.open_group(str(tmp_path / "e.zarr"), mode="r")
    assert np.array_equal(stored["data/state"][:], np.float32(demos["state"]))


def test_the_limits_docs_datasets_md_states_are_the_codes():
    """docs/datasets.md's table of a reader's limits names each constant with its value: they must agree."""
    from plumbing import runs
    text = open(os.path.join(ROOT, "docs", "datasets.md")).read()
    for row in ("| `MAX_STEPS` | 10^6 rows", "| `MAX_ROW`, `MAX_METADATA` | 64 numbers a step, 1 MB",
                "| `READ_BASE` + rows × `READ_PER_ROW` | 512 MB + 2 KB a row", "| `MAX_CHUNKS` | 1,000",
                "| `MAX_BYTES`, `MAX_MEMBERS` | 10^9 bytes, 64 arrays"):
        assert row in text, row
    assert (pusht_datasets.MAX_STEPS, pusht_datasets.MAX_ROW, pusht_datasets.MAX_METADATA) == (10 ** 6, 64, 1 << 20)
    assert (pusht_datasets.READ_BASE, pusht_datasets.READ_PER_ROW, pusht_datasets.MAX_CHUNKS) == (512 << 20, 2048, 1000)
    assert (demofiles.MAX_BYTES, demofiles.MAX_MEMBERS) == (10 ** 9, 64) and "LOAD_BASE" in text and runs.LOAD_BASE


def test_a_parquet_dataset_at_a_name_that_is_not_utf8_converts(demos, tmp_path):
    """pyarrow takes a str path as UTF-8: a LeRobot folder whose name holds the byte \\xff (Linux allows it; a zarr
    there converted) was refused as "not readable as parquet". The files are opened by Python now."""
    folder = str(tmp_path / os.fsdecode(b"le\xff"))
    os.rename(write_lerobot(tmp_path / "le", demos["state"], demos["actions"], demos["episode_ends"]), folder)
    r = run_cli("convert", folder, tmp_path / "out.npz")
    assert r.returncode == 0 and (tmp_path / "out.npz").exists(), r.stderr


def test_a_temporary_folder_is_removed_though_a_writer_still_adds_to_it(tmp_path):
    """On a full disk, zarr's other chunk writes went on after the failed one: rmtree met a vanished .partial file
    (an error line naming no file) or a refilled folder (a traceback), and the folder stayed. remove_tree waits them
    out."""
    import threading
    folder = tmp_path / ".e.zarr.1.x.tmp"
    (folder / "data" / "state").mkdir(parents=True)
    def writer():
        for i in range(200):
            try:
                (folder / "data" / "state" / f"{i}.partial").write_bytes(b"0" * 1000)
            except OSError:
                pass
            time.sleep(0.001)
    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(0.02)
    pusht_datasets.remove_tree(str(folder))
    assert not folder.exists()
    thread.join()
