import json

import papermill
import pytest

from drscale.suite import (FULL_NOTEBOOKS, JOINT_NOTEBOOKS, NOTEBOOK_DIR, NOTEBOOKS, REGIME_NOTEBOOKS, notebook_path,
                           run_notebook)


def test_every_notebook_is_in_a_suite_and_committed_clean():
    names = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
    full = {name for name, _ in FULL_NOTEBOOKS}
    assert sorted(set(NOTEBOOKS) | set(JOINT_NOTEBOOKS) | set(REGIME_NOTEBOOKS) | full) == names
    for name in names:
        notebook = json.loads(notebook_path(name).read_text())
        assert notebook["metadata"]["kernelspec"]["name"] == "python3"
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        assert "parameters" in code[0]["metadata"].get("tags", []), name
        assert not any(c.get("outputs") or c.get("execution_count") for c in code), name
        assert papermill.inspect_notebook(str(notebook_path(name))), name


@pytest.mark.bad_input
@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"evaluation": "W256"}, r"parameter 'evaluation' expects dict like its default"),
        ({"progress": 1}, r"parameter 'progress' expects bool like its default True; got int 1"),
        ({"models": "L1_H16"}, r"parameter 'models' expects list"),
        ({"train": ["steps", 6]}, r"parameter 'train' expects dict"),
    ],
)
def test_notebook_parameters_of_the_wrong_type_are_refused_before_running(tmp_path, parameters, message):
    with pytest.raises(ValueError, match=message):
        run_notebook("02_model_size_sweep", parameters, output_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_the_predict_then_verify_notebook_runs_the_sweep_notebooks_own_runs():
    """Notebook 11 repeats the sweeps of 02 and 03 so its held-out runs are theirs: the defaults must agree."""
    def defaults(name):
        return {key: eval(value["default"]) for key, value in papermill.inspect_notebook(str(notebook_path(name))).items()}

    verify, sizes, data = defaults("11_predict_then_verify"), defaults("02_model_size_sweep"), defaults("03_data_size_sweep")
    assert verify["models"] == sizes["models"] and verify["data_size"] == sizes["data_size"]
    assert verify["model"] == data["model"] and verify["data_sizes"] == data["data_sizes"]
    for key in ("preset", "pretraining", "train", "evaluation", "replicates"):
        assert verify[key] == sizes[key] == data[key], key


def test_ints_are_accepted_for_float_parameters(tmp_path):
    from drscale.suite import _check_type

    _check_type("06_budget_allocation.ipynb", "budget_usd", 100000, "1e5")
    with pytest.raises(ValueError, match="expects float"):
        _check_type("06_budget_allocation.ipynb", "budget_usd", "1e5", "1e5")
