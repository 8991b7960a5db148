"""
Every figure and video the scripts draw: point-mass rollouts over the demonstrated routes, loss curves, the
k sweep (Fig. 6), DAgger's curves, and PushT videos. matplotlib and Pillow are imported lazily, so nothing
else needs them.
"""

import contextlib
import os
import shutil
import sys
import tempfile

import numpy as np

from plumbing.files import atomic_write, interrupts_deferred, temp_prefix

VIDEO_SIZE = 192   # px, side of each rendered PushT frame in --video (gym-pusht draws at 680 by default)


def small_frames():
    """The env options that make PushT render VIDEO_SIZE-px frames for a video."""
    return dict(visualization_width=VIDEO_SIZE, visualization_height=VIDEO_SIZE)


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no screen needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, path, dpi=120):
    """The figure as a PNG at `path`, written whole or not at all (a full disk is one ValueError line)."""
    fig.tight_layout()
    try:
        atomic_write(path, lambda f: fig.savefig(f, dpi=dpi, format="png"))
    finally:
        pyplot().close(fig)


def plot_losses(train_log, path, title):
    """Loss curve of one training run from its train_log.json."""
    fig, ax = pyplot().subplots(figsize=(5, 3))
    h = train_log["history"]
    for key in ("loss", "focal", "offset"):
        ax.plot([r["epoch"] for r in h], [r[key] for r in h], label=key)
    ax.set_yscale("log"); ax.set_xlabel("epoch"); ax.legend()
    ax.set_title(title, fontsize=9)
    save(fig, path)


def evaluation_figures(record, trajectories, train_log, folder, tag, success_rate):
    """evaluate --plot: <tag>-rollouts.png (the env record's figure: point-mass routes, PushT's pusher paths, Block
    push by order) and <tag>-loss.png (when the run's log is there). Returns the paths written."""
    os.makedirs(folder, exist_ok=True)
    written = []
    if record.figure:
        written.append(os.path.join(folder, f"{tag}-rollouts.png"))
        save(record.figure(pyplot(), trajectories, f"{tag}: {success_rate:.0%} success"), written[-1])
    if train_log is not None and train_log["history"]:      # (the NN and LWR baselines train no epochs)
        written.append(os.path.join(folder, f"{tag}-loss.png"))
        plot_losses(train_log, written[-1], f"{tag}: training loss")
    return written


def plot_k_sweep(env_name, sweep, metric, path):
    """Fig. 6 analogue: the metric against k, normalised by the best k's mean, mean ± std over seeds."""
    ks = sorted(sweep, key=int)
    means = np.array([sweep[k]["mean"] for k in ks])
    stds = np.array([sweep[k]["std"] for k in ks])
    best = means.max() if means.max() > 0 else 1.0
    fig, ax = pyplot().subplots(figsize=(4.5, 3))
    ax.errorbar([int(k) for k in ks], means / best, yerr=stds / best, marker="o", capsize=3, label=f"{metric} / best")
    if "route_entropy" in sweep[ks[0]]:    # point-mass: a collapse to one route shows here, not in the metric
        ax.plot([int(k) for k in ks], [sweep[k]["route_entropy"] for k in ks], marker="s", label="route entropy")
        ax.legend(fontsize=8)
    ax.set_xscale("log", base=2); ax.set_xticks([int(k) for k in ks]); ax.set_xticklabels(ks)
    ax.set_xlabel("number of bins k"); ax.set_ylabel("relative performance"); ax.set_ylim(-0.05, 1.1)
    ax.set_title(f"{env_name}: ablating k (Fig. 6 analogue)", fontsize=9)
    save(fig, path)


def plot_dagger(summary, metric, expert, env_name, path):
    """Expert labels against the metric: DAgger and matched BC with std bands, expert and round-0 BC as lines."""
    fig, ax = pyplot().subplots(figsize=(5.5, 3.8))
    round0 = next(s for s in summary if s["arm"] == "bc" and s["round"] == 0)
    for arm, color, name in (("dagger", "tab:blue", "DAgger"), ("bc", "tab:orange", "BC, as many expert labels")):
        rows = [round0] + [s for s in summary if s["arm"] == arm and s["round"] > 0]
        x, y, e = (np.array([s[key] for s in rows]) for key in ("labels", "mean", "std"))
        ax.plot(x, y, "o-", color=color, label=name)
        ax.fill_between(x, y - e, y + e, color=color, alpha=0.2)
    ax.axhline(expert, color="k", ls="--", lw=1, label="expert")
    ax.axhline(round0["mean"], color="gray", ls=":", lw=1, label="BC, round 0")
    ax.set_xlabel("expert-labelled transitions")
    ax.set_ylabel("mean return" if metric == "mean_return" else "success rate")
    ax.set_title(f"DAgger vs BC on {env_name} (mean ± std over {round0['seeds']} seeds)")
    ax.legend(fontsize=8)
    save(fig, path)


def write_video(trajectories, path, caption="score {:.2f}", stride=2, fps=10, legend=""):
    """Rendered PushT or Block push episodes side by side, every `stride`-th step, each captioned with its seed, the current
    coverage of the goal (success needs > 0.95) or blocks in targets and, once it ends, success or failure: a GIF (Pillow) or MP4
    (OpenCV). A `legend` line under the frames says what their shapes are."""
    from PIL import Image, ImageDraw
    episodes = [t for t in trajectories if "frames" in t]
    if not episodes:
        raise ValueError("no rendered episodes to write")
    length = max(len(t["frames"]) for t in episodes)
    images = []
    for step in list(range(0, length, stride)) + [length - 1] * 5:     # hold the last frame for a moment
        frame = Image.new("RGB", (len(episodes) * VIDEO_SIZE, VIDEO_SIZE + 16 + (14 if legend else 0)), "white")
        for j, t in enumerate(episodes):
            frame.paste(video_tile(t, min(step, len(t["frames"]) - 1), caption), (j * VIDEO_SIZE, 0))   # ended: last
        if legend:
            ImageDraw.Draw(frame).text((3, VIDEO_SIZE + 17), legend, fill=(60, 60, 60))
        images.append(frame)
    if path.endswith(".mp4"):
        video = mp4(images, path, fps)
        atomic_write(path, lambda f: f.write(video))
    else:                                             # whole or not at all (a full disk left a 0-byte GIF)
        atomic_write(path, lambda f: images[0].save(f, format="GIF", save_all=True, append_images=images[1:],
                                                    duration=1000 // fps, loop=0))


def mp4(images, path, fps):
    """The images as MP4 bytes. OpenCV writes only to a name and reports no failure (a full disk "wrote" no file, or
    a truncated one), so it writes into a temporary folder beside `path` (a killed run's is removed by the next writer
    of `path`), and a file OpenCV cannot read back with every frame is a ValueError."""
    import cv2
    folder, parent = None, os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
        with interrupts_deferred():                   # a folder made is a folder named, which `finally` removes
            folder = tempfile.mkdtemp(dir=parent, prefix=temp_prefix(path), suffix=".tmp")
        name = os.path.join(folder, "video.mp4")
        with native_stderr_silenced():                # FFmpeg's own complaints: the ValueError below says it
            writer = cv2.VideoWriter(name, cv2.VideoWriter_fourcc(*"mp4v"), fps, images[0].size)
            for image in images:
                writer.write(cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR))
            writer.release()
            check = cv2.VideoCapture(name)            # a full disk can also leave a truncated, unplayable file
            frames = int(check.get(cv2.CAP_PROP_FRAME_COUNT)) if check.isOpened() else 0
            check.release()
        video = b""
        if frames == len(images):
            with open(name, "rb") as f:
                video = f.read()
    except OSError as e:
        raise ValueError(f"{path}: could not write it ({e.strerror or e}); any earlier file there is unchanged") from None
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    if not video:
        raise ValueError(f"{path}: OpenCV wrote no whole video (a full disk?); any earlier file there is unchanged")
    return video


@contextlib.contextmanager
def native_stderr_silenced():
    """File descriptor 2 to /dev/null within the block: what C libraries (FFmpeg under OpenCV) print there."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def video_tile(t, s, caption):
    """Step s of one rendered episode t, under a caption line (`caption` formats its score, the env record's)."""
    from PIL import Image, ImageDraw
    tile = Image.new("RGB", (VIDEO_SIZE, VIDEO_SIZE + 16), "white")
    tile.paste(Image.fromarray(np.asarray(t["frames"][s], dtype=np.uint8)), (0, 16))
    ended = s == len(t["frames"]) - 1
    label = ("success" if t["success"] else "failed") if ended else f"step {s}"
    color = ((0, 140, 0) if t["success"] else (200, 0, 0)) if ended else (0, 0, 0)
    score = caption.format(t["score"][s])
    ImageDraw.Draw(tile).text((3, 2), f"seed {t['seed']}  {score}  {label}", fill=color)
    return tile
