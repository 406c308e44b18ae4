ltfs --version
