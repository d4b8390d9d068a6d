#!/bin/sh
# Fills in the genimage template for the jukebox layout.
set -eu

rootfs=$1
genimg_in=$2

sed \
   -e "s|<IMAGE_NAME>|$IGconf_image_name|g" \
   -e "s|<IMAGE_SUFFIX>|$IGconf_image_suffix|g" \
   -e "s|<FW_SIZE>|$IGconf_image_boot_part_size|g" \
   -e "s|<ROOT_SIZE>|$IGconf_image_root_part_size|g" \
   -e "s|<DATA_SIZE>|$IGconf_image_data_part_size|g" \
   -e "s|<DATA_LABEL>|${IGconf_jukebox_data_label:-KIOSKDATA}|g" \
   -e "s|<SETUP>|'$(readlink -ef "$IGconf_image_assetdir/setup.sh")'|g" \
   "$IGconf_image_assetdir/genimage.cfg.in" > "$genimg_in/genimage.cfg"
