"""Moved to :mod:`detectors.field_mapping` (the mapper is pure and every entry point decodes
through :mod:`detectors.decoding`); this name stays until its importers move."""

from detectors.field_mapping import (
    LABEL_FIELDS,
    PREDICTION_FIELDS,
    EventType,
    FieldMapper,
    FieldMapping,
    parse_pointer,
    resolve_pointer,
)

__all__ = [
    "LABEL_FIELDS",
    "PREDICTION_FIELDS",
    "EventType",
    "FieldMapper",
    "FieldMapping",
    "parse_pointer",
    "resolve_pointer",
]
