#!/usr/bin/env bash
# The system packages the test suite needs, from Debian's archive, installed when missing (idempotent):
# headless Chromium and its driver (tests/display: pages in a real browser) and rootful podman with runc
# (tests/containers: layers that run in an image; crun refuses this kernel's hybrid cgroups). Podman is
# configured by tests/containers/containers.conf, which the container tests point CONTAINERS_CONF at.
set -euo pipefail
wanted=()
command -v chromium >/dev/null || wanted+=(chromium)
command -v chromedriver >/dev/null || wanted+=(chromium-driver)
command -v podman >/dev/null || wanted+=(podman)
command -v runc >/dev/null || wanted+=(runc)
if [ "${#wanted[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "tests/setup.sh: installing ${wanted[*]} (apt-get)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${wanted[@]}" >/dev/null
fi
