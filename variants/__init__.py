"""
Table 3's variants and the Sec. 3.2 baselines, built from their names: the one place where a name becomes an object.
A model's `config` (train.build_model writes it; a checkpoint stores it) names its parts:

    trunk        gpt (BeT) | mlp | tcn | lstm        the ablation trunks of App. C.3 (variants/trunks.py)
    discretizer  kmeans (BeT) | uniform              "Unif. quant.": a regular grid instead of k-means centres
    head         bins (BeT) | mdn                    GPT-MDN (variants/mdn.py)
    offsets      True (BeT) | False                  "No offsets": the action is the bin centre
    policy       nn | lwr                            the Sec. 3.2 baselines that store the data (variants/baselines.py)
                 vae | flow | ibc                    the Sec. 3.2 generative baselines (variants/vae.py, flow.py, ibc.py)

k=1 is "No binning", context=1 "No history"; RBC (Sec. 3.2) is k=1 with the MLP trunk on the current observation.
"""

import torch

import kmeans
from bet import BeT
from mingpt import GPT, GPTConfig
from variants.baselines import NEIGHBOURS, NearestNeighbours
from variants.flow import Flow
from variants.ibc import IBC
from variants.vae import VAE
from variants.mdn import GPTMDN
from variants.trunks import LSTMTrunk, TemporalConv, WindowMLP

TRUNKS = {
    "gpt": lambda c: GPT(GPTConfig(c["obs_dim"], c["context"], c["n_layer"], c["n_head"], c["n_embd"], c["dropout"])),
    "mlp": lambda c: WindowMLP(c["obs_dim"], c["context"], c["n_layer"], c["n_embd"], c["dropout"]),
    "tcn": lambda c: TemporalConv(c["obs_dim"], c["n_layer"], c["n_embd"], c["dropout"]),
    "lstm": lambda c: LSTMTrunk(c["obs_dim"], c["n_layer"], c["n_embd"], c["dropout"]),
}


def uniform_grid(actions, k, seed=0):
    """"Unif. quant.": the centres of a grid of k = levels**D cells over the actions' bounding box."""
    return kmeans.uniform_centers(actions, round(k ** (1 / actions.shape[1])))


DISCRETIZERS = {"kmeans": kmeans.fit, "uniform": uniform_grid}
HEADS = ("bins", "mdn")
GENERATIVE = {"vae": VAE, "flow": Flow, "ibc": IBC}    # config: policy, obs_dim, act_dim, n_layer, n_embd


def build(config):
    """The model `config` describes, freshly initialised (weights drawn from torch's global generator), with
    `.config` set to it. ValueError for a name it does not know or a combination that means nothing."""
    c = config
    if c.get("policy") in NEIGHBOURS:
        return NearestNeighbours(c["obs_dim"], c["act_dim"], c["neighbours"], c.get("size", 0))
    if c.get("policy") in GENERATIVE:
        return GENERATIVE[c["policy"]](generative_config(c["policy"], c["obs_dim"], c["act_dim"], c["n_layer"], c["n_embd"]))
    for key, known in (("trunk", TRUNKS), ("discretizer", DISCRETIZERS), ("head", HEADS)):
        if c[key] not in known:
            raise ValueError(f"unknown {key} '{c[key]}'; choose one of {', '.join(known)}")
    if c["head"] == "mdn" and not (c["offsets"] and c["discretizer"] == "kmeans"):
        raise ValueError("GPT-MDN's means are its offsets, on no grid: it needs offsets and the k-means discretizer")
    if c["discretizer"] == "uniform" and round(c["k"] ** (1 / c["act_dim"])) ** c["act_dim"] != c["k"]:
        raise ValueError(f"a uniform grid needs k = levels**{c['act_dim']}, got k={c['k']}")
    trunk = TRUNKS[c["trunk"]](c)
    parts = (trunk, c["obs_dim"], c["act_dim"], c["k"], c["context"], c["n_embd"], c["alpha"], c["gamma"])
    if c["head"] == "mdn":
        model = GPTMDN(*parts)
    else:
        model = BeT(*parts, offsets=c["offsets"], fit_centers=DISCRETIZERS[c["discretizer"]])
    model.config = dict(c)
    return model


def bet_config(obs_dim, act_dim, *, k, context, n_layer, n_head, n_embd, dropout, alpha, gamma, offsets=True,
               trunk="gpt", discretizer="kmeans", head="bins"):
    """A BeT model's config, every entry named (the keys and order a checkpoint stores); the parts default to the
    paper's model."""
    return dict(obs_dim=obs_dim, act_dim=act_dim, k=k, context=context, n_layer=n_layer, n_head=n_head, n_embd=n_embd,
                dropout=dropout, alpha=alpha, gamma=gamma, offsets=offsets, trunk=trunk, discretizer=discretizer,
                head=head)


def generative_config(policy, obs_dim, act_dim, n_layer, n_embd):
    """A VAE, Flow or IBC model's config: its MLPs' depth and width (train.py gives them the RBC baseline's)."""
    return dict(policy=policy, obs_dim=obs_dim, act_dim=act_dim, n_layer=n_layer, n_embd=n_embd)


def from_checkpoint(ckpt):
    """The model a checkpoint dict ({"config", "state_dict", "meta"}) describes, in eval mode, with its `.meta`."""
    model = build(ckpt["config"])
    model.load_state_dict(ckpt["state_dict"])
    model.meta = dict(ckpt.get("meta", {}))
    return model.eval()


def checkpoint(model, meta=None):
    """Everything needed to act: config, weights and buffers (centres, normalisation, stored pairs), and `meta`."""
    return {"config": dict(model.config), "state_dict": model.state_dict(), "meta": dict(meta or {})}


def expected_state(config):
    """The tensors `config` implies, built on the meta device: shapes and dtypes without allocating any memory."""
    with torch.device("meta"):
        return build(config).state_dict()
