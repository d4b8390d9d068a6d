#!/bin/bash
# Puts the jukebox on a Debian-based system: Raspberry Pi OS Lite (64-bit) on a Pi, or a plain Debian
# chroot in the tests. One script for both ways onto a Pi:
#   - the image build (image/rpi-image-gen/ runs it inside the new root file system), and
#   - the one-command install on an existing Raspberry Pi OS:  sudo image/provision.sh
# It installs the apt packages, the kiosk user and its groups, the app in its own virtual environment
# (/opt/kiosk/venv), the systemd units and udev rules, the ALSA card choice, the default config in
# /etc/kiosk/config.toml, the console lock-down, and enables the units. Running it again updates in place
# and keeps the owner's config.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: provision.sh [options]

  --app SPEC          what pip installs as the jukebox: a wheel, an sdist or a source folder
                      (default: the checkout this script is in)
  --wheelhouse DIR    install offline from the wheels in DIR; no compiler is installed
                      (without it, pip downloads from PyPI and pyalsaaudio is compiled)
  --alsa-card NAME    the ALSA card to play to, by name (`aplay -l`); default: Headphones
                      (the Pi 4's jack); e.g. sndrpihifiberry for a HiFiBerry DAC
  --data-label LABEL  mount the ext4 file system labelled LABEL at /var/lib/kiosk (the image's data
                      partition) and grow it to fill the card on first boot
  --read-only-root    keep the root file system read-only under a RAM overlay (overlayroot; the data
                      partition stays writable). Needs a data partition (--data-label, or an fstab
                      line for /var/lib/kiosk). Takes effect after a reboot.
  --boot-dir DIR      where cmdline.txt and config.txt live (default: /boot/firmware when present;
                      "none" leaves them alone)
  --boot-only DIR     only edit cmdline.txt and config.txt in DIR, then stop (the image build uses this
                      on the boot partition it assembles; needs no root)
  --no-lockdown       keep the login prompts, VT switching and magic SysRq
  --no-fast-boot      keep the services the jukebox does not need (see image/BOOT-BUDGET.md)
  --no-apt-update     do not run apt-get update first
  --no-start          do not (re)start the jukebox now, even on a running system
  -h, --help          this text
EOF
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APP=$REPO
WHEELHOUSE=
ALSA_CARD_NAME=
DATA_LABEL=
READ_ONLY_ROOT=0
BOOT_DIR=
BOOT_ONLY=0
LOCKDOWN=1
FAST_BOOT=1
APT_UPDATE=1
START=1

KIOSK_USER=kiosk
KIOSK_GROUPS=(audio video render input gpio)
VENV=/opt/kiosk/venv
DATA_DIR=/var/lib/kiosk
UNIT_DIR=/etc/systemd/system
RULES_DIR=/etc/udev/rules.d

# What the jukebox needs at run time. Kivy, PyAV and lgpio bring their own SDL2, FFmpeg and lgpio libraries
# in their wheels; Mesa's GL/EGL/GBM, libmtdev and ALSA come from Debian.
RUNTIME_PACKAGES=(
    python3 python3-venv ca-certificates
    libasound2 alsa-utils
    libgl1-mesa-dri libegl1 libgles2 libgbm1 libdrm2 libmtdev1
    systemd udev kbd
)
# Fast to music (image/BOOT-BUDGET.md): services a jukebox does not need at boot, masked when present.
# `systemctl unmask NAME` brings one back.
CUT_UNITS=(
    NetworkManager-wait-online.service systemd-networkd-wait-online.service
    apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer e2scrub_reap.service
    dphys-swapfile.service rpi-eeprom-update.service
    triggerhappy.service triggerhappy.socket ModemManager.service
    avahi-daemon.service avahi-daemon.socket bluetooth.service hciuart.service
)
# Only to compile pyalsaaudio (it ships as source only) when no wheelhouse is given; removed afterwards.
BUILD_PACKAGES=(python3-dev gcc libc6-dev libasound2-dev)

while [ $# -gt 0 ]; do
    case $1 in
        --app) APP=$2; shift 2 ;;
        --wheelhouse) WHEELHOUSE=$2; shift 2 ;;
        --alsa-card) ALSA_CARD_NAME=$2; shift 2 ;;
        --data-label) DATA_LABEL=$2; shift 2 ;;
        --read-only-root) READ_ONLY_ROOT=1; shift ;;
        --boot-dir) BOOT_DIR=$2; shift 2 ;;
        --boot-only) BOOT_DIR=$2; BOOT_ONLY=1; shift 2 ;;
        --no-lockdown) LOCKDOWN=0; shift ;;
        --no-fast-boot) FAST_BOOT=0; shift ;;
        --no-apt-update) APT_UPDATE=0; shift ;;
        --no-start) START=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "provision.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

step() { echo "provision: $*"; }
die() { echo "provision.sh: $*" >&2; exit 1; }

# kernel command line: one "key=value" (or bare word) at a time, idempotent.
set_cmdline() {
    local file=$BOOT_DIR/cmdline.txt word=$1 key=${1%%=*}
    local line
    line=$(tr -s ' \n' '  ' < "$file" | sed 's/ *$//')
    line=$(echo " $line " | sed -E "s/ ${key//./\\.}(=[^ ]*)? / /g; s/^ +//; s/ +$//")
    echo "$line $word" | sed 's/^ //' > "$file"
}
drop_cmdline() {
    local file=$BOOT_DIR/cmdline.txt pattern=$1
    tr -s ' \n' '  ' < "$file" | tr ' ' '\n' | { grep -v -E "^($pattern)?$" || true; } | paste -sd ' ' > "$file.new"
    mv "$file.new" "$file"
}
set_config_txt() {
    # Our block at the end of config.txt, under [all], replaced on every run.
    local file=$BOOT_DIR/config.txt
    sed -i '/^# kiosk begin/,/^# kiosk end/d' "$file"
    { echo "# kiosk begin (written by the jukebox's provision.sh)"; echo "[all]"; printf '%s\n' "$@"; echo "# kiosk end"; } >> "$file"
}

edit_boot_files() {
    [ -f "$BOOT_DIR/cmdline.txt" ] || die "no cmdline.txt in $BOOT_DIR"
    step "fast, quiet boot in $BOOT_DIR"
    # Fast to music: no rainbow splash, no boot delay; the display driver the jukebox draws through;
    # the initramfs that overlayroot needs.
    [ ! -f "$BOOT_DIR/config.txt" ] || \
        set_config_txt "disable_splash=1" "boot_delay=0" "dtoverlay=vc4-kms-v3d" "auto_initramfs=1"
    for word in quiet loglevel=3 logo.nologo consoleblank=0 vt.global_cursor_default=0 fsck.repair=yes; do
        set_cmdline "$word"
    done
    if [ "$LOCKDOWN" -eq 1 ]; then
        # No login on the serial port; kernel messages go to an unseen console, not over the jukebox.
        drop_cmdline 'console=(serial0|ttyAMA0|ttyS0)(,[0-9]+)?'
        drop_cmdline 'console=tty[0-9]+'
        set_cmdline console=tty3
    fi
}

if [ "$BOOT_ONLY" -eq 1 ]; then
    edit_boot_files
    exit 0
fi

# A read-only root keeps everything written under / in RAM: without its own partition the library
# would be gone after every reboot.
if [ "$READ_ONLY_ROOT" -eq 1 ] && [ -z "$DATA_LABEL" ] && ! grep -qE "^[^#]\S*\s+$DATA_DIR\s" /etc/fstab 2>/dev/null; then
    echo "provision.sh: --read-only-root needs a data partition for $DATA_DIR (--data-label LABEL," \
        "or an /etc/fstab line for it); otherwise the library would live in RAM and vanish at each reboot" >&2
    exit 2
fi

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"
[ -z "$WHEELHOUSE" ] || [ -d "$WHEELHOUSE" ] || die "wheelhouse $WHEELHOUSE is not a folder"
if [ "$BOOT_DIR" = none ]; then
    BOOT_DIR=
elif [ -z "$BOOT_DIR" ]; then
    for candidate in /boot/firmware /boot; do
        if [ -f "$candidate/cmdline.txt" ]; then BOOT_DIR=$candidate; break; fi
    done
fi

# A running systemd (the install-on-a-Pi path) versus a chroot or image build (nothing is started).
LIVE=0
if [ -d /run/systemd/system ] && ! systemd-detect-virt --quiet --chroot 2>/dev/null; then
    LIVE=1
fi
# On a running Pi the labelled partition must exist now, or the next boot would wait for it in vain.
if [ "$LIVE" -eq 1 ] && [ -n "$DATA_LABEL" ] && ! blkid -L "$DATA_LABEL" >/dev/null 2>&1; then
    die "no partition labelled $DATA_LABEL (make one: mkfs.ext4 -L $DATA_LABEL /dev/...); nothing was changed"
fi

export DEBIAN_FRONTEND=noninteractive
APT_INSTALL=(apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confold)

# --- Packages -----------------------------------------------------------------------------------
packages=("${RUNTIME_PACKAGES[@]}")
[ "$READ_ONLY_ROOT" -eq 0 ] || packages+=(overlayroot)
if [ -n "$DATA_LABEL" ]; then packages+=(cloud-guest-utils e2fsprogs); fi
if [ "$APT_UPDATE" -eq 1 ]; then
    step "apt-get update"
    apt-get update -qq
fi
step "installing ${packages[*]}"
"${APT_INSTALL[@]}" -qq "${packages[@]}"

# The compiler is for pyalsaaudio only. Whatever this step adds is removed again after pip, and only
# that: a compiler the owner had installed before stays.
installed_packages() { dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" {print $2}' | sort; }
build_added=()
if [ -z "$WHEELHOUSE" ]; then
    before=$(installed_packages)
    step "installing the compiler for pyalsaaudio: ${BUILD_PACKAGES[*]}"
    "${APT_INSTALL[@]}" -qq "${BUILD_PACKAGES[@]}"
    mapfile -t build_added < <(comm -13 <(echo "$before") <(installed_packages))
fi

# --- The kiosk user -------------------------------------------------------------------------------
for group in "${KIOSK_GROUPS[@]}"; do
    getent group "$group" >/dev/null || groupadd --system "$group"
done
if ! id "$KIOSK_USER" >/dev/null 2>&1; then
    step "creating user $KIOSK_USER"
    useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "Jukebox kiosk" "$KIOSK_USER"
fi
usermod --append --groups "$(IFS=,; echo "${KIOSK_GROUPS[*]}")" "$KIOSK_USER"
install -d -m 0750 -o "$KIOSK_USER" -g "$KIOSK_USER" "$DATA_DIR"

# --- The app in its own virtual environment ------------------------------------------------------------
step "installing the jukebox into $VENV"
install -d -m 0755 /opt/kiosk
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
pip_args=(--disable-pip-version-check --no-input --no-cache-dir)
[ ! -f "$REPO/image/constraints.txt" ] || pip_args+=(--constraint "$REPO/image/constraints.txt")
[ -z "$WHEELHOUSE" ] || pip_args+=(--no-index --find-links "$WHEELHOUSE")
"$VENV/bin/pip" install "${pip_args[@]}" --upgrade "$APP"
# The same version again (a rebuilt checkout) is otherwise "already satisfied".
"$VENV/bin/pip" install "${pip_args[@]}" --force-reinstall --no-deps "$APP"
"$VENV/bin/kiosk" --version
if [ "${#build_added[@]}" -gt 0 ]; then
    step "removing what the compiler step added: ${build_added[*]}"
    apt-get purge -y -qq "${build_added[@]}" >/dev/null
fi
if [ -f "$REPO/hardware/README.md" ]; then
    install -D -m 0644 "$REPO/hardware/README.md" /opt/kiosk/share/doc/hardware.md
fi

# --- Units, udev rules, system files ---------------------------------------------------------------------
step "installing units and udev rules"
installed_units=()
for file in "$REPO"/systemd/*; do
    name=$(basename "$file")
    case $name in
        *.service|*.socket|*.mount|*.automount|*.timer|*.path|*.target)
            install -m 0644 "$file" "$UNIT_DIR/$name"; installed_units+=("$name") ;;
        *.rules)
            install -m 0644 "$file" "$RULES_DIR/$name" ;;
        *)
            step "not installing systemd/$name (not a unit or udev rule)" ;;
    esac
done
# Files that land in the file system as they are (sysctl, logind, journald, keymap, helpers).
cp -R --no-preserve=ownership "$REPO/image/rootfs/." /
chmod 0755 /usr/local/lib/kiosk/*

# --- Configuration ------------------------------------------------------------------------------------
install -d -m 0755 /etc/kiosk
if [ ! -e /etc/kiosk/config.toml ]; then
    install -m 0644 "$REPO/kiosk/data/default-config.toml" /etc/kiosk/config.toml
fi
if [ -n "$ALSA_CARD_NAME" ] || [ ! -e /etc/kiosk/environment ]; then
    cat > /etc/kiosk/environment <<EOF
# Read by kiosk.service. The sound card the jukebox plays to, by name (see \`aplay -l\`): card numbers
# change with what is plugged in, names do not. ALSA's stock configuration picks ALSA_CARD up for
# "default" and for the mixer.
ALSA_CARD=${ALSA_CARD_NAME:-Headphones}
EOF
fi

[ -z "$BOOT_DIR" ] || edit_boot_files

# --- Lock-down ------------------------------------------------------------------------------------------
if [ "$LOCKDOWN" -eq 1 ]; then
    step "locking the console down"
    # No login prompt on the screen (kiosk.service also Conflicts= with it) or on the serial port;
    # logind spawns no gettys on other VTs (image/rootfs/etc/systemd/logind.conf.d).
    systemctl disable --quiet getty@tty1.service 2>/dev/null || true
    systemctl mask --quiet ctrl-alt-del.target
    lockdown_units=(kiosk-console.service)
else
    rm -f /etc/sysctl.d/90-kiosk-lockdown.conf /etc/systemd/logind.conf.d/kiosk-lockdown.conf
    systemctl unmask --quiet ctrl-alt-del.target || true
    lockdown_units=()
fi

# --- Fast to music ----------------------------------------------------------------------------------
if [ "$FAST_BOOT" -eq 1 ]; then
    cut=()
    for unit in "${CUT_UNITS[@]}"; do
        for dir in /etc/systemd/system /usr/lib/systemd/system /lib/systemd/system; do
            if [ -e "$dir/$unit" ] && [ ! -L "$dir/$unit" ]; then cut+=("$unit"); break; fi
        done
    done
    if [ "${#cut[@]}" -gt 0 ]; then
        step "cutting from the boot: ${cut[*]}"
        systemctl mask --quiet "${cut[@]}"
    fi
fi

# --- Data partition and read-only root -----------------------------------------------------------------
if [ -n "$DATA_LABEL" ]; then
    step "data partition LABEL=$DATA_LABEL at $DATA_DIR"
    sed -i '\# kiosk-data$#d' /etc/fstab
    # commit=5: at most five seconds of writes are lost when the power is cut; the journal keeps ext4 whole.
    echo "LABEL=$DATA_LABEL $DATA_DIR ext4 defaults,noatime,commit=5,errors=remount-ro,x-systemd.device-timeout=15s 0 2 # kiosk-data" >> /etc/fstab
    data_units=(kiosk-grow-data.service)
else
    data_units=()
fi
if [ "$READ_ONLY_ROOT" -eq 1 ]; then
    step "read-only root: overlayroot (tmpfs, not recursing into the data partition)"
    # recurse=0: overlayroot leaves the other fstab mounts alone, so the data partition stays writable.
    echo 'overlayroot="tmpfs:recurse=0"' > /etc/overlayroot.local.conf
fi

# --- Enable -------------------------------------------------------------------------------------------
to_enable=()
for unit in "${installed_units[@]}"; do
    # Templates and units without an [Install] section (started by udev or by others) are not enabled.
    case $unit in *@.*) continue ;; esac
    grep -q '^\[Install\]' "$UNIT_DIR/$unit" || continue
    case " kiosk-console.service kiosk-grow-data.service " in
        *" $unit "*) continue ;;  # enabled below only when their feature is on
    esac
    to_enable+=("$unit")
done
to_enable+=("${lockdown_units[@]}" "${data_units[@]}")
step "enabling ${to_enable[*]}"
systemctl enable --quiet "${to_enable[@]}"
for unit in kiosk-console.service kiosk-grow-data.service; do
    case " ${to_enable[*]} " in *" $unit "*) ;; *) systemctl disable --quiet "$unit" 2>/dev/null || true ;; esac
done

if [ "$LIVE" -eq 1 ]; then
    systemctl daemon-reload
    udevadm control --reload || true
    sysctl --quiet --system || true
    if [ "$START" -eq 1 ]; then
        step "restarting the jukebox"
        systemctl restart kiosk.service
    fi
    [ "$READ_ONLY_ROOT" -eq 0 ] || step "reboot to switch to the read-only root"
fi
step "done: $("$VENV/bin/kiosk" --version)"
