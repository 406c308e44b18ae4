"""A flux-imaged carrier in words, in the user's language: the CLI and the station UI
show the same lines (record_lines in result.py adds them)."""

from __future__ import annotations

from workbench.flux.session import revolutions_text
from workbench.i18n import t
from workbench.imaging.record import JobRecord


def flux_lines(record: JobRecord) -> list[str]:
    flux = record.flux or {}
    layout = flux.get("layout") or {}
    lines = [t("flux.method", format=flux.get("format", "?"),
               revolutions=revolutions_text(flux), files=len(flux.get("files", [])),
               decoder=flux.get("decoder") or "-")]
    if layout.get("sectors"):
        encodings = sorted({str(tr.get("encoding")) for tr in layout.get("tracks", [])
                            if tr.get("in_image") and tr.get("status") == "decoded"})
        lines.append(t("flux.layout_line", cylinders=layout.get("cylinders", 0),
                       heads=layout.get("heads", 0), sectors=layout.get("sectors", 0),
                       good=layout.get("good", 0), bad=layout.get("bad", 0),
                       missing=layout.get("missing", 0), encodings="/".join(encodings)))
    fits = flux.get("fits") or []
    lines.append(t("flux.fits", profiles=", ".join(fits)) if fits
                 else t("flux.fits_none", size=f"{layout.get('size', 0):,}"))
    if flux.get("d88"):
        lines.append(t("flux.not_uniform", file=flux["d88"]["file"]))
    troubled = [tr for tr in layout.get("tracks", []) if tr.get("in_image") and (
        tr.get("bad") or tr.get("missing") or tr.get("disagree") or tr.get("odd_ids"))]
    for tr in troubled[:8]:  # where the trouble is, track by track
        lines.append(t("flux.track_line", cylinder=tr["cylinder"], head=tr["head"],
                       encoding=tr.get("encoding", "?"), status=tr.get("status", "?"),
                       good=tr.get("good", 0), bad=tr.get("bad", 0),
                       missing=tr.get("missing", 0), disagree=tr.get("disagree", 0),
                       odd=tr.get("odd_ids", 0)))
    if len(troubled) > 8:
        lines.append(t("flux.more_tracks", count=len(troubled) - 8))
    undecoded = layout.get("undecoded_tracks") or []
    if undecoded:
        lines.append(t("flux.undecoded", tracks=", ".join(f"{c}:{h}" for c, h in undecoded)))
    return lines


def flux_progress_text(p: object) -> str:
    """A capture or decode progress report in words ("" for anything else)."""
    from workbench.flux.capture import CaptureProgress
    from workbench.flux.session import DecodeProgress
    if isinstance(p, CaptureProgress):
        return t("flux.capture_progress", done=p.done, total=p.total, cylinder=p.cylinder,
                 head=p.head)
    if isinstance(p, DecodeProgress):
        return t("flux.decode_progress", done=p.done, total=p.total)
    return ""


def flux_reminders(capturing: bool) -> list[str]:
    """What to check before a Greaseweazle capture (`image --flux`), in place of the
    profile's reminders for a USB drive. A capture brought in needs none."""
    if not capturing:
        return []
    return [t(f"flux.reminder_{n}") for n in ("write_protect", "drive", "clean")]
