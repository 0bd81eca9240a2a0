#!/usr/bin/env bash
# Set up curate in ./.venv: checks Python and Java, installs the package (and with
# --test, the test dependencies). Safe to run again; it only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: Python 3.11+ is needed (curate reads TOML with tomllib) (found: $("$python" --version 2>&1 || echo none)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

java_major() {
  local java=java
  [ -n "${JAVA_HOME:-}" ] && java="$JAVA_HOME/bin/java"
  "$java" -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit}'
}
major=$(java_major || true)
if [ -z "$major" ] || [ "$major" -lt 17 ]; then
  cat >&2 <<MSG
setup: Spark needs Java 17 or newer (found: ${major:-no java}).
  Debian/Ubuntu:  sudo apt-get install -y openjdk-17-jre-headless
  macOS:          brew install openjdk@17
  or install any JDK 17+ and set JAVA_HOME to it.
MSG
  exit 1
fi

extras="[fast,report]"
[ "${1:-}" = "--test" ] && extras="[fast,report,test,package]"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
# PYTHONWARNINGS: setuptools warns about every editable install of a package whose folders
# are mapped (conf/ -> curate.conf); the warning is generic and the mapping intended.
PYTHONWARNINGS=ignore .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$extras"
if ! .venv/bin/python -c 'import curate.core.extract._watlinks' 2>/dev/null; then
  # (an optional extension: pip installs the package without it when it cannot build it)
  echo "setup: the C walk of WAT links was not built (no C compiler or Python headers);" \
       "WATs are read by the Python walk: the same rows, slower." \
       "Debian/Ubuntu: sudo apt-get install gcc python3-dev, then run this again" >&2
fi
if [ "${1:-}" = "--test" ]; then
  # Downstream clients the tests run on curate's outputs (img2dataset, Hugging Face datasets),
  # in a virtualenv of their own; reinstalled only when tests/clients.txt changes.
  if ! cmp -s tests/clients.txt .venv-clients/clients.txt 2>/dev/null; then
    [ -x .venv-clients/bin/python ] || "$python" -m venv .venv-clients
    .venv-clients/bin/python -m pip install --quiet --disable-pip-version-check -r tests/clients.txt
    cp tests/clients.txt .venv-clients/clients.txt
  fi
  # Headless Chromium opens the report in a test: Debian's package, installed when we may.
  if ! command -v chromium >/dev/null; then
    as_root=""
    [ "$(id -u)" = 0 ] || as_root="sudo -n"
    if command -v apt-get >/dev/null && $as_root true 2>/dev/null; then
      $as_root apt-get install -y -q chromium >/dev/null 2>&1 ||
        { $as_root apt-get update -q >/dev/null && $as_root apt-get install -y -q chromium >/dev/null; }
    else
      echo "setup: the report's browser test needs Chromium: sudo apt-get install chromium" >&2
    fi
  fi
fi
echo "setup: ready (.venv, Java $major)" >&2
