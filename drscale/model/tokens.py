"""Pre-tokenised text and dynamically padded batches.

Tokenising once per data set (not once per step) and padding each batch only to its own
longest sequence are the two cheapest speed-ups of a small-model training loop: the model
never sees pad tokens it does not need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from drscale.data.corpus import RetrievalData


def tokenize(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> list[np.ndarray]:
    """Token ids of each text ([CLS] ... [SEP], truncated to `max_length`), unpadded."""
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2 (room for [CLS] and [SEP]); got {max_length}")
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)["input_ids"]
    return [np.asarray(ids, dtype=np.int64) for ids in encoded]


def pad_batch(sequences: Sequence[np.ndarray], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """`input_ids` and `attention_mask` padded to the longest sequence of this batch."""
    length = max(len(s) for s in sequences)
    ids = np.full((len(sequences), length), pad_id, dtype=np.int64)
    mask = np.zeros((len(sequences), length), dtype=np.int64)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}


@dataclass(frozen=True)
class TokenizedData:
    """Every query and passage of a `RetrievalData`, tokenised once for one tokenizer."""

    queries: list[np.ndarray]
    passages: list[np.ndarray]
    pad_id: int

    @classmethod
    def build(
        cls,
        data: RetrievalData,
        tokenizer: PreTrainedTokenizerBase,
        query_max_length: int,
        passage_max_length: int,
    ) -> TokenizedData:
        return cls(
            queries=tokenize(tokenizer, data.queries["text"], query_max_length),
            passages=tokenize(tokenizer, data.corpus["text"], passage_max_length),
            pad_id=tokenizer.pad_token_id or 0,
        )

    def query_batch(self, rows: Sequence[int]) -> dict[str, torch.Tensor]:
        return pad_batch([self.queries[r] for r in rows], self.pad_id)

    def passage_batch(self, rows: Sequence[int]) -> dict[str, torch.Tensor]:
        return pad_batch([self.passages[r] for r in rows], self.pad_id)
