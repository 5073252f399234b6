#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan; tests/fuzz) and runs each for a share
# of a bounded time, with an RSS cap and a per-input timeout (an OOM or a hang is a
# finding), seeded with the fixtures when present:
#   media_decoder_fuzzer  images and videos at the production media limits   (1/4)
#   request_fuzzer        gRPC GenerateRequest bytes, OpenAI JSON bodies     (1/8)
#   tokenizer_fuzzer      text to encode, ids to decode (whole, streamed)    (1/8)
#   config_fuzzer         config.json (both formats), image headers         (1/8)
#   grammar_fuzzer        GBNF grammars, JSON Schemas, regexes (structured)  (1/8)
#   safetensors_fuzzer    safetensors files (header, offsets), EXIF segments (1/8)
#   bash scripts/fuzz.sh [SECONDS]   (default 60, in all)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-60}"
targets=(media_decoder_fuzzer request_fuzzer tokenizer_fuzzer config_fuzzer grammar_fuzzer safetensors_fuzzer)
cmake -S "$root" -B "$root/build-fuzz" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_C_COMPILER=clang-14 -DOVSERVE_FUZZ=ON -DOVSERVE_ENABLE_CUDA=OFF \
  -DOVSERVE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$root/build-fuzz" --target "${targets[@]}" -j "$(nproc)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fixtures="${OVSERVE_FIXTURES:-$root/../shared/fixtures}"

seed() {  # seed TARGET: a corpus folder with whatever fits the target
  local dir="$work/$1"
  mkdir -p "$dir"
  case "$1" in
    media_decoder_fuzzer)
      [ -d "$fixtures/media" ] && cp "$fixtures/media"/* "$dir"/ ;;
    request_fuzzer)
      printf '%s' '{"model":"fuzz","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}],"max_tokens":4,"stop":["x"],"priority":1}' >"$dir/chat.json"
      printf '%s' '{"prompt":"<|im_start|>user <image>\nhi<|im_end|>","max_tokens":2,"n":2,"logprobs":2}' >"$dir/completion.json" ;;
    tokenizer_fuzzer)
      printf '\001%s' 'Hello, world! <|im_start|>user <image> caf'"$(printf '\xc3\xa9')"' 12345   ' >"$dir/text"
      printf '\000\000\000\000\000\001\000\000\000\355\047\002\000' >"$dir/ids" ;;
    config_fuzzer)
      [ -f "$fixtures/tiny-llava-ov/config.json" ] && cp "$fixtures/tiny-llava-ov/config.json" "$dir/hf.json"
      find "$fixtures/lmms" -name config.json -exec sh -c 'cp "$1" "$2/lmms-$(echo "$1" | md5sum | cut -c1-8).json"' _ {} "$dir" \; 2>/dev/null || true
      [ -d "$fixtures/media" ] && cp "$fixtures/media"/*.png "$dir"/ 2>/dev/null || true ;;
    grammar_fuzzer)
      printf '\000%s' 'root ::= "{" pair ("," pair)* "}"
pair ::= [a-z]+ ":" ([0-9]{1,3} | "\"" [^"]* "\"")' >"$dir/gbnf"
      printf '\001%s' '{"type":"object","properties":{"a":{"type":"integer","minimum":-5,"maximum":120},"b":{"type":"array","items":{"enum":["x",1,null]},"maxItems":3},"c":{"$ref":"#/$defs/c"}},"required":["a"],"$defs":{"c":{"type":"string","pattern":"^[a-f]{2,4}$"}}}' >"$dir/schema"
      printf '\002%s' '(\+?[0-9]{1,3})?[ -]?\(?[0-9]{3}\)?-[0-9]{4}|x+' >"$dir/regex" ;;
    safetensors_fuzzer)
      # A valid two-tensor file (header length, JSON header, data) and an EXIF segment.
      header='{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[8,12]},"__metadata__":{"format":"pt"}}'
      printf "$(printf '\\%03o' $(( ${#header} & 255 )) $(( ${#header} >> 8 )))\000\000\000\000\000\000" >"$dir/tiny.safetensors"
      printf '%s' "$header" >>"$dir/tiny.safetensors"
      printf '\000\000\200\077\000\000\000\100\200\077\000\100' >>"$dir/tiny.safetensors"
      printf 'Exif\000\000II*\000\010\000\000\000\001\000\022\001\003\000\001\000\000\000\006\000\000\000' >"$dir/exif" ;;
  esac
  echo "$dir"
}

status=0
for target in "${targets[@]}"; do
  share=$((seconds / 8))
  [ "$target" = media_decoder_fuzzer ] && share=$((seconds / 4))
  [ "$share" -lt 1 ] && share=1
  corpus="$(seed "$target")"
  log="$work/$target.log"
  echo "== $target: ${share} s"
  # 35 s per input: above the media decode deadline (30 s), so a decode that ignores it hangs.
  "$root/build-fuzz/tests/fuzz/$target" "$corpus" -max_total_time="$share" -timeout=35 \
    -rss_limit_mb=3072 -print_final_stats=1 >"$log" 2>&1 || status=$?
  # The summary (or, on a finding, the sanitizer report): libFuzzer's status decides.
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY|^Done" "$log" || tail -40 "$log"
done
exit "$status"
