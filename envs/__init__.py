"""
The environments, one module each, and the one place that knows them all. Each module exports a record
(envs.record.Env): how to make the env, its scripted expert and labeller, its training settings, its success rule,
metrics, figure and captions. Everything else looks a record up by name:

    envs.get("pusht").settings        envs.make("pointmass1")        envs.ENV_NAMES

  pointmass1, pointmass2   the paper's Multipath point-mass envs (App. A)               envs/pointmass.py
  cartpole                 CartPole-v1 with a 1-D continuous action                     envs/cartpole.py
  pusht                    gym-pusht with the 18-D observation; its expert is a planner  envs/pusht.py
  blockpush                multimodal Block push in 2-D (Sec. 3.1d)                      envs/blockpush.py
  track                    a point mass with momentum on a winding track (DAgger)       envs/track.py

A new environment is one module with a record, added by `register(record)` (tests/test_envs.py does it from a
temporary module).
"""

from envs import blockpush, cartpole, pointmass, pusht, track
from envs.record import Env  # noqa: F401  (the record's type, for new environments)

ENVS = {}


def register(record):
    """Make `record` known by its name to every script in this process."""
    ENVS[record.name] = record
    return record


for _record in (pointmass.POINTMASS1, pointmass.POINTMASS2, cartpole.RECORD, pusht.RECORD, blockpush.RECORD,
                track.RECORD):
    register(_record)
ENV_NAMES = tuple(ENVS)


def get(name):
    """The record of the env `name`; ValueError naming the known ones for anything else."""
    if name not in ENVS:
        raise ValueError(f"unknown env '{name}'; choose one of {', '.join(ENVS)}")
    return ENVS[name]


def make(name, **options):
    """A new instance of the env `name` (options go to gymnasium, e.g. render sizes)."""
    return get(name).make(**options)
