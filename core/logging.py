"""A logging filter that keeps e-mail addresses out of every log line.

Services never log an email or a code on purpose; this filter is the belt to
those braces for messages built by libraries (for example an SMTP error that
quotes the recipient).
"""

import logging
import re

EMAIL_PATTERN = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def redact(text: str) -> str:
    return EMAIL_PATTERN.sub("[email]", text)


class RedactPersonalData(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
