"""Dropout masks from a numpy generator, for training on the CPU.

torch draws a CPU dropout mask one element at a time from one locked Mersenne Twister: on a
2-core EPYC a dropout of a 96 x 64 x 256 activation took 10-15 ms, 20 to 50 times the cost of
a multiplication of the same tensor, and BERT applies four per layer (embeddings, attention
probabilities, attention output, feed-forward output), about 12% of an L4_H256 training
step. Here each mask is filled in one vectorised call of a seeded PCG64DXSM generator, about
2x faster per mask and 1.11x per L4_H256 step (benchmarks/bench_train_options.py). Two
threads filling halves of a mask gave no measurable further gain in training.

The masks are Bernoulli(1 - p) at float32 resolution, scaled by 1 / (1 - p), as torch's; only
the random stream differs, so a run is as reproducible as with torch's dropout but not
identical to it, and it does not depend on the number of threads.

`generator_dropout(model, seed)` swaps the dropout of a transformers encoder for the length
of a `with` block: every `nn.Dropout` module and the attention probabilities' dropout (through
transformers' attention-function registry). On exit the model is as it was, so a saved model
is a plain transformers/sentence-transformers model. The attention function enters that
registry, which every transformers model in the process shares, when a block first needs
it, not when this module is imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from transformers import AttentionInterface, PreTrainedModel
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask


class MaskSource:
    """Scaled keep-masks drawn from one seeded numpy generator."""

    def __init__(self, seed: int) -> None:
        stream = np.random.SeedSequence([seed, 0x64726F70])  # "drop": apart from the seed's other uses
        self.generator = np.random.Generator(np.random.PCG64DXSM(stream))

    def scaled_keep_mask(self, shape: torch.Size, p: float, dtype: torch.dtype) -> torch.Tensor:
        """A tensor of `shape`: 1/(1-p) where kept (probability 1-p), 0 where dropped."""
        keep = self.generator.random(int(np.prod(shape)), dtype=np.float32)
        np.greater_equal(keep, p, out=keep)
        keep *= np.float32(1 / (1 - p))
        return torch.from_numpy(keep).view(shape).to(dtype)


class GeneratorDropout(nn.Module):
    """`nn.Dropout(p)` with its masks from a `MaskSource`."""

    def __init__(self, p: float, source: MaskSource) -> None:
        super().__init__()
        self.p, self.source = p, source

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * self.source.scaled_keep_mask(x.shape, self.p, x.dtype)


ATTENTION = "drscale_generator_dropout"


def attention_with_generator_dropout(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Attention whose probabilities are dropped by the module's `GeneratorDropout`.

    Without dropout (evaluation) it is transformers' SDPA attention; with it, softmax(QK^T *
    scaling + mask) V computed as transformers' eager attention does. The mask arrives in
    SDPA's format: boolean (True = attend) or additive float.
    """
    if dropout == 0.0 or not isinstance(getattr(module, "dropout", None), GeneratorDropout):
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            weights = weights.masked_fill(~attention_mask, torch.finfo(weights.dtype).min)
        else:
            weights = weights + attention_mask
    weights = module.dropout(nn.functional.softmax(weights, dim=-1))
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


def _register_attention() -> None:
    """Make `ATTENTION` a name transformers' encoders can switch to; registering again changes nothing."""
    AttentionInterface.register(ATTENTION, attention_with_generator_dropout)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)  # the padding mask in the format SDPA takes


@contextmanager
def generator_dropout(model: nn.Module, seed: int) -> Iterator[None]:
    """Within the block, `model`'s dropout draws its masks from a seeded `MaskSource`."""
    source = MaskSource(seed)
    swapped = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
               if type(child) is nn.Dropout]
    encoders = [m for m in model.modules() if isinstance(m, PreTrainedModel)]
    previous = [m.config._attn_implementation for m in encoders]
    _register_attention()
    try:
        for parent, name, child in swapped:
            setattr(parent, name, GeneratorDropout(child.p, source).train(child.training))
        for encoder in encoders:
            encoder.set_attn_implementation(ATTENTION)
        yield
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)
        for encoder, implementation in zip(encoders, previous):
            encoder.set_attn_implementation(implementation)
