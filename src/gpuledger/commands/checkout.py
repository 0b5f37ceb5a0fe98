"""Where gpuledger runs from: an installed wheel, or the ``src/`` tree of a repository checkout."""

from __future__ import annotations

from pathlib import Path

import gpuledger


def source_checkout() -> Path | None:
    """The repository root when gpuledger is imported from its ``src/`` tree, else ``None``.

    An editable install and a plain checkout run from ``<repo>/src/gpuledger``; a wheel installs
    into ``site-packages/gpuledger``, where the repository's own folders (``app/``,
    ``sample_data/``) are not.
    """
    package = Path(gpuledger.__file__).resolve().parent
    root = package.parent.parent
    if package.parent.name == "src" and (root / "pyproject.toml").is_file():
        return root
    return None
