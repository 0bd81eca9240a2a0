"""Errors a user can fix: the CLI prints their message on one line and exits 2."""


class UserError(Exception):
    """A wrong path, option or input combination. The message is shown as is."""


class RunFailed(Exception):
    """The stage ran but its result is not good enough to go on (e.g. too many failed
    inputs). Its output is complete and kept (`report`); the CLI prints the report, then
    one line, and exits 1."""

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class CountsDisagree(Exception):
    """Two independent counts of one stage's rows differ (what its tasks counted, what its
    files hold, what it dropped by reason): rows were lost or written where the driver
    does not read. The output is not committed; the CLI prints one line and exits 1."""
