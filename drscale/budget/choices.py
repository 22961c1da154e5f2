"""The joint laws a budget can be optimised under: ours and the paper's two published fits.

Ours is the joint fit notebook 05 saved in the study's fits (`Study.fits`), with its
bootstrap resamples, so every optimum under it gets an interval. It is the default whenever
the study has one: a budget is best planned on the study's own measurements. Without it the
paper's arXiv v1 law stands in, and every label says which law an optimum comes from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from drscale.budget import cost
from drscale.fit import published
from drscale.fit.result import load_fits
from drscale.study import Study

OUR_FIT = "our_fit"
PAPER_DEFAULT = "paper_v1"
LAW_LABELS = {
    OUR_FIT: "Our fit (joint law of notebook 05)",
    "paper_v1": "Paper's law (Fang et al. 2024, v1)",
    "paper_sigir": "Paper's law (Fang et al. 2024, SIGIR, secondary source)",
}
"""How every title and summary names a law."""


def available_laws(data_dir: str | os.PathLike | None) -> dict[str, cost.JointLaw]:
    """The laws to choose from: ours first if the study's fits hold a joint fit, then both published ones.

    Only the N-D law ("joint") is offered: the embedding-dimension laws in the same fits
    ("embedding_dim", "joint_dim") trade N against d, which `drscale.budget.dimension` optimises.
    """
    fits_path = Study(data_dir).fits
    ours = load_fits(fits_path).get("joint") if fits_path.exists() else None
    choices = {OUR_FIT: cost.as_joint_law(ours)} if ours is not None else {}
    for version in ("v1", "sigir"):
        choices[f"paper_{version}"] = cost.as_joint_law(published.published_law("joint", "msmarco", version))
    return choices


def default_law(choices: Mapping[str, cost.JointLaw]) -> str:
    """Our fit when the study has one, else the paper's v1 law."""
    return OUR_FIT if OUR_FIT in choices else PAPER_DEFAULT


def chosen_law(choices: Mapping[str, cost.JointLaw], law: str | None,
               data_dir: str | os.PathLike | None = None) -> cost.JointLaw:
    """The law named `law` among `choices` (None: `default_law`), or an error that says how to get it.

    Our fit is missing only when the study's fits hold no joint fit; the error then names that
    file (`Study(data_dir).fits`, the study's when `data_dir` is given) and the notebook that writes it.
    """
    law = default_law(choices) if law is None else law
    if law in choices:
        return choices[law]
    if law == OUR_FIT:
        where = Study(data_dir).fits if data_dir is not None else "the study's results/fits.json"
        raise ValueError(
            f"`law` 'our_fit' needs a joint fit in {where} (Study(data_dir).fits); notebook 05 "
            "(05_fit_scaling_laws.ipynb) writes it once notebook 04's joint grid has run. Choose one of "
            f"{sorted(choices)} meanwhile, or law=None for the default"
        )
    raise ValueError(f"`law` {law!r} is not available; choose one of {sorted(choices)} (None: the default)")

