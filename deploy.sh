#!/usr/bin/env bash
# vote-extractor: run the whole stack locally, run the tests, deploy to Google Cloud.
#
#   ./deploy.sh local            start the local stack, run the demo, serve until Ctrl-C
#   ./deploy.sh local --detach   start the local stack and return once /healthz is 200
#   ./deploy.sh local --stop     stop every process the local stack started
#   ./deploy.sh local --resend   deliver the evaluations the local Datadog agent has not accepted yet
#   ./deploy.sh test [ARGS...]   run pytest (its fixtures start their own emulators)
#   ./deploy.sh deploy --project P --region R [--dry-run] [--dd-site S] [--add-secret-versions]
#                      [--console-invoker user:EMAIL ...] [--datadog-notify @HANDLE ...]
#                                deploy the six functions, the scheduler job and the console
#                                (Cloud Run, private) to Google Cloud (terraform apply in
#                                infra/terraform first; --dry-run prints the gcloud commands and
#                                needs neither gcloud nor credentials)
#   ./deploy.sh help
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

VENV=.venv
PYTHON_FOR_VENV=${PYTHON_FOR_VENV:-python3.11}
REQUIREMENTS=requirements.txt
REQUIREMENTS_HASH_FILE=$VENV/.requirements.sha256
APT_PACKAGES_FILE=infra/local/apt-packages.txt

say() { printf '==> %s\n' "$*"; }
fail() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

# --- setup: shared by `local` and `test` -----------------------------------------------------

setup_venv() {
  if [[ -x $VENV/bin/python ]]; then
    say "virtual environment: $VENV"
    return
  fi
  command -v "$PYTHON_FOR_VENV" >/dev/null 2>&1 ||
    fail "$PYTHON_FOR_VENV is needed to create $VENV: install Python 3.11 (or set PYTHON_FOR_VENV to a Python 3.11+ interpreter)."
  say "virtual environment: creating $VENV with $PYTHON_FOR_VENV"
  "$PYTHON_FOR_VENV" -m venv "$VENV"
}

setup_requirements() {
  local wanted current=""
  wanted=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
  [[ -f $REQUIREMENTS_HASH_FILE ]] && current=$(<"$REQUIREMENTS_HASH_FILE")
  if [[ $wanted == "$current" ]]; then
    say "python packages: up to date ($REQUIREMENTS unchanged)"
    return
  fi
  say "python packages: installing $REQUIREMENTS"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" ||
    fail "pip could not install $REQUIREMENTS (see the output above)."
  printf '%s\n' "$wanted" >"$REQUIREMENTS_HASH_FILE"
}

setup_apt_packages() {
  local packages=() missing=() package
  [[ -f $APT_PACKAGES_FILE ]] || {
    say "system packages: none listed"
    return
  }
  while read -r package; do
    package=${package%%#*}
    package=${package//[[:space:]]/}
    [[ -n $package ]] && packages+=("$package")
  done <"$APT_PACKAGES_FILE"
  if ((${#packages[@]} == 0)); then
    say "system packages: none listed"
    return
  fi
  if ! command -v dpkg >/dev/null 2>&1; then
    say "system packages: no dpkg here; make sure these are installed: ${packages[*]}"
    return
  fi
  for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if ((${#missing[@]} == 0)); then
    say "system packages: ok (${packages[*]})"
    return
  fi
  if [[ $(id -u) -ne 0 ]]; then
    fail "Missing Debian packages ${missing[*]}: run sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  fi
  say "system packages: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null ||
    fail "apt-get update failed; run it by hand to see why."
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
    fail "apt-get install -y ${missing[*]} failed; run it by hand to see why."
}

setup_google_cloud_cli() {
  local gcloud sdk_root component
  gcloud=$(command -v gcloud) ||
    fail "The emulators need the Google Cloud CLI (gcloud): install it from https://cloud.google.com/sdk/docs/install, then gcloud components install cloud-firestore-emulator pubsub-emulator"
  sdk_root=$(dirname "$(dirname "$(readlink -f "$gcloud")")")
  for component in cloud-firestore-emulator pubsub-emulator; do
    [[ -d $sdk_root/platform/$component ]] ||
      fail "The Google Cloud CLI component $component is missing: gcloud components install $component (apt-installed CLI: apt-get install google-cloud-cli-${component#cloud-})"
  done
  command -v java >/dev/null 2>&1 ||
    fail "The Firestore and Pub/Sub emulators need Java 11 or newer: install a JRE (for example apt-get install -y openjdk-17-jre-headless)."
  say "google cloud cli: ok ($(cat "$sdk_root/VERSION" 2>/dev/null || echo gcloud), firestore + pubsub emulators, $(java -version 2>&1 | head -n1))"
}

setup() {
  setup_venv
  setup_requirements
  setup_apt_packages
  setup_google_cloud_cli
}

# --- commands ----------------------------------------------------------------------------------

command_local() {
  case "${1:-}" in
    "")
      setup
      exec "$VENV/bin/python" -m infra.local.stack up
      ;;
    --detach)
      setup
      exec "$VENV/bin/python" -m infra.local.stack up --detach
      ;;
    --stop)
      [[ -x $VENV/bin/python ]] || fail "$VENV does not exist, so no local stack can be running."
      exec "$VENV/bin/python" -m infra.local.stack down
      ;;
    --resend)
      [[ -x $VENV/bin/python ]] || fail "$VENV does not exist, so no local stack can be running."
      exec "$VENV/bin/python" -m infra.local.stack run -- "$VENV/bin/python" -m shared.wiring.evaluations
      ;;
    *)
      printf 'unknown option for local: %s\n' "$1" >&2
      usage >&2
      exit 2
      ;;
  esac
}

command_test() {
  setup
  # -p no:ddtrace: ddtrace's pytest plugin would import ddtrace before tests/conftest.py exports
  # the test stack's DD_TRACE_AGENT_URL, sending spans to the default agent on port 8126.
  exec "$VENV/bin/python" -m pytest -p no:ddtrace "$@"
}

command_deploy() {
  # Standard library only (infra/deploy.py): any Python 3.11 will do, the venv is not needed.
  local python=python3
  [[ -x $VENV/bin/python ]] && python=$VENV/bin/python
  command -v "$python" >/dev/null 2>&1 || fail "deploy needs Python 3.11 (python3 on PATH)."
  exec "$python" -m infra.deploy "$@"
}

main() {
  local command=${1:-help}
  (($# > 0)) && shift
  case "$command" in
    local) command_local "$@" ;;
    test) command_test "$@" ;;
    deploy) command_deploy "$@" ;;
    help | -h | --help) usage ;;
    *)
      printf 'unknown command: %s\n' "$command" >&2
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
