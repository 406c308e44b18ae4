"""How each kind of carrier is handled and write-protected: the checklist's words, in
one place. A media profile names its kinds (`handling = ["fd525"]`); the words live in
the locales (handling.<kind>.<line>), and MediaProfile.reminders_for puts them before
the profile's own reminders. A 5.25-inch disk is protected by covering its notch, a
3.5-inch disk by sliding its tab: each kind's words name the carrier they are for.
"""

from __future__ import annotations

from workbench.i18n import t

# kind -> its checklist lines, in order (keys under handling.<kind> in the locales)
KINDS: dict[str, tuple[str, ...]] = {
    "fd525": ("notch", "jacket", "surface", "drive"),  # 5.25-inch floppy disks
    "fd35": ("tab", "shutter", "drive"),  # 3.5-inch floppy disks
    "mo": ("switch", "shutter", "acclimatise"),  # magneto-optical cartridges
    "optical": ("edge", "clean", "rewritable", "cracks"),  # CD-R/RW, DVD, BD
    "usb": ("switch", "blocker", "automount"),  # USB memory
}


def handling_lines(kinds: tuple[str, ...] | list[str], lang: str | None = None
                   ) -> tuple[str, ...]:
    """The handling words of a profile's kinds, in the given (or current) language."""
    return tuple(t(f"handling.{kind}.{line}", lang=lang)
                 for kind in kinds for line in KINDS[kind])
