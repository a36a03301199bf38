# Sourced by the project's scripts (needs a `log` function). Installs only the Debian packages
# that are missing; refreshes the package lists at most once a day.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -1)" ]]; then
    log "apt-get update"
    apt-get -o DPkg::Lock::Timeout=300 update -qq
  fi
  log "apt-get install ${missing[*]}"
  # NEEDRESTART_SUSPEND: needrestart (if installed) must not prompt or restart daemons.
  DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 \
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
}
