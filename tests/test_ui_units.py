"""Small pure pieces of the steward UI: the waterfall geometry, override parsing, HETU masking in text."""
from __future__ import annotations

import pytest

from mdm.services.steward_views import looks_like_hetu, mask_text, parse_date
from stewardship_ui.ui_charts import LABEL_W, PLOT_W, probability, waterfall
from stewardship_ui.ui_forms import override_value


def test_waterfall_runs_from_the_prior_to_the_final_weight():
    chart = waterfall({"prior": -8.0, "comparisons": [["name", "exact", 6.0], ["dob", "differs", -3.0],
                                                       ["hetu", "no data", 0.0]]})
    assert chart is not None
    kinds = [b.kind for b in chart.bars]
    assert kinds == ["prior", "up", "down", "none", "final"]
    assert [b.total for b in chart.bars] == [-8.0, -2.0, -5.0, -5.0, -5.0]
    assert chart.final_weight == -5.0 and chart.probability == pytest.approx(1 / 33)
    for bar in chart.bars:  # every bar inside the plot, drawn at least a sliver wide
        assert LABEL_W <= bar.x and bar.x + bar.width <= LABEL_W + PLOT_W + 1.5 and bar.width >= 1.5
    up, down = chart.bars[1], chart.bars[2]
    assert up.x == chart.bars[0].x and down.x + down.width == pytest.approx(up.x + up.width)  # steps chain
    assert chart.ticks[0][1] == "-10" and chart.ticks[-1][1] == "0"


def test_waterfall_without_weights():
    assert waterfall(None) is None and waterfall({"rule": "hetu"}) is None
    assert probability(0.0) == 0.5 and probability(-5000) == 0.0 and probability(5000) == 1.0


def test_override_values_from_text():
    assert override_value("turvakielto", "yes") is True and override_value("deceased", "false") is False
    assert override_value("family_name", "  ") is None and override_value("family_name", " Virtanen ") == "Virtanen"
    address = override_value("address", "Aurakatu 1 A 2, 20100 Turku")
    assert address["street_name"] == "Aurakatu" and address["staircase"] == "A" and address["apartment"] == "2"
    assert (address["postal_code"], address["city"], address["municipality"]) == ("20100", "Turku", "853")


def test_hetus_in_text_are_masked_and_refused_in_searches():
    assert mask_text("asked about 131052-308T and 010203a123b") == "asked about 131052-**** and 010203A****"
    assert mask_text("library_card:2392663405, transit 9246000001000129") == (
        "library_card:2392663405, transit 9246000001000129")  # card numbers are not HETUs
    assert all(looks_like_hetu(q) for q in ("131052-308T", "131052 308t", "131052308T", "x 131052A308T"))
    assert not any(looks_like_hetu(q) for q in ("Anna Virtanen", "1952-10-13", "13.10.1952 Anna"))
    assert parse_date("13.10.1952").isoformat() == "1952-10-13" and parse_date("1952-13-01") is None
