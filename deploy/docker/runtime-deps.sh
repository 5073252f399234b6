#!/usr/bin/env bash
# Prints, one per line, the Debian/Ubuntu packages that hold the shared libraries the
# given executables link directly (ELF NEEDED entries, resolved by ldd, owners found
# by dpkg). The images' runtime stage installs exactly these, so the runtime list
# follows the build (scripts/packages.txt) without a second hand-kept list; apt adds
# their own dependencies. Libraries that no package owns (e.g. a toolkit copied in by
# hand) fail the script, since the runtime image could not get them — except the CUDA
# runtime libraries (cudart, cuBLAS, NCCL), which the nvidia/cuda runtime image ships.
# Usage: runtime-deps.sh EXECUTABLE...
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 EXECUTABLE..." >&2; exit 2; }

owner() {  # owner PATH: the package that installed PATH (usrmerge: try /lib and /usr/lib)
  local path="$1" alt
  case "$path" in
    /usr/lib/*) alt="${path#/usr}" ;;
    /lib/*) alt="/usr$path" ;;
    *) alt="$path" ;;
  esac
  for candidate in "$path" "$alt"; do
    if out="$(dpkg-query -S "$candidate" 2>/dev/null)"; then
      echo "${out%%:*}"
      return 0
    fi
  done
  return 1
}

declare -A packages=()
missing=0
for exe in "$@"; do
  mapfile -t needed < <(objdump -p "$exe" | awk '$1 == "NEEDED" {print $2}')
  resolved="$(ldd "$exe")"
  for lib in "${needed[@]}"; do
    case "$lib" in
      libcudart.so.*|libcublas.so.*|libcublasLt.so.*|libnccl.so.*)
        echo "runtime-deps: $lib comes with the CUDA runtime image" >&2
        continue ;;
    esac
    path="$(awk -v lib="$lib" '$1 == lib && $2 == "=>" {print $3}' <<<"$resolved")"
    if [ -z "$path" ] || [ "$path" = "not" ]; then
      echo "runtime-deps: $exe needs $lib, which ldd cannot find" >&2
      missing=1
      continue
    fi
    for candidate in "$path" "$(readlink -f "$path")"; do
      if pkg="$(owner "$candidate")"; then
        packages["${pkg%%,*}"]=1
        continue 2
      fi
    done
    echo "runtime-deps: no package owns $path ($lib)" >&2
    missing=1
  done
done
[ "$missing" -eq 0 ] || exit 1
printf '%s\n' "${!packages[@]}" | sort
