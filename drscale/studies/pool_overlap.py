"""Does a contrastive-entropy negative that the model trained on count like one it never saw?

Contrastive entropy draws its negatives from a pool of unlabelled passages. The authors'
release pooled every passage but the test positives, so a run's own training positives could
be drawn: at most 6% of its 1M MS MARCO passages. Where every passage is some query's
positive (the embedded docstrings), that pool is the training positives themselves, and the
share a run has trained on grows with its data size D. This study trains runs of a sweep and
measures each one's test CE twice more: with negatives drawn only from the pool passages it
trained on, and only from those it never saw. A gap between the two is an evaluation effect
that changes with D, which is why the embedded data now gets a pool split
(`RetrievalData.with_pool_split`).

    python -m drscale.studies.pool_overlap --data-dir data/release-pool --sizes 1024 4096 8192

prepares the embedded data without a pool split (as it was prepared before) under that
folder, trains L1_H32 at each size in the named candidate regime
(`drscale.sweep.regime.candidate_regimes`; the `cpu` preset's by default), and prints the table.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from drscale.data.corpus import RetrievalData
from drscale.measure.entropy import evaluate_contrastive_entropy
from drscale.model.checkpoint import load_checkpoint
from drscale.model.tokens import TokenizedData
from drscale.sweep.config import RunConfig
from drscale.study import Study
from drscale.sweep.run import run_one


def split_pool(data: RetrievalData, config: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    """(pool rows the run trains on as positives, pool rows it never trains on)."""
    trained = set(data.train_pair_rows(config.data_size, seed=config.subset_seed)[:, 1].tolist())
    pool = data.pool_rows()
    in_training = np.isin(pool, list(trained))
    return pool[in_training], pool[~in_training]


def overlap_table(data: RetrievalData, configs: Sequence[RunConfig], samples: int = 3) -> pd.DataFrame:
    """One row per run: its test CE as recorded (the usual pool), the share of the whole pool
    it trained on, and the mean test CE over `samples` seeded pool samples of equal size drawn
    only from passages it trained on (`ce_trained_pool`) and only from the others
    (`ce_untrained_pool`). Runs train as a sweep trains them (`run_one`)."""
    fingerprint = data.fingerprint()
    rows = []
    tokenized: dict[tuple[str, int, int], TokenizedData] = {}  # the runs of a sweep share one model's tokenizer
    with tempfile.TemporaryDirectory() as folder:
        for config in configs:
            record = run_one(config, data, fingerprint, checkpoint_dir=folder)
            if record["status"] != "finished":
                raise RuntimeError(f"{config.model} D={config.data_size} failed: {record.get('error')}")
            model = load_checkpoint(folder, record["run_id"])
            lengths = (config.train.query_max_length, config.train.passage_max_length)
            if (config.model, *lengths) not in tokenized:
                tokenized[(config.model, *lengths)] = TokenizedData.build(data, model.tokenizer, *lengths)
            tokens = tokenized[(config.model, *lengths)]
            trained, untrained = split_pool(data, config)
            size = min(len(trained), len(untrained), config.evaluation.pool_size or len(data.pool_rows()))
            if size < config.evaluation.negatives:
                raise ValueError(f"D={config.data_size}: {len(trained)} pool passages trained on and {len(untrained)} "
                                 f"not; each part needs at least {config.evaluation.negatives} (the negatives per draw)")
            evaluation = {"negatives": config.evaluation.negatives, "repeats": config.evaluation.repeats,
                          "seed": config.evaluation.seed}
            sampled = {name: [evaluate_contrastive_entropy(model, data, tokens, **evaluation,
                                                           pool=np.random.default_rng(s).choice(part, size, replace=False))
                              for s in range(samples)]
                       for name, part in (("trained", trained), ("untrained", untrained))}
            rows.append({"model": config.model, "data_size": config.data_size, "ce": record["ce"],
                         "pool_share_trained": len(trained) / len(data.pool_rows()), "sample_size": size,
                         "ce_trained_pool": float(np.mean(sampled["trained"])),
                         "ce_untrained_pool": float(np.mean(sampled["untrained"]))})
    table = pd.DataFrame(rows)
    table["gap"] = table.ce_trained_pool - table.ce_untrained_pool
    return table


def main(argv: Sequence[str] | None = None) -> None:
    from drscale.data.prepare import prepare_data
    from drscale.sweep.regime import CHOSEN_REGIME, CPU_DATA_MODEL, CPU_LEARNING_RATES, REGIME_EVALUATION, candidate_regimes

    regimes = candidate_regimes(CPU_LEARNING_RATES)

    parser = argparse.ArgumentParser(prog="python -m drscale.studies.pool_overlap", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(Study().root / "release-pool"),
                        help="study folder for the data prepared without a pool split (default: %(default)s)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 8192], help="data sizes D to train")
    parser.add_argument("--model", default=CPU_DATA_MODEL)
    parser.add_argument("--regime", choices=sorted(regimes), default=CHOSEN_REGIME, help="how the runs are trained")
    args = parser.parse_args(argv)
    data = prepare_data("docstrings", data_dir=args.data_dir, pool_queries=0, progress=False)
    regime = regimes[args.regime]
    configs = [regime.run_config(args.model, size, REGIME_EVALUATION) for size in args.sizes]
    torch.set_num_threads(1)
    print(f"data {data.fingerprint()}, pool of {len(data.pool_rows())} passages (every passage but the test and dev positives)")
    print(overlap_table(data, configs).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
