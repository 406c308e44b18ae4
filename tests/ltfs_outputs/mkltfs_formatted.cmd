mkltfs --device=/tmp/ltfs-rec2/run/shelf/A00001L8 --backend=file --tape-serial=A00001 --volume-name=A00001L8
