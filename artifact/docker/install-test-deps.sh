#!/usr/bin/env bash
# Installs what the tests need beyond the build's packages (install-deps.sh, called first):
# headless Chromium and a font, which render report.html in tests/integration/report_html.rs;
# Slurm and munge, whose daemons make the emulated cluster of tests/integration/slurm.rs.
# Idempotent: does nothing when everything is present. Used by the README's test command
# and CI; the images do not need it.
set -euo pipefail

here="$(dirname "$0")"
"$here/install-deps.sh"
missing=()
command -v chromium >/dev/null || missing+=(chromium)
compgen -G "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf" >/dev/null || missing+=(fonts-dejavu-core)
command -v slurmctld >/dev/null && command -v slurmd >/dev/null || missing+=(slurm-wlm)
command -v munged >/dev/null || missing+=(munge)
"$here/apt-install.sh" install-test-deps "${missing[@]}"
