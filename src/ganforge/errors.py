"""The one exception type that reaches a user as a message instead of a traceback."""


class GanforgeError(Exception):
    """A problem with the user's input or files, worded for the user.

    The CLI prints ``str(error)`` on one line and exits with status 2.
    """
