"""A first look at prepared data: example pairs to read and token lengths to see how much of
each passage training and evaluation keep (notebook 01)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from drscale.common.values import check_int
from drscale.data.corpus import RetrievalData, column


def token_lengths(data: RetrievalData, tokenizer: Any, sample: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Token counts ([CLS] and [SEP] included) of up to `sample` passages and, drawn
    separately, up to `sample` queries (a real set has far fewer queries than passages), each
    a seeded sample without replacement: columns tokens, text ("passage" or "query").

    Lengths are measured whole, so passages past the model's 512 positions show as they are;
    `verbose=False` keeps the tokenizer from warning about them (training truncates them to
    the preset's length, see `drscale.model.tokens`).
    """
    check_int("sample", sample, 1)
    check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    frames = []
    for kind, texts in (("passage", data.corpus), ("query", data.queries)):
        rows = np.sort(rng.choice(len(texts), size=min(sample, len(texts)), replace=False))
        encoded = tokenizer(column(texts.select(rows), "text"), verbose=False)["input_ids"]
        frames.append(pd.DataFrame({"tokens": [len(ids) for ids in encoded], "text": kind}))
    return pd.concat(frames, ignore_index=True)


def example_pairs(data: RetrievalData, n: int = 3, seed: int = 0, width: int = 300) -> str:
    """`n` seeded random training pairs as text to read: each query, then the first `width`
    characters of its positive. A first look at prepared data shows whether the queries read
    like what a user would type and the passages like what should answer them."""
    check_int("n", n, 1)
    check_int("width", width, 1)
    rows = data.train_pair_rows(seed=seed)
    chosen = rows[np.random.default_rng(seed).choice(len(rows), size=min(n, len(rows)), replace=False)]
    return "\n".join(f"QUERY  : {data.queries[int(query)]['text']}\nPASSAGE: {data.corpus[int(passage)]['text'][:width]} ...\n"
                     for query, passage in chosen)


def token_length_summary(lengths: pd.DataFrame, positions: int = 512) -> str:
    """Count, mean, median and maximum of `token_lengths` for passages and queries, and the
    share of sampled passages longer than the model's `positions`: how much of a passage
    training and evaluation ever see, since both keep only its opening tokens."""
    check_int("positions", positions, 1)
    described = lengths.groupby("text")["tokens"].describe()[["count", "mean", "50%", "max"]]
    passages = lengths.tokens[lengths.text == "passage"]
    return f"{described}\npassages past {positions} tokens: {(passages > positions).mean():.1%} of the sample"
