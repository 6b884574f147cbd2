"""Names that people see (channels, display names, bots and apps, workspaces): normalised, never deceiving. Pure.

A name is stored in Unicode NFKC form, so ``general`` in fullwidth letters *is* ``general``
and collides with it. Characters that render as nothing or rearrange what follows
(zero-width spaces and joiners, bidi overrides and isolates, the BOM, line and
paragraph separators), control characters, private-use, surrogate and unassigned
code points are refused: with them ``general`` followed by U+200B looks like
``#general``.
"""

from __future__ import annotations

import unicodedata

# Control, format (zero-width, bidi, BOM), surrogate, private use, unassigned; line and paragraph separators.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def normalized(name: str) -> str:
    return unicodedata.normalize("NFKC", name)


def deceptive(name: str) -> bool:
    """True when ``name`` holds a character that is invisible, reorders text, or is not a character."""
    return any(unicodedata.category(char) in _INVISIBLE for char in name)


def display_name(name: str, max_length: int) -> str | None:
    """``name`` as it is stored and shown (NFKC, outer spaces trimmed), or None when it is unusable:
    empty, longer than ``max_length``, or deceptive."""
    clean = normalized(name).strip()
    if not clean or len(clean) > max_length or deceptive(clean):
        return None
    return clean
