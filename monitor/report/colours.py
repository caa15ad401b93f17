"""One fixed colour per country, the same in every chart and every report.

Colours assigned in order of appearance make Germany blue in one chart and red in the next, so a
reader comparing two charts is misled. Here a country's colour depends on its code alone: the
countries hosters most often move between have hand-picked, well-separated colours; every other
country gets one from a second palette by a stable hash of its code. Greys are never a country's:
they are kept for what has no country (an edge network, no answer).
"""

from __future__ import annotations

from zlib import crc32

# Hand-picked for the countries that come up most (hosting hubs and the usual destinations), so
# that those seen together are told apart; loosely Tableau's and ColorBrewer's palettes.
FIXED = {
    "NL": "#e8710a",  # orange, the home of the hotline this was built for
    "DE": "#1f5fa8",
    "US": "#c62828",
    "MD": "#2e8b57",
    "RU": "#6a3d9a",
    "IN": "#d4a017",
    "CZ": "#17a2b8",
    "FR": "#3949ab",
    "GB": "#ad1457",
    "CA": "#8d6e63",
    "SC": "#00897b",
    "UA": "#f9a825",
    "CN": "#b71c1c",
    "HK": "#ec407a",
    "SG": "#5e35b1",
    "BG": "#7cb342",
    "RO": "#0277bd",
    "LU": "#9e9d24",
    "SE": "#039be5",
    "CH": "#e53935",
    "PA": "#43a047",
    "VN": "#fb8c00",
    "TR": "#8e24aa",
    "JP": "#d81b60",
    "BR": "#388e3c",
}
# For every other country; none of these is a grey, and none repeats a FIXED colour.
OTHERS = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#9c755f", "#76b7b2", "#edc948", "#e15759", "#ff9da7",
          "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#1a9850", "#c51b7d", "#4d9221"]

CDN_FACE = "#dcdcdc"  # an edge network: its country says nothing about where the content sits
CDN_EDGE = "#7a7a7a"
CDN_HATCH = "///"
UNKNOWN = "#b0b0b0"  # a country the data does not name


def country_colour(code: str) -> str:
    """The colour of this ISO country code in every chart."""
    code = code.upper()
    if code in FIXED:
        return FIXED[code]
    if len(code) != 2 or not code.isalpha():
        return UNKNOWN
    return OTHERS[crc32(code.encode()) % len(OTHERS)]


def text_colour(background: str) -> str:
    """Black or white, whichever reads better on this background (WCAG relative luminance)."""
    r, g, b = (int(background[i:i + 2], 16) / 255 for i in (1, 3, 5))

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    # Contrast with white is (1.05)/(L+0.05), with black (L+0.05)/0.05; pick the larger.
    return "#ffffff" if 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 else "#111111"
