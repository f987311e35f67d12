#!/usr/bin/env bash
# Fails when a source file of a layer folder includes a header of a layer it
# may not use (docs/architecture.md, "Layers"). The build's sm_layer_*
# programs catch calls that climb; this catches includes, which cost nothing
# to add and are where an upward dependency starts.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A allowed=(
  [base]=""
  [decode]="base"
  [proto]="base decode"
  [telemetry]="base"
  [tls]="base telemetry"
  [observe]="base decode proto telemetry"
  [core]="base decode proto telemetry tls observe"
)
layers="${!allowed[*]}"
bad=0
for layer in $layers; do
  for f in "$layer"/*.[ch]; do
    [[ -e "$f" ]] || continue
    while IFS= read -r inc; do
      dep=${inc%%/*}
      [[ " $layers " == *" $dep "* ]] || continue # a system or library header
      [[ "$dep" == "$layer" ]] && continue
      if [[ " ${allowed[$layer]} " != *" $dep "* ]]; then
        echo "$f includes $inc: $layer/ may use only: ${allowed[$layer]:-nothing}" >&2
        bad=1
      fi
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
  done
done
if ((bad)); then
  exit 1
fi
echo "layers: every include goes downward"
