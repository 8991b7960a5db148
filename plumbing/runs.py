"""
Running the experiments safely. Nothing in this module is in the BeT paper: it is what the scripts need around
the paper's algorithm (as minGPT's trainer.py says of itself that nothing in it is specific to GPT).

    command lines   cli (one `error:` line, exit 2; Ctrl-C and SIGTERM exit 130), flags built from a settings
                    dataclass (setting, add_flags, check_settings), count, thread and worker limits
    files           the one guard for "may this output be replaced", the run lock (writes: plumbing/files.py)
    checkpoints     save_model, and load_model with its defences against broken or forged files
    train.py        its checks, the training state saved every epoch and resumed exactly, the files a run ends with
    evaluate.py     its checks: the checkpoint, the env, and the outputs it may replace
"""

import argparse
import contextlib
import dataclasses
import json
import math
import os
import re
import shlex
import signal
import stat
import sys
import time
import warnings

import numpy as np
import torch

import data
import envs
import variants
from variants.baselines import NEIGHBOURS, NearestNeighbours
from plumbing import demofiles, processes
from plumbing.files import KINDS, atomic_write, check_creatable, check_folder_kind, check_not_anothers, check_writable_folder, file_hash, interrupted, memory_limited, one_line, process_bytes, standard_output, write_json, write_text  # noqa: F401  (the scripts' writers)

LARGEST = 2 ** 31 - 1     # no count or seed here is larger; beyond it seeds overflow in torch and numpy
EVAL_SEED = 100_000       # episode i of an evaluation uses env seed EVAL_SEED + i: held out, never tuned on
MAX_EPISODES = 10_000     # evaluation builds one env per episode: more would exhaust memory, not finish
# the largest value of each count flag: beyond it a run would not end in a day on a laptop, or would not fit in memory
MOST = {"--epochs": 100_000, "--k": 4096, "--context": 1024, "--n-layer": 64, "--batch-size": 65_536,
        "--collect": 100_000, "--rbc-layers": 64, "--rbc-width": 8192, "--seeds": 100, "--labels0": 1_000_000,
        "--rounds": 100, "--horizon": 100_000, "--steps": 10_000_000, "--round-steps": 10_000_000, "--more": 10,
        "--video-episodes": 32,     # drawn side by side, 192 px each: MPEG-4 frames are at most 8192 px wide
        "--repeats": 1_000_000,
        # and of each real-valued flag: beyond it the loss or the Adam steps overflow float32, or sampling is uniform
        "--lr": 1.0, "--alpha": 1000.0, "--gamma": 100.0, "--temperature": 1000.0}
MIN_TEMPERATURE = 1e-6    # dividing the logits by a smaller positive temperature overflows float32 (0 is argmax)
MIN_STD = 1e-6            # BeT.fit_bins never stores a smaller scale; dividing by one gives inf and NaN actions
LOAD_BASE = 256 << 20     # bytes torch.load may take beyond twice the checkpoint's size
MAX_STORED = 10 ** 7      # numbers an NN / LWR checkpoint may store (PushT's 48k steps store under 10 ** 6)


# ---------------------------------------------------------------- command lines

def cli(main):
    """Run a script's main() as every script here ends: bad input (ValueError, DataError included, and
    FileNotFoundError) prints one `error:` line and exits 2; so does running out of memory, and a coursework
    exercise still a stub (the handout's NotImplementedError("Exercise <name>: ...")); Ctrl-C or SIGTERM prints one
    line and exits 130. Any other error is a bug and keeps its traceback."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)      # (plumbing.early's, while the imports ran)
    try:
        with standard_output():
            main()
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        sys.exit(2)
    except NotImplementedError as e:                  # (a RuntimeError: before the next clause)
        if not str(e).startswith("Exercise "):
            raise
        name = str(e)[len("Exercise "):].split(":")[0]
        print(f"error: not implemented yet: {one_line(str(e)[len('Exercise '):])}; this script needs it "
              f"(python -m pytest -m ex_{name} checks your answer)", file=sys.stderr)
        sys.exit(2)
    except (MemoryError, RuntimeError) as e:          # sizes within every cap can still pass this machine's memory
        if not is_out_of_memory(e):
            raise
        print(f"error: out of memory ({one_line(str(e)[:200])}); lower the sizes (--batch-size, --episodes, ...)",
              file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        interrupted("nothing more was written")
        sys.exit(130)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def note(message):
    """One line on stderr that does not stop the work."""
    print(f"note: {one_line(message)}", file=sys.stderr)


@contextlib.contextmanager
def on_interrupt(message):
    """Within the block, Ctrl-C (or SIGTERM, under cli) prints `message` (a string, or a function returning one)
    and exits 130: what was saved and how to go on."""
    try:
        yield
    except KeyboardInterrupt:
        interrupted(message() if callable(message) else message)
        sys.exit(130)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, except that a bad flag raises ValueError, so it ends in one `error:` line (see cli) like any
    other bad input, instead of the usage text and a second message; and no prefix of a flag stands for it
    (`--epoch 3` is a typo, not `--epochs 3`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})

    def error(self, message):
        raise ValueError(f"{message} (see {self.prog} --help)")


def setting(default, help, paper=None, flag=True, check=None, choices=None):
    """A settings field declared once: its default, its help (with the paper's value), its flag (True: --name,
    a string: that flag, False: none) and its check: an int is the least value allowed; 'positive', 'nonnegative',
    'fraction' ([0, 1)) and 'temperature' are the float checks of check_settings."""
    meta = dict(help=help + (f" (paper: {paper})" if paper else ""), flag=flag, check=check, choices=choices)
    return dataclasses.field(default=default, metadata=meta)


def flag_name(field):
    return field.metadata["flag"] if isinstance(field.metadata["flag"], str) else "--" + field.name.replace("_", "-")


def add_flags(parser, settings, names=None, defaults=None):
    """A flag for each field of the `settings` dataclass that has one (or each of `names`). Its value is None when
    not given, so the caller's table row keeps its value (see given), unless `defaults` names one."""
    for f in dataclasses.fields(settings):
        if not f.metadata.get("flag") or (names is not None and f.name not in names):
            continue
        default = (defaults or {}).get(f.name)
        shown = f.metadata["help"] + (f" (default {default})" if default is not None else " (default: per env)")
        if f.type is bool:
            parser.add_argument(flag_name(f), dest=f.name, action=argparse.BooleanOptionalAction, default=default, help=shown)
        else:
            parser.add_argument(flag_name(f), dest=f.name, type=f.type, default=default, choices=f.metadata["choices"],
                                help=shown)


def given(args, settings):
    """The fields of `settings` whose flags were given (not None) in `args`, as a dict for dataclasses.replace."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(settings) if getattr(args, f.name, None) is not None}


def check_settings(values):
    """Raise ValueError naming the flag of the first field of the dataclass `values` outside its check."""
    for f in dataclasses.fields(values):
        if f.metadata.get("check") is not None:
            check_value(flag_name(f), getattr(values, f.name), f.metadata["check"])


def check_value(flag, value, check):
    """One setting's check (see setting); raise ValueError naming the flag."""
    if isinstance(check, int):
        check_counts((flag, value, check))
    elif check == "positive" and not (math.isfinite(value) and value > 0):
        raise ValueError(f"{flag} must be a positive finite number (got {value})")
    elif check in ("nonnegative", "temperature") and not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{flag} must be a finite number >= 0 (got {value})")
    elif check == "temperature" and 0 < value < MIN_TEMPERATURE:
        raise ValueError(f"{flag} {value}: too small to divide the logits by; give 0 (argmax) or at least "
                         f"{MIN_TEMPERATURE}")
    elif check == "fraction" and not (0 <= value < 1):
        raise ValueError(f"{flag} must be in [0, 1) (got {value})")
    elif not isinstance(check, int) and value > MOST.get(flag, math.inf):
        raise ValueError(f"{flag} must be at most {MOST[flag]} (got {value}); the cap is MOST in plumbing/runs.py")


def check_counts(*checks):
    """Raise ValueError for the first (flag, value, least[, most]) with value < least or above most (default: the
    flag's MOST, else LARGEST); None (not given) passes."""
    for flag, value, least, *cap in checks:
        most = cap[0] if cap else MOST.get(flag, LARGEST)
        if value is not None and value < least:
            raise ValueError(f"{flag} must be at least {least} (got {value})")
        if value is not None and value > most:
            raise ValueError(f"{flag} must be at most {most} (got {value})" +
                             ("; the cap is MOST in plumbing/runs.py" if flag in MOST and not cap else ""))


def check_episodes(*checks):
    """Episode counts (flag, value): at most MAX_EPISODES, as one env is built for each."""
    for flag, value in checks:
        if value is not None and value > MAX_EPISODES:
            raise ValueError(f"{flag} {value}: at most {MAX_EPISODES} episodes (one env is built for each)")


def cores():
    """The CPU cores this process may run on (its affinity mask, where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def busy_cores(seconds=0.1):
    """How many cores other work keeps busy now: /proc/stat's non-idle share over `seconds`, times the cores (0
    where there is no /proc/stat)."""
    def ticks():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]                   # all, idle + iowait
    try:
        (total0, idle0), _, (total1, idle1) = ticks(), time.sleep(seconds), ticks()
    except (OSError, ValueError, IndexError):
        return 0.0
    return os.cpu_count() * (1 - (idle1 - idle0) / max(1, total1 - total0))


def training_threads(configured):
    """--threads N, or (0) the cores other work leaves free now, rounded down from a quarter core: on 2 cores,
    2 when idle and 1 beside one busy process, where 2 threads ran at 0.3 x the speed of 1
    (docs/results.md#speed). Returns (threads, the line that says why)."""
    if configured:
        return configured, None
    busy = busy_cores()
    n = max(1, min(cores(), int(cores() - busy + 0.25)))
    return n, f"threads: {n} ({cores()} cores, {busy:.1f} busy; --threads N to choose)"


def check_threads(threads, flag="--threads"):
    """More torch threads than the machine's cores only slow the work down (and absurd counts crash torch)."""
    if threads is not None and threads > cores():
        raise ValueError(f"{flag} {threads}: this machine has {cores()} cores")


def check_workers(workers, flag="--workers"):
    """Worker processes beyond a few per core only add start-up time and memory (each imports torch)."""
    if workers is not None and workers > 4 * cores():
        raise ValueError(f"{flag} {workers}: at most {4 * cores()} on this machine ({cores()} cores)")


# ---------------------------------------------------------------- files

def save_demos(path, arrays, env=None):
    """A dataset (dict of numpy arrays, see data.py) as a compressed .npz, written atomically; `env` is recorded
    as its 'env' array (check_collect_path)."""
    arrays = arrays if env is None else {**arrays, "env": np.array(env)}
    return atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


def remove_stale_temp_files(folder):
    """Temp files a killed writer (SIGKILL, power loss) left in a run folder; call while holding its lock."""
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        if name.startswith(".") and name.endswith(".tmp") and os.path.isfile(os.path.join(folder, name)):
            os.remove(os.path.join(folder, name))


def check_readable_file(path, what):
    """A path that exists but is not a regular file (a FIFO, a device, a folder) would hang or fail on reading."""
    if not path:
        raise ValueError(f"{what} must not be empty")
    if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError(f"{path}: not a regular file")


def existing_json(path, why):
    """The JSON object at `path`, or None if there is no file; ValueError naming the file, and `why` its content
    matters, if it is anything else."""
    if not os.path.exists(path):
        return None
    try:
        check_readable_file(path, path)
        with open(path) as f:
            old = json.load(f)
    except (ValueError, UnicodeDecodeError, RecursionError, IsADirectoryError):
        old = None
    if not isinstance(old, dict):
        raise ValueError(f"{path}: exists and is not a JSON object ({why})")
    return old


def check_output_dir(path, flag="--out"):
    """Raise ValueError unless `path` is, or can be created as, a writable directory (checked before any work)."""
    if not path:
        raise ValueError(f"{flag} must not be empty")
    check_creatable(path, flag)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag} {path}: exists and is not a directory")
    check_writable_folder(path, flag)


def check_replaceable(path, flag, suffixes=(), keep=(), owned=None, other="another kind of file", own=None):
    """The one guard for every output file: `path` may be written only as a new file, or over a regular file
    that `owned(path)` recognises as an earlier output of the same kind (else: it holds `other`), never over a
    directory, a special file or one of `keep` (e.g. the checkpoint being evaluated), nor one the system will not let
    us replace (read-only, immutable), and in a writable folder that holds no other run (check_not_anothers)."""
    if not path:
        raise ValueError(f"{flag} must not be empty")
    if os.path.isdir(path):
        raise ValueError(f"{flag} {path}: is a directory")
    for kept in keep:
        if os.path.exists(path) and os.path.exists(kept) and os.path.samefile(path, kept):
            raise ValueError(f"{flag} {path}: would overwrite {kept}")
    if suffixes and not path.endswith(tuple(suffixes)):
        raise ValueError(f"{flag} {path}: must end in {' or '.join(suffixes)}")
    check_creatable(path, flag)
    check_output_dir(os.path.dirname(os.path.abspath(path)), flag)
    check_not_anothers(path, flag, os.path.dirname(os.path.abspath(path)), own)
    if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError(f"{flag} {path}: exists and is not a regular file; not overwriting it")
    check_replaceable_file(path, flag)
    if os.path.exists(path) and owned is not None and not owned(path):
        raise ValueError(f"{flag} {path}: {other}; not overwriting it")


def starts_with(*magics):
    """A test for check_replaceable: does the file start with one of these byte strings (at its offset)?"""
    def test(path):
        with open(path, "rb") as f:
            head = f.read(16)
        return any(head[offset:offset + len(magic)] == magic for offset, magic in magics)
    return test


is_png = starts_with((0, b"\x89PNG\r\n\x1a\n"))
is_video = starts_with((0, b"GIF87a"), (0, b"GIF89a"), (4, b"ftyp"))


def check_replaceable_file(path, flag):
    """An existing output the system lets us replace: an immutable or read-only one failed only after the work."""
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise ValueError(f"{flag} {path}: exists and cannot be replaced (read-only or immutable)")


def check_json_output(path, flag, mine, what, keep=(), own=None):
    """A JSON output may replace only a JSON object that `mine(old)` recognises as an earlier result of its kind."""
    check_replaceable(path, flag, (".json",), keep, own=own)
    old = existing_json(path, f"{flag} would overwrite it")
    if old is not None and not mine(old):
        raise ValueError(f"{flag} {path}: holds something other than {what}; not overwriting it")


def check_png(path, flag, own=None):
    """A figure may replace a PNG image only."""
    check_replaceable(path, flag, (".png",), owned=is_png, other="exists and is not a PNG image", own=own)


class RunLock:
    """Claim a folder for one process (a `.lock` file holding its pid, created exclusively), so two runs never
    write into the same folder at once. Its pool workers add their pids (processes.die_with_parent): the lock is
    taken over only when every process it lists is gone."""

    def __init__(self, folder):
        self.path = os.path.join(folder, ".lock")
        self.created = not os.path.isdir(folder)         # a folder it makes and leaves empty is removed on exit

    def holders(self):
        """The pids of the lock's processes that still exist (or exist but are someone else's)."""
        alive = []
        for word in open(self.path).read().split():
            try:
                os.kill(int(word), 0)
                alive.append(int(word))
            except (ValueError, ProcessLookupError):
                pass
            except PermissionError:
                alive.append(int(word))
        return alive

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        for _ in range(2):
            try:
                self.create()
            except FileExistsError:
                try:
                    alive = self.holders()
                except FileNotFoundError:
                    continue
                if not alive:                    # every process it names has ended: the lock is stale
                    if os.path.exists(self.path):
                        os.remove(self.path)
                    continue
                raise ValueError(f"{os.path.dirname(self.path)} is in use by another run (pid {alive[0]})") from None
            self.variable = os.environ.get(processes.LOCK_VARIABLE)
            os.environ[processes.LOCK_VARIABLE] = os.path.abspath(self.path)     # for the workers started inside
            return self
        raise ValueError(f"{os.path.dirname(self.path)}: could not claim the folder")

    def create(self):
        """The lock file, with this pid in it from its first moment (written aside, then linked in: FileExistsError
        if it is there), so that another run never reads it empty and takes it for a stale one."""
        aside = f"{self.path}.{os.getpid()}.tmp"
        try:
            with os.fdopen(os.open(aside, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o644), "w") as f:
                f.write(f"{os.getpid()}\n")
            os.link(aside, self.path)
        except FileExistsError:
            raise
        except OSError as e:                     # a full disk: no lock, and no folder it made left behind
            if os.path.exists(aside):
                os.remove(aside)
            self.remove_made_folder()
            raise ValueError(f"{os.path.dirname(self.path)}: could not claim the folder ({e.strerror})") from None
        finally:
            if os.path.exists(aside):
                os.remove(aside)

    def __exit__(self, *exc):
        if self.variable is None:
            os.environ.pop(processes.LOCK_VARIABLE, None)
        else:
            os.environ[processes.LOCK_VARIABLE] = self.variable
        if os.path.exists(self.path):
            os.remove(self.path)
        self.remove_made_folder()                        # (a run refused or diverged before writing anything)

    def remove_made_folder(self):
        """The folder, if this lock made it and it is empty."""
        folder = os.path.dirname(self.path)
        if self.created and os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)


def torch_load(path):
    """torch.load of plain tensors and containers only (no code runs), quietly (a legacy file's warnings would
    print before the one error line), in the memory its bytes can fill: a deflated member or a legacy file's declared
    storage could claim gigabytes from a 1 MB file (files.memory_limited)."""
    check_readable_file(path, path)
    with warnings.catch_warnings(), memory_limited(2 * os.path.getsize(path) + LOAD_BASE):
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)


# ---------------------------------------------------------------- checkpoints

def save_model(model, path, meta=None):
    """A self-contained checkpoint (variants.checkpoint: config, weights, centres, normalisation, meta), atomically.
    Returns the file's sha256."""
    return atomic_write(path, lambda f: torch.save(variants.checkpoint(model, meta), f))


def load_model(path):
    """variants.from_checkpoint of the file at `path` (a BeT, a Table 3 variant, an NN or LWR baseline), in
    eval mode with `.meta`; ValueError naming the file if it is unreadable, incomplete, forged (a config asking for
    gigabytes, tensors of other shapes or kinds) or unusable (NaN weights, scales too small to divide by)."""
    if not path:
        raise ValueError("the checkpoint path must not be empty")
    if not os.path.exists(path):
        raise ValueError(f"{path}: checkpoint not found; train.py writes one (python train.py --env ENV writes "
                         f"runs/ENV/model.pt, --out DIR writes DIR/model.pt)")
    check_readable_file(path, "the checkpoint path")
    try:
        ckpt = torch_load(path)
    except Exception as e:
        raise ValueError(f"{path}: not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or not {"config", "state_dict"} <= set(ckpt):
        raise ValueError(f"{path}: not a BeT checkpoint (needs 'config' and 'state_dict')")
    config, state = ckpt["config"], ckpt["state_dict"]
    if not isinstance(config, dict) or not isinstance(state, dict) or \
            not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a BeT checkpoint (config must be a dict, state_dict a dict of tensors)")
    if not isinstance(ckpt.get("meta", {}), dict):
        raise ValueError(f"{path}: 'meta' must be a dict")
    if config.get("policy") in NEIGHBOURS:  # the mark of a baselines.py checkpoint
        return load_baseline(path, config, state, ckpt)
    generative = config.get("policy") in variants.GENERATIVE
    check_sizes(path, config, ("obs_dim", "act_dim", "n_layer", "n_embd") if generative else
                ("obs_dim", "act_dim", "k", "context", "n_layer", "n_head", "n_embd"))
    for key, check in (("dropout", "fraction"), ("alpha", "nonnegative"), ("gamma", "nonnegative")):
        value = config.get(key, 0.0)                 # NaN passes torch's own range checks, and fails mid-rollout
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"{path}: its config's {key} is not a number ({type(value).__name__})")
        check_value(f"{path}: its config's {key}", value, check)
    if config["n_layer"] > len(state):     # every layer holds tensors: a forged depth would build for ever
        raise ValueError(f"{path}: its config asks for {config['n_layer']} layers; it stores {len(state)} tensors")
    try:
        expected = variants.expected_state(config)    # on the meta device: a forged size allocates nothing
    except (TypeError, ValueError, KeyError, AssertionError) as e:
        raise ValueError(f"{path}: bad config in checkpoint ({type(e).__name__}: {e})") from None
    check_state(path, state, expected)
    model = variants.from_checkpoint(ckpt)
    if not model.fitted:
        raise ValueError(f"{path}: checkpoint has no fitted {'normalisation' if generative else 'k-means centres'}")
    return model


def load_baseline(path, config, state, ckpt):
    """load_model for an NN or LWR checkpoint, with the same defences: positive integer sizes, at most MAX_STORED
    stored numbers (checked before allocating), a config its sizes imply, then check_state."""
    sizes = ("obs_dim", "act_dim", "neighbours", "size")
    check_sizes(path, config, sizes)
    stored = config["size"] * (config["obs_dim"] + config["act_dim"])
    if stored > MAX_STORED:
        raise ValueError(f"{path}: its config asks to store {stored} numbers, more than {MAX_STORED}")
    if config["neighbours"] > config["size"]:
        raise ValueError(f"{path}: {config['neighbours']} neighbours of only {config['size']} stored pairs")
    expected = variants.build(config)
    if config != expected.config:
        raise ValueError(f"{path}: bad config in checkpoint (expected the entries {', '.join(expected.config)}, "
                         f"with policy '{expected.config['policy']}' for {config['neighbours']} neighbours)")
    check_state(path, state, expected.state_dict())
    model = variants.from_checkpoint(ckpt)
    if not model.fitted:
        raise ValueError(f"{path}: checkpoint stores no demonstrations (not fitted)")
    return model


def check_sizes(path, config, sizes):
    """The entries `sizes` of a checkpoint's config must be positive ints."""
    bad = [key for key in sizes if not (type(config.get(key)) is int and config[key] >= 1)]
    if bad:
        raise ValueError(f"{path}: config entries {', '.join(bad)} must be positive integers")
    for key in sizes:                    # at most what train.py may make (a context of 20000: a 102 GB mask)
        most = MOST.get(f"--{key.replace('_', '-')}")
        if most is not None and config[key] > most:
            raise ValueError(f"{path}: its config's {key} is {config[key]}, more than train.py's cap {most}")


def check_state(path, state, expected):
    """Every tensor the model needs, of its shape, dtype and (dense) layout; finite; usable scales."""
    missing = [k for k in expected if k not in state]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
    for key, value in expected.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise ValueError(f"{path}: '{key}' has shape {tuple(state[key].shape)}, but its config implies {tuple(value.shape)}")
        if state[key].dtype != value.dtype or state[key].layout != torch.strided:
            raise ValueError(f"{path}: '{key}' is a {state[key].layout} {state[key].dtype} tensor, expected a dense "
                             f"{value.dtype} one")
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        raise ValueError(f"{path}: checkpoint has unexpected entries {', '.join(unexpected[:4])}")
    broken = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        raise ValueError(f"{path}: '{broken[0]}' contains NaN or inf")
    scales = [k for k in ("obs_std", "act_std") if k in state and not (state[k] >= MIN_STD).all()]
    if scales:
        raise ValueError(f"{path}: '{scales[0]}' must be positive, at least {MIN_STD} as fitting writes it "
                         f"(it divides the observations or actions)")


# ---------------------------------------------------------------- train.py

POLICIES = ["bet", "mdn", "mse", *NEIGHBOURS, *variants.GENERATIVE]     # train.py --policy


def train_parser(table):
    """train.py's own flags (train.parser adds one for each Config field)."""
    p = ArgumentParser(description="Train a Behavior Transformer (or the MSE baseline) on scripted "
                            "demonstrations, then evaluate it.")
    p.add_argument("--env", required=True, help=f"one of {', '.join(table)}")
    p.add_argument("--policy", default="bet", choices=POLICIES,
                   help="bet; mdn = GPT-MDN (Table 3); or a Sec. 3.2 baseline: mse = MSE behaviour cloning (RBC), nn = "
                   "nearest neighbour, lwr = 5-NN locally weighted regression (nn and lwr store the data: no training), "
                   "vae = a VAE with a learned prior, flow = a normalizing flow with a prior, ibc = Implicit BC")
    p.add_argument("--data", help="demonstrations .npz (default data/<env>.npz)")
    p.add_argument("--collect", type=int, metavar="N", help="collect N expert demonstrations into --data and exit")
    p.add_argument("--workers", type=int, default=2, help="processes for --collect (default 2)")
    p.add_argument("--seed", type=int, default=0, help="training seed (k-means, init, batches); with --collect, "
                   "the first env seed")
    p.add_argument("--device", default="cpu", help="torch device for training: cpu (default) or cuda (untested on "
                   "real hardware)")
    p.add_argument("--out", help="output dir (default runs/<env>, naming every setting that differs from the env's "
                   "row, and the seed and data if not the default: runs/pointmass1-epochs2, runs/pointmass1-mse-seed1)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --out from its last "
                   "finished epoch (same flags); the weights equal an uninterrupted run's")
    return p


def default_out(args, cfg, row, default_data):
    """runs/<env>[-<policy>][-<setting><value>...][-seed<n>][-data<name>]: a run whose settings differ from the env's
    row gets a folder naming them, so an experiment never replaces the default run (which figures.py reads)."""
    parts = [args.env] + ([args.policy] if args.policy != "bet" else [])
    for f in dataclasses.fields(cfg):
        value, name = getattr(cfg, f.name), f.name.replace("_", "")
        if f.name not in ("eval_episodes", "eval_seed", "threads") and value != getattr(row, f.name):
            parts.append((name if value else "no" + name) if isinstance(value, bool) else f"{name}{value:g}"
                         if isinstance(value, float) else f"{name}{value}")
    parts += [f"seed{args.seed}"] if args.seed else []
    if args.data is not None and os.path.abspath(args.data) != os.path.abspath(default_data):
        parts.append("data" + os.path.splitext(os.path.basename(args.data))[0])
    return os.path.join("runs", "-".join(parts))


def check_train_args(args, cfg, out):
    """Every flag of train.py, checked before any work, so a bad one writes nothing: raise ValueError naming it."""
    check_settings(cfg)
    check_counts(("--workers", args.workers, 1), ("--collect", args.collect, 1),
                 ("--seed", args.seed, 0))
    check_episodes(("--episodes", cfg.eval_episodes))
    check_workers(args.workers)
    check_threads(cfg.threads or None)
    if cfg.n_layer * 12 * cfg.n_embd ** 2 > 10 ** 9:
        raise ValueError(f"--n-layer {cfg.n_layer}: over a billion weights")
    if args.policy in ("mse", *variants.GENERATIVE) and cfg.rbc_width ** 2 * cfg.rbc_layers > 10 ** 9:
        raise ValueError(f"--rbc-width {cfg.rbc_width} with --rbc-layers {cfg.rbc_layers}: over a billion weights")
    trunk = f"--rbc-layers {cfg.rbc_layers} --rbc-width {cfg.rbc_width}" if args.policy in ("mse", *variants.GENERATIVE) \
        else f"--n-layer {cfg.n_layer}"
    check_memory(training_bytes(args.policy, cfg),
                 f"training with --batch-size {cfg.batch_size} --context {cfg.context} --k {cfg.k} {trunk}")
    check_device(args.device)
    if out is not None:
        check_output_dir(out)


def training_bytes(policy, cfg):
    """A lower bound on a training step's memory, from the sizes alone: weights with their gradients and Adam's two
    moments (16 bytes each), and the activations a batch keeps for the backward pass (a transformer layer keeps
    about 16 numbers a channel and 2 a head and attended step; the head, the k logits and offsets thrice)."""
    if policy in NEIGHBOURS:
        return 0
    if policy in ("mse", *variants.GENERATIVE):
        layers, width, steps, k, heads = cfg.rbc_layers, cfg.rbc_width, 1, 1, 0
    else:
        layers, width, steps, k, heads = cfg.n_layer, cfg.n_embd, cfg.context, cfg.k, cfg.n_head
    weights = 12 * layers * width ** 2 + k * (1 + cfg.act_dim) * width
    per_step = layers * (16 * width + 2 * heads * steps) + 3 * k * (1 + cfg.act_dim)
    return 16 * weights + 4 * cfg.batch_size * steps * per_step


def memory_available():
    """Bytes this process may still allocate: the kernel's MemAvailable, or less under an address-space limit
    (ulimit -v)."""
    import resource
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    try:
        with open("/proc/meminfo") as f:
            available = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        pass
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit != resource.RLIM_INFINITY:
        try:
            used = process_bytes("VmSize")
        except (OSError, StopIteration, ValueError):
            used = 0
        available = min(available, limit - used)
    return available


def check_memory(needed, what):
    """Refuse before any work what cannot fit in memory (it would end in a MemoryError, or the kernel's OOM killer)."""
    available = memory_available()
    if needed > available:
        raise ValueError(f"{what}: needs at least {needed / 1e9:.1f} GB of memory, and {max(available, 0) / 1e9:.1f} "
                         f"GB is available; lower the sizes")


def is_out_of_memory(error):
    """numpy's MemoryError, or torch's allocator failing (a RuntimeError naming it)."""
    return isinstance(error, MemoryError) or isinstance(error, RuntimeError) and "can't allocate memory" in str(error)


def check_device(name):
    """--device: cpu, or cuda where a GPU is (the CUDA path is untested on real hardware here)."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name}: not a device name (e.g. cpu, cuda)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name}: only cpu and cuda are supported")
    return device


def holds_demos(path, obs_dim, act_dim):
    """Whether `path` is a valid dataset with these observation and action widths (see demofiles.load_demos)."""
    try:
        demofiles.load_demos(path, obs_dim, act_dim)
    except demofiles.DataError:
        return False
    return True


def recorded_env(arrays):
    """The env a dataset's arrays name in its 'env' array (save_demos writes it for --collect), or None."""
    return str(arrays["env"]) if "env" in arrays and arrays["env"].shape == () else None


def check_collect_path(path, cfg, env_name, default_path):
    """--collect writes a new dataset, or replaces one that records the same env (or, for files written before
    datasets recorded their env, the env's own default file): never a checkpoint, a folder, another env's dataset
    (pointmass1 and pointmass2 have the same widths) or another kind of file."""
    try:
        recorded = recorded_env(demofiles.read_npz(path)) if os.path.isfile(path) else None
    except demofiles.DataError:
        recorded = None                                  # not a dataset: check_replaceable refuses it below
    def owned(p):
        if recorded is None:
            return os.path.exists(default_path) and os.path.samefile(p, default_path) and \
                holds_demos(p, cfg.obs_dim, cfg.act_dim)
        return recorded == env_name and holds_demos(p, cfg.obs_dim, cfg.act_dim)
    other = (f"holds {one_line(recorded)} demonstrations, not {env_name}'s" if recorded not in (None, env_name) else
             f"holds something other than {env_name} demonstrations (a dataset that records no env is replaced "
             f"only at its default path, {default_path})")
    check_replaceable(path, "--data", (".npz",), owned=owned, other=other)


def training_data(path, cfg, args):
    """train.py's dataset, checked: readable, of this env's widths, big enough for the model's k and context, and
    for the NN and LWR baselines, small enough to store whole and with enough pairs to average."""
    check_readable_file(path, "--data")
    try:
        demos = demofiles.load_demos(path, cfg.obs_dim, cfg.act_dim, extra=envs.get(args.env).data_extra)
    except demofiles.DataError as e:
        hint = f"; regenerate it with: python train.py --env {args.env} --collect N" if not os.path.exists(path) else ""
        raise demofiles.DataError(f"{e}{hint}") from None
    recorded = recorded_env(demos)
    if recorded not in (None, args.env):
        raise demofiles.DataError(f"{path}: holds {one_line(recorded)} demonstrations (its 'env'), not {args.env}'s")
    if args.policy == "bet" and cfg.k > len(demos["actions"]):     # (the MSE baseline has one bin, no history)
        raise demofiles.DataError(f"--k {cfg.k}: {path} holds only {len(demos['actions'])} actions to cluster")
    distinct = len(np.unique(demos["actions"], axis=0)) if args.policy == "bet" and cfg.discretizer == "kmeans" else 0
    if cfg.k > distinct > 0:                                         # k-means needs k different actions
        raise demofiles.DataError(f"--k {cfg.k}: {path} holds only {distinct} distinct actions to cluster; lower --k")
    longest = int(np.diff(demos["episode_ends"], prepend=0).max())
    if args.policy == "bet" and cfg.context > longest:
        raise ValueError(f"--context {cfg.context}: longer than the longest episode in {path} ({longest} steps)")
    stored = demos["obs"].size + demos["actions"].size
    if args.policy in NEIGHBOURS and stored > MAX_STORED:
        raise demofiles.DataError(f"--policy {args.policy}: {path} holds {stored} numbers, more than the {MAX_STORED} "
                             f"a checkpoint may store")
    if args.policy in NEIGHBOURS and NEIGHBOURS[args.policy] > len(demos["actions"]):
        raise demofiles.DataError(f"--policy {args.policy}: {path} holds fewer than {NEIGHBOURS[args.policy]} steps to "
                             f"average")
    return demos


def recorded_checkpoint_is(results, model_path):
    """Whether evaluate's results record the checkpoint `model_path`: the same file (its recorded path read from
    here), or the same bytes (a path recorded from another working directory)."""
    owner = results.get("checkpoint")
    if not isinstance(owner, dict):
        return False
    path = owner.get("path")
    if os.path.exists(model_path) and (owner.get("sha256") == file_hash(model_path) or isinstance(path, str) and
                                       os.path.exists(path) and os.path.samefile(path, model_path)):
        return True
    return isinstance(path, str) and os.path.abspath(path) == os.path.abspath(model_path)


RUN_FILES = {"model.pt", "train_log.json", "train_state.pt", "eval.json", "stdout.txt", "command.json"}   # (ablations': the last two)
RUN_JSON = {"eval.json": {"success_rate"}, "train_log.json": {"meta", "history"}}   # the keys a run's own always has


def check_run_folder(out, env_name, flag="--out"):
    """A run folder holds one env's run: refuse to train into a folder whose model.pt or train_log.json is
    another env's, or whose model.pt cannot be read (so it cannot be told apart)."""
    check_folder_kind(out, flag, "a train.py run")
    found = [name for name in (os.listdir(out) if os.path.isdir(out) else []) if not name.startswith(".")]
    if found and not set(found) & RUN_FILES:             # e.g. --out / or a folder of notes: not a run's
        raise ValueError(f"{flag} {out}: holds files ({one_line(', '.join(sorted(found)[:3]))}"
                         f"{', ...' if len(found) > 3 else ''}) but no run; train into a new or empty folder")
    model_path = os.path.join(out, "model.pt")
    previous = []
    if os.path.exists(model_path):
        try:
            previous.append(load_model(model_path).meta.get("env"))
        except ValueError:
            raise ValueError(f"{flag} {out}: holds an unreadable model.pt; remove it or pick another folder") from None
    written = {}                                         # eval.json and train_log.json: {} when not a JSON object
    for name in RUN_JSON:
        try:
            written[name] = existing_json(os.path.join(out, name), "a run's")
        except ValueError:
            written[name] = {}
    meta = (written["train_log.json"] or {}).get("meta")
    if isinstance(meta, dict):
        previous.append(meta.get("env"))
    for other in previous:
        if other is not None and other != env_name:
            raise ValueError(f"{flag} {out}: holds a {one_line(other)} run; train {env_name} into another folder")
    for name, keys in RUN_JSON.items():                  # a file of that name a run did not write is not replaced
        old = written[name]
        if old is not None and not keys <= set(old):
            raise ValueError(f"{flag} {out}: its {name} is not a run's (no {', '.join(sorted(keys - set(old)))}); "
                             f"not overwriting it")
    for name in sorted(RUN_FILES):                       # what the run replaces, the system must let it replace
        check_replaceable_file(os.path.join(out, name), flag)
    results = written["eval.json"]                       # finish_run removes it: it must be this folder's model's
    if results and "success_rate" in results and not recorded_checkpoint_is(results, model_path):
        owner = results.get("checkpoint")
        what = f"of {one_line(str(owner.get('path')))}" if isinstance(owner, dict) else "of no checkpoint (the expert's?)"
        raise ValueError(f"{flag} {out}: its eval.json holds the results {what}, not of this folder's model.pt; "
                         f"training would remove them: move them, or train into another folder")


class CannotResume(ValueError):
    """The training state in --out cannot continue this command: unreadable, or written by another command."""


class TrainingState:
    """train.py's state after every epoch (weights, AdamW, step, RNGs and losses) in <out>/train_state.pt, so
    that --resume continues an interrupted run to the weights of an uninterrupted one. `command` fingerprints
    the run (env, data hash, policy, seed, every setting): only the same command may resume it."""

    PARTS = {"model": dict, "optimizer": dict, "generator": torch.Tensor, "torch_rng": torch.Tensor, "history": list,
             "step": int, "epoch": int, "averaged": (dict, type(None)), "best": (dict, type(None))}

    def __init__(self, out, command, resuming):
        self.path, self.command, self.resuming = os.path.join(out, "train_state.pt"), command, resuming
        if resuming:
            self.check()

    def check(self):
        """Before any work: the state exists, is whole, and belongs to this command."""
        if not os.path.exists(self.path):
            raise ValueError(f"--resume: {self.path} not found (nothing to resume)")
        try:
            state = torch_load(self.path)
            saved = state["command"]
        except Exception as e:
            raise CannotResume(f"--resume: {self.path} is not a readable training state ({type(e).__name__})") from None
        if not isinstance(saved, dict) or not all(isinstance(state.get(k), t) for k, t in self.PARTS.items()):
            raise CannotResume(f"--resume: {self.path} is not a training state written by train.py")
        if saved != self.command:
            changed = sorted(k for k in set(saved) | set(self.command) if saved.get(k) != self.command.get(k))
            raise CannotResume(f"--resume: {self.path} belongs to another command (differs in {', '.join(changed)})")

    def resume(self, model, opt, generator, averaged=None, log=print):
        """Load the saved state into the model, the optimizer, the batch generator, torch's RNG and the weights'
        moving average if there is one (when resuming); return (history, step, the early-stopping weights or None)
        to continue from."""
        if not self.resuming:
            return [], 0, None
        state = torch_load(self.path)
        model.load_state_dict(state["model"]); opt.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"]); torch.set_rng_state(state["torch_rng"])
        if averaged is not None:
            averaged.load_state_dict(state["averaged"])
        log(f"resuming after epoch {state['epoch']}/{self.command['epochs']}")
        return state["history"], state["step"], state["best"]

    def save(self, model, opt, generator, averaged, history, step, best=None):
        """After an epoch: everything the next one depends on, atomically."""
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "generator": generator.get_state(),
                 "averaged": averaged.state_dict() if averaged is not None else None,
                 "torch_rng": torch.get_rng_state(), "history": history, "step": step, "epoch": len(history),
                 "best": best, "command": self.command}
        atomic_write(self.path, lambda f: torch.save(state, f))

    def interrupted(self, argv):
        """The line Ctrl-C prints: what was kept, and the command that resumes it."""
        done = f"the state after the last finished epoch is in {self.path}" if os.path.exists(self.path) else \
            "no epoch had finished"
        return f"{done}; to resume: {shlex.join(['python', 'train.py', *[a for a in argv if a != '--resume'], '--resume'])}"


def run_record(args, cfg, path):
    """What a run records of itself: `meta` (saved in the checkpoint) and the `command` fingerprint of resume."""
    meta = {"env": args.env, "policy": args.policy, "seed": args.seed, "data": os.path.abspath(path),
            "data_sha256": file_hash(path), "epochs": cfg.epochs, "lr": cfg.lr, "batch_size": cfg.batch_size,
            "schedule": cfg.schedule, "mask_padding": cfg.mask_padding, "temperature": cfg.temperature}
    command = {**{k: v for k, v in meta.items() if k != "data"},
               **{k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}}
    return meta, {k: v for k, v in command.items() if k not in ("eval_episodes", "eval_seed", "temperature", "threads")}


def describe_model(model, policy):
    """train.py's line about the model it is about to train (the NN and LWR baselines have nothing to train)."""
    if isinstance(model, NearestNeighbours):
        return (f"policy {policy}: no parameters; stores every (observation, action) pair and acts from the "
                f"{model.neighbours} nearest, context=1")
    if policy in variants.GENERATIVE:
        return (f"policy {policy}: {sum(p.numel() for p in model.parameters())} parameters, MLPs of "
                f"{model.config['n_layer']} x {model.config['n_embd']}, context=1")
    return (f"policy {policy}: {sum(p.numel() for p in model.parameters())} parameters, k={model.k}, "
            f"context={model.context}, trunk={model.config['trunk']}, offsets={model.config['offsets']}")


def kernel_path():
    """What a float result depends on besides the code, the data and the seeds: torch's CPU kernels (its detected
    capability, or ATEN_CPU_CAPABILITY), MKL's (MKL_ENABLE_INSTRUCTIONS caps them) and the thread count. Weights are
    bit-identical only between runs of one kernel path; every results file names it."""
    mkl = re.search(r"Math Kernel Library Version ([\w.-]+)", torch.__config__.show())
    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__,
            "mkl": mkl.group(1) if mkl else None, "mkl_instructions": os.environ.get("MKL_ENABLE_INSTRUCTIONS"),
            "threads": torch.get_num_threads()}


def finish_run(out, model, meta, history, seconds):
    """The files a finished run leaves: model.pt first, then (the new model safely written) no earlier model's
    eval.json, the training log, and no training state. Returns (model path, its sha256)."""
    model_path, results_path = os.path.join(out, "model.pt"), os.path.join(out, "eval.json")
    digest = save_model(model, model_path, meta)
    if os.path.exists(results_path):
        os.remove(results_path)                  # an earlier model's results never sit beside the new model
    write_json(os.path.join(out, "train_log.json"), {"meta": meta, "train_seconds": round(seconds, 2),
                                                     "kernel_path": kernel_path(), "history": history})
    if os.path.exists(os.path.join(out, "train_state.pt")):
        os.remove(os.path.join(out, "train_state.pt"))     # the run is complete: model.pt holds everything
    print(f"wrote {model_path} and {os.path.join(out, 'train_log.json')} after {seconds:.1f}s of training")
    return model_path, digest


# ---------------------------------------------------------------- evaluate.py

VIDEO_DEFAULTS = {"video_episodes": 4, "video_pick": "first"}    # set once --video is known to be given


def evaluate_parser():
    """evaluate.py's flags."""
    p = ArgumentParser(description="Evaluate a trained BeT checkpoint with parallel rollouts.")
    p.add_argument("checkpoint", nargs="?", help="a model.pt written by train.py (optional with --expert: "
                   "without it only the expert is evaluated, on --env pusht)")
    p.add_argument("--episodes", type=int, default=100, help="evaluation episodes, run at once (default 100)")
    p.add_argument("--seed", type=int, default=EVAL_SEED, help=f"episode i uses env seed SEED+i (default {EVAL_SEED})")
    p.add_argument("--device", default="cpu", help="torch device for the policy: cpu (default) or cuda (untested on "
                   "real hardware)")
    p.add_argument("--env", help="override the env recorded in the checkpoint")
    p.add_argument("--temperature", type=float, help="bin sampling temperature (0 = argmax; default: the one train.py used)")
    p.add_argument("--json", help="write the metrics to this JSON file")
    p.add_argument("--plot", metavar="DIR", help="write figures into DIR: the rollouts (point-mass, PushT, Block "
                   "push) and the training loss curve")
    p.add_argument("--video", metavar="PATH", help="PushT, Block push: render the first --video-episodes rollouts side by "
                   "side into PATH (.gif with Pillow, or .mp4 with OpenCV); with --expert and no checkpoint, the expert's")
    p.add_argument("--video-episodes", type=int,
                   help=f"episodes drawn by --video (default {VIDEO_DEFAULTS['video_episodes']})")
    p.add_argument("--video-pick", choices=["first", "failures", "successes"], help="which episodes --video draws: "
                   f"the first ones, or the first failures or successes (default {VIDEO_DEFAULTS['video_pick']})")
    p.add_argument("--expert", action="store_true", help="PushT, Block push: also run the scripted expert on the same seeds "
                   "and print both side by side with the imitation ratio (BeT success / expert success)")
    return p


def check_obs_dim(model, env_name):
    """A checkpoint trained on other observations cannot drive this env: one clear error, before any rollout."""
    env = envs.make(env_name)
    obs_dim = env.observation_space.shape[0]
    env.close()
    if obs_dim != model.config["obs_dim"]:
        raise ValueError(f"the checkpoint expects {model.config['obs_dim']}-D observations but env "
                         f"'{env_name}' gives {obs_dim}-D ones")


def is_result_of(results, checkpoint, json_path):
    """Whether a JSON object is evaluate's results for `checkpoint` (None: the expert alone), which --json may
    replace: its recorded checkpoint is the same file, or it is the eval.json in the checkpoint's own folder
    (its recorded path may be relative to another working directory)."""
    if "success_rate" not in results:
        return False
    owner = results.get("checkpoint")
    if checkpoint is None or owner is None:
        return checkpoint is None and owner is None
    if os.path.abspath(json_path) == os.path.join(os.path.dirname(os.path.abspath(checkpoint)), "eval.json"):
        return True
    path = owner.get("path") if isinstance(owner, dict) else None
    return isinstance(path, str) and os.path.exists(path) and os.path.samefile(path, checkpoint)


def training_log(checkpoint):
    """The train_log.json beside a checkpoint (for the loss plot), or None; ValueError naming it if it is broken."""
    path = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), "train_log.json")
    log = existing_json(path, "--plot draws the loss curve from it")
    fields = ("epoch", "loss", "focal", "offset")
    history = log.get("history") if log is not None else []
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    if not (isinstance(history, list) and all(isinstance(row, dict) and all(number(row.get(f)) for f in fields)
                                              for row in history)):
        raise ValueError(f"{path}: not a training log (no 'history' of epochs; --plot draws the loss curve from it)")
    return log


def recorded_temperature(model, path):
    """The sampling temperature train.py recorded in the checkpoint at `path` (1 if none), checked as the flag is."""
    t = model.meta.get("temperature", 1.0)
    try:
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise ValueError("not a number")
        check_value("temperature", t, "temperature")
    except ValueError:
        raise ValueError(f"{path}: its recorded temperature {t!r} is not 0 or a number >= {MIN_TEMPERATURE}; "
                         f"give --temperature") from None
    return float(t)


def check_evaluate_args(args):
    """evaluate.py's flags and outputs, before any rollout. Returns (model or None, env name, temperature, log)."""
    if args.checkpoint is None and not args.expert:
        raise ValueError("give a checkpoint, or --expert to evaluate the scripted PushT expert alone")
    check_counts(("--episodes", args.episodes, 1), ("--seed", args.seed, 0), ("--video-episodes", args.video_episodes, 1))
    check_episodes(("--episodes", args.episodes))
    for dest, default in VIDEO_DEFAULTS.items():          # a choice about --video's episodes without --video: a slip
        if getattr(args, dest) is not None and args.video is None:
            raise ValueError(f"--{dest.replace('_', '-')} chooses the episodes --video draws; give --video PATH too")
        setattr(args, dest, default if getattr(args, dest) is None else getattr(args, dest))
    check_device(args.device)
    if args.temperature is not None:
        check_value("--temperature", args.temperature, "temperature")
    keep = [args.checkpoint] if args.checkpoint else []
    own = os.path.dirname(os.path.abspath(args.checkpoint)) if args.checkpoint else None   # (its run's folder)
    if args.json is not None:
        check_json_output(args.json, "--json", lambda old: is_result_of(old, args.checkpoint, args.json),
                          f"an evaluation of {args.checkpoint or 'the expert'}", keep, own)
    if args.video is not None:
        check_replaceable(args.video, "--video", (".gif", ".mp4"), keep, is_video,
                          "exists and is not a GIF or MP4 video", own)
    if args.plot is not None:
        check_output_dir(args.plot, "--plot")
        check_not_anothers(args.plot, "--plot", args.plot, own)
    model = load_model(args.checkpoint) if args.checkpoint is not None else None
    env_name = args.env or (model.meta.get("env") if model else "pusht")
    if not isinstance(env_name, str) or env_name not in envs.ENVS:
        raise ValueError(f"unknown env '{one_line(env_name)}'; choose one of {', '.join(envs.ENVS)}")
    record = envs.get(env_name)
    for flag, given, missing in (("--expert", args.expert, record.expert is None), ("--video", args.video, record.score is None)):
        if given and missing:                                        # a scripted expert to run, frames to draw
            able = [name for name, r in envs.ENVS.items() if (r.expert if flag == "--expert" else r.score)]
            raise ValueError(f"{flag} is implemented for {' and '.join(able)} only")
    if model is None:
        return None, env_name, None, None
    check_obs_dim(model, env_name)
    temperature = args.temperature if args.temperature is not None else recorded_temperature(model, args.checkpoint)
    log = training_log(args.checkpoint) if args.plot else None
    for name in ("rollouts", "loss") if args.plot else ():           # the figures it would replace must be figures
        check_png(os.path.join(args.plot, f"{plot_tag(model, env_name)}-{name}.png"), "--plot", own)
    if args.env and model.meta.get("env") not in (None, args.env):
        note(f"{args.checkpoint} was trained on {model.meta['env']}; evaluating it on {args.env}, as --env asks")
    return model, env_name, temperature, log


UNITS = {"kernel_path": "where the floats were computed", "success_rate": "fraction of episodes that succeed", "success_ci95": "95 % Wilson interval of success_rate",
         "mean_return": "sum of rewards per episode, mean", "min_return": "worst episode's return",
         "seconds": "s of wall time for the rollouts", "train_seconds": "s of wall time for training",
         "mean_steps": "steps per episode, mean", "episodes": "episodes", "seed": "env seed of the first episode",
         "mean_max_reward": "an episode's best clip(coverage / 0.95, 0, 1), mean", "temperature": "of bin sampling",
         "final_coverage": "share of the goal the T covers at an episode's last step, mean (VQ-BeT's protocol)",
         "avg_max_reward": "alias of mean_max_reward, as LeRobot names it",
         "mean_score": "alias of mean_max_reward, as Diffusion Policy names it",
         "pc_success": "alias of 100 x success_rate, as LeRobot names it",
         "single_route": "fraction on one route start to goal",
         "routes": "fraction of episodes", "imitation_ratio": "BeT success / expert success",
         "blockpush": "fraction of episodes (95 % interval)",
         "order_entropy_nats": "of the 4 orders (first block x targets), max 1.386"}


ALIAS = "alias of"


def print_results(results):
    """The results as an aligned table, each with its unit (the per-episode list is in the JSON only)."""
    print(f"\n{'metric':<22} {'value':>12}  unit")
    for key, value in results.items():
        if UNITS.get(key, "").startswith(ALIAS):                        # the ecosystem's names: in the JSON only
            continue
        for k, v in (value.items() if isinstance(value, dict) else [(None, value)]):
            name = key if k is None else f"{key}/{k}"
            if key == "success_ci95":
                v = f"{v[0]:.3f}-{v[1]:.3f}"
            elif f"{key}_ci95" in results and k is not None:              # a rate with its interval beside it
                low, high = results[f"{key}_ci95"][k]
                v = f"{v:.3f} ({low:.2f}-{high:.2f})"
            elif isinstance(v, float):
                v = f"{v:.3f}"
            elif isinstance(v, (dict, list)):
                continue
            print(f"{name:<22} {str(v):>12}  {UNITS.get(key, '')}")


def check_finite(loss, epoch, step):
    """Stop a diverged training before it writes a model."""
    if not math.isfinite(loss.item()):
        raise ValueError(f"training diverged: the loss is {loss.item()} at epoch {epoch + 1}, step {step + 1}; "
                         f"no model was written (lower --lr, or check the data)")


def log_epoch(log, record, epochs):
    """The first epoch, every twentieth of the run, and the last: one line each (a baseline's loss has no focal and
    offset parts; IBC's epochs add their validation loss)."""
    epoch = record["epoch"]
    if epoch == 1 or epoch % max(1, epochs // 20) == 0 or epoch == epochs:
        parts = "  focal {focal:.4f}  offset {offset:.5f}" if record["focal"] or record["offset"] else ""
        parts += "  validation {validation:.4f}" if "validation" in record else ""
        log(("epoch {epoch:4d}/{epochs}  loss {loss:.4f}" + parts + "  {seconds:.1f}s").format(epochs=epochs, **record))


ROWS = 64   # a row's floats depend on the batch's shape (its kernel): one fixed shape for every forward pass of a
            # rollout makes an episode's actions the same whatever runs beside it, on any kernel path, by construction


def in_fixed_batches(fn, x, generators, rows=ROWS):
    """fn(x, generators) for (E, ...) rows x and their E generators, computed `rows` rows at a time, each batch padded
    with throwaway rows (a copy of the first, drawing from a throwaway generator). Returns the E results, concatenated.
    (IBC asks for rows=1: its optimiser already evaluates a thousand actions per row.)"""
    out = []
    for start in range(0, len(x), rows):
        chunk, pad = list(generators[start:start + rows]), rows - len(x[start:start + rows])
        batch = torch.cat([x[start:start + rows], x[:1].expand(pad, *x.shape[1:])])
        out.append(fn(batch, chunk + [torch.Generator()] * pad)[:len(chunk)].cpu())
    return torch.cat(out)


def compiled_or_eager(compiled, eager, log):
    """`compiled` (a torch.compile'd function), announced and timed at its first call, which compiles it; if a
    compile fails (torch's code generator can fail on a kernel path it did not expect, e.g. under
    ATEN_CPU_CAPABILITY=default, or for want of headers), one note says so and `eager` runs from then on."""
    timed, failed = first_call_timed(compiled, log, "compiling the loss (torch.compile)"), []
    def call(*args):
        if failed:
            return eager(*args)
        try:
            return timed(*args)
        except torch._dynamo.exc.BackendCompilerFailed as e:
            log(f"note: torch.compile failed ({type(getattr(e, 'inner_exception', e)).__name__}); training eagerly instead")
            failed.append(e)
            return eager(*args)
    return call


def first_call_timed(fn, log, what):
    """`fn`, announcing its first call (e.g. torch.compile's compiling, ~25 s of silence otherwise) and its time."""
    done = []
    def timed(*args):
        if done:
            return fn(*args)
        log(f"{what}...")
        t0, out = time.time(), fn(*args)
        log(f"{what}: done in {time.time() - t0:.1f}s")
        done.append(True)
        return out
    return timed


def episode_progress(total, log):
    """A rollout progress callback: one line each time another tenth of the `total` episodes has ended. A success
    ends its episode early, so the rate among ended episodes runs high; the line gives the bound that holds."""
    step = max(1, total // 10)
    def progress(done, successes):
        if done % step == 0 or done == total:
            log(f"evaluate: {done}/{total} episodes ended, {successes} successes so far (success rate >= {successes / total:.3f})")
    return progress


def print_comparison(bet, expert):
    """BeT and the expert side by side on the same seeds, and the imitation ratio (BeT / expert success)."""
    print(f"\n{'metric':<22} {'BeT':>8} {'expert':>8}")
    rows = [(key, bet[key], expert[key]) for key in ("success_rate", "mean_max_reward", "final_coverage", "mean_steps",
                                                  "seconds")
            if key in bet]
    rows += [(f"blockpush/{k}", v, expert["blockpush"][k]) for k, v in bet.get("blockpush", {}).items()]
    for key, mine, theirs in rows:
        print(f"{key:<22} {mine:>8.3f} {theirs:>8.3f}")
    print(f"{'imitation_ratio':<22} {bet['imitation_ratio']:>8.3f}")


def plot_tag(model, env_name):
    """The name evaluate --plot gives a checkpoint's figures: <env>-<policy>-rollouts.png, -loss.png. The policy is
    what the checkpoint records: one of POLICIES, or a forged name (../x would put a figure outside --plot)."""
    policy = model.meta.get("policy", "bet")
    if policy not in POLICIES:
        raise ValueError(f"the checkpoint records the policy {one_line(repr(policy))}, not one of {', '.join(POLICIES)}; "
                         f"--plot names its figures after it")
    return f"{env_name}-{policy}"


def write_results(path, results, checkpoint, digest):
    """evaluate's results for the checkpoint whose bytes hashed to `digest`, written under the folder's lock and
    only if the checkpoint is still those bytes: a run retraining the folder meanwhile makes it an error."""
    with RunLock(os.path.dirname(os.path.abspath(path))):
        if checkpoint is not None and (not os.path.exists(checkpoint) or file_hash(checkpoint) != digest):
            raise ValueError(f"{checkpoint}: changed while it was evaluated (retrained?); {path} not written")
        write_json(path, results)
