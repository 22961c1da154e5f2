"""Shared fixtures: a small real retrieval task built from a few stdlib packages' docstrings."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from drscale.data.corpus import RetrievalData, split_qrels_by_query, table
from drscale.data.docstrings import docstring_pairs, source_files

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SMALL_PACKAGES = ("asyncio", "email", "logging", "json", "unittest", "http", "concurrent", "importlib")


def small_pairs() -> list[tuple[str, str, str]]:
    pairs, seen = [], set()
    for package in SMALL_PACKAGES:
        for key, summary, body in docstring_pairs(source_files(STDLIB / package, package)):
            if len(summary.split()) >= 3 and len(body.split()) >= 15 and summary not in seen and body not in seen:
                seen.update((summary, body))
                pairs.append((key, summary, body))
    return pairs


@pytest.fixture(scope="session")
def small_data() -> RetrievalData:
    """A few hundred real (summary, body) pairs with 40 test queries."""
    pairs = small_pairs()
    qrels = table({"query_id": [f"q:{k}" for k, _, _ in pairs], "passage_id": [f"p:{k}" for k, _, _ in pairs]})
    train, test = split_qrels_by_query(qrels, test_queries=40, seed=0)
    return RetrievalData(
        name="small",
        corpus=table({"id": [f"p:{k}" for k, _, _ in pairs], "text": [b for _, _, b in pairs]}),
        queries=table({"id": [f"q:{k}" for k, _, _ in pairs], "text": [s for _, s, _ in pairs]}),
        train_qrels=train,
        test_qrels=test,
    )


@pytest.fixture(scope="session")
def tiny_seq2seq(tmp_path_factory) -> Path:
    """A randomly initialised, tiny T5 with the shipped BERT vocabulary, saved as a local model
    folder: it runs the query-generation code path offline in seconds. A large initialiser
    factor makes its (meaningless) output depend on the input passage, so a test can tell
    which passage a query was written from."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from drscale.model.encoder import load_tokenizer

    folder = tmp_path_factory.mktemp("tiny-t5")
    tokenizer = load_tokenizer()
    torch.manual_seed(0)
    config = T5Config(vocab_size=len(tokenizer), d_model=16, d_ff=32, d_kv=8, num_layers=1, num_decoder_layers=1,
                      num_heads=2, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id, initializer_factor=20.0)
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A notebook run starts a kernel: every notebook test belongs to the slow tier."""
    for item in items:
        if item.get_closest_marker("notebook") is not None:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def dev_data(small_data: RetrievalData) -> RetrievalData:
    """`small_data` with 30 of its training queries set aside as a dev split."""
    return small_data.with_dev_split(30, seed=0)

