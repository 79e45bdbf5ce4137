"""The level a line of ComfyUI's output is relayed at: ``error`` for its errors and tracebacks, else ``info``.

ComfyUI logs everything (info, warnings, errors) to stderr as bare messages (``%(message)s``: no level in the
line), so the stream says nothing and the level is read from the text. Errors are what ComfyUI logs with
``logging.error`` (``!!! Exception during processing !!!``, ``Failed to validate prompt ...``, ``Error ...``,
``[ERROR] ...``, ``Got an OOM ...``) and Python tracebacks. Both span lines: a traceback runs from ``Traceback
(most recent call last):`` over its indented frames and chaining lines to the exception line that ends it; an
error's details are its following indented or ``* `` lines (and a validation failure's ``Output will be
ignored``). Warnings are ``info``: ComfyUI prints some at every start, and an alert on warnings must not fire
on every start. One ``LineLevels`` per stream: a traceback never spans two.
"""

from __future__ import annotations

import re

TRACEBACK = "Traceback (most recent call last):"
CHAINED = ("During handling of the above exception", "The above exception was the direct cause")
ERROR_START = re.compile(
    r"(!!! Exception during processing|Failed to |Got an OOM|\[ERROR\]|ERROR\b|Error\b"
    r"|error\b|Exception in |[A-Za-z_][\w.]*(Error|Exception)(: |$))"
)
DETAIL_END = "Output will be ignored"


class LineLevels:
    def __init__(self) -> None:
        self.in_traceback = False
        self.after_error = False  # the lines of an error's details may follow

    def level(self, line: str) -> str:
        """The level of the next (non-blank) line of this stream."""
        if self.in_traceback:
            if line[:1].isspace() or line.startswith(CHAINED):
                return "error"
            self.in_traceback = False  # its exception line
            self.after_error = True
            return "error"
        if line.startswith(TRACEBACK):
            self.in_traceback = True
            return "error"
        if ERROR_START.match(line):
            self.after_error = True
            return "error"
        if self.after_error and (line[:1].isspace() or line.startswith(("* ", DETAIL_END, *CHAINED))):
            return "error"
        self.after_error = False
        return "info"
