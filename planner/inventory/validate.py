"""Validation of a parsed inventory document (placeholder: issue 2 fills it in)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ValidationReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def validate_document(doc: Any) -> ValidationReport:
    """Check a parsed inventory document; every fault is one line naming its path."""
    report = ValidationReport()
    if not isinstance(doc, dict):
        report.errors.append("document: must be a JSON object")
    return report
