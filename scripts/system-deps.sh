#!/usr/bin/env bash
# Installs the Debian packages Vigil needs when they are missing: QEMU (system emulator and qemu-img), and
# libgpiod's tools (gpiomon: the kill switch's GPIO trigger; its tests run the installed gpiomon), and Chromium,
# which the dashboard's tests drive headless through playwright-core.
set -euo pipefail
need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || need+=(ovmf)
command -v gpiomon >/dev/null 2>&1 || need+=(gpiod)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v apt-get >/dev/null 2>&1 || { echo "system-deps: this is not a Debian-like system; install QEMU yourself" >&2; [ ${#need[@]} -eq 0 ]; exit; }
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${need[*]}; run: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
