"""What a carrier is, as a cataloguer and a technician describe it: the catalogue record,
a title, volume N of M of a set, its condition (codes from a controlled list, plus free
text) and photos of its label, sleeve and body.

One record with one JSON form: the ledger keeps its versions (workbench.ledger.
carrier_meta), the bag carries it as metadata/carrier.json, bag-info fields and PREMIS
(workbench.package.carrier). Checks here are the one place input is judged.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from workbench.errors import BadInput
from workbench.i18n import t

CONDITION_LIST = "urn:x-migration-workbench:carrier-condition:1"
FAMILIES = ("FD", "MO", "optical", "USB", "HDD")
_ANY = FAMILIES

# code -> the carrier families it is seen on. Codes are stable (they are stored in
# ledgers and bags); words are in the catalogs (condition.<code>), never here.
CONDITIONS: dict[str, tuple[str, ...]] = {
    "mould": _ANY,
    "dust": _ANY,
    "water_damage": _ANY,
    "heat_damage": _ANY,
    "warped": ("FD", "MO", "optical"),
    "label_damaged": _ANY,
    "label_peeling": _ANY,
    "writing_on_carrier": _ANY,
    "case_broken": _ANY,
    "sleeve_missing": ("FD", "optical"),
    "scratches": ("optical", "MO", "HDD"),
    "fingerprints": ("optical", "MO"),
    "cracked_hub": ("optical",),
    "cracked_disc": ("optical",),
    "dye_fade": ("optical",),
    "disc_rot": ("optical",),
    "delamination": ("optical",),
    "bent_shutter": ("FD", "MO"),
    "shutter_missing": ("FD", "MO"),
    "creased_jacket": ("FD",),
    "loose_hub": ("FD",),
    "oxide_shedding": ("FD",),
    "write_protect_missing": ("FD", "MO"),
    "cartridge_cracked": ("MO",),
    "connector_damaged": ("USB", "HDD"),
    "casing_open": ("USB", "HDD"),
    "corrosion": ("USB", "HDD", "FD"),
}
PHOTO_ROLES = ("label", "sleeve", "carrier", "other")
LIMITS = {"record_id": 200, "title": 500, "condition_note": 4000}
_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))  # embedding/override


def condition_words(codes: tuple[str, ...] | list[str], lang: str | None = None) -> str:
    return ", ".join(t(f"condition.{c}", lang=lang) for c in codes)


def check_text(name: str, value: str, multiline: bool = False) -> str:
    """A field as typed or scanned: NFC, trimmed; control characters (other than line
    breaks and tabs in a free-text note) and bidi overrides refused with the position,
    so nothing invisible reaches a bag or a spreadsheet."""
    value = unicodedata.normalize("NFC", value).strip()
    for n, ch in enumerate(value, 1):
        allowed = multiline and ch in "\n\t"
        if (unicodedata.category(ch) == "Cc" and not allowed) or ord(ch) in _BIDI:
            raise BadInput("meta.control_character", field=t(f"meta.field_{name}"),
                           position=n, char=f"U+{ord(ch):04X}")
    if len(value) > LIMITS.get(name, 500):
        raise BadInput("meta.too_long", field=t(f"meta.field_{name}"),
                       limit=LIMITS.get(name, 500), length=len(value))
    return value.replace("\r\n", "\n")


_VOLUME = re.compile(r"^\s*(\d{1,5})\s*(?:/|of|OF|Of)\s*(\d{1,5})\s*$")


def parse_volume(text: str) -> tuple[int | None, int | None]:
    """'2/3' or '2 of 3' -> (2, 3); '' -> no volume. N of M with 1 <= N <= M."""
    if not text.strip():
        return None, None
    match = _VOLUME.match(text)
    if not match:
        raise BadInput("meta.bad_volume", value=text)
    n, m = int(match[1]), int(match[2])
    if not 1 <= n <= m:
        raise BadInput("meta.volume_range", value=text, n=n, m=m)
    return n, m


def parse_conditions(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Codes from the controlled list (comma- or space-separated); an unknown code is
    refused with the list (and the nearest codes) so the technician can pick."""
    items = text.replace(",", " ").split() if isinstance(text, str) else \
        [c.strip() for c in text if c.strip()]
    codes: list[str] = []
    for raw in items:
        code = raw.strip().lower().replace("-", "_")
        if code in ("none", "-"):
            continue
        if code not in CONDITIONS:
            import difflib
            near = difflib.get_close_matches(code, list(CONDITIONS), n=3, cutoff=0.5)
            raise BadInput("meta.unknown_condition", code=raw,
                           near=", ".join(near) or "-", known=", ".join(CONDITIONS))
        if code not in codes:
            codes.append(code)
    return tuple(codes)


@dataclass(frozen=True)
class Photo:
    role: str  # label | sleeve | carrier | other
    file: str  # relative to the job folder: photos/label-1.jpg
    sha256: str
    size: int
    format: str = "unknown"  # JPEG, PNG, TIFF... from the file's first bytes
    source: str = ""  # where it came from: a file name, or "camera"

    @property
    def name(self) -> str:
        return self.file.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class CarrierInfo:
    item_id: str
    record_id: str = ""
    title: str = ""
    volume: int | None = None
    volumes: int | None = None
    conditions: tuple[str, ...] = ()
    condition_note: str = ""
    photos: tuple[Photo, ...] = ()
    operator: str = ""
    station_id: str = ""
    recorded: str = ""
    version: str = ""  # the ledger row of this version

    @property
    def empty(self) -> bool:
        return not (self.record_id or self.title or self.volumes or self.conditions
                    or self.condition_note or self.photos)

    @property
    def bag_count(self) -> str:
        """RFC 8493 Bag-Count: 'N of M'."""
        return f"{self.volume} of {self.volumes}" if self.volumes else ""

    def content(self) -> dict[str, Any]:
        """What was described (no who/when): two versions with the same content are one."""
        return {"record_id": self.record_id, "title": self.title, "volume": self.volume,
                "volumes": self.volumes, "conditions": list(self.conditions),
                "condition_note": self.condition_note,
                "photos": [asdict(p) for p in self.photos]}

    def to_json(self) -> str:
        """metadata/carrier.json in the bag: codes and words, photos as bag paths."""
        data = {"item_id": self.item_id, "catalogue_record": self.record_id,
                "title": self.title, "volume": self.volume, "volumes": self.volumes,
                "bag_count": self.bag_count,
                "condition_list": CONDITION_LIST,
                "conditions": [{"code": c, "en": t(f"condition.{c}", lang="en"),
                                "ja": t(f"condition.{c}", lang="ja")}
                               for c in self.conditions],
                "condition_note": self.condition_note,
                "photos": [{**asdict(p), "file": f"metadata/photos/{p.name}"}
                           for p in self.photos],
                "described_by": self.operator, "station": self.station_id,
                "recorded": self.recorded, "version": self.version}
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"

    @staticmethod
    def from_row(row: Any) -> CarrierInfo:
        photos = tuple(Photo(**p) for p in json.loads(row["photos"] or "[]"))
        return CarrierInfo(item_id=row["item_id"], record_id=row["record_id"],
                           title=row["title"], volume=row["volume"], volumes=row["volumes"],
                           conditions=tuple(c for c in row["conditions"].split(",") if c),
                           condition_note=row["condition_note"], photos=photos,
                           operator=row["operator"], station_id=row["station_id"],
                           recorded=row["recorded"], version=row["id"])

    def changed(self, **fields: Any) -> CarrierInfo:
        return replace(self, **fields)


@dataclass
class CarrierTags:
    """What a bag carries of the description: the record and each photo's bytes (read
    and checked against its recorded digest by the station)."""
    info: CarrierInfo
    photos: list[tuple[Photo, bytes]] = field(default_factory=list)
    cameras: tuple[str, ...] = ()  # camera commands that took photos (PREMIS agents)


def sniff_format(head: bytes) -> str:
    """A photo's format from its first bytes (for PREMIS): no library needed."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"hevx",
                                               b"heim", b"heis", b"mif1", b"msf1"):
        return "HEIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:2] == b"BM" and head[6:10] == b"\0\0\0\0":  # reserved fields are zero
        return "BMP"
    return "unknown"
