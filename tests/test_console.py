import io

import pytest

from workbench.console import ProgressLine, table, width
from workbench.i18n import set_language
from workbench.imaging.rescue import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("lang,words", [("en", ["trim 1", "ETA 00:01:40", "bad 1.5 KiB"]),
                                        ("ja", ["トリム 1", "残り 00:01:40", "不良 1.5 KiB"])])
def test_progress_line_fills_every_placeholder(lang, words, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    set_language(lang)
    out = Terminal()
    line = ProgressLine(out, min_interval=0)
    line(Progress(phase="trim", pass_number=1, position=0, size=4096, rescued=1024, bad=1536,
                  pending=0, read_errors=3, rate=2048, average_rate=2048, eta=100,
                  since_last_good=2, elapsed=5))
    text = out.getvalue()
    assert "{" not in text and " 62.5%" in text
    for word in words:
        assert word in text


def test_progress_line_is_silent_off_a_terminal():
    out = io.StringIO()
    ProgressLine(out, min_interval=0)(Progress("copy", 1, 0, 1, 0, 0, 1, 0, 0, 0, None, 0, 0))
    assert out.getvalue() == ""


def test_table_aligns_wide_characters():
    out = io.StringIO()
    table(["ID", "媒体"], [["fd35-2hd", "3.5インチFD"], ["cd", "CD"]], out)
    header, rule, first, second = out.getvalue().splitlines()
    # the second column starts at the same display cell on every line
    starts = {width(header[: header.index("媒体")]), width(first[: first.index("3.5")]),
              width(second[: second.rindex("CD")]), len(rule.split("  ")[0]) + 2}
    assert starts == {10}
