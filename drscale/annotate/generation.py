"""Query generation for synthetic training pairs, and the on-disk cache that makes it resumable.

Writing queries is the slow part of a synthetic source: a T5-base docT5query on a CPU takes
far longer than training the small retrievers it feeds, and an LLM costs money per call. So
generation runs batch by batch, each finished batch is written to disk as it completes, and
a repeated or interrupted request reads back what was already written instead of asking the
generator again. Passages travel with their ids from the generator's input into every cached
batch, so a query can never drift to a neighbouring passage.

`drscale.annotate.sources.GeneratedQueries` turns what is written here into training pairs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from drscale.common.files import config_hash, write_text_atomic

QueryGenerator = Callable[[list[str]], list[str]]
"""passages -> queries, one query per passage, same order: a seq2seq model, an LLM call, ..."""


def generate_queries(generator: QueryGenerator, passage_ids: Sequence[str], passages: Sequence[str], batch_size: int,
                     seed: int, cache: GenerationCache | None = None) -> list[str]:
    """One query per passage (`passages[i]` has id `passage_ids[i]`), in order, `batch_size` at a time.

    torch is seeded with seed + batch index before each batch, so a resumed run writes the same
    queries as an uninterrupted one. With a `cache`, finished batches are read from it and new
    ones written as they complete, so a crash loses at most the batch in progress.
    """
    queries = []
    for number, start in enumerate(range(0, len(passages), batch_size)):
        ids = list(passage_ids[start : start + batch_size])
        written = cache.read(number, ids) if cache is not None else None
        if written is None:
            torch.manual_seed(seed + number)
            written = checked_queries(generator(list(passages[start : start + batch_size])), len(ids), number)
            if cache is not None:
                cache.write(number, ids, written)
        queries.extend(written)
    return queries


def checked_queries(queries: Any, expected: int, batch: int) -> list[str]:
    """The generator's output for one batch, or a ValueError saying what is wrong with it."""
    if isinstance(queries, str) or not isinstance(queries, Sequence):
        raise ValueError(f"the query generator must return a list of strings; batch {batch} got {type(queries).__name__}")
    if len(queries) != expected:
        raise ValueError(f"the query generator returned {len(queries)} queries for {expected} passages in batch {batch}; "
                         "it must return exactly one query per passage, in order")
    for i, query in enumerate(queries):
        if not isinstance(query, str):
            raise ValueError(f"the query generator returned {type(query).__name__} for passage {i} of batch {batch}; "
                             "queries must be strings")
    return list(queries)


class GenerationCache:
    """Finished batches of a generation as JSON files under one folder, written atomically.

    `key` (generator identity, settings, hash of the passages) names the folder, so any change
    starts a fresh cache and an identical request reuses the old one.
    """

    def __init__(self, folder: Path, key: Mapping[str, Any]) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        meta = folder / "key.json"
        if not meta.exists():
            write_text_atomic(meta, json.dumps(key, indent=1, sort_keys=True, default=str))

    def _path(self, batch: int) -> Path:
        return self.folder / f"batch-{batch:06d}.json"

    def read(self, batch: int, passage_ids: list[str]) -> list[str] | None:
        """The queries of a finished batch, or None when it has not been written yet."""
        path = self._path(batch)
        if not path.exists():
            return None
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("passage_ids") != passage_ids or len(stored.get("queries", [])) != len(passage_ids):
            raise ValueError(f"{path}: cached batch does not match the passages of batch {batch}; delete {self.folder}")
        return stored["queries"]

    def write(self, batch: int, passage_ids: list[str], queries: list[str]) -> None:
        write_text_atomic(self._path(batch), json.dumps({"passage_ids": passage_ids, "queries": queries}))


def generation_cache(cache_dir: str | Path, name: str, generator: Mapping[str, Any],
                     passages: Iterable[tuple[str, str]], **settings: Any) -> GenerationCache:
    """The cache of one request under `cache_dir`: named by `name` and a hash of the generator's
    identity, the generation `settings` and every (passage id, text) it writes queries for."""
    digest = hashlib.sha256()
    for pid, text in passages:
        digest.update(f"{pid}\t{text}\n".encode())
    key = {"generator": generator, **settings, "passages": digest.hexdigest()}
    return GenerationCache(Path(cache_dir) / f"{name}-{config_hash(key)}", key)


class Seq2SeqGenerator:
    """docT5query-style query generation with any seq2seq model (`AutoModelForSeq2SeqLM.generate`).

    model: a local folder (model and tokenizer saved together) or a hub name such as
        "castorini/doc2query-t5-base-msmarco" (found in the local hub cache, or downloaded
        with `local_files_only=False`). docT5query samples with top_k=10, as here by default.
    The model loads on first call; `identity()` hashes a local folder's files (or names the
    hub model and `revision`), so the cache tells different weights apart.
    """

    def __init__(self, model: str | Path, *, revision: str | None = None, local_files_only: bool = True,
                 max_input_length: int = 512, max_new_tokens: int = 64, do_sample: bool = True, top_k: int = 10,
                 num_beams: int = 1, prefix: str = "", device: str | None = None) -> None:
        self.model_name = str(model)
        self.local = Path(self.model_name).expanduser().is_dir()
        if not self.local and (Path(self.model_name).is_absolute() or self.model_name.startswith(".")
                               or self.model_name.count("/") > 1):
            raise FileNotFoundError(f"generator model folder {self.model_name!r} does not exist")
        if self.local and not (Path(self.model_name).expanduser() / "config.json").exists():
            raise FileNotFoundError(f"generator model folder {self.model_name!r} has no config.json")
        for name, value in (("max_input_length", max_input_length), ("max_new_tokens", max_new_tokens),
                            ("top_k", top_k), ("num_beams", num_beams)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Seq2SeqGenerator.{name} must be a positive integer; got {value!r}")
        self.revision, self.local_files_only, self.device = revision, local_files_only, device
        self.settings = {"max_input_length": max_input_length, "max_new_tokens": max_new_tokens,
                         "do_sample": do_sample, "top_k": top_k, "num_beams": num_beams, "prefix": prefix}
        self._model = self._tokenizer = self._identity = None

    def identity(self) -> dict[str, Any]:
        if self._identity is None:
            if self.local:
                digest = hashlib.sha256()
                folder = Path(self.model_name).expanduser()
                for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                    digest.update(str(path.relative_to(folder)).encode())
                    with open(path, "rb") as handle:
                        for block in iter(lambda: handle.read(1 << 20), b""):
                            digest.update(block)
                weights = {"files_sha256": digest.hexdigest()}
            else:
                weights = {"hub": self.model_name, "revision": self.revision or "main"}
            self._identity = {"kind": "seq2seq", **weights, **self.settings}
        return self._identity

    def _load(self) -> None:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from drscale.common.device import pick_device

        source = str(Path(self.model_name).expanduser()) if self.local else self.model_name
        options = {"revision": self.revision, "local_files_only": self.local_files_only}
        bars_were_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a loading bar is noise in a headless notebook
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(source, **options)
            self._model = AutoModelForSeq2SeqLM.from_pretrained(source, **options)
        except OSError as error:
            hint = "" if self.local or not self.local_files_only else " (pass local_files_only=False to download it)"
            raise FileNotFoundError(f"cannot load generator model {self.model_name!r}{hint}: {error}") from error
        finally:
            if bars_were_on:
                hf_logging.enable_progress_bar()
        self._model.to(pick_device(self.device)).eval()

    @torch.inference_mode()
    def __call__(self, passages: list[str]) -> list[str]:
        if self._model is None:
            self._load()
        s = self.settings
        encoded = self._tokenizer([s["prefix"] + p for p in passages], return_tensors="pt", padding=True,
                                  truncation=True, max_length=s["max_input_length"], return_token_type_ids=False)
        encoded = {k: v.to(self._model.device) for k, v in encoded.items()}
        output = self._model.generate(**encoded, max_new_tokens=s["max_new_tokens"], do_sample=s["do_sample"],
                                      top_k=s["top_k"], num_beams=s["num_beams"])
        return [q.strip() for q in self._tokenizer.batch_decode(output, skip_special_tokens=True)]

