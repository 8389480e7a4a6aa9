"""Errors a user can cause; the CLI prints them as one line and exits non-zero."""


class UserError(Exception):
    """Bad input from the user (config, run id, data path): reported without a traceback."""


class InputRejected(UserError):
    """Input a model will not take; ``status`` is the HTTP status a service answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)  # both in args, so the exception pickles across processes

    @property
    def status(self) -> int:
        return self.args[0]

    @property
    def message(self) -> str:
        return self.args[1]

    def __str__(self) -> str:
        return self.message
