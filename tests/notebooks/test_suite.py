import json

import papermill
import pytest

from drscale.suite import JOINT_NOTEBOOKS, NOTEBOOK_DIR, NOTEBOOKS, REGIME_NOTEBOOKS, notebook_path, run_notebook


def test_every_notebook_is_in_a_suite_and_committed_clean():
    names = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
    assert sorted(set(NOTEBOOKS) | set(JOINT_NOTEBOOKS) | set(REGIME_NOTEBOOKS)) == names
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


def test_ints_are_accepted_for_float_parameters(tmp_path):
    from drscale.suite import _check_type

    _check_type("06_budget_allocation.ipynb", "budget_usd", 100000, "1e5")
    with pytest.raises(ValueError, match="expects float"):
        _check_type("06_budget_allocation.ipynb", "budget_usd", "1e5", "1e5")
