"""Small hand-written inputs that several test modules share: data files in each loader's format and results-store records."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import datasets

from drscale.sweep.config import RunConfig
from drscale.measure.config import EvalConfig
from drscale.train.config import CPU_PRESET


MSMARCO = {
    "collection.tsv": "0\tThe capital of France is Paris.\n1\tBerlin is the capital of Germany.\n"
    "2\tMadrid is in Spain.\n3\tRome is the capital of Italy.\n4\tFiller one.\n5\tFiller two.\n",
    "queries.train.tsv": "10\twhat is the capital of france\n11\tcapital of germany\n12\tunlabelled query\n",
    "queries.dev.small.tsv": "20\tcapital of italy\n",
    "qrels.train.tsv": "10\t0\t0\t1\n11 0 1 1\n10\t0\t2\t0\n",
    "qrels.dev.small.tsv": "20 0 3 1\n",
}


T2RANKING = {
    "collection.tsv": "pid\tpara\n0\t北京是中国的首都。\n1\t上海是一座港口城市。\n2\t长江是中国最长的河流。\n",
    "queries.train.tsv": "qid\ttext\n100\t中国的首都是哪里\n101\t上海是什么城市\n",
    "queries.dev.tsv": "qid\ttext\n200\t中国最长的河流\n",
    "qrels.retrieval.train.tsv": "qid\tpid\n100\t0\n101\t1\n",
    "qrels.retrieval.dev.tsv": "qid\tpid\n200\t2\n",
}


BEIR = {
    "corpus.jsonl": '{"_id": "d1", "title": "Paris", "text": "Capital of France.", "metadata": {}}\n'
    '{"_id": "d2", "title": "", "text": "Berlin is in Germany."}\n'
    '{"_id": "d3", "text": "Rome is in Italy."}\n'
    '{"_id": "d4", "title": "Madrid", "text": "Capital of Spain."}\n',
    "queries.jsonl": '{"_id": "q1", "text": "france capital"}\n{"_id": "q2", "text": "where is berlin"}\n'
    '{"_id": "q3", "text": "where is rome"}\n{"_id": "q4", "text": "spain capital"}\n',
    "qrels/train.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq2\td3\t0\n",
    "qrels/test.tsv": "query-id\tcorpus-id\tscore\nq3\td3\t1\nq4\td4\t2\n",
}


def write(folder: Path, files: dict[str, str | bytes | None]) -> Path:
    """Write a fixture folder; None leaves the file out, bytes are written as they are."""
    for name, content in files.items():
        if content is None:
            continue
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def hf_tables(**changes: datasets.Dataset | None) -> datasets.DatasetDict:
    tables = {
        "corpus": datasets.Dataset.from_dict({"_id": ["d1", "d2", "d3"], "title": ["Paris", "", ""], "text": ["Capital of France.", "Berlin.", "北京。"]}),
        "queries": datasets.Dataset.from_dict({"_id": ["q1", "q2"], "text": ["france capital", "中国的首都"]}),
        "qrels-train": datasets.Dataset.from_dict({"query-id": ["q1"], "corpus-id": ["d1"], "score": [1]}),
        "qrels-test": datasets.Dataset.from_dict({"query-id": ["q2", "q2"], "corpus-id": ["d3", "d2"], "score": [1, 0]}),
    }
    tables.update(changes)
    return datasets.DatasetDict({key: value for key, value in tables.items() if value is not None})


FINGERPRINT = "0123456789abcdef"


def finished_record(run_id: str | None = None, ce: float = 3.0, *, model: str = "L1_H16", data_size: int = 64,
                    n_params: int = 16_608, fingerprint: str = FINGERPRINT, data_name: str = "docstrings",
                    evaluation: EvalConfig = EvalConfig(), ranking: dict | None = None,
                    test_fingerprint: str | None = None, **fields) -> dict:
    """A finished run record shaped as `drscale.sweep.run.run_one` writes it (the fields readers use)."""
    config = RunConfig(model, data_size, CPU_PRESET, evaluation)
    record = {
        "run_id": run_id or config.run_id(fingerprint), "status": "finished", "config": asdict(config),
        "model": model, "n_params": n_params, "data_size": data_size, "seed": CPU_PRESET.seed,
        "steps": CPU_PRESET.steps_for(data_size),
        "data": {"name": data_name, "fingerprint": fingerprint, "test_fingerprint": test_fingerprint or fingerprint},
        "ce": ce, "dev_ce": 3.1, "best_step": CPU_PRESET.steps_for(data_size), "train_time_s": 1.5,
        "dev_curve": [{"step": 0, "dev_ce": 5.5, "train_loss": None, "wall_s": 0.0}],
    }
    if ranking is not None:
        record["ranking"] = ranking
    return {**record, **fields}


def failed_record(run_id: str, error: str = "training loss became nan at step 3", *, model: str = "L1_H16",
                  data_size: int = 64, **fields) -> dict:
    """A failed run record: the header of `finished_record`, the error, no CE."""
    header = {k: v for k, v in finished_record(run_id, model=model, data_size=data_size).items()
              if k not in ("ce", "dev_ce", "best_step", "train_time_s", "dev_curve")}
    return {**header, "status": "failed", "error": error, "failed_step": 3, **fields}
