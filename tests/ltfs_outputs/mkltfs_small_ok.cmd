mkltfs --device=/tmp/ltfs-rec2/run/shelf/A00003L8 --backend=file --tape-serial=A00003 --volume-name=A00003L8
