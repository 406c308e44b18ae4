"""Ingest of existing preservation images: discs and disks that hold files (with their own
checksum lists) rather than a carrier to image. Sources (sources.py), names safe for a bag
and LTFS (names.py), checksum lists (checksums.py), the copy with its digests computed
once while reading (copy.py) and the bag (bag.py). The station records it (station/ingest.py).
"""
