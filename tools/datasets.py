"""
The standard PushT demonstrations in and out: readers for Diffusion Policy's zarr and LeRobot's parquet, the
writer of our demonstrations in Diffusion Policy's layout, and the 18-D observation computed from the 5-D state.

Formats (every fact, and the public file that confirmed it, is in docs/datasets.md):
    Diffusion Policy zarr (zarr format 2; a folder, or a .zip holding the folder at any prefix):
        data/state     (N, 5) float32  agent x, y, block x, y (the body's origin), block angle (radians)
        data/action    (N, 2) float32  the target agent position
        meta/episode_ends (E,) int64   cumulative, the last one is N
        (data/keypoint, data/img, data/n_contacts are not read)
    LeRobot parquet (one file, or a dataset folder whose data/ holds the files):
        observation.state (2,) agent x, y; observation.environment_state (16,) gym-pusht's keypoints;
        action (2,); episode_index, frame_index int64
Errors are ValueError with one line naming the file (`python -m tools.datasets` prints it as `error: ...`, exit 2).
zarr and pyarrow are optional (requirements-datasets.txt): they are imported only inside the readers and writer.
"""

import contextlib
import hashlib
import io
import os
import shutil
import signal
import stat
import sys
import tempfile
import time
import zipfile

import numpy as np
from gym_pusht.envs.pusht import PushTEnv

import data
from envs.pusht_expert import KEYPOINTS_BODY
from plumbing import demofiles, files
from plumbing.files import interrupts_deferred, remove_dead_writers_temps, temp_prefix

OBS_DIM = 18                 # 8 keypoints x 2, then the agent x, y (envs/pusht.py PushTFlat)
TOLERANCE_PX = 1e-4          # a converted observation must match gym-pusht's own to this many pixels
RIGID_TOLERANCE_PX = 1e-2    # LeRobot keypoints further than this from a rigid T are not gym-pusht's
EXPORT_MARK = "bet-pusht: python -m tools.datasets export"   # root attribute `written_by` of the zarr folders we write
EXTRAS = "pip install -r requirements-datasets.txt"
MAX_STEPS = 1_000_000        # a dataset may declare at most this many steps (the human data: 25,650); raise it here
MAX_ROW = 64                 # numbers per step an array that is read may declare (state 5, action 2)
MAX_CHUNKS = 1000            # chunks an exported array is cut into at most (ours: under 100)
MAX_METADATA = 1 << 20       # bytes of a zarr metadata file (.zarray, .zgroup, .zattrs, zarr.json; ours: < 1 KB)
METADATA = (".zarray", ".zgroup", ".zattrs", "zarr.json")


# ---------------------------------------------------------------- the observation of a state

def observations(state):
    """(N, 18) float32 observation of each 5-D state (N, 5): the T's 8 keypoints as gym-pusht reports them (its
    body-frame vertices turned by the angle, then moved by the body's origin), then the agent position."""
    s = np.asarray(state, dtype=np.float64)
    c, sn = np.cos(s[:, 4:5]), np.sin(s[:, 4:5])                                  # (N, 1)
    bx, by = KEYPOINTS_BODY[:, 0], KEYPOINTS_BODY[:, 1]                           # (8,)
    x = c * bx - sn * by + s[:, 2:3]                                              # (N, 8)
    y = sn * bx + c * by + s[:, 3:4]
    return np.concatenate([np.stack([x, y], -1).reshape(len(s), 16), s[:, :2]], 1).astype(np.float32)


def gym_pusht_observations(state):
    """(N, 18) gym-pusht's own observation with its bodies placed exactly at each state (N, 5): the reference the
    conversion is checked against. Not `_set_state`: that sets the position before the angle (turning the body
    about its centre of gravity moves its origin off the state) and then steps the physics once."""
    env = PushTEnv(obs_type="environment_state_agent_pos")
    env.reset(seed=0)
    out = np.empty((len(state), OBS_DIM))
    for i, (ax, ay, bx, by, angle) in enumerate(np.asarray(state, dtype=np.float64)):
        env.agent.position = (ax, ay)
        env.block.angle = angle            # angle first, then position: the body's origin lands exactly on (bx, by)
        env.block.position = (bx, by)
        obs = env.get_obs()
        out[i] = np.concatenate([obs["environment_state"], obs["agent_pos"]])
    env.close()
    return out


def check_against_gym_pusht(path, obs, state):
    """Every observation (N, 18) within TOLERANCE_PX of gym-pusht's own at its state, or a ValueError."""
    error = np.abs(obs.astype(np.float64) - gym_pusht_observations(state)).max(1)     # (N,)
    worst = int(np.argmax(error))
    if error[worst] > TOLERANCE_PX:
        raise ValueError(f"{path}: step {worst}'s observation is {error[worst]:.2g} px from gym-pusht's own "
                         f"(tolerance {TOLERANCE_PX}); is gym-pusht's T different in this version?")


def pose_from_keypoints(path, keypoints):
    """(N, 3) block pose (x, y, angle in [0, 2 pi)) of the rigid T that best fits each row of keypoints (N, 16)
    (least squares, exact for gym-pusht's keypoints up to their float32 rounding); a ValueError if one fits badly."""
    p = np.asarray(keypoints, dtype=np.float64).reshape(-1, 8, 2)                  # (N, 8, 2) world
    b = KEYPOINTS_BODY - KEYPOINTS_BODY.mean(0)                                     # (8, 2) body, centred
    q = p - p.mean(1, keepdims=True)                                                # (N, 8, 2)
    angle = np.arctan2((b[:, 0] * q[..., 1] - b[:, 1] * q[..., 0]).sum(1), (b * q).sum((1, 2)))   # (N,)
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    m = KEYPOINTS_BODY.mean(0)
    origin = p.mean(1) - np.stack([c[:, 0] * m[0] - s[:, 0] * m[1], s[:, 0] * m[0] + c[:, 0] * m[1]], 1)
    pose = np.concatenate([origin, np.mod(angle, 2 * np.pi)[:, None]], 1)
    fitted = observations(np.concatenate([np.zeros((len(p), 2)), pose], 1))[:, :16].reshape(-1, 8, 2)
    residual = np.linalg.norm(fitted - p, axis=-1).max(1)
    if len(p) and residual.max() > RIGID_TOLERANCE_PX:
        raise ValueError(f"{path}: row {int(np.argmax(residual))}'s observation.environment_state is not the keypoints "
                         f"of gym-pusht's T ({residual.max():.3g} px from the best rigid fit)")
    return pose


# ---------------------------------------------------------------- checks and provenance

def checked(path, key, a, shape):
    """A real, finite array of `shape` (None = any length) as float64, or a ValueError naming the key."""
    a = np.asarray(a)
    if a.ndim != len(shape) or any(want is not None and got != want for got, want in zip(a.shape, shape)):
        want = "(" + ", ".join("N" if w is None else str(w) for w in shape) + ")"
        raise ValueError(f"{path}: '{key}' has shape {a.shape}, expected {want}")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{path}: '{key}' has dtype {a.dtype}; expected real numbers")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{path}: '{key}' contains NaN or inf")
    return a.astype(np.float64)


def checked_indices(path, key, a, n):
    """An integer column (n,) as int64, never through floats (an int64 index beyond 2**53 would silently move)."""
    a = np.asarray(a)
    if a.shape != (n,) or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{path}: '{key}' must be {n} integers, got {a.shape} {a.dtype}")
    if n and np.issubdtype(a.dtype, np.unsignedinteger) and a.max() > np.iinfo(np.int64).max:    # (would wrap to < 0)
        raise ValueError(f"{path}: '{key}' holds {a.max()}, beyond int64")
    return a.astype(np.int64)


ARENA = (-256.0, 768.0)   # positions further than half gym-pusht's 512 px arena outside it are not PushT's


def checked_in_arena(path, key, a, step=lambda i: f"step {i}"):
    """Positions in px (N, D) (keypoints, agent, block, actions): inside ARENA, or a ValueError naming the first step
    outside (`step(i)` names row i). A collapsed or far-away T passes the rigid-T check, and an action of 1e30
    would only skew the normalisation."""
    outside = (a < ARENA[0]) | (a > ARENA[1])
    if outside.any():
        i, j = np.argwhere(outside)[0]
        raise ValueError(f"{path}: '{key}' holds {a[i, j]:g} px at {step(i)}; gym-pusht's positions lie within "
                         f"{ARENA[0]:g}..{ARENA[1]:g}")
    return a


def checked_ends(path, key, ends, n):
    """Episode ends (E,): integers, strictly increasing from above 0, the last one n; as int64."""
    ends = np.asarray(ends)
    if ends.ndim != 1 or len(ends) == 0 or not np.issubdtype(ends.dtype, np.integer):
        raise ValueError(f"{path}: '{key}' must be a non-empty 1-D integer array, got {ends.shape} {ends.dtype}")
    if ends[0] <= 0 or np.any(ends[1:] <= ends[:-1]) or ends[-1] != n:
        raise ValueError(f"{path}: '{key}' must be strictly increasing and end at the {n} steps (got last={ends[-1]})")
    return ends.astype(np.int64)


def sha256(path):
    """sha256 of a file's bytes; of a folder, of every file's relative path and sha256, in sorted order."""
    if os.path.isfile(path):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    h = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(folder, name)
            h.update(os.path.relpath(full, path).replace(os.sep, "/").encode() + b"\0" + sha256(full).encode() + b"\n")
    return h.hexdigest()


def dataset(path, fmt, obs, actions, state, ends):
    """The arrays of our .npz (data.py's layout) with the source's name, sha256 and format recorded in it."""
    return {"obs": obs.astype(np.float32), "actions": actions.astype(np.float32), "state": state,
            "episode_ends": ends, "seeds": np.full(len(ends), -1, dtype=np.int64),     # the sources have no seeds
            "source_name": np.array(os.path.basename(os.path.normpath(path))), "source_sha256": np.array(sha256(path)),
            "source_format": np.array(fmt)}


# ---------------------------------------------------------------- reading

def convert(path):
    """Our dataset's arrays from a Diffusion Policy zarr (folder or .zip) or a LeRobot parquet file or folder. Every
    error names the file: one that zarr, pyarrow or numpy raised without naming it gets the name in front."""
    try:
        return read(path)
    except MemoryError:                               # a chunk or page decoded past what its metadata declares
        raise ValueError(f"{path}: reading it needs more memory than its declared rows allow (READ_BASE, READ_PER_ROW "
                         f"in tools/datasets.py): a chunk or page decompresses past the size its metadata declares") \
            from None
    except ValueError as e:
        if str(e).startswith(path):
            raise
        raise ValueError(f"{path}: {e}") from None


READ_BASE = 512 << 20        # bytes of memory a read may take beyond what the process held as it started,
READ_PER_ROW = 2048          # and per declared row (converting MAX_STEPS rows of parquet takes 1.6 GB)


def read_budget(rows):
    """What the chunks or pages of `rows` declared rows may take, decoded (see files.memory_limited)."""
    return files.memory_limited(READ_BASE + rows * READ_PER_ROW)


def regular(path):
    """A regular file (after symbolic links)? A FIFO would hang a reader, a device never end, a broken link fail."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def read(path):
    """convert's work: the reader of the format found at `path`."""
    if not os.path.exists(path):
        raise ValueError(f"{path}: file not found")
    if not (os.path.isdir(path) or regular(path)):
        raise ValueError(f"{path}: not a regular file or a folder (a FIFO or a device?)")
    if os.path.isdir(path) and (os.path.exists(os.path.join(path, ".zgroup")) or
                                os.path.exists(os.path.join(path, "zarr.json"))):
        return read_diffusion_policy(path)
    if os.path.isfile(path) and path.endswith(".zip"):
        return read_diffusion_policy(path)
    if path.endswith(".parquet") or (os.path.isdir(path) and parquet_files(path)):
        return read_lerobot(path)
    raise ValueError(f"{path}: unknown format; expected a Diffusion Policy zarr (a folder with .zgroup, or a .zip of "
                     f"one) or a LeRobot parquet dataset (a .parquet file, or a folder of them)")


def import_optional(name, path):
    """The optional reader `name` (zarr or pyarrow.parquet), or a ValueError saying how to install it."""
    try:
        return __import__(name, fromlist=["_"])
    except ImportError:
        raise ValueError(f"{path}: reading it needs the optional package {name.split('.')[0]}: {EXTRAS}") from None


def folder_names(path):
    """{path inside it ('/'-separated): size in bytes} of every file of a zarr folder; a ValueError at anything that
    is not a regular file, before zarr opens it (a FIFO would hang the conversion past Ctrl-C and SIGTERM), or at
    metadata too large to be one (zarr would read it whole)."""
    names = {}
    for folder, dirs, found in os.walk(path):
        for name in found:
            full = os.path.join(folder, name)
            if not regular(full):
                raise ValueError(f"{full}: not a regular file (a FIFO, a device or a broken link); a zarr holds files")
            size = os.stat(full).st_size
            check_metadata_size(full, name, size)
            names[os.path.relpath(full, path).replace(os.sep, "/")] = size
    return names


def check_metadata_size(label, name, size):
    """A metadata file (by its `name`) of at most MAX_METADATA bytes, checked before zarr reads it whole."""
    if name.rsplit("/", 1)[-1] in METADATA and size > MAX_METADATA:
        raise ValueError(f"{label}: {size} bytes, more than MAX_METADATA = {MAX_METADATA} for zarr metadata "
                         f"(tools/datasets.py)")


def open_zarr(path):
    """(the root group, {name: size} of its files) of a Diffusion Policy zarr: a folder, or found inside a .zip by its
    meta/episode_ends."""
    zarr = import_optional("zarr", path)
    if os.path.isdir(path):
        names = folder_names(path)
        try:
            return zarr.open_group(path, mode="r"), names
        except Exception as e:                        # zarr and json each fail in their own way
            raise ValueError(f"{path}: not a readable zarr ({type(e).__name__}: {e})") from None
    try:
        with zipfile.ZipFile(path) as z:
            sizes = {info.filename: info.file_size for info in z.infolist()}
    except Exception as e:
        raise ValueError(f"{path}: not a readable zip ({type(e).__name__}: {e})") from None
    for name, size in sizes.items():
        check_metadata_size(f"{path}: {name}", name, size)
    tails = ("meta/episode_ends/.zarray", "meta/episode_ends/zarr.json")
    roots = sorted({n[:-len(t)].rstrip("/") for n in sizes for t in tails if n == t or n.endswith("/" + t)})
    if len(roots) != 1:
        raise ValueError(f"{path}: holds {len(roots) or 'no'} Diffusion Policy zarr groups (found by their "
                         f"meta/episode_ends){': ' + ', '.join(roots) if roots else ''}; expected one")
    prefix = roots[0] + "/" if roots[0] else ""
    try:
        return (zarr.open_group(zarr.storage.ZipStore(path, mode="r"), path=roots[0], mode="r"),
                {n[len(prefix):]: size for n, size in sizes.items() if n.startswith(prefix)})
    except Exception as e:
        raise ValueError(f"{path}: not a readable zarr ({type(e).__name__}: {e})") from None


def zarr_node(path, root, names, key):
    """The array or group `key` of a zarr group, or a ValueError naming it: missing, or its metadata unreadable
    (zarr parses the .zarray here, and a shape of "288" or a fill_value of "abc" is its TypeError)."""
    files = [f"{key}/{m}" for m in (".zarray", ".zgroup", "zarr.json") if f"{key}/{m}" in names]
    try:
        return root[key]
    except Exception as e:                            # a KeyError too: zarr's for a .zarray without zarr_format
        if isinstance(e, KeyError) and not files:
            raise ValueError(f"{path}: missing '{key}' (a Diffusion Policy zarr has data/state, data/action and "
                             f"meta/episode_ends)") from None
        raise ValueError(f"{path}: the metadata of '{key}' ({', '.join(files) or 'none found'}) is not readable "
                         f"({type(e).__name__}: {e})") from None


def zarr_shape(path, root, names, key):
    """The shape of the array `key`, checked: an array, and at most MAX_STEPS rows (before any allocation)."""
    node = zarr_node(path, root, names, key)
    shape = getattr(node, "shape", None)
    if not isinstance(shape, tuple):
        raise ValueError(f"{path}: '{key}' is a {type(node).__name__}, expected an array")
    if shape[:1] and shape[0] > MAX_STEPS:
        raise ValueError(f"{path}: '{key}' declares {shape[0]} rows, more than MAX_STEPS = {MAX_STEPS} "
                         f"(tools/datasets.py; raise it for a larger dataset)")
    return node, shape


def zarr_array(path, root, names, key):
    """The whole array `key` of a zarr group, or a ValueError naming the array and what is missing or unreadable."""
    node, shape = zarr_shape(path, root, names, key)
    row = 1
    for size in shape[1:]:
        row *= size
    if row > MAX_ROW:                                 # checked before a chunk of that width is allocated
        raise ValueError(f"{path}: '{key}' declares rows of {row} numbers ({shape}); a PushT array has at most "
                         f"{MAX_ROW}")
    order = getattr(node.metadata, "order", "C")     # the bytes' layout cannot be checked, only what is declared
    transposed = any("Transpose" in type(c).__name__ for c in getattr(node.metadata, "codecs", ()))
    if order != "C" or transposed:
        raise ValueError(f"{path}: '{key}' declares its chunks in another order than C ("
                         f"{'a transpose codec' if transposed else order}); Diffusion Policy writes C order, and "
                         f"other bytes would read scrambled")
    try:
        stored, needed = node.nchunks_initialized, node.nchunks
    except Exception as e:
        raise ValueError(f"{path}: '{key}' is not readable ({type(e).__name__}: {e})") from None
    if stored < needed:                               # zarr would read a missing chunk as its fill value
        raise ValueError(f"{path}: '{key}' has {needed - stored} of its {needed} chunks missing (a partial "
                         f"download?); its rows would read as {node.fill_value}")
    check_chunk_sizes(path, node, names, key)
    try:
        with interrupts_deferred():
            return node[...]
    except Exception as e:                            # a missing codec, a chunk of the wrong size, ...
        raise ValueError(f"{path}: '{key}' is not readable ({type(e).__name__}: {e})") from None


def check_chunk_sizes(path, node, names, key):
    """No chunk file of `key` larger than its declared chunk (a shard, in zarr 3) could compress to: zarr reads a
    chunk whole, and a link to a 50 GB sparse file would be read before its decompression failed."""
    chunk = getattr(node, "shards", None) or node.chunks
    most = 2 * int(np.prod(chunk, dtype=np.float64)) * node.dtype.itemsize + 4096    # codecs' worst expansion: far less
    for name, size in names.items():
        if name.startswith(key + "/") and name.rsplit("/", 1)[-1] not in METADATA and size > most:
            raise ValueError(f"{path}: '{key}' chunk {name} is {size} bytes, more than a chunk of {chunk} "
                             f"{node.dtype} could take ({most})")


def check_unread_arrays(path, root, names, n):
    """The arrays of data/ not read (img, keypoint, ...): readable metadata and n steps, as the read ones. Listed
    from the file names, so that a broken one is named (zarr's array_keys fails on it without saying which)."""
    keys = sorted({name.split("/")[1] for name in names if name.startswith("data/") and name.count("/") == 2
                   and name.endswith(("/.zarray", "/zarr.json"))} - {"state", "action"})
    for key in keys:
        _, shape = zarr_shape(path, root, names, f"data/{key}")
        if shape[:1] != (n,):
            raise ValueError(f"{path}: 'data/{key}' has shape {shape}, expected {n} steps")


def read_diffusion_policy(path):
    """Our dataset from Diffusion Policy's zarr: the observation computed from data/state, checked against gym-pusht."""
    root, names = open_zarr(path)
    for group in ("data", "meta"):                    # a broken .zgroup is named as such, not as an array's fault
        if {f"{group}/.zgroup", f"{group}/zarr.json"} & set(names):
            zarr_node(path, root, names, group)
    with read_budget((zarr_shape(path, root, names, "data/state")[1] or (0,))[0]):    # chunks decode within it
        state = checked(path, "data/state", zarr_array(path, root, names, "data/state"), (None, 5))     # (N, 5)
        actions = checked(path, "data/action", zarr_array(path, root, names, "data/action"), (len(state), 2))
        ends = checked_ends(path, "meta/episode_ends", zarr_array(path, root, names, "meta/episode_ends"), len(state))
    check_unread_arrays(path, root, names, len(state))
    checked_in_arena(path, "data/state", state[:, :4])                              # positions; not the angle
    checked_in_arena(path, "data/action", actions)
    obs = observations(state)
    check_against_gym_pusht(path, obs, state)
    return dataset(path, "diffusion_policy_zarr", obs, actions, state, ends)


def parquet_files(path):
    """The parquet files of a LeRobot dataset: `path` itself, or those under its data/ folder (else anywhere in it);
    a ValueError at one that is not a regular file (a FIFO would hang the conversion past Ctrl-C and SIGTERM)."""
    if not os.path.isdir(path):
        found = [path]
    else:
        top = os.path.join(path, "data") if os.path.isdir(os.path.join(path, "data")) else path
        found = sorted(os.path.join(d, f) for d, _, files in os.walk(top) for f in files if f.endswith(".parquet"))
    for f in found:
        if not regular(f):
            raise ValueError(f"{f}: not a regular file (a FIFO, a device or a broken link); a parquet dataset holds "
                             f"files")
    return found


LEROBOT_COLUMNS = {"observation.state": 2, "observation.environment_state": 16, "action": 2,
                   "episode_index": None, "frame_index": None}


def read_parquet_columns(path):
    """LeRobot's columns (LEROBOT_COLUMNS) of every parquet file of the dataset, concatenated, as numpy arrays."""
    pq = import_optional("pyarrow.parquet", path)
    import pyarrow as pa
    files = parquet_files(path)
    if not files:
        raise ValueError(f"{path}: no .parquet files in it")
    rows = 0
    for f in files:                                   # every footer checked before any page is decoded
        rows += check_parquet_sizes(f, parquet_call(f, lambda: read_opened(f, pq.read_metadata)), rows)
    with read_budget(rows):                           # pages decode within it (a footer may lie about them)
        tables = []
        for f in files:
            names = parquet_call(f, lambda: read_opened(f, pq.read_schema).names)
            if "observation.environment_state" not in names and "observation.state" in names:
                raise ValueError(f"{f}: no observation.environment_state, only the agent position (observation.state): "
                                 f"this is lerobot/pusht, whose block pose is not stored, so the 18-D observation cannot "
                                 f"be built; convert lerobot/pusht_keypoints or Diffusion Policy's zarr instead")
            missing = [c for c in LEROBOT_COLUMNS if c not in names]
            if missing:
                raise ValueError(f"{f}: missing column(s) {missing} of a LeRobot PushT dataset")
            tables.append(parquet_call(f, lambda: read_opened(f, pq.read_table, columns=list(LEROBOT_COLUMNS))))
    table = parquet_call(path, lambda: pa.concat_tables(tables))                    # files of other column types fail
    return {name: column_array(path, name, table.column(name), width) for name, width in LEROBOT_COLUMNS.items()}


BYTES_PER_VALUE = 16          # uncompressed bytes a parquet value may take with its levels (a float64: 8 and ~1)
BYTES_PER_CHUNK = 1 << 16     # and a column chunk's page headers and dictionary


def our_column(path_in_schema):
    """The LeRobot column a parquet leaf belongs to ('action.list.element' -> 'action'), or None."""
    return next((name for name in LEROBOT_COLUMNS
                 if path_in_schema == name or path_in_schema.startswith(name + ".")), None)


def check_parquet_sizes(path, metadata, before):
    """From a parquet file's footer, before reading a value: its rows (with the `before` rows of the files read
    already) at most MAX_STEPS, and every leaf of our columns (a list of lists, a string too) at most its width of
    values a row and BYTES_PER_VALUE bytes a value uncompressed (a 2.8 KB file holding one list of 3e8 zeros
    decompressed to 5 GB; a 2.4 KB one holding one string, to 2.7 GB). Returns its rows."""
    if before + metadata.num_rows > MAX_STEPS:
        raise ValueError(f"{path}: the dataset's rows pass MAX_STEPS = {MAX_STEPS} (tools/datasets.py; raise it for "
                         f"a larger dataset)")
    groups = sum(metadata.row_group(g).num_rows for g in range(metadata.num_row_groups))
    if groups != metadata.num_rows:                   # pyarrow reads the row groups' rows
        raise ValueError(f"{path}: its row groups hold {groups} rows, and its footer says {metadata.num_rows}")
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            name = our_column(column.path_in_schema)
            if name is None:                              # not read
                continue
            values = group.num_rows * (LEROBOT_COLUMNS[name] or 1)
            if column.num_values > values:
                raise ValueError(f"{path}: column '{name}' holds {column.num_values} values in {group.num_rows} "
                                 f"rows, more than {LEROBOT_COLUMNS[name] or 1} a row")
            if column.total_uncompressed_size > values * BYTES_PER_VALUE + BYTES_PER_CHUNK:
                raise ValueError(f"{path}: column '{name}' holds {column.total_uncompressed_size} bytes uncompressed "
                                 f"in {group.num_rows} rows, more than {BYTES_PER_VALUE} a value")
    return metadata.num_rows


def read_opened(path, read, **kwargs):
    """read(the file at `path`, opened by Python): pyarrow takes a str path as UTF-8, and a name holding a byte
    that is not UTF-8, as Linux allows, failed as "not readable as parquet"."""
    with open(path, "rb") as f:
        return read(f, **kwargs)


def parquet_call(path, read):
    """read(), with any failure a ValueError naming `path` (pyarrow's ArrowInvalid is a ValueError naming no file)."""
    try:
        return read()
    except Exception as e:
        raise ValueError(f"{path}: not readable as parquet ({type(e).__name__}: {e})") from None


def column_array(path, name, column, width):
    """A parquet column as numpy: (N,) for a scalar column, (N, width) for a list column; no nulls, no ragged rows."""
    import pyarrow as pa
    column = parquet_call(path, column.combine_chunks)
    if column.null_count:
        raise ValueError(f"{path}: column '{name}' has {column.null_count} missing values")
    if width is None:
        return column.to_numpy()
    if not (pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type) or
            pa.types.is_large_list(column.type)):
        raise ValueError(f"{path}: column '{name}' has type {column.type}, expected a list of {width} numbers")
    lengths = parquet_call(path, lambda: pa.compute.list_value_length(column).to_numpy(zero_copy_only=False))
    if len(lengths) and (lengths != width).any():
        raise ValueError(f"{path}: column '{name}' has rows of length {sorted(set(lengths.tolist()))}, expected {width}")
    return parquet_call(path, lambda: column.flatten().to_numpy(zero_copy_only=False)).reshape(len(column), width)


def read_lerobot(path):
    """Our dataset from LeRobot's PushT parquet: the stored keypoints and agent position are the observation; the
    block pose of `state` is fitted to the keypoints; episodes in episode_index order, frames in frame_index order."""
    cols = read_parquet_columns(path)
    agent = checked(path, "observation.state", cols["observation.state"], (None, 2))
    n = len(agent)
    keypoints = checked(path, "observation.environment_state", cols["observation.environment_state"], (n, 16))
    actions = checked(path, "action", cols["action"], (n, 2))
    episode = checked_indices(path, "episode_index", cols["episode_index"], n)
    frame = checked_indices(path, "frame_index", cols["frame_index"], n)
    if n == 0:
        raise ValueError(f"{path}: holds no rows")
    for key, a in (("observation.environment_state", keypoints), ("observation.state", agent), ("action", actions)):
        checked_in_arena(path, key, a, step=lambda i: f"episode_index {episode[i]}, frame_index {frame[i]}")
    order = np.lexsort((frame, episode))                                            # (N,) by episode, then frame
    episodes, lengths = np.unique(episode[order], return_counts=True)
    ends = np.cumsum(lengths).astype(np.int64)
    expected = np.arange(n) - np.repeat(ends - lengths, lengths)                    # 0, 1, ... in every episode
    if (frame[order] != expected).any():
        raise ValueError(f"{path}: episode {episode[order][np.argmax(frame[order] != expected)]}'s frame_index is not "
                         f"0, 1, 2, ... (a missing or repeated frame)")
    obs = np.concatenate([keypoints[order], agent[order]], 1)                      # (N, 18)
    state = np.concatenate([agent[order], pose_from_keypoints(path, keypoints[order])], 1)
    check_against_gym_pusht(path, obs, state)
    return dataset(path, "lerobot_parquet", obs, actions[order], state, ends)


# ---------------------------------------------------------------- writing Diffusion Policy's layout

def check_export_target(path):
    """An export may create `path` or replace a zarr folder this exporter wrote; never anything else."""
    if not os.path.exists(path):
        return
    zarr = import_optional("zarr", path)
    try:
        ours = os.path.isdir(path) and zarr.open_group(path, mode="r").attrs.get("written_by") == EXPORT_MARK
    except Exception:
        ours = False
    if not ours:
        raise ValueError(f"{path}: exists and is not a zarr this exporter wrote; not replaced")


def restored(leftover, path):
    """A killed export's folder that holds the export before it ("replaced") while `path` is gone: put it back
    (True: handled)."""
    replaced = os.path.join(leftover, "replaced")
    if leftover.endswith(".old.tmp") and os.path.isdir(replaced) and not os.path.exists(path):
        os.rename(replaced, path)
    return False                                      # the (now empty) leftover goes too


def write_zarr(root, state, actions, episode_ends, source_name, source_sha256):
    """Fill the empty zarr group `root` as Diffusion Policy's ReplayBuffer does (see export)."""
    import numcodecs
    root.attrs.update(written_by=EXPORT_MARK, source_name=source_name, source_sha256=source_sha256)
    # DP's replay buffer chunks data by its first episode's length; here at most MAX_CHUNKS chunks (a first episode
    # of one step wrote a file a step, and an export no Ctrl-C could stop for minutes)
    first = max(int(episode_ends[0]), -(-len(state) // MAX_CHUNKS))
    disk = numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE)   # its "disk" compressor
    for key, values in (("state", state), ("action", actions)):
        values = np.asarray(values, dtype=np.float32)
        a = root.require_group("data").create_array(key, shape=values.shape, dtype="float32",
                                                    chunks=(first, values.shape[1]), compressors=disk)
        a[...] = values
    ends = np.asarray(episode_ends, dtype=np.int64)
    root.require_group("meta").create_array("episode_ends", shape=ends.shape, dtype="int64", chunks=ends.shape,
                                            compressors=None)[...] = ends


def export(path, state, actions, episode_ends, source_name, source_sha256):
    """Write demonstrations in Diffusion Policy's zarr layout (format 2: data/state, data/action float32,
    meta/episode_ends int64; no images, no keypoint) as a folder, atomically: built beside `path`, then renamed."""
    zarr = import_optional("zarr", path)
    check_export_target(path)
    parent = os.path.dirname(os.path.abspath(path))
    tmp = old = None
    try:
        remove_dead_writers_temps(path, keep=lambda leftover: restored(leftover, path))
        with interrupts_deferred():                   # a folder made is a folder named, which `finally` removes
            tmp = tempfile.mkdtemp(dir=parent, prefix=temp_prefix(path), suffix=".tmp")
        with interrupts_deferred():                   # zarr's own thread writes the chunks; rmtree must not race it
            write_zarr(zarr.open_group(tmp, mode="w", zarr_format=2), state, actions, episode_ends,
                       source_name, source_sha256)
        if os.path.exists(path):                      # the earlier export steps aside, and comes back on failure
            with interrupts_deferred():
                old = tempfile.mkdtemp(dir=parent, prefix=temp_prefix(path), suffix=".old.tmp")
            os.rename(path, os.path.join(old, "replaced"))
        os.rename(tmp, path)
    except BaseException as e:                        # Ctrl-C between the renames too: the earlier export comes back
        if old and not os.path.exists(path) and os.path.exists(os.path.join(old, "replaced")):
            os.rename(os.path.join(old, "replaced"), path)
        if isinstance(e, OSError):
            raise ValueError(f"{path}: could not write it ({e.strerror or e}); any earlier export there is "
                             f"unchanged") from None
        raise
    finally:
        for leftover in (tmp, old):
            if leftover:
                remove_tree(leftover)


def remove_tree(folder, settle=0.5, seconds=10):
    """Remove `folder` though zarr's writer thread may still add to it: after a failed chunk (a full disk) the other
    writes of the batch go on for a moment (one rmtree met a file that vanished, or a refilled folder), and may make
    the folder again. So a folder that was there must stay gone for `settle` seconds."""
    if not os.path.lexists(folder):
        return
    end, gone = time.monotonic() + seconds, None
    while time.monotonic() < end:
        if os.path.lexists(folder):
            shutil.rmtree(folder, ignore_errors=True)
            gone = None
        elif gone is None:
            gone = time.monotonic()
        elif time.monotonic() - gone >= settle:
            return
        time.sleep(0.02)


# ---------------------------------------------------------------- the command line (data.py convert / export)

def write_checked(path, arrays, load_demos):
    """Write a PushT dataset atomically, and only once `load_demos` (plumbing/demofiles.py's checks) accepts it. Its
    warnings (an outlier) name `path`, not the temporary file the check reads, which is gone by the time one is read."""
    for key in ("obs", "actions"):
        demofiles.warn_outliers(path, key, arrays[key])

    def check(tmp):
        with contextlib.redirect_stderr(io.StringIO()):
            load_demos(tmp, OBS_DIM, 2, extra={"state": 5})
    files.atomic_write(path, lambda f: np.savez_compressed(f, **arrays), check=check)


def check_out(command, out, load_demos):
    """OUT, before any work: a name that can be created, in an existing folder, replacing only what it may replace
    (convert: a PushT dataset; export: a zarr this exporter wrote)."""
    files.check_creatable(out, "OUT")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise ValueError(f"OUT {out}: its folder {parent} " +
                         ("is not a folder" if os.path.exists(parent) else "does not exist") + "; nothing was read")
    suffix = {"convert": ".npz", "export": ".zarr"}[command]       # what train.py --data reads; what a zarr is named
    if not out.endswith(suffix):
        raise ValueError(f"OUT {out}: must end in {suffix}")
    files.check_writable_folder(parent, "OUT's folder")
    files.check_not_anothers(out, "OUT", parent)                  # never into another script's run folder
    if command == "export":
        check_export_target(out)
    elif os.path.exists(out):
        try:
            load_demos(out, OBS_DIM, 2)
        except ValueError as e:
            raise ValueError(f"{out}: exists and is not a PushT dataset, so it is not replaced ({e})") from None


def convert_file(source, out, load_demos):
    """`convert`: a Diffusion Policy zarr or LeRobot parquet dataset -> our PushT .npz (an existing OUT must be one)."""
    arrays = convert(source)
    write_checked(out, arrays, load_demos)
    print(files.one_line(f"wrote {out}: {len(arrays['episode_ends'])} episodes, {len(arrays['obs'])} steps from "
                         f"{source} (sha256 {arrays['source_sha256']})"))


def export_file(path, out, load_demos):
    """`export`: our PushT .npz -> Diffusion Policy's zarr layout (state, action, episode_ends; no images)."""
    arrays = load_demos(path, OBS_DIM, 2, extra={"state": 5})
    export(out, arrays["state"], arrays["actions"], arrays["episode_ends"], os.path.basename(path), sha256(path))
    print(files.one_line(f"wrote {out}: {len(arrays['episode_ends'])} episodes, {len(arrays['obs'])} steps from {path}"))


def usage_error(message):
    print(f"error: {files.one_line(message)}", file=sys.stderr)
    sys.exit(2)


def main(argv=None):
    """python -m tools.datasets; any expected error (a ValueError, demofiles.DataError included) is one line, exit 2."""
    import argparse
    parser = argparse.ArgumentParser(allow_abbrev=False, prog="python -m tools.datasets", description="Convert the standard PushT demonstrations "
                                     "(Diffusion Policy's zarr, LeRobot's parquet) to this project's .npz, or export "
                                     f"ours in Diffusion Policy's layout. Needs: {EXTRAS}")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("convert", allow_abbrev=False, help="a Diffusion Policy zarr or LeRobot parquet dataset -> our .npz")
    c.add_argument("source", help="pusht_cchi_v7_replay.zarr (a folder), a .zip holding it, or a LeRobot "
                   "pusht_keypoints dataset (a folder with data/*.parquet, or one .parquet file)")
    c.add_argument("out", help="the .npz to write, e.g. data/pusht-human.npz (replaces only a PushT dataset)")
    e = sub.add_parser("export", allow_abbrev=False, help="our PushT .npz -> a zarr folder in Diffusion Policy's layout (no images)")
    e.add_argument("data", help="our PushT dataset, e.g. data/pusht.npz")
    e.add_argument("out", help="the zarr folder to write, e.g. pusht-expert.zarr (replaces only one it wrote)")
    for p in (parser, c, e):                                        # a usage error is one line too
        p.error = lambda message, prog=p.prog: usage_error(f"{prog}: {message} (see --help)")
    args = parser.parse_args(argv)
    import logging
    import warnings
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)        # zarr's unfinished reads after an error: noise
    warnings.filterwarnings("ignore", module="zarr")               # e.g. both zarr.json and .zgroup: the error says
    warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)     # (its writes, likewise)
    load_demos = demofiles.load_demos
    try:
        check_out(args.command, args.out, load_demos)            # before reading anything
        if args.command == "convert":
            convert_file(args.source, args.out, load_demos)
        else:
            export_file(args.data, args.out, load_demos)
    except (ValueError, FileNotFoundError) as err:
        usage_error(str(err))


def interrupt(signum, frame):
    raise KeyboardInterrupt


def quiet_closed_loop(unraisable):
    """When one chunk fails, zarr leaves its other reads (or writes) pending; at exit they are destroyed after its
    event loop has closed, each printing a traceback ending "Event loop is closed" (150 lines after the one error
    line). Those alone are dropped; any other unraisable error is printed as Python does."""
    if not (isinstance(unraisable.exc_value, RuntimeError) and str(unraisable.exc_value) == "Event loop is closed"):
        sys.__unraisablehook__(unraisable)


def cli():
    """`python -m tools.datasets`, as runs.cli runs train.py (runs imports torch, which this tool does without): once
    main() starts, Ctrl-C and SIGTERM raise KeyboardInterrupt in place of plumbing.early's immediate exit, so the
    writers remove their temporary files (one killed in between is removed by the next run); one line, exit 130."""
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)      # (plumbing.early's, while the imports ran)
    sys.unraisablehook = quiet_closed_loop
    try:
        with files.standard_output():
            main()
    except KeyboardInterrupt:
        files.interrupted("OUT was not written (any earlier one there is unchanged)")
        sys.exit(130)


if __name__ == "__main__":             # (tools/__init__.py imported plumbing.early before the imports above)
    cli()
