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

"$(dirname "$0")/apt-install.sh" install-paper-deps "${missing[@]}"
