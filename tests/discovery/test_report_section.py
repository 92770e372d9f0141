"""The evaluation report's section on hubness and diversity before and after the correction."""

from __future__ import annotations

from discovery.measure import hubness_and_diversity
from evaluation.markdown import _hubness_correction_section
from tests.discovery.corpus import with_planted_hubs


def test_report_section_shows_both_rows_per_vector_set() -> None:
    figures = hubness_and_diversity(with_planted_hubs(300, hubs=6), 10).as_dict()
    m = {"config": {"retrieval_k": 10}, "hubness_correction": {"tuned": figures}}
    lines = _hubness_correction_section(m, ["tuned", "absent"])
    assert lines[0] == "## Hubness and diversity after the correction"
    rows = [line for line in lines if line.startswith("| `tuned`")]
    assert [r.split(" | ")[1] for r in rows] == ["plain", "corrected"]
    assert f"| {figures['plain']['max_k_occurrence']} |" in rows[0]
    assert _hubness_correction_section({"config": {"retrieval_k": 10}}, ["tuned"]) == []
