"""`gpuledger config show`: the effective settings as TOML-like JSON, secrets never included."""

from __future__ import annotations

import json

from gpuledger.commands.context import Context


def run(ctx: Context) -> None:
    settings = ctx.settings.redacted()
    settings["smtp"]["password"] = "(set)" if ctx.settings.smtp.password else "(not set)"
    print(json.dumps(settings, indent=2, default=str))
