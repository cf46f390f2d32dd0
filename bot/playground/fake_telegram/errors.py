"""The one error type of the fake: a Bot API error answer.

Method implementations raise ``ApiError``; the server turns it into the JSON body and HTTP
status that Telegram would send, which python-telegram-bot maps onto its own exceptions
(400 → ``BadRequest``, 403 → ``Forbidden``, 429 with ``retry_after`` → ``RetryAfter``, …).
"""

from typing import Any


class ApiError(Exception):
    """An error answer: HTTP ``status`` plus Telegram's ``description`` text."""

    def __init__(self, status: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {description}")
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        """The body Telegram sends with an error, ``parameters.retry_after`` included for 429."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    """A 400 worded like Telegram's: ``Bad Request: <detail>``."""
    return ApiError(400, f"Bad Request: {detail}")


def forbidden(detail: str) -> ApiError:
    """A 403 worded like Telegram's: ``Forbidden: <detail>``."""
    return ApiError(403, f"Forbidden: {detail}")
