#!/bin/sh
# Decodes each READ ATTRIBUTE response (*.hex, made by build.py) with the real
# sg_read_attr, as the workbench runs it (attribute values, all of them), and the
# barcode alone as `sg_read_attr -f 0x806` prints it. Usage: sh record.sh
set -e
cd "$(dirname "$0")"
sg_read_attr --version > sg_read_attr.version 2>&1 || true
for hex in *.hex; do
    name=${hex%.hex}
    sg_read_attr --in="$hex" > "$name.txt"
    sg_read_attr --in="$hex" -f 0x806 > "$name.barcode.txt"
done
# the names tests/test_ltfs.py plays its drive from
cp lto8_A00001L8.txt ../sg_read_attr_lto8.txt
cp lto7_B00007L7.txt ../sg_read_attr_lto7.txt
cp cleaning.txt ../sg_read_attr_cleaning.txt
