#!/bin/bash
# Records the LTFS tools on the file backend. Usage: record.sh OUTDIR
set -u
export PATH=/tmp/ltfs-inst/bin:$PATH
OUT=$1; R=/tmp/ltfs-rec2/run; rm -rf $R $OUT; mkdir -p $OUT $R/shelf/A00001L8 $R/shelf/A00002L8 $R/tape $R/cap
rec() { name=$1; shift; echo "$*" > $OUT/$name.cmd; "$@" > $OUT/$name.stdout 2> $OUT/$name.stderr; echo $? > $OUT/$name.rc; }
T=$R/shelf/A00001L8; M=$R/tape/A00001L8; C=$R/cap/.capture-A00001L8; mkdir -p $M $C
rec mkltfs_ok mkltfs --device=$T --backend=file --tape-serial=A00001 --volume-name=A00001L8
rec mkltfs_formatted mkltfs --device=$T --backend=file --tape-serial=A00001 --volume-name=A00001L8
rec ltfs_mount_ok ltfs -o devname=$T -o tape_backend=file -o capture_index -o work_directory=$C -o sync_type=unmount $M
mkdir -p $M/bag-1/data && echo hello > $M/bag-1/data/a.txt
rec fusermount_ok fusermount -u $M
for i in $(seq 100); do pgrep -f "ltfs -o devname=$T" >/dev/null || break; sleep 0.1; done
cp $C/*.schema $OUT/
rec ltfs_mount_capture_index_dir ltfs -o devname=$T -o tape_backend=file -o capture_index=$C -o work_directory=$C -o sync_type=unmount $M
mountpoint -q $M && fusermount -u $M
sed -i 's/<emulate_readonly>false/<emulate_readonly>true/' $T/filedebug_tc_conf.xml
rec ltfs_mount_write_protected ltfs -o devname=$T -o tape_backend=file -o capture_index -o work_directory=$C -o sync_type=unmount $M
( mkdir $M/x 2>&1; echo "rc=$?" ) > $OUT/write_protected_mkdir.txt
rec fusermount_write_protected fusermount -u $M
for i in $(seq 100); do pgrep -f "ltfs -o devname=$T" >/dev/null || break; sleep 0.1; done
rec mkltfs_write_protected mkltfs --device=$T --backend=file --tape-serial=A00001 --volume-name=A00001L8 --force
sed -i 's/<emulate_readonly>true/<emulate_readonly>false/' $T/filedebug_tc_conf.xml
M2=$R/tape/A00002L8; mkdir -p $M2
rec ltfs_mount_unformatted ltfs -o devname=$R/shelf/A00002L8 -o tape_backend=file -o capture_index -o work_directory=$C -o sync_type=unmount $M2
mountpoint -q $M2 && fusermount -u $M2
rec ltfs_mount_no_cartridge ltfs -o devname=$R/shelf/NOSUCH -o tape_backend=file -o capture_index -o work_directory=$C -o sync_type=unmount $M2
mountpoint -q $M2 && fusermount -u $M2
rec fusermount_not_mounted fusermount -u $M2
# a small cartridge (60 MB, filedebug_tc_conf.xml capacity_mb): its index partition (5 %) is in early warning at once
T3=$R/shelf/A00003L8; M3=$R/tape/A00003L8; mkdir -p $T3 $M3
sed 's/<capacity_mb>[0-9]*</<capacity_mb>60</; s/<emulate_readonly>true/<emulate_readonly>false/' $T/filedebug_tc_conf.xml > $T3/filedebug_tc_conf.xml
rec mkltfs_small_ok mkltfs --device=$T3 --backend=file --tape-serial=A00003 --volume-name=A00003L8
rec ltfs_mount_index_full ltfs -o devname=$T3 -o tape_backend=file -o capture_index -o work_directory=$C -o sync_type=unmount $M3
mountpoint -q $M3 && fusermount -u $M3
for i in $(seq 100); do pgrep -f "ltfs -o devname=$T3" >/dev/null || break; sleep 0.1; done
rec mkltfs_version mkltfs --version
rec ltfs_version ltfs --version
true
