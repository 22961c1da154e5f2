"""Docstring pairs from installed source files: the query is the summary, the passage the rest."""

import sysconfig
import textwrap
from pathlib import Path

from drscale.data.docstrings import docstring_pairs, file_docstrings, source_files

STDLIB = Path(sysconfig.get_paths()["stdlib"])

SOURCE = '''
def mean(values):
    """Compute the arithmetic mean of a sequence of numbers.

    The mean is the sum of the values divided by how many there are; an empty sequence
    raises an error because its mean is undefined.
    """

class Stack:
    """A last-in first-out container.

    Items are pushed on top and popped from the top, so the newest item leaves first of all.
    """

def undocumented():
    pass

def one_paragraph():
    """Only a summary, no body: not a query-passage pair."""
'''


def test_summary_is_the_query_and_the_rest_is_its_passage(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "stats.py").write_text(textwrap.dedent(SOURCE))
    (tmp_path / "pkg" / "tests").mkdir()
    (tmp_path / "pkg" / "tests" / "test_stats.py").write_text(textwrap.dedent(SOURCE))
    files = source_files(tmp_path / "pkg", "pkg")
    assert [module for _, module in files] == ["pkg.stats"]
    pairs = file_docstrings(*files[0])
    assert [key for key, _, _ in pairs] == ["pkg.stats:mean:2", "pkg.stats:Stack:9"]
    key, summary, body = pairs[0]
    assert summary == "Compute the arithmetic mean of a sequence of numbers."
    assert body.startswith("The mean is the sum") and "\n" not in body and summary not in body


def test_unparsable_files_are_skipped(tmp_path):
    (tmp_path / "broken.py").write_text("def f(:\n")
    assert file_docstrings(tmp_path / "broken.py", "broken") == []


def test_parallel_parsing_gives_the_same_pairs_in_the_same_order():
    files = source_files(STDLIB / "json", "json") + source_files(STDLIB / "email", "email")
    assert list(docstring_pairs(files, workers=2)) == list(docstring_pairs(files, workers=1))
