"""What a Locust process of `chatbench load` prints on the console (--cb-quiet).

chatbench's own lines are prints to stderr and always show; Locust's log goes to its
--logfile (DIR/locust.log), and only its warnings and errors reach the console as well.
"""

from __future__ import annotations

import logging
import sys


def quiet() -> None:
    """--cb-quiet (chatbench load without --verbose): Locust's log and its summary tables go
    to its --logfile only; warnings and errors (a crash's traceback) reach the console too."""
    root = logging.getLogger()
    files = [h for h in root.handlers if isinstance(h, logging.FileHandler)]
    if not files:
        return  # no --logfile: nowhere else to send the noise, keep Locust's console
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("[%(name)s] %(levelname)s: %(message)s"))
    for logger in (root, logging.getLogger("locust")):
        logger.addHandler(console)
    tables = logging.getLogger("locust.stats_logger")
    for handler in list(tables.handlers):
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            tables.removeHandler(handler)
    tables.addHandler(files[0])
