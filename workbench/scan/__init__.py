"""Virus scanning of images (ClamAV)."""
