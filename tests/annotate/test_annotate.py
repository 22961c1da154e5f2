"""Training-pair sources: correct pairing (the authors' release was off by one), caching,
resuming, unchanged evaluation and clear errors."""

import hashlib

import numpy as np
import pytest

from drscale.annotate import sources as annotate
from drscale.annotate.pairs import AnnotatedData, TrainingPairs, source_passages, with_pairs
from drscale.annotate.sources import GeneratedQueries, HumanLabels, InverseClozeTask
from drscale.studies.annotation_quality import (OrderCheck, annotate_sources, check_same_evaluation, compare_with_paper,
                                                exponent_table, pair_sources, source_sweeps)
from drscale.data.corpus import column
from drscale.annotate.generation import Seq2SeqGenerator


def corpus_text(data):
    return dict(zip(column(data.corpus, "id"), column(data.corpus, "text")))


def query_for(passage: str) -> str:
    """A deterministic 'generator' whose query names the passage it was given."""
    return "about " + hashlib.sha1(passage.encode()).hexdigest()[:12]


class Recorder:
    """passages -> queries that records every batch it is given (and can fail on one)."""

    def __init__(self, fail_on_batch: int | None = None):
        self.batches: list[list[str]] = []
        self.fail_on_batch = fail_on_batch

    def __call__(self, passages):
        if self.fail_on_batch is not None and len(self.batches) == self.fail_on_batch:
            raise RuntimeError("simulated crash")
        self.batches.append(list(passages))
        return [query_for(p) for p in passages]


def test_human_source_keeps_the_data_and_its_fingerprint(small_data):
    annotated = annotate.annotate(small_data, HumanLabels())
    assert annotated.fingerprint() == small_data.fingerprint()
    assert np.array_equal(annotated.train_pair_rows(64, seed=3), small_data.train_pair_rows(64, seed=3))
    assert annotated.training_only_passages == 0


def test_ict_query_sentence_is_absent_from_its_positive_and_the_pair_names_its_passage(small_data):
    pairs = InverseClozeTask(seed=1).pairs(small_data)
    annotated = with_pairs(small_data, pairs)
    original, texts = corpus_text(small_data), corpus_text(annotated)
    assert len(pairs) > 200
    for qid, query, pid, origin in zip(pairs.query_ids, pairs.queries, pairs.passage_ids, pairs.origin_ids):
        assert qid == f"ict:0:{origin}" and pid == f"ict-rest:0:{origin}"
        assert query in original[origin]  # the query is a sentence of the passage it came from
        assert query not in texts[pid]  # ... and is cut from its positive
        assert " ".join(original[origin].replace(query, " ").split()) == " ".join(texts[pid].split())
    # the check has power: pairing each query with the neighbouring passage would fail it
    shifted = sum(q in original[o] for q, o in zip(pairs.queries, pairs.origin_ids[1:]))
    assert shifted < len(pairs) // 20
    # training rows point at the texts of the pairs
    rows = annotated.train_pair_rows()
    queries, passages = column(annotated.queries, "text"), column(annotated.corpus, "text")
    for q_row, p_row in rows[:50]:
        assert queries[q_row] not in passages[p_row]


def test_ict_uses_no_test_positive_and_keeps_the_sentence_when_asked(small_data):
    test_positives = set(column(small_data.test_qrels, "passage_id"))
    kept = InverseClozeTask(remove_sentence=0.0).pairs(small_data)
    assert not kept.positives and kept.passage_ids == kept.origin_ids
    assert not test_positives & set(kept.origin_ids)
    texts = corpus_text(small_data)
    assert all(q in texts[p] for q, p in zip(kept.queries, kept.passage_ids))
    half = InverseClozeTask(remove_sentence=0.5, seed=2).pairs(small_data)
    assert 0.3 < len(half.positives) / len(half) < 0.7


def test_ict_positives_are_training_only_and_evaluation_is_unchanged(small_data):
    annotated = annotate.annotate(small_data, InverseClozeTask())
    assert annotated.training_only_passages > 0
    first_extra = len(small_data.corpus)
    assert np.array_equal(annotated.pool_rows(), small_data.pool_rows())
    assert annotated.pool_rows().max() < first_extra
    for size, seed in ((50, 0), (200, 7)):
        assert np.array_equal(annotated.pool_rows(size, seed), small_data.pool_rows(size, seed))
    check_same_evaluation(small_data, annotated, pool_size=100, seed=1)
    assert annotated.fingerprint() != small_data.fingerprint()
    assert annotated.summary()["pool_passages"] == small_data.summary()["pool_passages"]


def test_annotated_data_saves_and_loads_with_its_training_only_rows(small_data, tmp_path):
    annotated = annotate.annotate(small_data, InverseClozeTask())
    loaded = AnnotatedData.load(annotated.save(tmp_path / "ict"))
    assert [path.name for path in tmp_path.iterdir()] == ["ict"]  # written whole: no staging folder left
    assert loaded.training_only_passages == annotated.training_only_passages
    assert loaded.fingerprint() == annotated.fingerprint()


def test_generated_queries_are_paired_with_the_passage_the_callable_was_given(small_data):
    recorder = Recorder()
    pairs = GeneratedQueries(recorder, name="llm", batch_size=7, queries_per_passage=2).pairs(small_data)
    texts = corpus_text(small_data)
    given = [p for batch in recorder.batches for p in batch]
    expected = [texts[pid] for pid in source_passages(small_data) for _ in range(2)]
    assert given == expected and all(len(b) <= 7 for b in recorder.batches)
    assert len(pairs) == len(expected)
    for qid, query, pid, origin in zip(pairs.query_ids, pairs.queries, pairs.passage_ids, pairs.origin_ids):
        assert pid == origin and qid.endswith(f":{pid}") and qid.startswith("llm:")
        assert query == query_for(texts[pid])
    annotated = with_pairs(small_data, pairs)
    queries, passages = column(annotated.queries, "text"), column(annotated.corpus, "text")
    assert all(queries[q] == query_for(passages[p]) for q, p in annotated.train_pair_rows())


def test_seq2seq_generator_pairs_each_query_with_its_input_passage(small_data, tiny_seq2seq, tmp_path):
    generator = Seq2SeqGenerator(tiny_seq2seq, max_new_tokens=6, do_sample=False)
    source = GeneratedQueries(generator, name="doct5query", batch_size=5, max_passages=24, seed=3)
    pairs = source.pairs(small_data, cache_dir=tmp_path)
    texts = corpus_text(small_data)
    assert len(pairs) + pairs.dropped == 24 and len(pairs) >= 20
    assert len(set(pairs.queries)) >= len(pairs) // 2  # outputs depend on the input, so a shift would show
    alone = {pid: generator([texts[pid]])[0] for pid in pairs.passage_ids}  # one passage at a time
    assert all(alone[pid] == query for pid, query in zip(pairs.passage_ids, pairs.queries))
    assert sum(alone[pid] == q for pid, q in zip(pairs.passage_ids[1:], pairs.queries)) < len(pairs) // 2
    assert set(pairs.passage_ids) <= set(source_passages(small_data))


def test_generated_pairs_are_cached_and_reused(small_data, tmp_path):
    first = Recorder()
    pairs = GeneratedQueries(first, cache_name="fake-llm", batch_size=50).pairs(small_data, cache_dir=tmp_path)
    second = Recorder()
    again = GeneratedQueries(second, cache_name="fake-llm", batch_size=50).pairs(small_data, cache_dir=tmp_path)
    assert first.batches and not second.batches
    assert again == pairs
    other_seed = Recorder()
    GeneratedQueries(other_seed, cache_name="fake-llm", batch_size=50, seed=1).pairs(small_data, cache_dir=tmp_path)
    assert other_seed.batches  # different settings, different cache
    uncached = Recorder()
    GeneratedQueries(uncached, batch_size=50).pairs(small_data, cache_dir=tmp_path)  # no name: never cached
    GeneratedQueries(uncached, batch_size=50).pairs(small_data, cache_dir=tmp_path)
    assert len(uncached.batches) == 2 * len(first.batches)


def test_seq2seq_identity_follows_the_weights(tiny_seq2seq, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_seq2seq, copy)
    assert Seq2SeqGenerator(copy).identity() == Seq2SeqGenerator(tiny_seq2seq).identity()
    assert Seq2SeqGenerator(copy, top_k=5).identity() != Seq2SeqGenerator(tiny_seq2seq).identity()
    (copy / "config.json").write_text((copy / "config.json").read_text().replace("16", "17", 1))
    assert Seq2SeqGenerator(copy).identity()["files_sha256"] != Seq2SeqGenerator(tiny_seq2seq).identity()["files_sha256"]


def test_generation_resumes_after_a_crash(small_data, tmp_path):
    crashing = Recorder(fail_on_batch=3)
    source = GeneratedQueries(crashing, cache_name="flaky", batch_size=40)
    with pytest.raises(RuntimeError, match="simulated crash"):
        source.pairs(small_data, cache_dir=tmp_path / "cache")
    resumed = Recorder()
    pairs = GeneratedQueries(resumed, cache_name="flaky", batch_size=40).pairs(small_data, cache_dir=tmp_path / "cache")
    passages = source_passages(small_data)
    texts = corpus_text(small_data)
    assert [p for b in resumed.batches for p in b] == [texts[pid] for pid in passages[3 * 40 :]]
    clean = GeneratedQueries(Recorder(), cache_name="flaky", batch_size=40).pairs(small_data, cache_dir=tmp_path / "fresh")
    assert pairs == clean


def test_empty_generated_queries_are_dropped_and_counted(small_data):
    pairs = GeneratedQueries(lambda ps: ["" if i % 2 else "a query" for i in range(len(ps))], batch_size=10,
                             max_passages=20).pairs(small_data)
    assert len(pairs) == 10 and pairs.dropped == 10


@pytest.mark.parametrize(
    "generator, message",
    [
        (lambda ps: ps[:-1], r"returned 9 queries for 10 passages in batch 0"),
        (lambda ps: "one query", r"must return a list of strings; batch 0 got str"),
        (lambda ps: [1] * len(ps), r"returned int for passage 0 of batch 0"),
    ],
)
def test_a_generator_returning_the_wrong_thing_is_named(small_data, generator, message):
    with pytest.raises(ValueError, match=message):
        GeneratedQueries(generator, batch_size=10).pairs(small_data)


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: InverseClozeTask(remove_sentence=1.5), ValueError, r"remove_sentence must be in \[0, 1\]; got 1.5"),
        (lambda: InverseClozeTask(query_words=(9, 3)), ValueError, r"query_words"),
        (lambda: InverseClozeTask(scope="all"), ValueError, r"scope must be one of \('train', 'non_test'\); got 'all'"),
        (lambda: GeneratedQueries("not callable"), ValueError, r"generator must be callable"),
        (lambda: GeneratedQueries(len, batch_size=0), ValueError, r"batch_size must be a positive integer; got 0"),
        (lambda: GeneratedQueries(len, name="my llm"), ValueError, r"name must be letters"),
        (lambda: Seq2SeqGenerator("/no/such/t5"), FileNotFoundError, r"'/no/such/t5' does not exist"),
        (lambda: Seq2SeqGenerator("t5", max_new_tokens=0), ValueError, r"max_new_tokens must be a positive integer"),
    ],
)
def test_bad_settings_are_refused_with_their_name(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_a_study_builds_its_sources_by_name_with_the_generated_one_last(small_data, tiny_seq2seq, tmp_path):
    sources = pair_sources(["ict", "human"], seed=2, ict_query_words=[5, 30], generator=tiny_seq2seq, generator_name="llm",
                           generator_max_passages=4, generator_max_new_tokens=4, generator_batch_size=2)
    assert list(sources) == ["ict", "human", "llm"]
    assert sources["ict"] == InverseClozeTask(query_words=(5, 30), seed=2) and sources["human"] == HumanLabels()
    assert (sources["llm"].name, sources["llm"].max_passages, sources["llm"].seed) == ("llm", 4, 2)
    pairs, annotated = annotate_sources(small_data, {"human": sources["human"]}, cache_dir=tmp_path)
    assert len(pairs["human"]) == small_data.n_train_pairs
    assert annotated["human"].fingerprint() == small_data.fingerprint()


@pytest.mark.parametrize(
    "names, settings, message",
    [
        (["human", "bm25"], {}, r"unknown source\(s\) \['bm25'\] in `sources`; built-in: \['human', 'ict'\]"),
        ("human", {}, r"sources must be a list of source names"),
        (["ict", "ict"], {}, r"source\(s\) \['ict'\] named more than once"),
        (["human"], {"generator": "t5", "generator_name": "human"}, r"generator_name 'human' is also in `sources`"),
    ],
)
def test_a_study_refuses_a_sources_list_it_cannot_build(names, settings, message):
    with pytest.raises(ValueError, match=message):
        pair_sources(names, **settings)


def test_a_hub_name_not_in_the_local_cache_says_how_to_download(small_data):
    source = GeneratedQueries(Seq2SeqGenerator("nobody/no-such-doc2query"), max_passages=2)
    with pytest.raises(FileNotFoundError, match="local_files_only=False"):
        source.pairs(small_data)


def test_pairs_naming_unknown_passages_or_test_positives_are_refused(small_data):
    origin = source_passages(small_data)[0]
    unknown = TrainingPairs("x", ["x:0"], ["a query"], ["p:nowhere"], [origin])
    with pytest.raises(ValueError, match=r"x pairs: pair 0 \('x:0'\) names unknown passage id 'p:nowhere'"):
        with_pairs(small_data, unknown)
    from_nowhere = TrainingPairs("x", ["x:0"], ["a query"], [origin], ["p:nowhere"])
    with pytest.raises(ValueError, match="made from unknown passage id 'p:nowhere'"):
        with_pairs(small_data, from_nowhere)
    test_positive = column(small_data.test_qrels, "passage_id")[0]
    leak = TrainingPairs("x", ["x:0"], ["a query"], [test_positive], [test_positive])
    with pytest.raises(ValueError, match="made from held-out \(test, dev or pool\) passage"):
        with_pairs(small_data, leak)
    clash = TrainingPairs("x", ["x:0"], ["q"], ["x-rest"], [origin], positives={origin: "text"})
    with pytest.raises(ValueError, match="already a corpus passage id"):
        with_pairs(small_data, clash)
    with pytest.raises(ValueError, match="differ in length"):
        TrainingPairs("x", ["x:0", "x:1"], ["q"], [origin], [origin])
    with pytest.raises(ValueError, match="already holds training-only passages"):
        with_pairs(annotate.annotate(small_data, InverseClozeTask()), unknown)


def test_a_grid_larger_than_a_source_is_refused_naming_the_source(small_data, tmp_path):
    from drscale.sweep.config import RunConfig
    from drscale.train.config import CPU_PRESET

    few = annotate.annotate(small_data, GeneratedQueries(lambda ps: ["q"] * len(ps), name="few", max_passages=30))
    configs = [RunConfig(model="L1_H8", data_size=64, train=CPU_PRESET)]
    with pytest.raises(ValueError, match="source 'few' has 30 training pairs; the grid needs 64"):
        source_sweeps({"human": small_data, "few": few}, configs, tmp_path / "store.jsonl")


def planted_fit(beta: float, seed: int):
    from drscale.fit.estimate import fit_data_size

    sizes = np.array([128, 256, 512, 1024, 2048, 4096], dtype=float)
    noise = np.random.default_rng(seed).normal(0, 0.005, sizes.size)
    return fit_data_size(sizes, ((3e3 / sizes) ** beta + 1.0) * np.exp(noise), n_bootstrap=200, seed=0)


def test_comparison_with_the_paper_follows_the_fitted_exponents():
    flat, steep = planted_fit(0.3, 0), planted_fit(0.9, 1)
    agree = compare_with_paper({"human": steep, "ict": flat, "mine": flat})
    assert agree.expected == ("ict", "human") and agree.observed == ("ict", "human") and agree.matches
    assert agree.probability[("ict", "human")] > 0.95 and agree.not_compared == ("mine",)
    assert "**matches**" in agree.statement() and "ict β = 0.3" in agree.statement()
    (_, ict_lo, ict_hi), (_, human_lo, human_hi) = agree.betas["ict"], agree.betas["human"]
    assert ("do not overlap" in agree.statement()) == (ict_hi < human_lo or human_hi < ict_lo)
    apart = OrderCheck(("ict", "human"), ("ict", "human"), {("ict", "human"): 1.0},
                       {"ict": (0.2, 0.1, 0.3), "human": (0.8, 0.7, 0.9)})
    close = OrderCheck(("ict", "human"), ("human", "ict"), {("ict", "human"): 0.4},
                       {"ict": (0.5, 0.1, 0.9), "human": (0.45, 0.3, 0.6)})
    assert "do not overlap" in apart.statement() and "not resolved by these runs" in close.statement()
    assert "in 40% of the bootstrap resamples" in close.statement() and not close.matches
    coin_flip = OrderCheck(("ict", "human"), ("ict", "human"), {("ict", "human"): 0.56},
                           {"ict": (0.085, 0.079, 0.387), "human": (0.098, 0.071, 0.207)})
    assert coin_flip.matches and not coin_flip.resolved and apart.resolved
    assert "ours **matches** it in the fitted values, but the bootstrap does not settle the order" in coin_flip.statement()
    swapped = compare_with_paper({"human": flat, "ict": steep})
    assert not swapped.matches and "**does not match**" in swapped.statement()
    table = exponent_table({"human": steep, "ict": flat})
    assert table.index.tolist() == ["ict", "human"]
    assert table.loc["ict", "mean log-log slope"] > table.loc["human", "mean log-log slope"]  # flatter: closer to 0
    lone = compare_with_paper({"human": steep})
    assert "no order to compare" in lone.statement()


def test_sources_never_use_pool_passages_and_copies_keep_the_pool_split(tmp_path, small_data):
    data = small_data.with_pool_split(40, seed=0)
    pool = set(column(data.pool_qrels, "passage_id"))
    for scope in ("train", "non_test"):
        assert not pool & set(source_passages(data, scope))
    origin = sorted(pool)[0]
    with pytest.raises(ValueError, match=r"made from held-out \(test, dev or pool\) passage"):
        with_pairs(data, TrainingPairs("x", ["x:0"], ["a query"], [origin], [origin]))
    copy = annotate.annotate(data, InverseClozeTask())
    assert np.array_equal(copy.pool_rows(), data.pool_rows())
    copy.save(tmp_path / "copy")
    loaded = AnnotatedData.load(tmp_path / "copy")
    assert loaded.pool_queries == 40 and np.array_equal(loaded.pool_rows(), data.pool_rows())
    assert loaded.test_fingerprint() == data.test_fingerprint()
