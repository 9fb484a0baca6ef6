#!/usr/bin/env bash
# Fetches the four MNIST files into DIR, each checked against its published SHA-256:
#   artifact/docker/fetch-mnist.sh DIR [BASE_URL ...]
# From each base URL (default: the public mirrors) it tries the published `.gz` file, then
# the decompressed file, and keeps the first whose checksum is the published one for that
# form; a file that matches neither is an error naming it. Needs curl and sha256sum. The
# Docker image's data stage runs it; the sums are those of src/data/checksum.rs (a test
# keeps the two equal).
set -euo pipefail

dir="${1:?usage: fetch-mnist.sh DIR [BASE_URL ...]}"
shift
bases=("$@")
if ((${#bases[@]} == 0)); then
  bases=(https://ossci-datasets.s3.amazonaws.com/mnist https://storage.googleapis.com/cvdf-datasets/mnist)
fi
# name, sha256 of the .gz, sha256 of the decompressed file
files="train-images-idx3-ubyte 440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609 ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
train-labels-idx1-ubyte 3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c 65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
t10k-images-idx3-ubyte 8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6 0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
t10k-labels-idx1-ubyte f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6 ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"

mkdir -p "$dir"
while read -r name gz_sum raw_sum; do
  got=""
  for base in "${bases[@]}"; do
    for form in gz raw; do
      if [ "$form" = gz ]; then file="$name.gz" want="$gz_sum"; else file="$name" want="$raw_sum"; fi
      if curl -fsSL --retry 2 -o "$dir/$file.part" "${base%/}/$file" 2>/dev/null; then
        sum="$(sha256sum "$dir/$file.part" | cut -d' ' -f1)"
        if [ "$sum" = "$want" ]; then
          mv "$dir/$file.part" "$dir/$file"
          got="${base%/}/$file"
          break 2
        fi
        echo "fetch-mnist: ${base%/}/$file: SHA-256 $sum, expected $want (not the published file)" >&2
      fi
      rm -f "$dir/$file.part"
    done
  done
  [ -n "$got" ] || { echo "fetch-mnist: $name: no base URL served it with its published checksum (${bases[*]})" >&2; exit 1; }
  echo "fetch-mnist: $got, checksum ok" >&2
done <<<"$files"
