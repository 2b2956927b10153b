"""CBV 2.0 hash-based event IDs (re-exported from chain/epcis_hash.py, shared with the oracles)."""

from chain.epcis_hash import (
    CBV,
    DEFAULT_PREFIXES,
    GS1_VOC,
    VERSION,
    context_prefixes,
    digest_of,
    event_hash,
    format_number,
    format_time,
    hash_event_id,
    pre_hash_string,
)

__all__ = [
    "CBV",
    "DEFAULT_PREFIXES",
    "GS1_VOC",
    "VERSION",
    "context_prefixes",
    "digest_of",
    "event_hash",
    "format_number",
    "format_time",
    "hash_event_id",
    "pre_hash_string",
]
