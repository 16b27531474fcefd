#!/usr/bin/env bash
# Builds llama.cpp's own tools once into .cache/llama.cpp/bin, from the llama.cpp tree vendored in
# the llama-cpp-python sdist (PyPI is the only source reachable here): llama-quantize and
# llama-perplexity, plus window-ppl (scripts/peer/window_ppl.c), a small driver over llama.cpp's C
# API that scores exactly the tokens `spikeq eval` scores, linked twice: window-ppl on the CPU
# backend alone (quantized weights times 8-bit-quantized activations), window-ppl-blas with the
# OpenBLAS backend too, which takes the large products, dequantizing the weights with ggml's own
# `to_float` and multiplying in f32 (f32 activations, as `spikeq eval --scheme f32`). Used to make
# and check GGUF files of other formats (docs/model.md, "Files made by llama.cpp"); not part of the
# test suite.
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
  && [ "$BIN/window-ppl" -nt scripts/peer/window_ppl.c ] && [ "$BIN/window-ppl-blas" -nt scripts/peer/window_ppl.c ]; then
  echo "$BIN"; exit 0
fi
need_apt=()
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
[ -e /usr/include/x86_64-linux-gnu/cblas.h ] || [ -e /usr/include/cblas.h ] || need_apt+=(libopenblas-dev)
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
configure() {
  cmake -S "$SRC" -B "$1" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF "${@:2}" >&2
}
# The driver links the static libllama and ggml libraries a build left behind.
driver() {
  mapfile -t libs < <(find "$1" -name 'libllama.a' -o -name 'libggml*.a' | sort -r)
  nice -n 10 g++ -O2 -x c scripts/peer/window_ppl.c -x none -I "$SRC/include" -I "$SRC/ggml/include" \
    -Wl,--start-group "${libs[@]}" -Wl,--end-group "${@:3}" -fopenmp -lpthread -lm -o "$BIN/$2"
}
configure "$DIR/build" -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_COMMON=ON
nice -n 10 cmake --build "$DIR/build" -j2 --target llama-quantize llama-perplexity llama >&2
cp "$DIR/build/bin/llama-quantize" "$DIR/build/bin/llama-perplexity" "$BIN/"
driver "$DIR/build" window-ppl
configure "$DIR/build-blas" -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_COMMON=OFF -DGGML_BLAS=ON -DGGML_BLAS_VENDOR=OpenBLAS
nice -n 10 cmake --build "$DIR/build-blas" -j2 --target llama >&2
driver "$DIR/build-blas" window-ppl-blas -lopenblas
echo "$BIN"
