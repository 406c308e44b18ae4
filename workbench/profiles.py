"""Media profiles: one TOML file per carrier type in profiles/media/, validated on load.

Geometries, expected sizes and read strategies live in the files, never in code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.errors import BadInput, ConfigError
from workbench.handling import KINDS as HANDLING
from workbench.handling import handling_lines
from workbench.i18n import language
from workbench.schema import Field, check_table, list_of, load_toml, one_of

FAMILIES = ("FD", "MO", "USB", "optical", "HDD")
DIGESTS = ("md5", "sha1", "sha256", "sha512")
SECTOR_SIZES = (512, 1024, 2048, 4096)


def _per_language(kind: type, required: bool = True) -> Field:
    return Field(dict, required=required, table={
        "en": Field(kind, required=required, default=[] if kind is list else ""),
        "ja": Field(kind, required=required, default=[] if kind is list else ""),
    })


def _positive_range(value: list) -> str | None:
    ok = (len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value)
          and value[0] <= value[1])
    return None if ok else "[smallest, largest] in bytes"


SPEC = {
    "id": Field(str, required=True, allowed="the file name without .toml"),
    "family": Field(str, required=True, check=one_of(*FAMILIES)),
    "label": _per_language(str),
    "sector_size": Field(int, required=True, check=one_of(*SECTOR_SIZES)),
    "image_extension": Field(str, default="img", check=one_of("img", "iso")),
    "size": Field(dict, table={
        "expected": Field(list, default=[], check=list_of(int, "sizes in bytes", lambda v: v > 0)),
        "range": Field(list, default=[], check=lambda v: None if not v else _positive_range(v)),
    }),
    "read": Field(dict, table={
        "cluster_size": Field(int, default=65536,
                              check=lambda v: None if 512 <= v <= 16 << 20 else "512 to 16 MiB"),
        "retries": Field(int, default=1, check=lambda v: None if 0 <= v <= 64 else "0 to 64"),
        "direct": Field(bool, default=True),
        # dead media, recognised early (see workbench/imaging/rescue.py)
        "dead_sample": Field(int, default=64,
                             check=lambda v: None if 0 <= v <= 4096 else "0 (off) to 4096"),
        "max_consecutive_failures": Field(
            int, default=32, check=lambda v: None if v == 0 or 4 <= v <= 1_000_000
            else "0 (off) or 4 to 1000000"),
        "time_budget_seconds": Field(
            (int, float), default=0,
            check=lambda v: None if 0 <= v <= 30 * 86400 else "0 (no limit) to 30 days"),
        "failure_budget": Field(int, default=0,
                                check=lambda v: None if v >= 0 else "0 (no limit) or more"),
    }),
    "checks": Field(dict, table={"iso9660": Field(bool, default=False)}),
    "digests": Field(list, default=["md5", "sha256"],
                     check=lambda v: None if set(v) <= set(DIGESTS) and "sha256" in v
                     and len(set(v)) == len(v) else "sha256 plus any of md5, sha1, sha512"),
    "suggest": Field(dict, table={
        "transports": Field(list, default=[], check=list_of(str, "e.g. usb, ata, sr")),
        "fallback": Field(bool, default=False),
    }),
    "reminders": _per_language(list, required=False),
    # how the carrier is handled and write-protected: kinds from workbench/handling.py,
    # whose words come first in the checklist (a PC-98 profile: both floppy sizes)
    "handling": Field(list, default=[], check=lambda v: None if all(
        k in HANDLING for k in v) and len(set(v)) == len(v)
        else "kinds of " + ", ".join(HANDLING)),
    "report": _per_language(str, required=False),
    # flux imaging (workbench/flux/capture.py): floppy profiles only; cylinders 0: none
    "flux": Field(dict, table={
        "revolutions": Field(int, default=3, check=lambda v: None if 1 <= v <= 20
                             else "1 to 20"),
        "retry_revolutions": Field(int, default=8, check=lambda v: None if 1 <= v <= 50
                                   else "1 to 50"),
        "cylinders": Field(int, default=0, check=lambda v: None if 0 <= v <= 86
                           else "0 (no flux imaging) to 86"),
        "heads": Field(int, default=2, check=one_of(1, 2)),
        "double_step": Field(bool, default=False),
        "drive": Field(str, default="A", allowed="the Greaseweazle drive (A, B, 0, 1, 2)"),
        "format": Field(str, default="", allowed="a gw disk format to verify against, or empty"),
        "track_timeout_seconds": Field((int, float), default=60, check=lambda v: None
                                       if 1 <= v <= 600 else "1 to 600"),
    }),
}


@dataclass(frozen=True)
class FluxParams:
    """How a profile's carriers are captured with a Greaseweazle."""

    revolutions: int
    retry_revolutions: int
    cylinders: int
    heads: int
    double_step: bool  # a 40-track disk in an 80-track drive
    drive: str
    format: str
    track_timeout_seconds: float


@dataclass(frozen=True)
class MediaProfile:
    id: str
    family: str
    labels: dict[str, str]
    sector_size: int
    image_extension: str
    expected_sizes: tuple[int, ...]
    size_range: tuple[int, int] | None
    cluster_size: int
    retries: int
    direct: bool
    iso9660_check: bool
    digests: tuple[str, ...]
    transports: tuple[str, ...]
    fallback: bool
    reminders: dict[str, tuple[str, ...]]
    source: Path
    report_labels: dict[str, str]
    # dead media: a spread sample of this many sectors, when a run starts with failing
    # reads and nothing read (0: off); failing reads in a row before checking that the
    # drive still answers (0: off); a run's time (once it met read errors) and failing
    # reads before it stops (0: no limit)
    dead_sample: int = 64
    max_consecutive_failures: int = 32
    time_budget_seconds: float = 0.0
    failure_budget: int = 0
    flux: FluxParams | None = None  # None: not a carrier flux imaging reads
    handling: tuple[str, ...] = ()  # kinds of handling words (workbench/handling.py)

    def label(self, lang: str | None = None) -> str:
        return self.labels.get(lang or language()) or self.labels["en"]

    def report_label(self, lang: str | None = None) -> str:
        """How statistics name this kind of carrier ("3.5-inch FD")."""
        return self.report_labels.get(lang or language()) or self.label(lang)

    def reminders_for(self, lang: str | None = None) -> tuple[str, ...]:
        """The checklist: how this kind of carrier is handled and write-protected (one
        place: workbench/handling.py), then this profile's own reminders."""
        own = self.reminders.get(lang or language()) or self.reminders.get("en", ())
        return handling_lines(self.handling, lang) + tuple(own)

    def size_expected(self, size: int) -> bool:
        """True when the profile has no fixed sizes or size is one of them."""
        return not self.expected_sizes or size in self.expected_sizes

    def suggestion_score(self, size: int, sector_size: int, transport: str) -> int:
        """How well a drive's geometry fits this profile (0: not at all)."""
        if sector_size != self.sector_size and not (self.fallback and sector_size in (512, 4096)):
            return 0
        transport_fits = not self.transports or transport in self.transports
        if self.expected_sizes:
            return 100 if size in self.expected_sizes else 0
        if self.size_range:
            low, high = self.size_range
            return (50 + 10 * transport_fits) if low <= size <= high else 0
        if self.fallback and transport_fits and self.transports:
            return 10
        return 0


def parse_profile(path: Path) -> MediaProfile:
    data = check_table(load_toml(path), SPEC, path)
    if data["id"] != path.stem:
        raise ConfigError("error.bad_value", file=str(path), key="id", value=repr(data["id"]),
                          allowed=f"the file name without .toml ({path.stem})")
    sector = data["sector_size"]
    for size in data["size"]["expected"]:
        if size % sector:
            raise ConfigError("error.bad_value", file=str(path), key="size.expected",
                              value=str(size), allowed=f"multiples of sector_size ({sector})")
    if data["read"]["cluster_size"] % sector:
        raise ConfigError("error.bad_value", file=str(path), key="read.cluster_size",
                          value=str(data["read"]["cluster_size"]),
                          allowed=f"a multiple of sector_size ({sector})")
    size_range = data["size"]["range"]  # empty, or [smallest, largest] (checked above)
    return MediaProfile(
        id=data["id"], family=data["family"], labels=dict(data["label"]),
        sector_size=sector, image_extension=data["image_extension"],
        expected_sizes=tuple(data["size"]["expected"]),
        size_range=(size_range[0], size_range[1]) if size_range else None,
        cluster_size=data["read"]["cluster_size"], retries=data["read"]["retries"],
        direct=data["read"]["direct"], iso9660_check=data["checks"]["iso9660"],
        digests=tuple(data["digests"]), transports=tuple(data["suggest"]["transports"]),
        fallback=data["suggest"]["fallback"],
        reminders={k: tuple(v) for k, v in data["reminders"].items()}, source=path,
        report_labels={k: v for k, v in data["report"].items() if v},
        dead_sample=data["read"]["dead_sample"],
        max_consecutive_failures=data["read"]["max_consecutive_failures"],
        time_budget_seconds=float(data["read"]["time_budget_seconds"]),
        failure_budget=data["read"]["failure_budget"],
        handling=tuple(data["handling"]),
        flux=FluxParams(**{**data["flux"], "track_timeout_seconds": float(
            data["flux"]["track_timeout_seconds"])}) if data["flux"]["cylinders"] else None,
    )


def load_profiles(root: Path) -> dict[str, MediaProfile]:
    folder = root / "media"
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise ConfigError("error.no_profiles", folder=str(folder))
    profiles = {}
    for path in files:
        profile = parse_profile(path)
        profiles[profile.id] = profile
    return profiles


def get_profile(profiles: dict[str, MediaProfile], profile_id: str) -> MediaProfile:
    try:
        return profiles[profile_id]
    except KeyError:
        raise BadInput("error.unknown_profile", profile=profile_id,
                       known=", ".join(sorted(profiles))) from None


def suggest_profile(profiles: dict[str, MediaProfile], size: int, sector_size: int,
                    transport: str) -> MediaProfile | None:
    """The profile whose geometry fits best, or None when nothing fits."""
    if size <= 0:
        return None
    scored = [(p.suggestion_score(size, sector_size, transport), p.id, p)
              for p in profiles.values()]
    best = max(scored, key=lambda s: (s[0], s[1]), default=None)
    return best[2] if best and best[0] > 0 else None
