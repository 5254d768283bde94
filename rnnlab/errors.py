"""The one exception type users see: its message is the whole one-line explanation."""


class RnnlabError(Exception):
    """A problem the user can fix (bad params, missing data, unreachable source)."""
