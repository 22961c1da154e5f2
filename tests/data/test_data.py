import numpy as np
import pytest

from drscale.data.corpus import RetrievalData, split_qrels_by_query, table


def make(corpus=None, queries=None, train=None, test=None):
    return RetrievalData(
        name="toy",
        corpus=table(corpus or {"id": ["p1", "p2", "p3", "p4"], "text": ["one", "two", "three", "four"]}),
        queries=table(queries or {"id": ["q1", "q2", "q3"], "text": ["a", "b", "c"]}),
        train_qrels=table(train or {"query_id": ["q1", "q2"], "passage_id": ["p1", "p2"]}),
        test_qrels=table(test or {"query_id": ["q3"], "passage_id": ["p3"]}),
        source="toy.tsv",
    )


def test_nested_subsets_are_prefixes_of_one_shuffle(small_data):
    full = small_data.train_pair_rows(seed=3)
    for size in (10, 50, 200):
        assert np.array_equal(small_data.train_pair_rows(size, seed=3), full[:size])
    assert not np.array_equal(small_data.train_pair_rows(50, seed=4), full[:50])


def test_pool_excludes_every_test_positive_and_samples_reproducibly(small_data):
    positives = set(small_data.test_pair_rows()[:, 1].tolist())
    pool = small_data.pool_rows()
    assert not positives & set(pool.tolist())
    assert len(pool) == len(small_data.corpus) - len(positives)
    sample = small_data.pool_rows(100, seed=1)
    assert len(sample) == 100 and set(sample.tolist()) <= set(pool.tolist())
    assert np.array_equal(sample, small_data.pool_rows(100, seed=1))


def test_pairs_point_at_the_right_texts(small_data):
    query_row, passage_row = small_data.test_pair_rows()[0]
    qid = small_data.queries[int(query_row)]["id"]
    assert small_data.corpus[int(passage_row)]["id"] == qid.replace("q:", "p:", 1)


def test_split_keeps_each_query_in_one_split():
    qrels = table({"query_id": ["a", "a", "b", "c", "d"], "passage_id": ["1", "2", "3", "4", "5"]})
    train, test = split_qrels_by_query(qrels, test_queries=2, seed=0)
    assert len(set(train["query_id"][:]) & set(test["query_id"][:])) == 0
    assert len(set(test["query_id"][:])) == 2 and len(train) + len(test) == 5


def test_save_and_load_round_trip(tmp_path, small_data):
    small_data.save(tmp_path / "saved")
    loaded = RetrievalData.load(tmp_path / "saved")
    assert loaded.fingerprint() == small_data.fingerprint()
    assert loaded.summary() == small_data.summary()


@pytest.mark.bad_input
@pytest.mark.parametrize(
    "change, message",
    [
        ({"corpus": {"id": ["p1", "p1", "p3", "p4"], "text": ["a", "b", "c", "d"]}}, r"toy.tsv: corpus row 2: duplicate id 'p1'"),
        ({"corpus": {"id": ["p1", "p2", "p3", "p4"], "text": ["a", " ", "c", "d"]}}, r"corpus row 2 \(id 'p2'\): empty text"),
        ({"queries": {"id": ["q1", "q2", "q3"], "text": ["a", "", "c"]}}, r"queries row 2 \(id 'q2'\): empty text"),
        ({"train": {"query_id": ["q1", "q9"], "passage_id": ["p1", "p2"]}}, r"train_qrels row 2 names unknown query id 'q9'"),
        ({"test": {"query_id": ["q3"], "passage_id": ["p7"]}}, r"test_qrels row 1 names unknown passage id 'p7'"),
        ({"test": {"query_id": ["q1"], "passage_id": ["p3"]}}, r"1 queries are in both train and test, e.g. 'q1'"),
        ({"corpus": {"id": ["p1", "p2", "p3", "p4"]}}, r"corpus lacks column\(s\) \['text'\]"),
    ],
)
def test_bad_tables_name_the_table_row_and_value(change, message):
    with pytest.raises(ValueError, match=message):
        make(**change)


@pytest.mark.bad_input
@pytest.mark.parametrize("size, message", [(0, "between 1 and 2"), (3, "got 3")])
def test_data_size_outside_the_training_set_is_refused(size, message):
    with pytest.raises(ValueError, match=message):
        make().train_pair_rows(size)


@pytest.mark.bad_input
def test_loading_a_folder_without_data_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved retrieval data"):
        RetrievalData.load(tmp_path)


def test_a_pool_split_is_the_pool_and_no_model_trains_or_tests_on_it(small_data):
    data = small_data.with_dev_split(20, seed=0).with_pool_split(60, seed=0)
    pool = set(data.pool_rows().tolist())
    labelled = {int(row) for rows in (data.train_pair_rows(), data.dev_pair_rows(), data.test_pair_rows()) for row in rows[:, 1]}
    assert len(pool) == 60 and not pool & labelled
    assert data.n_train_pairs == small_data.n_train_pairs - 20 - 60
    assert data.with_pool_split(60, seed=0) is data  # never carved twice
    assert data.fingerprint() != small_data.with_dev_split(20, seed=0).fingerprint()
    assert data.test_fingerprint() != small_data.with_dev_split(20, seed=0).test_fingerprint()
    assert data.pool_queries == 60


def test_without_a_pool_split_the_pool_and_fingerprints_are_as_before(small_data):
    """The release's pool (every passage but the test and dev positives), and the fingerprints
    that data prepared before pool splits existed already carry."""
    data = small_data.with_dev_split(20, seed=0)
    held_out = {int(row) for rows in (data.dev_pair_rows(), data.test_pair_rows()) for row in rows[:, 1]}
    assert set(data.pool_rows().tolist()) == set(range(len(data.corpus))) - held_out
    assert small_data.fingerprint() == "c9a1e129d22e1ebc"  # as computed before pool splits existed


def test_a_pool_split_survives_saving_and_only_unshared_passages_are_drawn(tmp_path, small_data):
    data = small_data.with_pool_split(30, seed=2)
    data.save(tmp_path / "saved")
    loaded = RetrievalData.load(tmp_path / "saved")
    assert loaded.pool_queries == 30 and np.array_equal(loaded.pool_rows(), data.pool_rows())
    assert loaded.fingerprint() == data.fingerprint() and loaded.test_fingerprint() == data.test_fingerprint()
    shared = make(train={"query_id": ["q1", "q2"], "passage_id": ["p1", "p1"]},
                  test={"query_id": ["q3"], "passage_id": ["p3"]})
    with pytest.raises(ValueError, match=r"pool_queries must be between 1 and 0 \(training queries whose positives no other query shares"):
        shared.with_pool_split(1)


@pytest.mark.bad_input
def test_a_pool_passage_that_is_also_trained_on_is_refused():
    with pytest.raises(ValueError, match=r"1 pool passages are also positives of another split, e.g. 'p1'"):
        RetrievalData(name="toy", corpus=table({"id": ["p1", "p2", "p3"], "text": ["one", "two", "three"]}),
                      queries=table({"id": ["q1", "q2", "q3"], "text": ["a", "b", "c"]}),
                      train_qrels=table({"query_id": ["q1"], "passage_id": ["p1"]}),
                      test_qrels=table({"query_id": ["q3"], "passage_id": ["p3"]}),
                      pool_qrels=table({"query_id": ["q2"], "passage_id": ["p1"]}))
