fusermount -u /tmp/ltfs-rec2/run/tape/A00001L8
