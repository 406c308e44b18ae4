"""Looking inside images: volumes, file systems, format identification, reports."""
