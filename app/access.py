"""Who is looking: single-user mode for local use, or Streamlit's OIDC login mapped to a role.

``[app] auth = "single-user"`` (the default) makes the local user finance: that mode is for one
person on their own machine, which is why ``gpuledger app`` binds to 127.0.0.1 unless told
otherwise. ``[app] auth = "oidc"`` asks for a login (``st.login``, configured in
``.streamlit/secrets.toml`` under ``[auth]``) and gives the signed-in e-mail the role config says:
finance when listed in ``[app] finance``, team lead of the teams whose ``lead`` it is, else nothing.
An e-mail the identity provider marks unverified (``email_verified`` false) gets no role: anyone
can sign up at some providers with an address they do not own. Providers that send no
``email_verified`` claim at all (Microsoft Entra ID, for one) vouch for the address themselves.
"""

from __future__ import annotations

import streamlit as st

from gpuledger.config import Settings
from gpuledger.report.readmodel.access import Viewer, single_user_viewer, viewer_for
from plain import plain


def _signed_in() -> bool:
    return bool(st.user.get("is_logged_in", False))


def _email_unverified() -> bool:
    """True when the provider says the e-mail is not verified (a claim of false, in any form)."""
    verified = st.user.get("email_verified")
    return verified is not None and verified is not True and str(verified).lower() != "true"


def _signed_in_email() -> str | None:
    email = st.user.get("email") if _signed_in() else None
    return str(email) if email else None


def current_viewer(settings: Settings) -> Viewer:
    """The viewer of this session; stops the page with a login or a refusal when there is none."""
    if settings.app.auth == "single-user":
        return single_user_viewer()
    if not _signed_in():
        st.title("gpuledger")
        st.write("Sign in to see GPU cost, waste and recommendations.")
        st.button("Log in", on_click=st.login, type="primary")
        st.caption("The identity provider is set in `[auth]` of `.streamlit/secrets.toml`.")
        st.stop()
    email = _signed_in_email()
    if _email_unverified():
        st.error(
            f"{plain(email) if email else 'This account'} is not verified by the identity provider; gpuledger gives"
            " roles only to verified e-mail addresses."
        )
        st.button("Log out", on_click=st.logout)
        st.stop()
    viewer = viewer_for(settings, email)
    if viewer is None:
        st.error(
            f"{plain(email) if email else 'This account'} has no role in gpuledger. Finance users are listed in"
            " `[app] finance`, team leads as `lead` of a team in the config."
        )
        st.button("Log out", on_click=st.logout)
        st.stop()
    return viewer


def show_identity(settings: Settings, viewer: Viewer) -> None:
    """Who is signed in and as what, in the sidebar, with a logout where there is a login."""
    teams = ", ".join(sorted(viewer.teams))
    role = viewer.role if viewer.finance else f"{viewer.role} of {teams}"
    st.sidebar.caption(f"{plain(viewer.email)} · {role}")
    if settings.app.auth == "oidc":
        st.sidebar.button("Log out", on_click=st.logout)
