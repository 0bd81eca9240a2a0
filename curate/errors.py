"""Errors a user can fix: the CLI prints their message on one line and exits 2.

Both errors mask credentials and signed-URL tokens of any URI their message quotes
(curate.sources.redact), so no caller can print or log one by naming its input."""
from curate.sources.redact import redact_text


class UserError(Exception):
    """A wrong path, option or input combination. The message is shown as is, redacted."""

    def __init__(self, message: str = ""):
        super().__init__(redact_text(str(message)))


class RunFailed(Exception):
    """The stage ran but its result is not good enough to go on (e.g. too many failed
    inputs). Its output is complete and kept (`report`); the CLI prints the report, then
    one line, and exits 1."""

    def __init__(self, message: str, report=None):
        super().__init__(redact_text(message))
        self.report = report


class CountsDisagree(Exception):
    """Two independent counts of one stage's rows differ (what its tasks counted, what its
    files hold, what it dropped by reason): rows were lost or written where the driver
    does not read. The output is not committed; the CLI prints one line and exits 1."""
