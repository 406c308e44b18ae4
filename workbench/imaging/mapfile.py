"""The rescue map, read and written in GNU ddrescue's mapfile format.

Blocks are contiguous, cover the whole domain and never overlap; neighbours with the same
status are merged, as ddrescue does, so ddrescuelog and ddrescueview read our maps.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from workbench.atomic import write_atomic
from workbench.errors import BadInput

NON_TRIED, NON_TRIMMED, NON_SCRAPED, BAD, FINISHED = "?", "*", "/", "-", "+"
BLOCK_STATUSES = (NON_TRIED, NON_TRIMMED, NON_SCRAPED, BAD, FINISHED)
# Not yet tried, trimmed or scraped: a pass is still due there (not bad sectors).
UNTRIED = (NON_TRIED, NON_TRIMMED, NON_SCRAPED)
UNFINISHED = (*UNTRIED, BAD)
# The phase that was running, as ddrescue writes it on the status line.
PHASE_STATUS = {"copy": "?", "trim": "*", "scrape": "/", "retry": "-", "done": "+"}
PHASE_STATUSES = "?*/-FG+"


# every line break Python knows (str.splitlines), with the blanks around it
_LINE_BREAKS = re.compile(r"[ \t]*[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+[ \t]*")


def comment_text(text: str) -> str:
    """text as one line of plain printable ASCII, for a mapfile comment: line breaks
    collapse to one space, other control characters become \\xNN and anything beyond
    ASCII a Python escape (\\u4f50\\u85e4 for 佐藤), so GNU ddrescuelog, ddrescueview
    and an ASCII reader all take the map, whatever the command line held."""
    text = _LINE_BREAKS.sub(" ", text).replace("\t", " ")
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in text)


@dataclass
class Block:
    pos: int
    size: int
    status: str

    @property
    def end(self) -> int:
        return self.pos + self.size


@dataclass
class RescueMap:
    size: int
    blocks: list[Block] = field(default_factory=list)
    current_pos: int = 0
    current_status: str = "?"
    current_pass: int = 1
    created_by: str = ""
    command_line: str = ""
    start_time: str = ""
    # (pos, size) spans outside the domain: never read, never counted (a disc's audio
    # tracks and the gaps between its sessions, from its TOC). The map file keeps them
    # non-tried, as GNU ddrescue would with a domain mapfile.
    outside: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.blocks and self.size > 0:
            self.blocks = [Block(0, self.size, NON_TRIED)]

    # -- queries ---------------------------------------------------------------------
    def _index(self, pos: int) -> int:
        """Index of the block that contains pos."""
        return bisect.bisect_right(self.blocks, pos, key=lambda b: b.pos) - 1

    def status_at(self, pos: int) -> str:
        return self.blocks[self._index(pos)].status

    def block_at(self, pos: int) -> Block:
        return self.blocks[self._index(pos)]

    def _inside(self, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """(pos, end) spans with whatever lies outside the domain cut away."""
        if not self.outside:
            return spans
        out = []
        for pos, end in spans:
            for o_pos, o_size in self.outside:
                o_end = o_pos + o_size
                if o_end <= pos or o_pos >= end:
                    continue
                if o_pos > pos:
                    out.append((pos, o_pos))
                pos = max(pos, o_end)
                if pos >= end:
                    break
            if pos < end:
                out.append((pos, end))
        return out

    @property
    def domain_size(self) -> int:
        """The bytes the map's domain covers (its size less what lies outside)."""
        return sum(end - pos for pos, end in self._inside([(0, self.size)]))

    def areas(self, status: str, reverse: bool = False) -> Iterator[tuple[int, int]]:
        """(pos, end) of every block with status inside the domain, snapshotted so
        callers may mark."""
        spans = self._inside([(b.pos, b.end) for b in self.blocks if b.status == status])
        return iter(reversed(spans) if reverse else spans)

    def total(self, status: str) -> int:
        if not self.outside:  # the usual map: one pass, no spans built (progress asks often)
            return sum(b.size for b in self.blocks if b.status == status)
        return sum(end - pos for pos, end in self.areas(status))

    def totals(self) -> dict[str, int]:
        out = dict.fromkeys(BLOCK_STATUSES, 0)
        if not self.outside:
            for b in self.blocks:
                out[b.status] += b.size
            return out
        for status in BLOCK_STATUSES:
            out[status] = self.total(status)
        return out

    def finished_prefix(self) -> int:
        """End of the leading run of finished data (0 when the first block is not)."""
        first = self.blocks[0] if self.blocks else None
        return first.end if first and first.status == FINISHED else 0

    def unfinished(self) -> list[tuple[int, int]]:
        """Every (pos, size) not finished, neighbours joined."""
        return self.ranges(UNFINISHED)

    def ranges(self, statuses: Collection[str]) -> list[tuple[int, int]]:
        """Every (pos, size) whose status is one of statuses, neighbours joined."""
        spans: list[tuple[int, int]] = []
        for pos, end in self._inside([(b.pos, b.end) for b in self.blocks
                                      if b.status in statuses]):
            if spans and spans[-1][0] + spans[-1][1] == pos:
                spans[-1] = (spans[-1][0], spans[-1][1] + end - pos)
            else:
                spans.append((pos, end - pos))
        return spans

    # -- updates ---------------------------------------------------------------------
    def _split(self, pos: int) -> int:
        """Make a block start at pos; return its index (len(blocks) when pos == size)."""
        if pos >= self.size:
            return len(self.blocks)
        i = self._index(pos)
        block = self.blocks[i]
        if block.pos == pos:
            return i
        self.blocks.insert(i + 1, Block(pos, block.end - pos, block.status))
        block.size = pos - block.pos
        return i + 1

    def mark(self, pos: int, size: int, status: str) -> None:
        if size <= 0:
            return
        end = min(pos + size, self.size)
        i = self._split(pos)
        j = self._split(end)
        self.blocks[i:j] = [Block(pos, end - pos, status)]
        # merge with neighbours of the same status
        if i + 1 < len(self.blocks) and self.blocks[i + 1].status == status:
            self.blocks[i].size += self.blocks[i + 1].size
            del self.blocks[i + 1]
        if i > 0 and self.blocks[i - 1].status == status:
            self.blocks[i - 1].size += self.blocks[i].size
            del self.blocks[i]

    # -- the file format -------------------------------------------------------------
    def render(self, now: str | None = None) -> str:
        now = now or time.strftime("%Y-%m-%d %H:%M:%S")
        lines = [f"# Mapfile. Created by {comment_text(self.created_by or 'workbench')}",
                 f"# Command line: {comment_text(self.command_line)}",
                 f"# Start time:   {comment_text(self.start_time or now)}",
                 f"# Current time: {comment_text(now)}",
                 "# current_pos  current_status  current_pass",
                 f"0x{self.current_pos:08X}     {self.current_status}               "
                 f"{self.current_pass}",
                 "#      pos        size  status"]
        lines += [f"0x{b.pos:08X}  0x{b.size:08X}  {b.status}" for b in self.blocks]
        return "\n".join(lines) + "\n"

    def save(self, path: Path) -> None:
        write_atomic(path, self.render())

    @classmethod
    def parse(cls, text: str, source: str = "mapfile") -> RescueMap:
        status_line: list[str] | None = None
        blocks: list[Block] = []
        start_time = ""
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if line.startswith("# Start time:"):
                start_time = line.split(":", 1)[1].strip()
            if not line or line.startswith("#"):
                continue
            if not line.isascii():  # int() would take other scripts' digits
                raise BadInput("error.bad_map", file=source, line=number, text=raw)
            fields = line.split()
            if status_line is None:
                if len(fields) not in (2, 3) or fields[1] not in PHASE_STATUSES:
                    raise BadInput("error.bad_map", file=source, line=number, text=raw)
                status_line = fields
                continue
            try:
                pos, size, status = int(fields[0], 0), int(fields[1], 0), fields[2]
            except (ValueError, IndexError):
                raise BadInput("error.bad_map", file=source, line=number, text=raw) from None
            expected = blocks[-1].end if blocks else 0
            if len(fields) != 3 or status not in BLOCK_STATUSES or pos != expected or size <= 0:
                raise BadInput("error.bad_map", file=source, line=number, text=raw)
            if blocks and blocks[-1].status == status:
                blocks[-1].size += size
            else:
                blocks.append(Block(pos, size, status))
        if status_line is None:
            raise BadInput("error.bad_map", file=source, line=0, text="(no status line)")
        size = blocks[-1].end if blocks else 0
        return cls(size=size, blocks=blocks, current_pos=int(status_line[0], 0),
                   current_status=status_line[1],
                   current_pass=int(status_line[2]) if len(status_line) == 3 else 1,
                   start_time=start_time)

    @classmethod
    def load(cls, path: Path) -> RescueMap:
        raw = path.read_bytes()
        if b"\0" in raw:
            raise BadInput("error.bad_map", file=str(path), line=0, text="(not text)")
        # comments may hold any bytes (GNU ddrescue copies its command line as it came;
        # maps of older releases held UTF-8): only the data lines must be ASCII
        return cls.parse(raw.decode("utf-8", errors="replace"), str(path))

    def fit_to(self, size: int) -> None:
        """Extend a map that stops short of size (ddrescue leaves the tail out of maps of
        runs it did not finish) with non-tried data; refuse one that is larger."""
        if self.size == size:
            return
        if self.size > size:
            raise BadInput("error.map_larger", map_size=self.size, size=size)
        tail, self.size = self.size, size
        self.blocks.append(Block(tail, size - tail, NON_TRIED))
        if len(self.blocks) > 1 and self.blocks[-2].status == NON_TRIED:
            self.blocks[-2].size += self.blocks.pop().size
