"""What the whole paper study costs at the measured step times: 24 miniatures on the full
data plus each on the data sizes of notebook 03, 10,000 steps a run, training only."""

from __future__ import annotations

import ast

import papermill

from drscale.budget.cost import Hardware, paper_cost_model
from drscale.suite import notebook_path
from drscale.train.config import PAPER_PRESET


def notebook_data_sizes() -> list[int]:
    """`data_sizes` of notebook 03's parameters cell, read as the suite reads its parameters."""
    path = notebook_path("03_data_size_sweep")
    declared = papermill.inspect_notebook(str(path))
    if "data_sizes" not in declared:
        raise ValueError(f"no data_sizes in the parameters cell of {path}")
    return [int(x) for x in ast.literal_eval(declared["data_sizes"]["default"])]


def full_study(records: list[dict], steps: int = PAPER_PRESET.steps) -> dict:
    data_sizes = notebook_data_sizes()
    runs_per_model = 1 + len(data_sizes)  # the full data (model-size sweep) + each data size (data-size sweep)
    hardware = Hardware()
    cost = paper_cost_model()
    out = {"data_sizes": data_sizes, "runs_per_model": runs_per_model, "models": len(records), "steps": steps,
           "gpu_hour_usd": hardware.gpu_hour_usd, "runs": runs_per_model * len(records)}
    for precision in ("float32", "bfloat16"):
        hours = sum(runs_per_model * steps * r[precision]["step_s"] for r in records) / 3600
        full_data_hours = sum(steps * r[precision]["step_s"] for r in records) / 3600
        out[precision] = {"gpu_hours": hours, "usd": hours * hardware.gpu_hour_usd,
                          "model_size_sweep_hours": full_data_hours, "data_size_sweep_hours": hours - full_data_hours}
    # what drscale.budget.cost's FLOP-based model would charge for the same training (its own workload)
    out["cost_model_train_usd"] = sum(runs_per_model * cost.z_train_per_param * r["n_params"] for r in records)
    out["counted_flops"] = sum(runs_per_model * steps * r["flops_per_step"] for r in records)
    return out


def print_study(s: dict) -> None:
    print(f"full paper study: {s['models']} models x ({s['runs_per_model'] - 1} data sizes of notebook 03 "
          f"{s['data_sizes']} + the full data) = {s['runs']} runs x {s['steps']:,} steps, training only, at the measured "
          f"(full-length) step times, ${s['gpu_hour_usd']}/GPU-hour (drscale.budget.cost.Hardware):")
    for precision in ("float32", "bfloat16"):
        p = s[precision]
        print(f"  {precision:<9} {p['gpu_hours']:8.1f} GPU-hours  ${p['usd']:9,.0f}   (model-size sweep "
              f"{p['model_size_sweep_hours']:.1f} h, data-size sweep {p['data_size_sweep_hours']:.1f} h)")
    print(f"  {s['counted_flops']:.2e} FLOPs counted; drscale.budget.cost's FLOP model (A100 312 TFLOP/s at 25%, batch 256 x "
          f"150 tokens) would charge ${s['cost_model_train_usd']:,.0f}")
