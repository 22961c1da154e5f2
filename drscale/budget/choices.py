"""The joint laws a budget can be optimised under: the paper's two published fits and ours.

Ours is the joint fit notebook 05 saved in the study's fits (`Study.fits`), with its
bootstrap resamples, so every optimum under it gets an interval.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from drscale.budget import cost
from drscale.fit import published
from drscale.fit.result import load_fits
from drscale.study import Study

LAW_LABELS = {"paper_v1": "Paper, arXiv v1", "paper_sigir": "Paper, SIGIR (secondary source)", "our_fit": "Our fit"}


def available_laws(data_dir: str | os.PathLike) -> dict[str, cost.JointLaw]:
    """The laws to choose from: both published joint fits, and ours if the study's fits hold one."""
    choices = {
        "paper_v1": cost.as_joint_law(published.published_law("joint", "msmarco", "v1")),
        "paper_sigir": cost.as_joint_law(published.published_law("joint", "msmarco", "sigir")),
    }
    fits_path = Study(data_dir).fits
    ours = load_fits(fits_path).get("joint") if fits_path.exists() else None
    if ours is not None:
        choices["our_fit"] = cost.as_joint_law(ours)
    return choices


def chosen_law(choices: Mapping[str, cost.JointLaw], law: str) -> cost.JointLaw:
    """The law named `law` among `choices`, or an error listing the ones there are."""
    if law not in choices:
        raise ValueError(f"`law` {law!r} is not available; choose one of {sorted(choices)}")
    return choices[law]
