"""The inventory of personal data: every field of every model, classified.

docs/privacy.md holds the inventory as a table ("Field inventory"): for each
model, which fields are personal (with why they are kept and for how long) and
which are not. ``inventory_gaps`` compares it with the models, so a test fails
when a model gains a field the inventory does not name, or the inventory names
a field that no longer exists.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import models

INVENTORY_HEADING = "## Field inventory"


def inventory_path() -> Path:
    return Path(settings.BASE_DIR) / "docs" / "privacy.md"


@dataclass(frozen=True)
class FieldEntry:
    model: str  # app_label.ModelName
    field: str
    personal: bool
    why: str
    kept_for: str


@dataclass(frozen=True)
class Gaps:
    missing: list[str]  # fields of a model that the inventory does not name
    stale: list[str]  # inventory entries naming no field
    unexplained: list[str]  # personal fields without a reason or a retention period
    duplicated: list[str]

    def __bool__(self) -> bool:
        return bool(self.missing or self.stale or self.unexplained or self.duplicated)


def _cells(line: str) -> list[str]:
    return [cell.strip().replace("`", "") for cell in line.strip().strip("|").split("|")]


def inventory_parse(text: str) -> list[FieldEntry]:
    """The rows of the "Field inventory" table: | model | fields | personal | why | how long |."""
    _before, found, section = text.partition(INVENTORY_HEADING)
    if not found:
        raise ValueError(f"docs/privacy.md has no {INVENTORY_HEADING!r} section")
    entries = []
    for line in section.splitlines()[1:]:
        if line.startswith("## "):
            break
        if not line.startswith("|"):
            continue
        cells = _cells(line)
        if len(cells) != 5 or cells[0] in {"model", ""} or set(cells[0]) <= {"-", " "}:
            continue
        model, fields, personal, why, kept_for = cells
        if personal not in {"yes", "no"}:
            raise ValueError(f"personal must be yes or no, not {personal!r} ({model})")
        for name in (name.strip() for name in fields.split(",")):
            if name:
                entries.append(FieldEntry(model, name, personal == "yes", why, kept_for))
    return entries


def model_fields(model_classes: Iterable[type[models.Model]]) -> set[tuple[str, str]]:
    """(app_label.Model, field name) for every stored field, many-to-many included."""
    found = set()
    for model in model_classes:
        if model._meta.proxy or model._meta.abstract:
            continue
        for field in [*model._meta.concrete_fields, *model._meta.many_to_many]:
            found.add((model._meta.label, field.name))
    return found


def inventory_gaps(entries: list[FieldEntry], model_classes: Iterable[type[models.Model]]) -> Gaps:
    fields = model_fields(model_classes)
    named = [(entry.model, entry.field) for entry in entries]
    return Gaps(
        missing=sorted(f"{model}.{name}" for model, name in fields - set(named)),
        stale=sorted(f"{model}.{name}" for model, name in set(named) - fields),
        unexplained=sorted(
            f"{entry.model}.{entry.field}"
            for entry in entries
            if entry.personal and not (entry.why and entry.kept_for)
        ),
        duplicated=sorted({f"{m}.{n}" for m, n in named if named.count((m, n)) > 1}),
    )
