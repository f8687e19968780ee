"""Private files (supplier documents): under MEDIA_ROOT, never given a public address.

MEDIA_ROOT is not served by the web server or by Django; these files leave only
through the staff download view, after its permission check. The storage reads
MEDIA_ROOT when it is used (not at import), so a test's setting applies.
"""

import secrets
from pathlib import PurePosixPath

from django.core.files.storage import FileSystemStorage


class PrivateFileStorage(FileSystemStorage):
    def url(self, name: str | None) -> str:
        raise ValueError("Private files have no URL; staff download them through the admin.")


_private_storage = PrivateFileStorage(file_permissions_mode=0o600, directory_permissions_mode=0o700)


def private_storage() -> PrivateFileStorage:
    # A callable, so migrations name this function rather than the storage's settings.
    return _private_storage


def supplier_document_path(document: object, filename: str) -> str:
    """Our own file name, not the uploader's: no path tricks, no names on disk."""
    suffix = PurePosixPath(filename).suffix.lower()[:10]
    supplier_id = getattr(document, "supplier_id", "unknown")
    return f"compliance/suppliers/{supplier_id}/{secrets.token_hex(16)}{suffix}"
