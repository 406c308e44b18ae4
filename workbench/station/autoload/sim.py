"""The simulated autoloader of training: a stack of virtual discs fed one by one into a
virtual drive, with a done bin and a reject bin.

A stack is a folder: stack.toml lists its discs (*.drive.toml files, in loading order);
the drive is the file drive.drive.toml in the same folder, written by a load (a copy of
the disc's file: its image paths stay relative to the folder) and removed by an unload
or reject. The robot's state (next disc, bins) is robot.json, written atomically: like
a real robot's, it survives a crash of the batch.

build_stack makes a stack from the sample CD in media/ (reproducibly: the same bytes on
every run): every disc a copy with its own volume name, so every image differs; some
unreadable (all sectors bad), some partial (a few bad sectors), some the drive cannot
see at all (no medium).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.atomic import write_atomic
from workbench.errors import BadInput
from workbench.schema import load_toml
from workbench.station.autoload.loaders import AutoloaderFailed

STACK_FILE = "stack.toml"
STATE_FILE = "robot.json"
SLOT = "drive.drive.toml"
SECTOR = 2048
PVD = 16 * SECTOR  # the first volume descriptor


@dataclass
class RobotState:
    next: int = 0
    in_drive: str = ""
    done: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


class SimAutoloader:
    name = "sim"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        stack = folder / STACK_FILE
        if not stack.is_file():
            raise BadInput("autoload.no_stack", folder=str(folder))
        discs = load_toml(stack).get("discs")
        if not (isinstance(discs, list) and all(isinstance(d, str) for d in discs)):
            raise BadInput("autoload.bad_stack", file=str(stack))
        self.discs: list[str] = discs
        self.state = self._read_state()

    @property
    def drive(self) -> Path:
        return self.folder / SLOT

    def _read_state(self) -> RobotState:
        try:
            data: dict[str, Any] = json.loads((self.folder / STATE_FILE).read_text("utf-8"))
            return RobotState(int(data["next"]), str(data["in_drive"]),
                              list(data["done"]), list(data["rejected"]))
        except FileNotFoundError:
            return RobotState()
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput("autoload.bad_stack", file=str(self.folder / STATE_FILE)) \
                from exc

    def _save(self) -> None:
        write_atomic(self.folder / STATE_FILE, json.dumps(asdict(self.state), indent=1))

    def prepare(self) -> None:
        pass

    def load(self) -> bool:
        if self.state.in_drive:
            raise AutoloaderFailed("autoload.sim_occupied", disc=self.state.in_drive)
        if self.state.next >= len(self.discs):
            return False
        name = self.discs[self.state.next]
        text = (self.folder / name).read_text(encoding="utf-8")
        self.state.in_drive, self.state.next = name, self.state.next + 1
        self._save()
        write_atomic(self.drive, f"# the disc {name}, loaded by the simulated autoloader\n"
                     + text)
        return True

    def _take_out(self, bin_: list[str]) -> None:
        if not self.state.in_drive:
            return  # done before a crash: the drive is empty already
        bin_.append(self.state.in_drive)
        self.state.in_drive = ""
        self.drive.unlink(missing_ok=True)
        self._save()

    def unload(self, item: str) -> None:
        self._take_out(self.state.done)

    def reject(self, item: str) -> None:
        self._take_out(self.state.rejected)

    def left(self) -> int:
        return len(self.discs) - self.state.next


def _with_volume_name(image: bytes, name: str) -> bytes:
    """The image with another volume identifier in its primary and Joliet volume
    descriptors (ISO 9660 keeps no checksum over them)."""
    out = bytearray(image)
    pos = PVD
    while pos + SECTOR <= len(out) and out[pos + 1:pos + 6] == b"CD001":
        kind = out[pos]
        if kind == 255:
            break
        if kind == 1:
            out[pos + 40:pos + 72] = name.encode("ascii").ljust(32)
        elif kind == 2:
            out[pos + 40:pos + 72] = name.encode("utf-16-be").ljust(32, b"\0")[:32]
        pos += SECTOR
    return bytes(out)


def build_stack(folder: Path, count: int = 20, unreadable: tuple[int, ...] = (7, 15),
                partial: tuple[int, ...] = (11,), no_medium: tuple[int, ...] = (),
                sample: Path | None = None) -> list[str]:
    """A stack of `count` discs (numbered from 1) made from the sample CD; the given
    numbers unreadable, partial or unseen. Returns the disc files in loading order."""
    from workbench.devices import TRAINING_MEDIA
    image = (sample or TRAINING_MEDIA / "cd-sample.iso").read_bytes()
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for n in range(1, count + 1):
        stem = f"disc-{n:02d}"
        lines = ['model = "Simulated autoloader drive"', 'vendor = "Workbench"',
                 'serial = "SIM-LOADER-01"', 'transport = "sr"', f"sector_size = {SECTOR}",
                 'profile = "cd"', f'label.en = "Disc {n} of the simulated stack"',
                 f'label.ja = "模擬スタックのディスク {n}"']
        if n in no_medium:  # the drive never sees it (upside down, not a disc)
            lines.insert(0, f'image = "{stem}-unseen.iso"')
        else:
            write_atomic(folder / f"{stem}.iso", _with_volume_name(image, f"STACK_DISC_{n:02d}"))
            lines.insert(0, f'image = "{stem}.iso"')
        if n in unreadable:
            lines.append(f"\n[[bad]]\nstart = 0\nsize = {len(image)}")
        elif n in partial:  # two sectors of file data
            lines.append(f"\n[[bad]]\nstart = {20 * SECTOR}\nsize = {2 * SECTOR}")
        write_atomic(folder / f"{stem}.drive.toml", "\n".join(lines) + "\n")
        names.append(f"{stem}.drive.toml")
    write_atomic(folder / STACK_FILE, "# the simulated autoloader's input stack, "
                 "loaded top to bottom\ndiscs = [\n" + "".join(f'  "{n}",\n' for n in names)
                 + "]\n")
    (folder / STATE_FILE).unlink(missing_ok=True)
    (folder / SLOT).unlink(missing_ok=True)
    return names
