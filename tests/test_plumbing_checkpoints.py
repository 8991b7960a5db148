"""plumbing/runs.py's checkpoints (save_model, load_model): a round trip for every variant, the same bytes
wherever saved, and a corrupt, forged, odd or pickled checkpoint refused in one error line."""

import os
import pickle
import subprocess
import sys

import pytest
import torch

import evaluate
import variants
from helpers import ROOT, cli, fitted_model, forged, one_error_line
from plumbing import runs


@pytest.mark.needs_solutions
@pytest.mark.parametrize("kw", [{}, {"trunk": "mlp"}, {"trunk": "tcn"}, {"trunk": "lstm"}, {"offsets": False},
                                {"head": "mdn"}])
def test_save_load_round_trip(tmp_path, kw):
    model, obs, _ = fitted_model(**kw)
    path = tmp_path / "model.pt"
    runs.save_model(model, path, meta={"env": "test"})
    raw = torch.load(path, weights_only=True)                               # plain, safe-loadable contents
    assert isinstance(raw["config"], dict) and "centers" in raw["state_dict"]
    loaded = runs.load_model(path)
    assert loaded.meta == {"env": "test"} and not loaded.training
    x = torch.tensor(obs[:6], dtype=torch.float32).view(2, 3, 4)
    for a, b in zip(model.eval()(x), loaded(x)):
        assert (a is None and b is None) or torch.equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]            # no temp files left behind


def test_checkpoint_bytes_do_not_depend_on_the_path(tmp_path):
    """A checkpoint holds no temp-file name: the same model saved twice gives the same bytes."""
    import torch
    from helpers import bet_model
    torch.manual_seed(0)
    model = bet_model(2, 2, k=2, context=2, n_layer=1, n_head=1, n_embd=8)
    runs.save_model(model, tmp_path / "a" / "model.pt")
    runs.save_model(model, tmp_path / "b" / "model.pt")
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()


def test_load_rejects_corrupt_and_incomplete_files(tmp_path):
    model, _, _ = fitted_model()
    good = tmp_path / "good.pt"
    runs.save_model(model, good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated.pt: not a readable checkpoint"):
        runs.load_model(truncated)
    with pytest.raises(ValueError, match="not found"):
        runs.load_model(tmp_path / "missing.pt")
    ckpt = torch.load(good, weights_only=True)
    del ckpt["state_dict"]["centers"]
    torch.save(ckpt, tmp_path / "no_centers.pt")
    with pytest.raises(ValueError, match="lacks centers"):
        runs.load_model(tmp_path / "no_centers.pt")
    ckpt = torch.load(good, weights_only=True)
    ckpt["state_dict"]["centers"] = torch.zeros(7, 2)
    torch.save(ckpt, tmp_path / "bad_shape.pt")
    with pytest.raises(ValueError, match="'centers' has shape"):
        runs.load_model(tmp_path / "bad_shape.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a BeT checkpoint"):
        runs.load_model(tmp_path / "other.pt")


def _wider(ckpt):
    """n_embd doubled in the config and in the heads, not in the trunk."""
    ckpt["config"]["n_embd"] *= 2
    for key in ("bin_head.weight", "offset_head.weight"):
        ckpt["state_dict"][key] = torch.zeros(len(ckpt["state_dict"][key]), ckpt["config"]["n_embd"])


def _deeper(ckpt):
    ckpt["config"]["n_layer"] += 1


@pytest.mark.parametrize("forge", [_wider, _deeper])
@pytest.mark.parametrize("trunk", ["gpt", "mlp", "tcn", "lstm"])
def test_a_config_forged_past_its_trunk_is_refused_before_any_model_is_built(tmp_path, monkeypatch, trunk, forge):
    """A config whose trunk width or depth disagrees with the stored trunk tensors: a ValueError naming a trunk
    tensor, built on the meta device (no memory for what the forged sizes ask for), never on the CPU."""
    model, _, _ = fitted_model(trunk=trunk)
    path = tmp_path / "model.pt"
    runs.save_model(model, path)
    ckpt = torch.load(path, weights_only=True)
    forge(ckpt)
    torch.save(ckpt, path)
    real_build = variants.build
    def build(config):
        assert torch.empty(0).device.type == "meta", "built a model from a forged config on a real device"
        return real_build(config)
    monkeypatch.setattr(variants, "build", build)
    with pytest.raises(ValueError, match="'trunk[.]|lacks trunk[.]"):
        runs.load_model(path)


@pytest.mark.needs_solutions
def test_a_tiny_scale_in_a_checkpoint_is_refused(run_dir, tmp_path):
    path = forged(run_dir, tmp_path / "tiny_std.pt", lambda c: c["state_dict"]["obs_std"].fill_(1e-45))
    one_error_line(*cli(evaluate, path, "--episodes", 1), "'obs_std' must be positive, at least 1e-06")


@pytest.mark.needs_solutions
@pytest.mark.parametrize("kind", ["complex", "sparse"])
def test_odd_tensors_in_a_checkpoint_are_one_line(run_dir, tmp_path, kind):
    def edit(ckpt):
        std = ckpt["state_dict"]["obs_std"]
        ckpt["state_dict"]["obs_std"] = std.to(torch.complex64) if kind == "complex" else std.to_sparse()
    one_error_line(*cli(evaluate, forged(run_dir, tmp_path / f"{kind}.pt", edit)), "'obs_std' is a")


@pytest.mark.needs_solutions
def test_a_pickled_checkpoint_is_one_line_without_torch_warnings(run_dir, tmp_path):
    """A checkpoint pickled by hand makes torch warn ("Detected pickle protocol 4") before refusing it: the
    warning must not print before the one error line. torch's pre-1.6 file format still loads."""
    ckpt = torch.load(run_dir / "model.pt", weights_only=True)
    with open(tmp_path / "pickled.pt", "wb") as f:
        pickle.dump(ckpt, f)
    p = subprocess.run([sys.executable, os.path.join(ROOT, "evaluate.py"), str(tmp_path / "pickled.pt")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    one_error_line(p.returncode, p.stderr, "pickled.pt: not a readable checkpoint")
    torch.save(ckpt, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    assert runs.load_model(tmp_path / "legacy.pt").meta == ckpt["meta"]


@pytest.mark.needs_solutions                 # (run_dir trains)
def test_a_forged_policy_name_never_names_a_figure(run_dir, tmp_path):
    """A checkpoint whose meta records the policy '../../x' put evaluate --plot's figure outside the --plot folder.
    Refused in one line before any rollout; nothing written."""
    from helpers import cli, forged, one_error_line
    import evaluate
    def edit(ckpt):
        ckpt["meta"]["policy"] = "../../escaped"
    ckpt = forged(run_dir, tmp_path / "forged.pt", edit)
    one_error_line(*cli(evaluate, ckpt, "--episodes", "1", "--plot", tmp_path / "a" / "b"), "records the policy '../../escaped'")
    assert sorted(os.listdir(tmp_path)) == ["forged.pt"]


@pytest.mark.needs_solutions                 # (run_dir trains)
def test_a_small_checkpoint_cannot_claim_gigabytes_as_it_loads(run_dir, tmp_path, monkeypatch):
    """A 1.2 MB model.pt holding a deflated 1 GB tensor (torch.load inflates it before any check), or a legacy file
    declaring a storage its bytes do not hold: torch.load runs within twice the file's size plus LOAD_BASE (lowered
    here to 32 MB, which the real checkpoint fits in), so it is refused as unreadable, in one line."""
    import zipfile
    monkeypatch.setattr(runs, "LOAD_BASE", 32 << 20)
    assert runs.load_model(run_dir / "model.pt").meta["env"]
    big = forged(run_dir, tmp_path / "big.pt", lambda ckpt: ckpt["state_dict"].update(extra=torch.zeros(1 << 24)))
    with zipfile.ZipFile(big) as source, zipfile.ZipFile(tmp_path / "bomb.pt", "w") as bomb:
        for info in source.infolist():                                   # torch stores members; 64 MB deflate to 64 KB
            bomb.writestr(info.filename, source.read(info), zipfile.ZIP_DEFLATED)
    assert os.path.getsize(tmp_path / "bomb.pt") < 1 << 20
    budget = "from plumbing import runs; runs.LOAD_BASE = 32 << 20; import evaluate; runs.cli(evaluate.main)"
    p = subprocess.run([sys.executable, "-c", budget, str(tmp_path / "bomb.pt")], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)        # a fresh process: a long one's freed heap serves without a limit
    one_error_line(p.returncode, p.stderr, "bomb.pt: not a readable checkpoint")


@pytest.mark.needs_solutions                 # (run_dir trains)
def test_a_forged_env_or_dropout_is_one_line_before_any_rollout(run_dir, tmp_path):
    """meta['env'] a list (a traceback: unhashable type), and config['dropout'] NaN (it passes every range check by
    comparison, and failed in F.dropout mid-evaluation, a 60-line traceback): one line each, before any rollout."""
    def set_env(ckpt):
        ckpt["meta"]["env"] = ["pointmass1"]

    def set_dropout(ckpt):
        ckpt["config"]["dropout"] = float("nan")
    one_error_line(*cli(evaluate, forged(run_dir, tmp_path / "env.pt", set_env)), "unknown env")
    one_error_line(*cli(evaluate, forged(run_dir, tmp_path / "dropout.pt", set_dropout)),
                   "config's dropout must be in [0, 1) (got nan)")


@pytest.mark.needs_solutions                 # (run_dir trains)
def test_a_checkpoints_sizes_are_capped_as_train_py_caps_its_flags(run_dir, tmp_path):
    """A 169 KB checkpoint recording context 20000 built a (20000 x 20000) attention mask (3.4 GB, then a 102 GB
    allocation), though train.py caps --context at 1024; a study read its meta without the checks evaluate.py makes."""
    def long_context(ckpt):
        ckpt["config"]["context"] = 20000

    def no_env(ckpt):
        ckpt["meta"] = {}
    one_error_line(*cli(evaluate, forged(run_dir, tmp_path / "long.pt", long_context)),
                   "its config's context is 20000, more than train.py's cap 1024")
    from tools.studies import eval_batches
    one_error_line(*cli(eval_batches, forged(run_dir, tmp_path / "noenv.pt", no_env), "--episodes", "1"),
                   "records no known env (None)")
