#!/usr/bin/env bash
# Installs what `dpstudy paper` needs to build paper/paper.pdf, if missing: latexmk and
# Debian's TeX Live (LaTeX with booktabs, graphicx, hyperref), and poppler-utils (pdftoppm,
# to render pages for a look). Debian/Ubuntu (apt). Idempotent. Used by CI and the Docker
# image's `paper` target.
set -euo pipefail

missing=()
command -v latexmk >/dev/null || missing+=(latexmk)
command -v pdflatex >/dev/null || missing+=(texlive-latex-base)
kpsewhich booktabs.sty >/dev/null 2>&1 || missing+=(texlive-latex-recommended)
kpsewhich lmodern.sty >/dev/null 2>&1 || missing+=(lmodern)
command -v pdftoppm >/dev/null || missing+=(poppler-utils)

if ((${#missing[@]} == 0)); then
  exit 0
fi
echo "install-paper-deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-paper-deps: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
