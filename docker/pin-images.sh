#!/usr/bin/env bash
# Re-pins the official images to the current digest of their tags, in both places that name them:
# the `${CACHEBENCH_…_IMAGE:-…}` defaults of docker-compose.yml and DEFAULT_IMAGES in
# harness/infra/containers.ts (docs/images.md, "Updating the pins").
#
#   bash docker/pin-images.sh            resolve every tag, rewrite the pins
#   bash docker/pin-images.sh --check    resolve every tag, print stale pins, exit 1 if any
#   bash docker/pin-images.sh --list     print the pinned references, no network
#
# The digest is the multi-arch index's (what `docker pull` of the tag resolves on any platform),
# read with the first resolver found: `docker buildx imagetools inspect`, `crane digest`,
# `skopeo inspect`. CACHEBENCH_DIGEST_RESOLVER=CMD uses CMD instead (called as `CMD name:tag`,
# prints sha256:<hex>) — for a registry mirror or a tool not listed here.
# Every tag is resolved before any file is written: one failure leaves both files as they were.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COMPOSE="$ROOT/docker-compose.yml"
CONTAINERS="$ROOT/harness/infra/containers.ts"

mode=pin
case "${1-}" in
  '') ;;
  --check) mode=check ;;
  --list) mode=list ;;
  -h | --help)
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "pin-images: argument: \"$1\" is not allowed; allowed: --check, --list, --help or none" >&2
    exit 2
    ;;
esac
if [[ $# -gt 1 ]]; then
  echo "pin-images: arguments: \"${*:2}\" are not allowed; one option at most" >&2
  exit 2
fi
for f in "$COMPOSE" "$CONTAINERS"; do
  [[ -f $f ]] || { echo "pin-images: $f: not found (run from a cachebench checkout)" >&2; exit 2; }
done

# The pinned references, one a line: compose defaults, then DEFAULT_IMAGES' string values.
refs() {
  grep -oE '\$\{CACHEBENCH_[A-Z_]+_IMAGE:-[^}]+\}' "$COMPOSE" | sed -E 's/^\$\{[A-Z_]+:-//; s/\}$//'
  sed -n '/^export const DEFAULT_IMAGES = {/,/^}/p' "$CONTAINERS" | grep -oE "'[^']+'" | tr -d "'"
}
mapfile -t REFS < <(refs | sort -u)
if [[ ${#REFS[@]} -eq 0 ]]; then
  echo "pin-images: no image references found in $COMPOSE or $CONTAINERS" >&2
  exit 1
fi
if [[ $mode == list ]]; then
  printf '%s\n' "${REFS[@]}"
  exit 0
fi

resolver() {
  if [[ -n ${CACHEBENCH_DIGEST_RESOLVER-} ]]; then
    echo custom
  elif docker buildx version >/dev/null 2>&1; then
    echo buildx
  elif command -v crane >/dev/null 2>&1; then
    echo crane
  elif command -v skopeo >/dev/null 2>&1; then
    echo skopeo
  else
    echo none
  fi
}
RESOLVER="$(resolver)"
if [[ $RESOLVER == none ]]; then
  echo "pin-images: no digest resolver: install docker buildx, crane or skopeo, or set CACHEBENCH_DIGEST_RESOLVER" >&2
  exit 1
fi

digest_of() {
  local out
  case "$RESOLVER" in
    custom) out="$($CACHEBENCH_DIGEST_RESOLVER "$1")" ;;
    buildx) out="$(docker buildx imagetools inspect --format '{{json .Manifest.Digest}}' "$1")" ;;
    crane) out="$(crane digest "$1")" ;;
    skopeo) out="$(skopeo inspect --format '{{.Digest}}' "docker://$1")" ;;
  esac
  out="${out//\"/}"
  [[ $out =~ ^sha256:[0-9a-f]{64}$ ]] || return 1
  echo "$out"
}

declare -A NEW
stale=0
for ref in "${REFS[@]}"; do
  tagged="${ref%%@*}"
  if ! d="$(digest_of "$tagged" 2>/dev/null)"; then
    echo "pin-images: $tagged: $RESOLVER gave no sha256 digest (registry unreachable or tag unknown); nothing was written" >&2
    exit 1
  fi
  NEW[$ref]="$tagged@$d"
  if [[ $ref == "${NEW[$ref]}" ]]; then
    echo "current  $ref"
  else
    echo "stale    $ref -> ${NEW[$ref]}"
    stale=$((stale + 1))
  fi
done

if [[ $mode == check ]]; then
  [[ $stale -eq 0 ]] || { echo "pin-images: $stale pin(s) stale" >&2; exit 1; }
  exit 0
fi

# Literal replacement (references hold '.', '/' and ':'): only the exact old reference, delimited
# as it is in each file, is rewritten.
for ref in "${!NEW[@]}"; do
  new="${NEW[$ref]}"
  [[ $ref == "$new" ]] && continue
  OLD="$ref" NEW_REF="$new" perl -pi -e 's/:-\Q$ENV{OLD}\E\}/:-$ENV{NEW_REF}}/g' "$COMPOSE"
  OLD="$ref" NEW_REF="$new" perl -pi -e "s/'\\Q\$ENV{OLD}\\E'/'\$ENV{NEW_REF}'/g" "$CONTAINERS"
done
echo "pin-images: $stale pin(s) updated in docker-compose.yml and harness/infra/containers.ts; next: npx biome format --write harness/infra/containers.ts (line lengths), record the date and digests in docs/images.md"
