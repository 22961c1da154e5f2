"""Contrastive entropy on the dev split while a model trains: learning curves and the checkpoint they select.

The paper keeps the checkpoint with the best contrastive entropy measured during training
(its release measures on the set it reports, a flaw); here a dev split carved from the
training queries chooses and the test split only reports. A dev measurement must be cheap
enough to repeat a dozen times per run and comparable from one evaluation to the next, so it
uses a few hundred dev pairs, a small pool of unlabelled passages and the same drawn
negatives every time: two values differ only because the model changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from drscale.data.corpus import RetrievalData
from drscale.measure.entropy import contrastive_entropy, encode
from drscale.model.tokens import TokenizedData

SELECTIONS = ("best_dev", "last")
"""`best_dev`: the checkpoint with the lowest dev contrastive entropy (the paper's protocol,
on dev instead of test); `last`: the model after the final step (a fixed step budget)."""


@dataclass(frozen=True)
class DevSet:
    """The fixed dev measurement: pair rows, pool rows and the seed of the drawn negatives."""

    query_rows: np.ndarray
    positive_rows: np.ndarray
    pool_rows: np.ndarray
    negatives: int
    seed: int

    @classmethod
    def from_data(
        cls, data: RetrievalData, pairs: int = 256, pool_size: int = 1024, negatives: int = 256, seed: int = 1
    ) -> DevSet:
        """A seeded sample of `pairs` dev pairs (every pair of a smaller dev split) and
        `pool_size` unlabelled passages (`RetrievalData.pool_rows`) from which `negatives` are
        drawn per pair."""
        rows = data.dev_pair_rows()
        if not 1 <= pairs:
            raise ValueError(f"dev pairs must be at least 1; got {pairs}")
        if negatives > pool_size:
            raise ValueError(f"dev negatives ({negatives}) exceed the dev pool of {pool_size} passages")
        rng = np.random.default_rng(seed)
        chosen = rows[np.sort(rng.permutation(len(rows))[: min(pairs, len(rows))])]
        return cls(
            query_rows=chosen[:, 0],
            positive_rows=chosen[:, 1],
            pool_rows=data.pool_rows(pool_size, seed=seed),
            negatives=negatives,
            seed=seed,
        )

    @property
    def chance(self) -> float:
        """Contrastive entropy of a model that cannot tell passages apart: ln(W + 1)."""
        return float(np.log(self.negatives + 1))

    def evaluate(self, model: torch.nn.Module, tokens: TokenizedData, device: torch.device | str | None = None) -> float:
        """Dev contrastive entropy of `model` now, on `device` (default: where the model is); its
        train/eval mode is restored afterwards."""
        device = device or next(model.parameters()).device
        passage_rows, position = np.unique(np.concatenate([self.positive_rows, self.pool_rows]), return_inverse=True)
        queries = encode(model, [tokens.queries[r] for r in self.query_rows], pad_id=tokens.pad_id, device=device)
        passages = encode(model, [tokens.passages[r] for r in passage_rows], pad_id=tokens.pad_id, device=device)
        positives = passages[torch.from_numpy(position[: len(self.positive_rows)])]
        pool = passages[torch.from_numpy(position[len(self.positive_rows) :])]
        return float(contrastive_entropy(queries, positives, pool, negatives=self.negatives, repeats=1, seed=self.seed))


def evaluation_steps(steps: int, points: int) -> list[int]:
    """The steps after which dev CE is measured: 0 (the start) and `points` steps spaced
    evenly in log(step) up to `steps`, so the first few epochs of a small data set (where it
    overfits) are watched as closely as the end of a long run (where it converges).

    >>> evaluation_steps(512, 8)
    [0, 5, 10, 19, 37, 71, 137, 265, 512]
    >>> evaluation_steps(512, 1)
    [0, 512]
    """
    if points < 1:
        return []
    # One point is the end of the run (geomspace would give the first step alone).
    spaced = np.geomspace(max(1.0, steps / 100), steps, points) if points > 1 else [steps]
    return [0, *sorted({int(round(s)) for s in spaced})]
