mkltfs --version
