#!/usr/bin/env bash
# Builds llama.cpp's own tools once into .cache/llama.cpp/bin, from the llama.cpp tree vendored in
# the llama-cpp-python sdist (PyPI is the only source reachable here): llama-quantize and
# llama-perplexity, plus window-ppl (scripts/peer/window_ppl.c), a small driver over llama.cpp's C
# API that scores exactly the tokens `spikeq eval` scores. Used to make and check GGUF files of
# other formats (docs/model.md, "Files made by llama.cpp"); not part of the test suite.
# CPU only, nice'd, two jobs. Safe to run twice: a finished build is left alone.
#
#   scripts/peer/llama_cpp.sh            # prints the bin folder when done
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VERSION=0.3.36
DIR="$ROOT/.cache/llama.cpp"
BIN="$DIR/bin"
SRC="$DIR/llama_cpp_python-$VERSION/vendor/llama.cpp"

if [ -x "$BIN/llama-quantize" ] && [ -x "$BIN/llama-perplexity" ] && [ -x "$BIN/window-ppl" ] \
  && [ "$BIN/window-ppl" -nt scripts/peer/window_ppl.c ]; then
  echo "$BIN"; exit 0
fi
need_apt=()
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
mkdir -p "$DIR" "$BIN"
if [ ! -f "$SRC/CMakeLists.txt" ]; then
  echo "llama_cpp: fetching the llama-cpp-python $VERSION sdist (~77 MB)" >&2
  python3 -m pip download -q --no-deps --no-binary :all: -d "$DIR" "llama-cpp-python==$VERSION"
  tar -xzf "$DIR/llama_cpp_python-$VERSION.tar.gz" -C "$DIR"
fi
# Static libraries, so that the driver links without an rpath; no network, server or tests.
cmake -S "$SRC" -B "$DIR/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_COMMON=ON >&2
nice -n 10 cmake --build "$DIR/build" -j2 --target llama-quantize llama-perplexity llama >&2
cp "$DIR/build/bin/llama-quantize" "$DIR/build/bin/llama-perplexity" "$BIN/"
# The driver links the static libllama and ggml libraries the build left behind.
mapfile -t libs < <(find "$DIR/build" -name 'libllama.a' -o -name 'libggml*.a' | sort -r)
nice -n 10 g++ -O2 -x c scripts/peer/window_ppl.c -x none -I "$SRC/include" -I "$SRC/ggml/include" \
  -Wl,--start-group "${libs[@]}" -Wl,--end-group -fopenmp -lpthread -lm -o "$BIN/window-ppl"
echo "$BIN"
