"""Errors a user can fix: the CLI prints their message on one line and exits 2."""


class UserError(Exception):
    """A wrong path, option or input combination. The message is shown as is."""
