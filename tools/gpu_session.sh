#!/usr/bin/env bash
# The GPU measurements of BENCHMARKS.md in as few device calls as a lent machine allows.
#
# The lent machine has torch with CUDA but only the CPU onnxruntime, and reaches no network, so onnxruntime-gpu
# travels as a wheel; a call carries at most 64 MiB, so the wheel goes in parts over consecutive warm calls.
#
#   here:         bash tools/gpu_session.sh prepare        # downloads and splits the wheel into .gpu/pN/part
#   device call:  bash tools/gpu_session.sh stash N        # carry [".gpu/pN"]; once per part, machine kept warm
#   device call:  bash tools/gpu_session.sh measure goal   # carry the last part: the 30 fps goal and the GPU tests
#   device call:  bash tools/gpu_session.sh measure rest   # the same machine: a file dreamed, steps per engine, TensorRT
#
# `measure` installs onnxruntime-gpu (loading torch's CUDA libraries) and vis without dependencies, so that pip
# does not put the CPU onnxruntime back, then runs each measurement under its own time limit and goes on after a
# failure. Its logs come back in $OUT; copy the figures into BENCHMARKS.md with the device named.
set -u
ORT_GPU=${ORT_GPU:-onnxruntime-gpu==1.31.1}
PART_MB=60
STASH=/tmp/vis-gpu

prepare() {
    rm -rf .gpu && mkdir -p .gpu/wheel
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        -d .gpu/wheel "$ORT_GPU" || exit 1
    # a wheel is a zip; xz takes it from ~300 to ~200 MB, four parts instead of six
    (cd .gpu/wheel && unzip -q ./*.whl -d tree && tar -C tree -cf - . | xz -T2 -6 > ../site.tar.xz) || exit 1
    split -b "${PART_MB}M" -d -a 1 .gpu/site.tar.xz .gpu/chunk.
    local n=0
    for chunk in .gpu/chunk.*; do
        n=$((n + 1)); mkdir -p ".gpu/p$n" && mv "$chunk" ".gpu/p$n/part"
    done
    for dir in .gpu/p*/; do echo "$n" > "$dir/of"; done
    rm -rf .gpu/wheel .gpu/site.tar.xz
    echo "$n parts in .gpu/p1..p$n; on the device: 'stash K' carrying .gpu/pK for K < $n, then 'measure goal' carrying .gpu/p$n"
}

stash() {
    mkdir -p "$STASH" && cp ".gpu/p$1/part" "$STASH/part$1" && ls -l "$STASH"
}

install() {
    if [ -d /tmp/site/onnxruntime ] && python3 -c "import vis" 2>/dev/null; then return 0; fi  # an earlier call's
    # the parts this call carried, and those earlier calls on the same machine stashed (or left in .gpu there)
    mkdir -p "$STASH"
    for dir in .gpu/p*/; do [ -f "$dir/part" ] && cp "$dir/part" "$STASH/part${dir//[^0-9]/}"; done
    local total; total=$(cat .gpu/p*/of 2>/dev/null | head -1)
    for k in $(seq 1 "${total:?no part carried: carry .gpu/pN}"); do
        [ -f "$STASH/part$k" ] || { echo "part $k of $total is missing: stash it first (a cold machine lost it)"; return 1; }
    done
    mkdir -p /tmp/site
    cat $(seq -f "$STASH/part%g" 1 "$total") | xz -d | tar -C /tmp/site -xf - || return 1
    export PYTHONPATH=/tmp/site
    python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . || return 1
    python3 -c "import torch, onnxruntime as o; print(o.__version__, o.get_available_providers())"
}

# step NAME SECONDS COMMAND...: one measurement, its log in $OUT/NAME.log, its time and exit code in the summary
step() {
    local name=$1 limit=$2; shift 2
    local began=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    echo "$name: exit $? in $((SECONDS - began)) s" | tee -a "$OUT/summary.txt"
}

measure() {
    local mode=$1
    export PYTHONUNBUFFERED=1 OUT=${OUT:-/tmp/out}
    mkdir -p "$OUT"
    { nvidia-smi -L; nvidia-smi --query-gpu=driver_version --format=csv,noheader; nproc; python3 -V; } \
        > "$OUT/machine.txt" 2>&1
    install > "$OUT/install.log" 2>&1 || { echo "install failed"; tail -20 "$OUT/install.log"; exit 1; }
    export PYTHONPATH=/tmp/site
    # ORT's CUDA provider finds the CUDA libraries torch's wheels bring (vis imports torch first anyway)
    LD_LIBRARY_PATH=$(python3 -c "import glob, os, torch; print(':'.join(glob.glob(os.path.join(os.path.dirname(
        os.path.dirname(torch.__file__)), 'nvidia', '*', 'lib'))))"):${LD_LIBRARY_PATH:-}
    export LD_LIBRARY_PATH
    if [ "$mode" = goal ]; then  # the 30 fps goal of issue 4 first: it is what the GPU is lent for
        step dream720 200 vis bench dream --width 1280 --height 720 --provider cuda --threads 0 --cuda-graph \
        --backends ort
        step dream720-flow320 150 vis bench dream --width 1280 --height 720 --provider cuda --threads 0 --cuda-graph \
            --backends ort --flow-size 320
        step gpu-tests 200 python3 -m pytest -q -m gpu tests/engine/test_gpu.py
    else
        python3 - <<'EOF'
import cv2
from vis.engine._dream_bench import synthetic_clip
frames = synthetic_clip(90, (1280, 720))
out = cv2.VideoWriter("/tmp/clip720.mp4", cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (1280, 720))
for frame in frames:
    out.write(cv2.cvtColor((frame * 255).round().astype("uint8"), cv2.COLOR_RGB2BGR))
out.release()
EOF
        step dream-file 200 vis dream /tmp/clip720.mp4 -o /tmp/dreamed720.mp4 --overwrite --weights random \
            --model googlenet --provider cuda --cuda-graph
        step dream720-torch 200 vis bench dream --width 1280 --height 720 --provider cuda --threads 0 \
            --backends torch
        step step-engines 200 vis bench step googlenet --device cuda --sizes 224,512,720x1280 \
            --engines torch,ort,ort-graph,ort-fp16
        if ldconfig -p | grep -q libnvinfer; then
            step step-tensorrt 300 vis bench step googlenet --device cuda --sizes 224,512 --engines ort,tensorrt
        else
            echo "tensorrt: no libnvinfer on this machine" | tee -a "$OUT/summary.txt"
        fi
    fi
    cat "$OUT/summary.txt"; tail -n 12 "$OUT"/*.log
}

case ${1:-} in
    prepare) prepare ;;
    stash) stash "${2:?which part}" ;;
    measure) case ${2:-} in goal|rest) measure "$2" ;; *) echo "measure goal or measure rest"; exit 2 ;; esac ;;
    *) sed -n '2,15p' "$0"; exit 2 ;;
esac
