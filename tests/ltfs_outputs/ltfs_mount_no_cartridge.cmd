ltfs -o devname=/tmp/ltfs-rec2/run/shelf/NOSUCH -o tape_backend=file -o capture_index -o work_directory=/tmp/ltfs-rec2/run/cap/.capture-A00001L8 -o sync_type=unmount /tmp/ltfs-rec2/run/tape/A00002L8
