"""The GPU benchmark's parts on the CPU: the peak it states a step against, its timing
window, its device CE and retrieval against the library's, and the paper study's
arithmetic. A GPU runs the same code; these keep it right on machines without one."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from _gpu.device import bf16_dense_peak, reference_peak
from _gpu.evaluation import TINY_CE, CEScale, device_contrastive_entropy, topk_chunked
from _gpu.study import full_study, notebook_data_sizes
from _gpu.training import profile_step, schedule, steady_step_seconds, synthetic_tokens, training_only
from bench_gpu import read_settings
from drscale.measure.entropy import contrastive_entropy
from drscale.measure.ranking import retrieve
from drscale.model.encoder import build_encoder
from drscale.train.config import PAPER_PRESET

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.parametrize("name, peak", [
    ("NVIDIA H200", 989.4e12),
    ("NVIDIA H200 NVL", 835.5e12),
    ("NVIDIA H100 80GB HBM3", 989.4e12),  # the SXM card
    ("NVIDIA H100 PCIe", 756.5e12),
    ("NVIDIA H100 NVL", 835.5e12),
    ("NVIDIA A100-SXM4-80GB", 312e12),
])
def test_the_peak_is_the_cards_own_datasheet_figure(name, peak):
    flops, source = bf16_dense_peak(name)
    assert flops == peak and "datasheet" in source


def test_a_card_the_table_does_not_know_is_stated_against_its_measured_matmul_rate():
    assert bf16_dense_peak("Tesla T4") is None
    assert bf16_dense_peak("NVIDIA H100 80GB HBM3 MIG 1g.10gb") is None  # a slice has a fraction of the card
    flops, source = reference_peak("Tesla T4", 50e12)
    assert flops == 50e12 and "measured bf16 matmul rate" in source and "Tesla T4" in source
    assert reference_peak("NVIDIA H200", 700e12)[0] == 989.4e12  # a known card keeps its datasheet peak
    with pytest.raises(ValueError, match="no datasheet bf16 peak for 'Tesla T4'"):
        reference_peak("Tesla T4", None)


def test_step_time_is_read_from_the_first_loss_read_after_warm_up():
    seconds = [9.0] * 10 + [1.0] * 9 + [3.0] + [2.0] * 10  # reads after steps 10, 20 and 30
    assert steady_step_seconds(seconds, warmup=10, read_every=10) == pytest.approx(np.mean(seconds[10:]))
    assert steady_step_seconds(seconds, warmup=11, read_every=10) == pytest.approx(2.0)  # from the read at 20
    with pytest.raises(ValueError, match="no steps after the first loss read at or after step 31"):
        steady_step_seconds(seconds, warmup=31, read_every=10)
    assert schedule("L2_H128") == (10, 20) and schedule("L12_H768") == (10, 10)


def test_synthetic_batches_are_full_length_and_pair_each_query_with_its_passage():
    tokens, pairs = synthetic_tokens(5, query_length=8, passage_length=16)
    assert {len(q) for q in tokens.queries} == {8} and {len(p) for p in tokens.passages} == {16}
    assert all(q[0] == 101 and q[-1] == 102 for q in tokens.queries)
    assert pairs.tolist() == [[i, i] for i in range(5)]


@pytest.mark.filterwarnings("ignore:CUDA is not available, disabling CUDA profiling")
def test_the_profile_reads_the_profilers_events_and_finds_no_device_time_on_the_cpu():
    """The profile runs only on a GPU in the benchmark (`--tiny` skips it); here its reading of
    torch's events runs at least, and a CPU run has no device kernels to count."""
    tokens, pairs = synthetic_tokens(32, query_length=8, passage_length=16)
    config = replace(training_only(PAPER_PRESET), batch_size=4, negatives=8, query_max_length=8, passage_max_length=16)
    profile = profile_step(build_encoder("L1_H16"), tokens, pairs, config, torch.device("cpu"), steps=2)
    assert profile["kernels_per_step"] == profile["kernel_s_per_step"] == profile["device_busy"] == 0
    assert profile["profiled_step_s"] > 0


def test_device_contrastive_entropy_scores_the_librarys_draws_to_its_value():
    generator = torch.Generator().manual_seed(3)
    queries = torch.randn(60, 16, generator=generator)
    positives = queries + 0.5 * torch.randn(60, 16, generator=generator)
    pool = torch.randn(3000, 16, generator=generator)
    config = dict(negatives=32, repeats=3, seed=1)
    expected = contrastive_entropy(queries, positives, pool, **config)
    assert device_contrastive_entropy(queries, positives, pool, **config) == pytest.approx(expected, abs=1e-9)
    per_pair = device_contrastive_entropy(queries, positives, pool, per_pair=True, draws_per_chunk=500, **config)
    assert per_pair.shape == (60,) and float(per_pair.mean()) == pytest.approx(expected, abs=1e-9)  # chunking changes nothing


def test_chunked_top_k_finds_the_librarys_passages():
    generator = torch.Generator().manual_seed(4)
    queries, passages = torch.randn(30, 8, generator=generator), torch.randn(500, 8, generator=generator)
    scores, rows = topk_chunked(queries, passages, k=20, chunk=7)
    library_scores, library_rows = retrieve(queries, passages, 20)
    assert torch.equal(torch.as_tensor(library_rows), rows)
    assert torch.allclose(torch.as_tensor(library_scores), scores)


def test_the_paper_study_costs_every_run_at_its_models_step_time():
    records = [{"size": "a", "n_params": 10, "flops_per_step": 1e9, "float32": {"step_s": 0.36}, "bfloat16": {"step_s": 0.18}},
               {"size": "b", "n_params": 20, "flops_per_step": 2e9, "float32": {"step_s": 0.72}, "bfloat16": {"step_s": 0.36}}]
    sizes = notebook_data_sizes()
    study = full_study(records, steps=10_000)
    runs_per_model = 1 + len(sizes)
    assert study["runs"] == 2 * runs_per_model
    assert study["bfloat16"]["gpu_hours"] == pytest.approx(runs_per_model * (0.18 + 0.36) * 10_000 / 3600)
    assert study["bfloat16"]["model_size_sweep_hours"] == pytest.approx((0.18 + 0.36) * 10_000 / 3600)
    assert study["float32"]["usd"] == pytest.approx(study["float32"]["gpu_hours"] * study["gpu_hour_usd"])
    assert study["counted_flops"] == pytest.approx(runs_per_model * 10_000 * 3e9)


@pytest.mark.slow
def test_the_benchmark_runs_every_section_on_tiny_shapes_without_a_gpu(tmp_path):
    """`--tiny`: every section of the script on the CPU, runs at once included, so a run on a
    GPU does not fail on a slip in the code; without CUDA the plain run is one skip line."""
    import json

    out = tmp_path / "tiny.json"
    result = subprocess.run([sys.executable, str(BENCHMARKS / "bench_gpu.py"), "--tiny", "--out", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads(out.read_text())
    assert "errors" not in results, results.get("errors")
    assert results["ce"]["all_within_1e-4"] and results["retrieval"]["mean_overlap"] == 1.0
    (record,) = results["training"]
    assert record["size"] == "L2_H128" and record["bfloat16"]["finite"] and record["float32"]["finite"]
    assert results["study"]["runs"] == 1 + len(notebook_data_sizes())
    (together,) = results["concurrent"]
    assert together["size"] == "L2_H128" and together["processes"].keys() == {"1", "2"}
    assert "measured bf16 matmul rate" in results["peak_source"]  # a CPU is not in the datasheet table
    if not torch.cuda.is_available():
        plain = subprocess.run([sys.executable, str(BENCHMARKS / "bench_gpu.py")], capture_output=True, text=True, timeout=300)
        assert plain.returncode == 0 and plain.stdout.startswith("bench_gpu: skipped: CUDA is not available")


def test_settings_take_the_releases_scale_and_tiny_shrinks_it_but_keeps_what_was_asked():
    release = read_settings([])
    assert release.ce == CEScale() and (release.ce.pairs, release.ce.pool, release.k) == (7437, 1_000_000, 1000)
    assert len(release.sizes) == 24 and release.steps is None and release.out == "-"
    tiny = read_settings(["--tiny", "--pairs", "50", "--steps", "4", "--warmup", "2"])
    assert tiny.ce == replace(TINY_CE, pairs=50) and tiny.steps == (2, 4) and tiny.sizes == ("L2_H128",)
    assert tiny.profile == () and tiny.concurrent == ("L2_H128",) and tiny.matmul_n < release.matmul_n
    assert read_settings(["--tiny", "--k", "0"]).k == 0 and tiny.k == 50


@pytest.mark.bad_input
def test_a_size_that_is_no_miniature_is_refused_by_name(capsys):
    with pytest.raises(SystemExit):
        read_settings(["--sizes", "L2_H128", "L3_H999"])
    assert "--sizes: L3_H999 not a drscale size" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        read_settings(["--sizes", "L1_H32"])  # a CPU size has no scheduled step count
    assert "--sizes: L1_H32 not among the miniatures, whose step counts are scheduled; give --steps" in capsys.readouterr().err
    assert read_settings(["--sizes", "L1_H32", "--steps", "10", "--concurrent", "L1_H32"]).sizes == ("L1_H32",)
