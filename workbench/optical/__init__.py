"""Optical discs as discs: the TOC (sessions, tracks, lead-outs), the disc's type and
class, CUE sheets, raw and secure reading of audio and Mode 2 tracks, and checksums.

The imaging engine reads a disc through the same Source whether it is a drive or a
CUE/BIN image: Source.disc is its TOC, Source.read gives 2048-byte data sectors and
Source.read_raw gives 2352-byte raw sectors.
"""
