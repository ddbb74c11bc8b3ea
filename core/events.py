"""Things that happened, announced to whoever listens above (the API's webhooks). Senders in the
lower layers send after their transaction commits; a listener never changes what they wrote.

- flags_changed(opened=[flag ids], resolved=[flag ids])
- visit_logged(visit_id=id)
- import_finished(summary={...}): the import job's outcome as JSON-ready values
- asks_changed(created=[ask ids], answered=[ask ids], overdue=[ask ids])
"""

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

flags_changed = Signal()
visit_logged = Signal()
import_finished = Signal()
asks_changed = Signal()


def announce(signal: Signal, sender, **payload) -> None:
    """Send `signal` once the current transaction commits (at once outside one). A listener
    that fails is logged: the write it heard of is done and stays done."""

    def send() -> None:
        for receiver, answer in signal.send_robust(sender=sender, **payload):
            if isinstance(answer, Exception):
                logger.error("%s failed", receiver, exc_info=answer)

    transaction.on_commit(send)
