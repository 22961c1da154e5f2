"""Hugging Face datasets in the BEIR layout, from a folder on disk or from the hub.

Tables read through `datasets` are not files read line by line, so their checks differ from
`drscale.data.loaders`': a damaged metadata file is named with its line, a cell is refused
by split and row (ids may be strings or integers, anything else is not an id), and reading
the hub can be confined to the local cache so an offline machine fails at once. The rows
then go through the assembly every loader shares (`drscale.data.assembly`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import datasets
import huggingface_hub
import pyarrow

from drscale.data.assembly import PairRows, assemble, check_options, passage_text, split_note
from drscale.data.corpus import RetrievalData
from drscale.data.parsing import HEADER_WORDS, Where


def load_hf(
    path_or_name: str | Path,
    *,
    train_split: str = "train",
    test_split: str = "test",
    qrels_name: str | None = None,
    local_files_only: bool = False,
    test_queries: int | None = None,
    seed: int = 0,
    max_passages: int | None = None,
    max_queries: int | None = None,
    name: str | None = None,
) -> RetrievalData:
    """A Hugging Face dataset in the BEIR layout, from a folder on disk or from the hub.

    On disk (an existing path): a `DatasetDict` written by `save_to_disk` with splits
    "corpus" (columns _id, text, optional title), "queries" (_id, text) and
    "qrels-{split}" (query-id, corpus-id, score), i.e. the hub layout saved in one folder.
    On the hub (any other string): configs "corpus" and "queries" of `path_or_name` and the
    qrels splits of the sibling repository `qrels_name` (default "<path_or_name>-qrels"), as
    BeIR/<set> and BeIR/<set>-qrels are published. `local_files_only` reads only the local
    cache, so an offline machine fails at once with a message instead of waiting on the
    network. Ids may be strings or integers; `test_queries` and the split fallback are
    `drscale.data.loaders.load_beir`'s.
    """
    check_options(train_split=train_split, test_split=test_split, qrels_name=qrels_name,
                  local_files_only=local_files_only, test_queries=test_queries, seed=seed,
                  max_passages=max_passages, max_queries=max_queries, name=name)
    where = str(path_or_name)
    if Path(path_or_name).exists():
        tables = _disk_tables(Path(path_or_name))
    else:
        tables = _hub_tables(where, qrels_name, local_files_only)
    train_key, test_key = f"qrels-{train_split}", f"qrels-{test_split}"
    corpus = _hf_rows(tables, where, "corpus", ("_id", "text"), ("title",))
    queries = _hf_rows(tables, where, "queries", ("_id", "text"))
    return assemble(
        name or Path(where).name,
        source=split_note(where, train_key in tables, test_key, seed),
        corpus=(Where(f"{where}[corpus]", "row"), ((n, r[0], passage_text(r[2], r[1])) for n, r in corpus)),
        queries=[(Where(f"{where}[queries]", "row"), ((n, r[0], r[1]) for n, r in queries))],
        train=_hf_pairs(tables, where, train_key) if train_key in tables else None,
        test=_hf_pairs(tables, where, test_key),
        test_queries=test_queries,
        seed=seed,
        max_passages=max_passages,
        max_queries=max_queries,
    )


def _disk_tables(path: Path) -> Mapping[str, datasets.Dataset]:
    """The splits of a folder written by `save_to_disk`. Its JSON metadata is checked first,
    so a damaged file is named with its line rather than surfacing as a bare decode error."""
    expected = "a DatasetDict saved with save_to_disk, splits corpus, queries and qrels-<split>"
    for metadata in sorted(path.rglob("*.json")) if path.is_dir() else ():
        try:
            content = json.loads(metadata.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValueError(f"{metadata}: invalid UTF-8 at byte {exc.start}; expected the JSON metadata of {expected}") from exc
        except json.JSONDecodeError as exc:
            raise Where(str(metadata)).error(
                exc.lineno, f"malformed JSON ({exc.msg} at column {exc.colno})", f"the JSON metadata of {expected}"
            ) from exc
        if metadata.name == "state.json" and isinstance(content, dict) and content.get("_data_files") == []:
            # datasets saves an empty split without data files and then fails to read it back
            raise Where(f"{path}[{metadata.parent.name}]", "row").error(1, "no rows (an empty split)", "at least one row")
    try:
        loaded = datasets.load_from_disk(str(path))
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{path}: not a saved dataset ({exc}); expected {expected}") from exc
    except pyarrow.ArrowException as exc:
        raise ValueError(f"{path}: unreadable Arrow data ({exc}); expected {expected}") from exc
    if not isinstance(loaded, datasets.DatasetDict):
        raise ValueError(f"{path}: a single {type(loaded).__name__}; expected {expected}")
    return loaded


@contextmanager
def _offline(enabled: bool) -> Iterator[None]:
    """Hub offline mode for one call: `datasets` and `huggingface_hub` read HF_HUB_OFFLINE
    once at import, so the flag is switched in both and restored afterwards."""
    before = datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE
    if enabled:
        datasets.config.HF_HUB_OFFLINE = huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE = before


def _hub_tables(name: str, qrels_name: str | None, local_files_only: bool) -> Mapping[str, datasets.Dataset]:
    qrels_name = qrels_name or f"{name}-qrels"
    try:
        with _offline(local_files_only):
            tables = {config: datasets.load_dataset(name, config, split=config) for config in ("corpus", "queries")}
            qrels = datasets.load_dataset(qrels_name)
    except OSError as exc:  # ConnectionError, FileNotFoundError and hub HTTP errors
        where = "the local cache" if local_files_only else "the Hugging Face hub or its local cache"
        raise FileNotFoundError(
            f"{name}: no such folder, and {name} with {qrels_name} could not be loaded from {where} ({exc}); "
            "expected a folder written by save_to_disk or a reachable BEIR-layout hub dataset"
        ) from exc
    return tables | {f"qrels-{split}": qrels[split] for split in qrels}


def _hf_rows(
    tables: Mapping[str, datasets.Dataset], where: str, split: str, required: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[tuple[int, list[str]]]:
    """(1-based row, string values of `required` then `optional` columns) of one split; ids
    stored as integers become strings, a missing optional column reads as ""."""
    if split not in tables:
        raise ValueError(f"{where}: no split {split!r}; expected corpus, queries, qrels-<split>; found {sorted(tables)}")
    dataset, names = tables[split], (*required, *optional)
    missing = [c for c in required if c not in dataset.column_names]
    if missing:
        raise ValueError(
            f"{where}[{split}]: missing column(s) {missing}; expected columns {list(names)}, found {dataset.column_names}"
        )
    at = Where(f"{where}[{split}]", "row")
    if len(dataset) == 0:
        raise at.error(1, "no rows (an empty split)", f"at least one row with columns {list(names)}")
    # column[:] is one list; iterating a datasets Column formats every row (~100x slower)
    columns = [dataset[c][:] if c in dataset.column_names else [""] * len(dataset) for c in names]
    for row, values in enumerate(zip(*columns), start=1):
        texts = [_hf_value(at, row, column, value) for column, value in zip(names, values)]
        if row == 1 and texts[0].strip().lower() in HEADER_WORDS:  # a CSV read without its header option
            raise at.error(row, f"header row {texts}", f"data rows only; the column names {list(names)} belong in the schema")
        yield row, texts


def _hf_value(at: Where, row: int, column: str, value: object) -> str:
    """A cell as text: strings and integer ids as they are, bytes decoded strictly as UTF-8
    (the analogue of a file's bad line); anything else (None, floats, lists) refused."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise at.error(row, f"invalid UTF-8 in {column} at byte {exc.start}", "UTF-8 text") from exc
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise at.error(row, f"{column} is {value!r}", "a string or an integer")
    return str(value)


def _hf_pairs(tables: Mapping[str, datasets.Dataset], where: str, split: str) -> PairRows:
    rows = _hf_rows(tables, where, split, ("query-id", "corpus-id", "score"))
    return Where(f"{where}[{split}]", "row"), ((n, r[0], r[1], r[2]) for n, r in rows)
