"""Licence notices of the docstring snapshot's sources.

The snapshot (`drscale.data.snapshot`) redistributes documentation text of the Python
standard library (PSF licence) and of NumPy, SciPy, pandas, matplotlib, PyTorch,
transformers, datasets, huggingface_hub and IPython (BSD-style, PSF-based and Apache-2.0
licences). Whoever ships it must name each source with its version, licence and copyright
lines and reproduce the licence texts: `source_info` gathers them from the installed
distributions, and `licence_notices` writes them as `NOTICE.md` and
`THIRD_PARTY_LICENSES.txt`, which lie beside the snapshot.
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
from pathlib import Path

_LICENCE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)
_COPYRIGHT = re.compile(r"Copyright\s*(?:\([cC]\)|©)?\s*\d{4}")

_LICENCE_NAMES = {
    "stdlib": "PSF-2.0 (Python Software Foundation License Version 2)",
    "scipy": "BSD-3-Clause",
    "matplotlib": "Matplotlib License (PSF-based)",
    "transformers": "Apache-2.0",
    "datasets": "Apache-2.0",
    "huggingface_hub": "Apache-2.0",
}
"""Licence names where the distribution's metadata has no SPDX expression."""

_COPYRIGHT_NOTES = {
    "datasets": ["Copyright The HuggingFace Datasets Authors (AUTHORS: Google Inc., HuggingFace Inc.); "
                 "source file headers: \"Copyright 2020 The HuggingFace Datasets Authors and the TensorFlow Datasets Authors\""],
    "huggingface_hub": ["Copyright 2019-present, the HuggingFace Inc. team (source file headers; the LICENSE file names no holder)"],
}
"""Copyright holders of sources whose licence files name none."""


def source_info(label: str, root: Path, files: list[tuple[Path, str]], records: list[tuple[str, str, str]]) -> dict:
    """Name, version, licence, copyright lines and licence files ((shown path, text)) of one source."""
    licence_files: list[tuple[str, str]] = []
    primary: list[str] = []
    if label == "stdlib":
        distribution, version = f"{platform.python_implementation()} standard library", platform.python_version()
        licence = _LICENCE_NAMES["stdlib"]
        shown_root = root.name
    else:
        names = importlib.metadata.packages_distributions().get(label) or [label]
        dist = importlib.metadata.distribution(names[0])
        distribution, version = dist.metadata["Name"], dist.version
        licence = _LICENCE_NAMES.get(label) or dist.metadata.get("License-Expression") or _short_licence(dist)
        shown_root = label
        for file in dist.files or []:
            parts = file.parts
            inside = [i for i, part in enumerate(parts) if part.endswith(".dist-info")]
            if not inside:
                continue
            below = parts[inside[0] + 1:]
            # the distribution's own licence files (and pandas-style LICENSES/ of vendored code),
            # not the licence trees of compiled third-party code (torch third_party/, ...)
            if len(below) == 1 and _LICENCE_FILE.match(below[0]) or below[:1] == ("licenses",) and len(below) <= 3:
                text = Path(file.locate()).read_text(encoding="utf-8", errors="replace")
                licence_files.append((str(file), text))
                if len(below) <= 2:
                    primary.append(text)
    # licence files beside the parsed sources (vendored modules: numpy/ma, scipy/_lib/_uarray, ...)
    for folder in sorted({path.parent for path, _ in files}):
        for candidate in sorted(folder.iterdir()):
            if candidate.is_file() and _LICENCE_FILE.match(candidate.name):
                text = candidate.read_text(encoding="utf-8", errors="replace")
                licence_files.append((f"{shown_root}/{candidate.relative_to(root).as_posix()}", text))
                if label == "stdlib":
                    primary.append(text)
    unique, seen = [], set()
    for shown, text in licence_files:
        if text not in seen:
            seen.add(text)
            unique.append((shown, text))
    copyright_lines = list(dict.fromkeys(line for text in primary for line in _copyright_lines(text)))
    return {
        "name": label,
        "distribution": distribution,
        "version": version,
        "licence": licence,
        "files_parsed": len(files),
        "pairs": sum(key.startswith(f"{label}.") for key, _, _ in records),
        "copyright": copyright_lines or _COPYRIGHT_NOTES.get(label, ["(no copyright line in its licence files)"]),
        "licence_files": unique,
    }


def _short_licence(dist: importlib.metadata.Distribution) -> str:
    field = (dist.metadata.get("License") or "").strip()
    if field and "\n" not in field and len(field) <= 60:
        return field
    classifiers = [c.split(" :: ")[-1] for c in dist.metadata.get_all("Classifier") or [] if c.startswith("License ::")]
    return ", ".join(classifiers) or "see its licence texts"


def _copyright_lines(text: str) -> list[str]:
    """Copyright statements of a licence text, before any section on bundled software."""
    lines = text.splitlines()
    found = []
    row = 0
    while row < len(lines):
        line = lines[row]
        if line.startswith("Name:"):
            break  # sections on bundled third-party software follow (numpy, scipy, matplotlib wheels)
        # a statement broken after "Copyright (c)", a comma, a semicolon or "All Rights" goes on
        while row + 1 < len(lines) and re.search(r"(Copyright\s*\([cC]\)|[,;]|All Rights)\s*$", line) and "Copyright" in line:
            row += 1
            line = line.rstrip() + " " + lines[row].strip()
        match = _COPYRIGHT.search(line)
        if match:
            statement = line[match.start():].split('"')[0].strip().rstrip(".")
            found.append(" ".join(statement.split()))
        row += 1
    return found


def licence_notices(infos: list[dict], snapshot: str, pairs: int) -> tuple[str, str]:
    """NOTICE.md and THIRD_PARTY_LICENSES.txt for the snapshot's sources."""
    notice = [
        "# Notices: the docstring snapshot",
        "",
        f"`{snapshot}` (beside this file) holds {pairs:,} (query, passage) pairs taken from the",
        "docstrings of the sources below, as installed when the snapshot was built (see its",
        "manifest). Each docstring was split at its first blank line into a summary (the query)",
        "and the rest (the passage), and runs of whitespace were collapsed to one space; the text",
        "was not otherwise changed. It remains under its authors' copyright and licences, listed",
        "here; drscale's own MIT licence does not cover it.",
        "",
        "The full licence texts, copied verbatim from the installed distributions (and any NOTICE",
        "file one ships), are in `THIRD_PARTY_LICENSES.txt`.",
        "",
    ]
    licences = [
        f"Licence texts of the sources of drscale's docstring snapshot ({snapshot}), copied verbatim",
        "from the installed distributions it was built from. See NOTICE.md.",
        "",
    ]
    for info in infos:
        title = f"{info['name']}: {info['distribution']} {info['version']}"
        notice += [
            f"## {title}",
            "",
            f"- Licence: {info['licence']}",
            f"- Pairs in the snapshot: {info['pairs']:,}",
            "- Copyright:",
            *(f"  - {line}" for line in info["copyright"]),
            f"- Licence texts reproduced: {', '.join(f'`{shown}`' for shown, _ in info['licence_files'])}",
            "",
        ]
        for shown, text in info["licence_files"]:
            licences += ["=" * 78, f"{title} -- {shown}", "=" * 78, "", text.rstrip("\n"), ""]
    return "\n".join(notice), "\n".join(licences) + "\n"
