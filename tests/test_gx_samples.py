"""GX's samples of unexpected values as stored (DESIGN.md §5b): a personal column's sample is
masked whatever type GX hands it as; any other column's text is escaped, numbers kept."""

from __future__ import annotations

from loanrisk.quality.gx_samples import safe_result


def test_a_personal_value_is_masked_even_as_a_number():
    result = {
        "partial_unexpected_list": [13912345678, 4.5],
        "partial_unexpected_counts": [{"value": 13912345678, "count": 2}],
    }
    safe_result(result, "mobile_phone")
    assert result["partial_unexpected_list"] == ["139********", "***"]
    assert result["partial_unexpected_counts"] == [{"value": "139********", "count": 2}]


def test_a_value_of_several_personal_columns_is_masked_whole_even_as_a_number():
    result = {"partial_unexpected_list": [[110101, "Li Lei"]]}
    safe_result(result, "")
    assert result["partial_unexpected_list"] == [["******", "******"]]


def test_other_columns_keep_numbers_and_nulls_and_escape_text():
    result = {"partial_unexpected_list": [None, True, 7, 1.5, "<b>x</b>"]}
    safe_result(result, None)
    assert result["partial_unexpected_list"] == [None, True, 7, 1.5, "&lt;b&gt;x&lt;/b&gt;"]
