"""The Jinja templates ship inside the package, where the message builder loads them from."""

from __future__ import annotations

from importlib.resources import files

import pytest


@pytest.mark.parametrize(
    "name",
    ["_layout.html", "savings.html", "savings.txt", "chargeback.html", "chargeback.txt"],
    ids=lambda name: name,
)
def test_template_is_a_package_resource(name: str) -> None:
    resource = files("gpuledger.report.email").joinpath("templates", name)
    assert resource.is_file()
    assert "{{" in resource.read_text(encoding="utf-8") or "{%" in resource.read_text(
        encoding="utf-8"
    )
