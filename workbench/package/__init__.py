"""Packaging: BagIt 1.0 bags from known digests, a BagIt profile, PREMIS events."""
