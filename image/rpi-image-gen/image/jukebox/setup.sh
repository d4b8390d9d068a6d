#!/bin/bash
# Run by genimage just before it packs a partition ($IMAGEMOUNTPATH holds that partition's files).
#   ROOT: /etc/fstab for the boot and root partitions (the data line was added by provision.sh).
#   BOOT: cmdline.txt and config.txt, edited by provision.sh --boot-only, the same edits an install
#         on an existing Pi makes.
set -eu

case $1 in
   ROOT)
      fstab=$IMAGEMOUNTPATH/etc/fstab
      data=$(grep ' # kiosk-data$' "$fstab" || true)
      {
         echo "LABEL=ROOTFS  /               ext4  defaults,noatime,commit=30,errors=remount-ro  0 1"
         echo "LABEL=BOOTFS  /boot/firmware  vfat  defaults,noatime,errors=remount-ro  0 2"
         [ -z "$data" ] || echo "$data"
      } > "$fstab.new"
      mv "$fstab.new" "$fstab"
      ;;
   BOOT)
      sed -i "s|root=[^ ]*|root=LABEL=ROOTFS|" "$IMAGEMOUNTPATH/cmdline.txt"
      # provision.sh was copied into the root file system at /opt/kiosk/provision.sh by the jukebox layer.
      "$ROOTPATH/opt/kiosk/provision.sh" --boot-only "$IMAGEMOUNTPATH"
      ;;
esac
