"""Who may read what in the app: the two roles from config, enforced by the read model itself.

finance (``[app] finance`` e-mails, and the local user in single-user mode) sees every team and
every page. A team lead (``[teams.<team>] lead``) sees the teams they lead and nothing else. The
read model filters every answer by the viewer it is given, so a team lead who edits a URL or a
widget still only reaches their own team's numbers: the app's widgets are a convenience, not the
guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gpuledger.config import Settings
from gpuledger.errors import GpuledgerError

SINGLE_USER: Final = "single-user"
LOCAL_USER: Final = "local user"


class AccessDenied(GpuledgerError):
    """The viewer asked for a page or a team their role does not cover."""

    exit_code = 2


@dataclass(frozen=True)
class Viewer:
    """The person looking at the app, with the role config gives them."""

    email: str
    finance: bool
    teams: frozenset[str] = frozenset()

    @property
    def role(self) -> str:
        return "finance" if self.finance else "team lead"

    def sees(self, team: str | None) -> bool:
        """Whether this viewer may see ``team``'s numbers."""
        return self.finance or (team is not None and team in self.teams)

    def require_team(self, team: str) -> None:
        if not self.sees(team):
            raise AccessDenied(f"{self.email} ({self.role}) may not see team {team!r}")

    def require_finance(self, what: str) -> None:
        if not self.finance:
            raise AccessDenied(f"{what} is for finance; {self.email} is a team lead")


def single_user_viewer() -> Viewer:
    """The local user of single-user mode: finance, since they own the ledger home."""
    return Viewer(email=LOCAL_USER, finance=True)


def viewer_for(settings: Settings, email: str | None) -> Viewer | None:
    """The viewer a signed-in e-mail is, by config; None when config gives it no role.

    E-mails compare case-insensitively. Someone listed in ``[app] finance`` is finance even when
    they also lead a team.
    """
    if not email:
        return None
    wanted = email.strip().casefold()
    if wanted in {address.strip().casefold() for address in settings.app.finance}:
        return Viewer(email=email, finance=True)
    led = frozenset(
        team
        for team, team_config in settings.teams.items()
        if team_config.lead and team_config.lead.strip().casefold() == wanted
    )
    return Viewer(email=email, finance=False, teams=led) if led else None
