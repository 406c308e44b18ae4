"""Training flux captures: recipes in media/flux/*.flux.toml, built by the encoder.

A recipe names a sector image (or a seeded pattern), the disk format it is written in,
the capture's kind (an SCP file or a KryoFlux stream set), revolutions, timing jitter and
faults: weak sectors (read with a good CRC only on some revolutions), scratches (noise
over part of a track, its ID fields gone). Built from the same recipe, a capture is the
same bytes every time (every random choice is seeded).

A whole capture is large (a 3-revolution 2HD disk is ~90 MB of SCP), far too large to
commit: the recipes are committed; `python scripts/build_flux.py` writes the captures to
media/flux/ (ignored by git), and training mode builds a missing one on first use into
the training area.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench import DATA_ROOT
from workbench.errors import BadInput
from workbench.schema import Field, check_table, load_toml

SUFFIX = ".flux.toml"
TRAINING_FLUX = DATA_ROOT / "media" / "flux"

_FAULT = {"cylinder": Field(int, required=True), "head": Field(int, required=True)}
SPEC = {
    "model": Field(str, default="Training flux capture"),
    "profile": Field(str, required=True, allowed="the media profile of the disk"),
    "format": Field(str, required=True, allowed="an encoder disk format (ibm.1440, pc98.n88, ...)"),
    "image": Field(str, default="", allowed="a sector image relative to this file, or empty "
                   "for a seeded pattern"),
    "capture": Field(str, default="scp", check=lambda v: None if v in ("scp", "kryoflux")
                     else "scp or kryoflux"),
    "revolutions": Field(int, default=3, check=lambda v: None if 1 <= v <= 8 else "1 to 8"),
    "jitter_ns": Field((int, float), default=0),
    "seed": Field(int, default=0),
    "label": Field(dict, table={"en": Field(str, default=""), "ja": Field(str, default="")}),
    "weak": Field(list, default=[]),
    "scratch": Field(list, default=[]),
}
_SPECS = {
    "weak": {**_FAULT, "sector": Field(int, required=True),
             "reads_on": Field(list, default=[], allowed="the revolutions (0, 1, ...) that "
                               "give the sector with a good CRC")},
    "scratch": {**_FAULT, "start_us": Field((int, float), default=0),
                "length_us": Field((int, float), default=400000)},
}


@dataclass(frozen=True)
class Recipe:
    path: Path
    name: str
    model: str
    profile: str
    format: str
    image: Path | None
    capture: str
    revolutions: int
    jitter_ns: float
    seed: int
    labels: dict[str, str] = field(default_factory=dict)
    weak: tuple[tuple[int, int, int, tuple[int, ...]], ...] = ()
    scratch: tuple[tuple[int, int, float, float], ...] = ()

    @property
    def output_name(self) -> str:
        """The capture's name: NAME.scp, or NAME.kryoflux/ (a folder of trackNN.S.raw)."""
        return f"{self.name}.{self.capture}"


def load_recipe(path: Path) -> Recipe:
    data = check_table(load_toml(path), SPEC, path)
    faults: dict[str, list[dict[str, Any]]] = {}
    for kind in ("weak", "scratch"):
        faults[kind] = []
        for n, item in enumerate(data[kind]):
            if not isinstance(item, dict):
                raise BadInput("error.bad_value", file=str(path), key=f"{kind}[{n}]",
                               value=repr(item), allowed="a table")
            faults[kind].append(check_table(item, _SPECS[kind], path, f"{kind}[{n}]."))
    return Recipe(
        path, path.name.removesuffix(SUFFIX), data["model"], data["profile"], data["format"],
        (path.parent / data["image"]).resolve() if data["image"] else None, data["capture"],
        data["revolutions"], float(data["jitter_ns"]), data["seed"],
        {k: v for k, v in data["label"].items() if v},
        tuple((w["cylinder"], w["head"], w["sector"], tuple(int(r) for r in w["reads_on"]))
              for w in faults["weak"]),
        tuple((s["cylinder"], s["head"], float(s["start_us"]), float(s["length_us"]))
              for s in faults["scratch"]))


def recipes(folder: Path | None = None) -> list[Recipe]:
    """The training recipes (media/flux/ unless another folder is named)."""
    return [load_recipe(p) for p in sorted((folder or TRAINING_FLUX).glob(f"*{SUFFIX}"))]


def _pattern(size: int, seed: int) -> bytes:
    out = bytearray()
    block = hashlib.sha256(f"flux-training-{seed}".encode()).digest()
    while len(out) < size:
        out += block
        block = hashlib.sha256(block).digest()
    return bytes(out[:size])


def sector_image(recipe: Recipe) -> bytes:
    """The sector image the recipe writes to its disk (what a decode must give back,
    bad sectors aside)."""
    from workbench.flux.encode import FORMATS
    fmt = FORMATS[recipe.format]
    size = fmt.image_size()
    data = recipe.image.read_bytes() if recipe.image else _pattern(size, recipe.seed)
    return data[:size].ljust(size, b"\0")


def build(recipe: Recipe, folder: Path) -> Path:
    """Write the recipe's capture into folder (NAME.scp or NAME.kryoflux/); returns it."""
    from workbench.flux.encode import FORMATS, Timing, encode_capture, image_tracks, with_fault
    from workbench.flux.kryoflux import write_kryoflux
    from workbench.flux.scp import write_scp
    if recipe.format not in FORMATS:
        raise BadInput("error.bad_value", file=str(recipe.path), key="format",
                       value=recipe.format, allowed=", ".join(sorted(FORMATS)))
    specs = image_tracks(sector_image(recipe), FORMATS[recipe.format])
    for c, h, r, reads_on in recipe.weak:
        bad = tuple(n for n in range(recipe.revolutions) if n not in reads_on)
        specs = with_fault(specs, c, h, r, weak=bad)
    for c, h, start, length in recipe.scratch:
        specs = [replace(t, scratch=(start, length)) if (t.cylinder, t.head) == (c, h) else t
                 for t in specs]
    capture = encode_capture(specs, Timing(revolutions=recipe.revolutions,
                                           jitter_ns=recipe.jitter_ns), seed=recipe.seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / recipe.output_name
    if recipe.capture == "kryoflux":
        write_kryoflux(capture, out)
    else:
        write_scp(capture, out)
    return out


def training_capture(recipe: Recipe, build_root: Path) -> Path:
    """The recipe's capture: built beside it (scripts/build_flux.py), else in the
    training area (built there on first use)."""
    beside = recipe.path.parent / recipe.output_name
    if beside.exists():
        return beside
    built = build_root / recipe.output_name
    return built if built.exists() else build(recipe, build_root)
