"""Needs met by centres' services within the walking limit, circle method (issue 15)."""

from layers.services.match import match_needs
from tests.layers.test_coverage import _gates


def test_needs_matched_with_hand_worked_circle_distances(blocks):
    centers = blocks["centers"].copy()
    centers["services"] = ["政策宣讲、亲情代办", "文体活动", "帮扶救助"]  # S3 is planned: does not count
    compounds = blocks["compounds"].copy()
    compounds["needs"] = ["policy, culture", "errands", "文体活动；帮扶救助", ""]  # A B C D
    m = match_needs(compounds, centers, metric_crs=blocks.metric_crs, minutes=5).set_index("id")  # 333.3 m
    # A: S1 at 150 m offers policy; culture only at S2, hypot(750, 750) = 1060.7 m away.
    # B: errands at S1, hypot(300, 150) = 335.4 m > 333.3 m.  C: culture at S2 212.1 m; assistance nowhere counted.
    assert m["unmet_needs"].to_dict() == {"A": "文体活动", "B": "亲情代办", "C": "帮扶救助", "D": ""}
    # Nearest covering centre that lacks the service: S1 for A, S2 for C, none within reach of B.
    assert m["unmet_needs_nearby"].to_dict() == {"A": "文体活动:S1", "B": "", "C": "帮扶救助:S2", "D": ""}


def test_needs_matched_along_the_network_with_hand_worked_walks(blocks):
    centers = blocks["centers"].copy()
    centers["services"] = ["政策宣讲、亲情代办", "文体活动", "帮扶救助"]
    compounds = blocks["compounds"].copy()
    compounds["needs"] = ["policy, culture", "errands", "文体活动；帮扶救助", "亲情代办"]
    m = match_needs(
        compounds, centers, metric_crs=blocks.metric_crs, method="network",
        roads=blocks["roads"], gates=_gates(), minutes=5,
    ).set_index("id")
    # Walks (see test_coverage): A 240 m to S1, B 620 m to S1, C 170 m to S2, D 620 m to S1; limit 333.3 m.
    assert m["unmet_needs"].to_dict() == {"A": "文体活动", "B": "亲情代办", "C": "帮扶救助", "D": "亲情代办"}
    assert m["unmet_needs_nearby"].to_dict() == {"A": "文体活动:S1", "B": "", "C": "帮扶救助:S2", "D": ""}
