"""A small test-only UDF writer for what no tool here writes: metadata partitions (UDF
2.50/2.60; mkudffs 2.3 does not make them), files on a virtual (VAT) partition (mkudffs
makes empty VAT discs; the kernel has no UDF here and udfclient does not write VAT to an
image), CS0 names of both widths, embedded data, extended file entries and long
allocation descriptors into another partition. Its images are checked here against
udfclient's udfdump, an independent UDF reader."""

from __future__ import annotations

import binascii
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests import fsfixtures as fx

B = 2048
ANCHOR, VDS_MAIN, VDS_RESERVE, LVID_AT = 256, 32, 48, 64
PART_START = 257


def tag(ident: int, body: bytes, location: int, version: int = 3) -> bytes:
    """A descriptor: its 16-byte tag (checksum, CRC of the body) and the body."""
    head = bytearray(struct.pack("<HHBBHHHI", ident, version, 0, 0, 1,
                                 binascii.crc_hqx(body, 0), len(body), location))
    head[4] = (sum(head[:4]) + sum(head[5:16])) & 0xFF
    return bytes(head) + body


def pad(data: bytes, size: int) -> bytes:
    return data + bytes(size - len(data))


def dstring(text: str, size: int) -> bytes:
    raw = b"\x08" + text.encode("latin-1")
    return pad(raw, size - 1) + bytes([len(raw)])


def charspec() -> bytes:
    return pad(b"\x00OSTA Compressed Unicode", 64)


def regid(ident: bytes, suffix: bytes = b"") -> bytes:
    return b"\x00" + pad(ident, 23) + pad(suffix, 8)


def stamp() -> bytes:
    return struct.pack("<HHBBBBBBBB", 0x1000, 2001, 2, 3, 4, 5, 6, 0, 0, 0)


def cs0(name: str) -> bytes:
    """8-bit CS0 when every character fits a byte, else 16-bit."""
    try:
        return b"\x08" + name.encode("latin-1")
    except UnicodeEncodeError:
        return b"\x10" + name.encode("utf-16-be")


@dataclass
class Node:
    name: bytes  # CS0 identifier, compression id first
    data: bytes = b""
    is_dir: bool = False
    embed: bool = False
    fragments: int = 1
    hole: bool = False  # blocks 1-2 of the data are zeros, not recorded (a sparse extent)
    chain: bool = False  # descriptors after the first continue in an extent descriptor
    indirect: bool = False  # strategy 4096: a stale entry, an indirect entry, the new entry
    children: list[Node] = field(default_factory=list)
    icb: int = -1  # descriptor block (metadata, virtual or physical partition)
    dir_blocks: int = -1  # a large directory's data blocks (same partition as its ICB)
    extents: list[tuple[int, int]] = field(default_factory=list)  # (physical block, bytes)


class UdfBuilder:
    """kind: 'physical', 'metadata' (UDF 2.50/2.60) or 'vat' (UDF 1.50 or 2.01).
    Descriptors live in a descriptor space: the physical partition itself, the metadata
    partition (placed through a metadata file of two extents in reverse order, and a
    mirror) or the virtual partition (placed through the VAT, written last)."""

    def __init__(self, kind: str, revision: int, label: str = "BUILT") -> None:
        self.kind, self.rev, self.label = kind, revision, label
        self.efe = revision >= 0x0200
        self.tagver = 3 if revision >= 0x0200 else 2
        self.root = Node(b"", is_dir=True)
        self.blocks: dict[int, bytes] = {}  # physical partition block -> bytes
        self.next_phys = 0
        self.desc: dict[int, bytes] = {}  # descriptor space block -> bytes
        self.unique = 16
        self.ref = 0 if kind == "physical" else 1
        self.layout: dict[str, int] = {}  # where things went (for tests that damage them)

    def add(self, path: str, data: bytes = b"", *, is_dir: bool = False, embed: bool = False,
            fragments: int = 1, raw_name: bytes | None = None, hole: bool = False,
            chain: bool = False, indirect: bool = False) -> None:
        folder = self.root
        *parents, last = path.strip("/").split("/")
        for part in parents:
            folder = next(c for c in folder.children if c.name == cs0(part))
        folder.children.append(Node(raw_name or cs0(last), data, is_dir, embed, fragments,
                                    hole, chain, indirect))

    # -- placing -----------------------------------------------------------------
    def _phys(self, count: int) -> int:
        start = self.next_phys
        self.next_phys += count
        return start

    def _desc(self, count: int = 1) -> int:
        if self.kind == "physical":
            return self._phys(count)
        start = len(self.desc)
        for k in range(count):
            self.desc[start + k] = b""
        return start

    def _place(self, node: Node) -> None:
        node.icb = self._desc()
        if node.indirect:  # the indirect entry's block, then the newer entry's
            self._desc(2)
        if node.is_dir:
            size = self._dir_size(node)
            if size > B - 216 - 16:
                node.dir_blocks = self._desc(-(-size // B))
        elif not node.embed:
            size = len(node.data)
            blocks = -(-size // B)
            pieces = max(1, min(node.fragments, blocks))
            per = -(-blocks // pieces) * B
            for at in range(0, size, per):
                n = min(per, size - at)
                if node.hole and at == 0:  # one block, then two of zeros not recorded
                    assert node.data[B:3 * B] == bytes(2 * B) and n > 3 * B
                    first = self._phys(1)
                    self.blocks[first] = pad(node.data[:B], B)
                    node.extents += [(first, B), (-1, 2 * B)]
                    at, n = 3 * B, n - 3 * B
                start = self._phys(-(-n // B))
                self._phys(1)  # a gap, so the pieces are separate extents
                for k in range(0, n, B):
                    self.blocks[start + k // B] = pad(node.data[at + k:at + k + B], B)
                node.extents.append((start, n))
        for child in node.children:
            self._place(child)

    def _dir_size(self, node: Node) -> int:
        return sum((38 + len(c.name) + 3) & ~3 for c in node.children) + 40

    def _fid(self, name: bytes, chars: int, icb: int, where: int) -> bytes:
        body = struct.pack("<HBB", 1, chars, len(name)) + struct.pack("<IIH", B, icb, self.ref)
        body += bytes(6) + struct.pack("<H", 0) + name
        body = pad(body, ((len(body) + 16 + 3) & ~3) - 16)
        return tag(257, body, where, self.tagver)

    def _write(self, block: int, data: bytes) -> None:
        if self.kind == "physical":
            self.blocks[block] = pad(data, B)
        else:
            self.desc[block] = pad(data, B)

    def _entries(self, node: Node, parent: Node) -> None:
        if node.is_dir:
            where = node.icb if node.dir_blocks < 0 else node.dir_blocks
            content = self._fid(b"", 0x0A, parent.icb, where)
            for child in node.children:
                fid = self._fid(child.name, 0x02 if child.is_dir else 0, child.icb, where)
                if node.dir_blocks >= 0:  # tag location: the block the FID starts in
                    fid = self._fid(child.name, 0x02 if child.is_dir else 0, child.icb,
                                    node.dir_blocks + len(content) // B)
                content += fid
            if node.dir_blocks < 0:
                self._write(node.icb, self._fe(node, content, 3, len(content)))
            else:
                for k in range(0, len(content), B):
                    self._write(node.dir_blocks + k // B, content[k:k + B])
                ad = struct.pack("<II", len(content), node.dir_blocks)
                self._write(node.icb, self._fe(node, ad, 0, len(content)))
            for child in node.children:
                self._entries(child, node)
        elif node.embed and node.indirect:
            stale = self._fe(node, b"stale", 3, 5)
            stale = stale[:20] + struct.pack("<H", 4096) + stale[22:]  # strategy 4096
            self._write(node.icb, tag(261 if not self.efe else 266, stale[16:], node.icb,
                                      self.tagver))
            ie = struct.pack("<IHHHBB6sH", 0, 4096, 0, 2, 0, 3, bytes(6), 0)
            ie += struct.pack("<IIH6s", B, node.icb + 2, self.ref, bytes(6))
            self._write(node.icb + 1, tag(259, ie, node.icb + 1, self.tagver))
            self._write(node.icb + 2, self._fe(node, node.data, 3, len(node.data),
                                               where=node.icb + 2))
        elif node.embed:
            self._write(node.icb, self._fe(node, node.data, 3, len(node.data)))
        elif self.kind == "physical":
            ads = b"".join(struct.pack("<II", n | (2 << 30) if s < 0 else n, max(s, 0))
                           for s, n in node.extents)
            if node.chain:  # first descriptor here, the rest in an extent descriptor
                aed = self._desc()
                rest = ads[8:]
                body = struct.pack("<II", 0, len(rest)) + rest
                self._write(aed, tag(258, body, aed, self.tagver))
                ads = ads[:8] + struct.pack("<II", B | (3 << 30), aed)
            self._write(node.icb, self._fe(node, ads, 0, len(node.data)))
        else:  # long ads naming the physical partition (not the partition of the ICB)
            ads = b"".join(struct.pack("<IIH6s", n, s, 0, bytes(6)) for s, n in node.extents)
            self._write(node.icb, self._fe(node, ads, 1, len(node.data)))

    def _fe(self, node: Node, ads: bytes, flags: int, size: int, file_type: int = -1,
            where: int | None = None) -> bytes:
        if file_type < 0:
            file_type = 4 if node.is_dir else 5
        icbtag = struct.pack("<IHHHBB6sH", 0, 4, 0, 1, 0, file_type, bytes(6), flags)
        self.unique += 1
        blocks = -(-size // B) if flags != 3 else 0
        where = node.icb if where is None else where
        head = icbtag + struct.pack("<IIIHBBI", 0, 0, 0o755, 1, 0, 0, 0)
        if self.efe:
            body = head + struct.pack("<QQQ", size, size, blocks) + stamp() * 4
            body += struct.pack("<II", 1, 0) + bytes(32) + regid(b"*test")
            body += struct.pack("<QII", self.unique, 0, len(ads)) + ads
            return tag(266, body, where, self.tagver)
        body = head + struct.pack("<QQ", size, blocks) + stamp() * 3 + struct.pack("<I", 1)
        body += bytes(16) + regid(b"*test") + struct.pack("<QII", self.unique, 0, len(ads))
        return tag(261, body + ads, where, self.tagver)

    # -- the volume ----------------------------------------------------------------
    def build(self) -> bytes:
        suffix = struct.pack("<HB", self.rev, 0)
        if self.kind == "metadata":
            self.layout["metadata_fe"] = self._phys(1)
            self.layout["mirror_fe"] = self._phys(1)
        fsd = self._desc()
        self._place(self.root)
        self.root.icb = fsd + 1
        self._entries(self.root, self.root)
        fsd_body = (stamp() + struct.pack("<HHIIII", 3, 3, 1, 1, 0, 0) + charspec()
                    + dstring(self.label, 128) + charspec() + dstring("FS", 32)
                    + bytes(64) + struct.pack("<IIH6s", B, self.root.icb, self.ref, bytes(6))
                    + regid(b"*OSTA UDF Compliant", suffix) + bytes(32))
        self._write(fsd, tag(256, pad(fsd_body, 496), fsd, self.tagver))
        maps = struct.pack("<BBHH", 1, 6, 1, 0)
        if self.kind == "metadata":
            maps += self._metadata(suffix)
        elif self.kind == "vat":
            maps += struct.pack("<BBH32sHH24s", 2, 64, 0, regid(b"*UDF Virtual Partition",
                                                                 suffix), 1, 0, bytes(24))
            self._vat()
        return self._volume(maps, fsd, suffix)

    def _metadata(self, suffix: bytes) -> bytes:
        count = len(self.desc)
        half = count // 2
        second = self._phys(count - half)  # the second half lies before the first
        first = self._phys(half)
        mirror = self._phys(count)
        for k in range(count):
            at = first + k if k < half else second + k - half
            self.blocks[at] = pad(self.desc[k], B)
            self.blocks[mirror + k] = pad(self.desc[k], B)
        self.layout.update(first=first, second=second, mirror=mirror)
        main_ads = struct.pack("<IIII", half * B, first, (count - half) * B, second)
        node = Node(b"")
        for at, ads, kind in ((self.layout["metadata_fe"], main_ads, 250),
                              (self.layout["mirror_fe"], struct.pack("<II", count * B, mirror),
                               251)):
            self.blocks[at] = pad(self._fe(node, ads, 0, count * B, kind, at), B)
        return struct.pack("<BBH32sHHIIIIHB5s", 2, 64, 0,
                           regid(b"*UDF Metadata Partition", suffix), 1, 0,
                           self.layout["metadata_fe"], self.layout["mirror_fe"], 0xFFFFFFFF,
                           32, 1, 0, bytes(5))

    def _vat(self) -> None:
        vat = []
        for v in range(len(self.desc)):
            p = self._phys(1)
            self.blocks[p] = pad(self.desc[v], B)
            vat.append(p)
        self.layout["vat_fe"] = at = self._phys(1)
        table = struct.pack(f"<{len(vat)}I", *vat)
        if self.rev >= 0x0200:
            data = struct.pack("<HH", 152, 0) + dstring(self.label, 128) + struct.pack(
                "<IIIHHHH", 0xFFFFFFFF, 1, 1, self.rev, self.rev, self.rev, 0) + table
            file_type = 248
        else:
            data = table + regid(b"*UDF Virtual Alloc Tbl", struct.pack("<H", self.rev))
            data += struct.pack("<I", 0xFFFFFFFF)
            file_type = 0
        self.blocks[at] = pad(self._fe(Node(b""), data, 3, len(data), file_type, at), B)
        self.layout["vat"] = len(vat)

    def _volume(self, maps: bytes, fsd: int, suffix: bytes) -> bytes:
        part_len = self.next_phys
        if self.kind != "vat":  # udfclient wants a disc of some size; a VAT must end it
            part_len = max(part_len, 512)
        total = PART_START + part_len
        img = bytearray(total * B)

        def put(sector: int, data: bytes) -> None:
            img[sector * B:sector * B + len(data)] = data

        nsr = b"NSR03" if self.rev >= 0x0200 else b"NSR02"
        for k, ident in enumerate((b"BEA01", nsr, b"TEA01")):
            put(16 + k, b"\x00" + ident + b"\x01")
        impl = regid(b"*test", suffix)
        for base in (VDS_MAIN, VDS_RESERVE):
            pvd = (struct.pack("<II", 1, 0) + dstring(self.label, 32)
                   + struct.pack("<HHHHII", 1, 1, 2, 3, 1, 1) + dstring("SET", 128)
                   + charspec() + charspec() + bytes(16) + regid(b"*test") + stamp() + impl
                   + bytes(64) + struct.pack("<IH", 0, 0))
            put(base, tag(1, pad(pvd, 496), base, self.tagver))
            iuvd = (struct.pack("<I", 2) + regid(b"*UDF LV Info", suffix) + charspec()
                    + dstring(self.label, 128) + bytes(108) + impl)
            put(base + 1, tag(4, pad(iuvd, 496), base + 1, self.tagver))
            pd = (struct.pack("<IHH", 3, 1, 0) + regid(b"+" + nsr) + bytes(128)
                  + struct.pack("<III", 2 if self.kind == "vat" else 4, PART_START, part_len)
                  + impl)
            put(base + 2, tag(5, pad(pd, 496), base + 2, self.tagver))
            lvd = (struct.pack("<I", 4) + charspec() + dstring(self.label, 128)
                   + struct.pack("<I", B) + regid(b"*OSTA UDF Compliant", suffix)
                   + struct.pack("<IIH6s", B, fsd, self.ref, bytes(6))
                   + struct.pack("<II", len(maps), 1 + (self.kind != "physical")) + impl
                   + bytes(128) + struct.pack("<II", B, LVID_AT) + maps)
            put(base + 3, tag(6, lvd, base + 3, self.tagver))
            put(base + 4, tag(7, struct.pack("<II", 5, 0), base + 4, self.tagver))
            put(base + 5, tag(8, bytes(496), base + 5, self.tagver))
        n = 1 + (self.kind != "physical")
        lvid = (stamp() + struct.pack("<I", 1) + bytes(8) + struct.pack("<Q", self.unique)
                + bytes(24) + struct.pack("<II", n, 46) + struct.pack(f"<{n}I", *[0] * n)
                + struct.pack(f"<{n}I", *[part_len] * n) + impl
                + struct.pack("<IIHHH", 1, 1, self.rev, self.rev, self.rev))
        put(LVID_AT, tag(9, lvid, LVID_AT, self.tagver))
        put(ANCHOR, tag(2, pad(struct.pack("<IIII", 16 * B, VDS_MAIN, 16 * B, VDS_RESERVE),
                               496), ANCHOR, self.tagver))
        for block, data in self.blocks.items():
            put(PART_START + block, data)
        return bytes(img)


def udfdump_tree(path: Path) -> list[str]:
    """File paths udfclient's udfdump lists (':Rootdir/a/b' lines)."""
    out = subprocess.run([fx.tool("udfdump"), "-t", "-b", "2048", str(path)],
                         capture_output=True, timeout=120).stdout.decode("utf-8", "replace")
    return sorted(line.split(":Rootdir", 1)[1] for line in out.splitlines()
                  if line.startswith(":Rootdir/"))


def sample(kind: str, revision: int) -> UdfBuilder:
    b = UdfBuilder(kind, revision)
    b.add("/readme.txt", b"read me\n" * 100)
    b.add("/tiny.txt", b"embedded in the entry", embed=True)
    b.add("/docs", is_dir=True)
    b.add("/docs/report.pdf", fx.FILES["report.pdf"])
    b.add("/docs/pieces.bin", bytes(range(256)) * 160, fragments=3)
    b.add("/docs/logo.png", fx.FILES["logo.png"])
    b.add("/日本語.txt", "日本語".encode())
    b.add("/many", is_dir=True)
    for k in range(60):
        b.add(f"/many/file{k:02d}.txt", f"file {k}\n".encode(), embed=k % 2 == 0)
    return b


def test_built_images_are_read_by_udfdump(tmp_path):
    for kind, rev in (("physical", 0x0201), ("metadata", 0x0250), ("metadata", 0x0260),
                      ("vat", 0x0201), ("vat", 0x0150)):
        path = tmp_path / f"{kind}-{rev:x}.img"
        path.write_bytes(sample(kind, rev).build())
        tree = udfdump_tree(path)
        # udfdump shows names it cannot print as '_#<crc>'
        assert "/docs/report.pdf" in tree and "/tiny.txt" in tree, (kind, rev, tree[:5])
        assert "/many/file59.txt" in tree and len(tree) == 66, (kind, rev, len(tree))
