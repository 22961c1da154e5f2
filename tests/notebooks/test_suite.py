import json

import papermill
import pytest

from drscale.suite import JOINT_NOTEBOOKS, NOTEBOOK_DIR, NOTEBOOKS, REGIME_NOTEBOOKS, main, notebook_path, run_notebook


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
def test_an_unknown_notebook_is_named_with_the_valid_names(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["09_missing"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "no notebook '09_missing'; choose from 01_prepare_data, 02_model_size_sweep" in error
    assert "Traceback" not in error


def test_help_lists_the_notebooks_and_the_parameter_flag(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out
    assert usage.startswith("usage: python -m drscale.suite") and "09_training_regime" in usage and "-p NAME VALUE" in usage


@pytest.mark.bad_input
def test_a_parameter_from_the_command_line_reaches_the_notebook_check(tmp_path):
    """`-p` values are Python literals: a misspelt name is refused by the notebook's parameter check."""
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['modle'\]"):
        main(["02_model_size_sweep", "-p", "modle", "L1_H16", "--output-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="parameter 'ce_negatives' expects int like its default 256; got str 'ten'"):
        main(["02_model_size_sweep", "-p", "ce_negatives", "ten", "--output-dir", str(tmp_path)])


@pytest.mark.bad_input
@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"ce_repeats": "10"}, r"parameter 'ce_repeats' expects int like its default 10; got str '10'"),
        ({"ce_repeats": True}, r"parameter 'ce_repeats' expects int"),
        ({"ranking": 1}, r"parameter 'ranking' expects bool like its default True; got int 1"),
        ({"models": "L1_H16"}, r"parameter 'models' expects list"),
        ({"data_dir": 3}, r"parameter 'data_dir' expects str"),
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
