"""Sweep tables read from records: seeds summarised as points, columns filled for records written before them."""

import numpy as np
import pandas as pd

from drscale.sweep.records import RunRecord, trend_summary
from samples import finished_record


def test_the_trend_of_a_seeded_sweep_is_told_over_point_means():
    table = pd.DataFrame({"n_params": [10, 10, 20, 20, 40, 40], "ce": [5.0, 4.0, 4.4, 4.2, 3.0, 3.2],
                          "train_time_s": 1.0})
    text = trend_summary(table, "n_params", chance=np.log(257))
    assert text.startswith("CE falls at 2 of 2 steps up in N (the mean of 2 runs each); from 4.472 (N=10) to 3.098 (N=40)")
    assert "6 of 6 runs below chance" in text and "training took 6 s in all" in text


def test_a_record_from_before_the_embedding_dimension_axis_reads_as_a_768_dimensional_run_with_its_encoder_size():
    record = finished_record(model="L1_H16")
    record.pop("encoder_params", None)
    record["config"].pop("embedding_dim", None)
    row = RunRecord(record).row()
    assert row["embedding_dim"] == 768 and row["encoder_params"] == 16_608 - 17 * 768 and row["init_seed"] == 0
