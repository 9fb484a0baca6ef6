#!/usr/bin/env bash
# Re-resolves the base images of the Dockerfile to their current digests and rewrites the
# `ARG *_IMAGE=name:tag@sha256:...` lines in place. Needs network and docker buildx:
#   artifact/docker/resolve-digests.sh [Dockerfile]
# Review the diff before committing: a new digest is a new base image.
set -euo pipefail
cd "$(dirname "$0")/../.."
file="${1:-Dockerfile}"

grep -E '^ARG [A-Z_]+_IMAGE=' "$file" | while IFS= read -r line; do
  name="${line#ARG }"; name="${name%%=*}"
  ref="${line#*=}"; tag="${ref%@*}"
  digest="$(docker buildx imagetools inspect "$tag" --format '{{json .Manifest}}' | sed -n 's/.*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p' | head -1)"
  if [ -z "$digest" ]; then
    echo "resolve-digests: could not resolve $tag" >&2
    exit 1
  fi
  sed -i "s|^ARG $name=.*|ARG $name=$tag@$digest|" "$file"
  echo "$name: $tag@$digest" >&2
done
