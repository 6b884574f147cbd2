"""Whole numbers written by strangers: in query strings, headers and signed links."""


def decimal(raw: str | None, *, max_digits: int = 18) -> int | None:
    """The number ``raw`` spells in ASCII digits, or ``None``.

    ``str.isdigit`` is not enough: it is true for ``"²"``, which ``int`` refuses, and ``int``
    accepts other scripts' digits and surrounding spaces, which no caller of ours means.
    """
    if not raw or len(raw) > max_digits or not (raw.isascii() and raw.isdigit()):
        return None
    return int(raw)
