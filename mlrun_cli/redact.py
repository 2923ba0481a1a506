"""The one place credentials are taken out of text: every message the console prints, every
error, every crash log, and what the store records (commands, tags, params) pass through
`redact`. A URL's ``user:password@`` (or ``token@``) is removed, the password may contain
``@``; ``git@host:path`` (no scheme) has no secret and is kept.
"""

from __future__ import annotations

import re

# scheme://, then the userinfo up to the LAST "@" before the host (a password may contain "@"),
# never crossing "/" (the path) or whitespace (the next word).
_USERINFO = r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s]*@"


def redact(text: str) -> str:
    """`text` with the credentials of every URL in it removed."""
    if "@" not in text or "://" not in text:
        return text
    return re.sub(_USERINFO, r"\g<scheme>", text)
