"""CSV cells that are safe to open in a spreadsheet."""

# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """Quote text a spreadsheet would run as a formula with a leading ' (shown, not run; the
    import strips it again)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text
