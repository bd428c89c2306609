# Sourced by the scripts in scripts/ (not run by itself).
#
# install_packages SCRIPT PACKAGE...: installs the named Debian packages with
# apt-get, through sudo unless root; does nothing when none is named. Without
# apt-get, names the packages and stops the calling script, SCRIPT being the
# name it reports under.
install_packages() {
  local script=$1
  shift
  [ $# -gt 0 ] || return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$script: no apt-get here; install $* by hand" >&2
    exit 1
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}
