"""Where a study keeps its files: the project's own study mirrors the project's layout, any
other keeps everything, figures included, inside its folder."""

from pathlib import Path

from drscale.study import PROJECT_ROOT, Study


def test_the_projects_study_keeps_its_figures_in_the_projects_figures_folder() -> None:
    study = Study()
    assert study.root == PROJECT_ROOT / "data"
    assert study.figures == PROJECT_ROOT / "figures"
    assert Study(PROJECT_ROOT / "data").figures == PROJECT_ROOT / "figures"  # named or not, the same study


def test_two_studies_side_by_side_never_share_a_figure(tmp_path) -> None:
    first, second = Study(tmp_path / "data" / "first"), Study(tmp_path / "data" / "second")
    assert first.figure("fit_model_size") == tmp_path / "data" / "first" / "figures" / "fit_model_size.png"
    assert first.figure("fit_model_size") != second.figure("fit_model_size")
    assert first.figures.is_relative_to(first.root) and first.executed.is_relative_to(first.root)


def test_a_figures_folder_given_is_used_as_given_and_a_relative_one_is_the_callers(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    study = Study("study", "pictures")
    assert (study.root, study.figures) == (tmp_path / "study", tmp_path / "pictures")
    assert Study(tmp_path / "study", tmp_path).figures == tmp_path


def test_a_study_is_only_a_layout_and_writes_nothing(tmp_path) -> None:
    study = Study(tmp_path / "nowhere")
    assert study.store_path == tmp_path / "nowhere" / "runs" / "results.jsonl"
    assert not Path(tmp_path / "nowhere").exists()


def test_a_data_folder_that_is_a_link_is_still_the_projects_study(tmp_path, monkeypatch) -> None:
    """data/ linked to a larger disk: named by its link or not, it is the project's study,
    whose figures stay in the project's figures/."""
    import drscale.study as study_module

    project, disk = tmp_path / "project", tmp_path / "disk" / "data"
    (project / "notebooks").mkdir(parents=True)
    disk.mkdir(parents=True)
    (project / "data").symlink_to(disk)
    monkeypatch.setattr(study_module, "PROJECT_ROOT", project)
    monkeypatch.chdir(project)
    for study in (Study(), Study("data"), Study(disk)):
        assert (study.root, study.figures) == (disk, project / "figures")
