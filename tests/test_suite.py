import json

import papermill
import pytest

from drscale.suite import JOINT_NOTEBOOKS, NOTEBOOK_DIR, NOTEBOOKS, main, notebook_path


def test_every_notebook_is_in_a_suite_and_committed_clean():
    names = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
    assert sorted(set(NOTEBOOKS) | set(JOINT_NOTEBOOKS)) == names
    for name in names:
        notebook = json.loads(notebook_path(name).read_text())
        assert notebook["metadata"]["kernelspec"]["name"] == "python3"
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        assert "parameters" in code[0]["metadata"].get("tags", []), name
        assert not any(c.get("outputs") or c.get("execution_count") for c in code), name
        assert papermill.inspect_notebook(str(notebook_path(name))), name


def test_an_unknown_notebook_is_named():
    with pytest.raises(FileNotFoundError, match="no notebook '09_missing'"):
        main(["09_missing"])
