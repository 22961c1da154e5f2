"""`python -m drscale`: its commands run what they name, and a user's mistake ends in one line naming it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from drscale.__main__ import main


def error_of(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    return error


@pytest.mark.bad_input
def test_an_unknown_notebook_is_named_with_the_valid_names(capsys):
    error = error_of(capsys, ["notebook", "09_missing"])
    assert "no notebook '09_missing'; choose from 01_prepare_data, 02_model_size_sweep" in error


@pytest.mark.bad_input
def test_a_misspelt_or_mistyped_parameter_is_one_line_naming_it(capsys, tmp_path):
    """`-p` values are Python literals: a misspelt name or a wrong type is refused by the notebook's parameter check."""
    error = error_of(capsys, ["notebook", "02_model_size_sweep", "-p", "modle", "L1_H16", "--output-dir", str(tmp_path)])
    assert "unknown parameter(s) ['modle']" in error
    error = error_of(capsys, ["notebook", "02_model_size_sweep", "-p", "progress", "yes", "--output-dir", str(tmp_path)])
    assert "parameter 'progress' expects bool like its default True; got str 'yes'" in error
    assert not any(tmp_path.iterdir())


@pytest.mark.bad_input
def test_workers_below_one_are_refused_naming_the_option(capsys, tmp_path):
    for value in ("0", "two"):
        error = error_of(capsys, ["sweep", str(tmp_path / "spec.json"), "--workers", value])
        assert f"argument --workers: must be a whole number of at least 1; got '{value}'" in error


@pytest.mark.bad_input
def test_a_missing_spec_is_one_line(capsys, tmp_path):
    error = error_of(capsys, ["sweep", str(tmp_path / "missing.json")])
    assert f"sweep spec {tmp_path / 'missing.json'} does not exist" in error


@pytest.mark.bad_input
def test_a_spec_folder_a_store_folder_an_unwritable_store_and_bad_toml_are_one_line(capsys, tmp_path, small_data):
    small_data.save(tmp_path / "data" / "prepared" / "small")
    assert f"sweep spec {tmp_path} is a folder; pass the spec file in it" in error_of(capsys, ["sweep", str(tmp_path)])
    (tmp_path / "spec.toml").write_text("[grid\nmodels = 1\n")
    assert "spec.toml: not valid TOML (Expected ']'" in error_of(capsys, ["sweep", str(tmp_path / "spec.toml")])
    (tmp_path / "stores").mkdir()
    (tmp_path / "spec.json").write_text('{"dataset": "small", "store": "stores", "grid": {"models": ["L1_H16"], "data_sizes": [8]}}')
    assert "results store" in error_of(capsys, ["sweep", str(tmp_path / "spec.json")])
    (tmp_path / "blocked").write_text("a file where the store's folder should be")
    (tmp_path / "spec.json").write_text('{"dataset": "small", "store": "blocked/results.jsonl", '
                                          '"train": {"eval_points": 0, "selection": "last"}, "grid": {"models": ["L1_H16"], "data_sizes": [64]}}')
    assert "cannot be written" in error_of(capsys, ["sweep", str(tmp_path / "spec.json")])


def test_help_names_the_commands_and_each_command_its_options(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out
    assert usage.startswith("usage: python -m drscale") and all(c in usage for c in ("suite", "notebook", "sweep", "notebooks"))
    with pytest.raises(SystemExit):
        main(["notebook", "--help"])
    usage = capsys.readouterr().out
    assert "09_training_regime" in usage and "-p NAME VALUE" in usage
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    usage = capsys.readouterr().out
    assert "spec keys: data_dir, dataset, device, evaluation, grid" in usage and "grid keys: data_sizes" in usage


def test_notebooks_lists_every_notebook_with_its_suite(capsys):
    assert main(["notebooks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 11
    assert lines[0].split()[0] == "01_prepare_data" and "demo (suite)" in lines[0]
    assert "suite --joint" in next(line for line in lines if line.startswith("04_joint_sweep"))
    assert next(line for line in lines if line.startswith("10_embedding_dim_sweep")).split()[1:] == ["suite", "--full"]


def test_the_full_suite_gives_each_notebook_its_own_parameters_under_the_command_lines(monkeypatch, tmp_path):
    from drscale import report, suite

    calls, outputs, reports = [], set(), []
    monkeypatch.chdir(tmp_path)

    def run_notebook(name, parameters, output_dir):
        calls.append((name, parameters))
        outputs.add(Path(output_dir))
        return tmp_path

    monkeypatch.setattr(suite, "run_notebook", run_notebook)
    monkeypatch.setattr(report, "write_report", lambda study, **kwargs: reports.append(study) or tmp_path / "report.html")
    assert main(["suite", "--full", "-p", "data_dir", "study"]) == 0
    study = str(tmp_path / "study")  # a relative path is the caller's, not the notebooks' folder's
    assert calls[0] == ("02_model_size_sweep", {"replicates": 3, "data_dir": study})
    assert [name for name, _ in calls] == [name for name, _ in suite.FULL_NOTEBOOKS]
    assert dict(calls)["10_embedding_dim_sweep"] == {"data_dir": study}
    assert outputs == {tmp_path / "study" / "executed"}  # that study's executed copies, not the project's
    assert [r.root for r in reports] == [tmp_path / "study"]
    reports.clear()
    assert main(["report", "--data-dir", "other"]) == 0
    assert [r.root for r in reports] == [tmp_path / "other"]


def test_input_paths_are_the_callers_where_they_exist_and_names_pass_through(monkeypatch, tmp_path):
    """A notebook runs in notebooks/: a relative folder given on the command line is made
    absolute from where the command ran, while size names, hub ids and names that are not
    files here reach the notebook as typed."""
    from drscale import report, suite

    calls = []
    monkeypatch.chdir(tmp_path)
    for folder in ("corpus", "models/mine", "L1_H16", "minilm"):  # a folder sharing a size's or family's name: the name
        (tmp_path / folder).mkdir(parents=True)
    monkeypatch.setenv("HOME", str(tmp_path / "models"))
    monkeypatch.setattr(suite, "run_notebook", lambda name, parameters, output_dir: calls.append(parameters) or tmp_path)
    monkeypatch.setattr(report, "write_report", lambda study, **kwargs: tmp_path / "report.html")
    main(["notebook", "01_prepare_data", "-p", "source", "beir", "-p", "path", "corpus", "-p", "name", "corpus"])
    main(["notebook", "02_model_size_sweep", "-p", "models", '["L1_H16", "models/mine", "owner/name", "MiniLM_L2"]'])
    main(["notebook", "07_annotation_quality", "-p", "model", "models/mine", "-p", "generator", "t5-here"])
    main(["notebook", "09_training_regime", "-p", "models", '["minilm", "~/mine"]', "-p", "data_model", "~/mine"])
    main(["notebook", "01_prepare_data", "-p", "path", "", "-p", "data_dir", "~/study"])
    assert calls[0] == {"source": "beir", "path": str(tmp_path / "corpus"), "name": "corpus"}
    assert calls[1] == {"models": ["L1_H16", str(tmp_path / "models" / "mine"), "owner/name", "MiniLM_L2"]}
    assert calls[2] == {"model": str(tmp_path / "models" / "mine"), "generator": "t5-here"}
    mine = str(tmp_path / "models" / "mine")
    assert calls[3] == {"models": ["minilm", mine], "data_model": mine}
    assert calls[4] == {"path": "", "data_dir": str(tmp_path / "models" / "study")}  # an empty path is no folder


@pytest.mark.slow
def test_the_module_runs_as_a_program():
    result = subprocess.run([sys.executable, "-m", "drscale", "notebooks"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "05_fit_scaling_laws" in result.stdout


@pytest.mark.slow
def test_a_sweep_whose_runs_fail_exits_with_status_1_and_says_how_many(capsys, tmp_path, small_data):
    small_data.save(tmp_path / "data" / "prepared" / "small")
    spec = {"dataset": "small", "workers": 1, "grid": {"models": ["L1_H16"], "data_sizes": [64]},
            "train": {"eval_points": 0, "selection": "last", "steps": 5, "batch_size": 8, "negatives": 16,
                      "warmup_steps": 1, "learning_rate": 1e6, "passage_max_length": 24, "query_max_length": 12},
            "evaluation": {"negatives": 32, "repeats": 2, "pool_size": 128}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    with pytest.warns(UserWarning, match="1 failed run"):
        assert main(["sweep", str(tmp_path / "spec.json"), "--no-progress"]) == 1
    assert "1 of 1 runs failed" in capsys.readouterr().err


@pytest.mark.bad_input
def test_a_notebook_that_stops_is_one_line_naming_its_cell_and_the_copy_with_the_traceback(capsys, monkeypatch, tmp_path):
    from papermill.exceptions import PapermillExecutionError

    from drscale import suite

    def stops(name, parameters, output_dir):
        raise PapermillExecutionError(cell_index=2, exec_count=3, source="...", ename="ValueError",
                                      evalue="notebook parameters: unknown training setting(s) ['step']", traceback=[])

    monkeypatch.setattr(suite, "run_notebook", stops)
    with pytest.raises(SystemExit) as exit_info:
        main(["notebook", "03_data_size_sweep", "-p", "train", '{"step": 400}', "--output-dir", str(tmp_path)])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    assert ("03_data_size_sweep stopped in cell 3: ValueError: notebook parameters: unknown training setting(s) ['step'] "
            f"(the traceback is in {tmp_path / '03_data_size_sweep.ipynb'})") in error


@pytest.mark.slow
def test_a_sweep_whose_run_raises_is_one_line_naming_the_run_and_the_store(capsys, tmp_path, small_data):
    small_data.save(tmp_path / "data" / "prepared" / "small")
    (tmp_path / "notamodel").mkdir()
    (tmp_path / "notamodel" / "config.json").write_text("{}")
    spec = {"dataset": "small", "workers": 1, "grid": {"models": [str(tmp_path / "notamodel")], "data_sizes": [64]},
            "train": {"eval_points": 0, "selection": "last", "steps": 2, "warmup_steps": 0, "batch_size": 8, "negatives": 16}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", str(tmp_path / "spec.json"), "--no-progress"])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    assert "1 run(s) raised (recorded as failed in" in error and "notamodel D=64: ValueError: Unrecognized model" in error
