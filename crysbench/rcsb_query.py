"""The RCSB search query of the paper's curation (SPEC §3.1).

Examples
--------
>>> q = curation_query(rows=10, start=20)
>>> q["return_type"], q["request_options"]["paginate"]
('polymer_entity', {'start': 20, 'rows': 10})
"""

from __future__ import annotations

from typing import Any

__all__ = ["curation_query"]


def _attr(attribute: str, operator: str, value: Any) -> dict:
    return {
        "type": "terminal",
        "service": "text",
        "parameters": {"attribute": attribute, "operator": operator, "value": value},
    }


def curation_query(rows: int = 10000, start: int = 0) -> dict:
    """RCSB search query for the paper's curation (SPEC §3.1), one entry per 30 % cluster."""
    return {
        "query": {
            "type": "group",
            "logical_operator": "and",
            "nodes": [
                _attr("exptl.method", "exact_match", "X-RAY DIFFRACTION"),
                _attr("rcsb_accession_info.initial_release_date", "greater", "1995-12-31"),
                _attr("rcsb_entry_info.resolution_combined", "less_or_equal", 2.75),
                _attr("refine.ls_R_factor_R_free", "less_or_equal", 0.28),
                _attr("entity_poly.rcsb_sample_sequence_length", "greater_or_equal", 40),
                _attr("entity_poly.rcsb_entity_polymer_type", "exact_match", "Protein"),
            ],
        },
        "return_type": "polymer_entity",
        "request_options": {
            "group_by": {
                "aggregation_method": "sequence_identity",
                "similarity_cutoff": 30,
                "ranking_criteria_type": {
                    "sort_by": "rcsb_entry_info.resolution_combined",
                    "direction": "asc",
                },
            },
            "group_by_return_type": "representatives",
            "paginate": {"start": start, "rows": rows},
            "results_content_type": ["experimental"],
        },
    }
