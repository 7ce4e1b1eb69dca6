# Sourced by scripts/run and scripts/check: create .venv when it is missing and install into it.
# constraints.txt pins torch==2.13.0. Where pip's own configuration offers the CPU build (as on this
# project's machines and in CI) that is what comes; elsewhere PyPI's default Linux wheel bundles
# CUDA (GBs). Set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu to take the CPU build from
# PyTorch's own index instead.
fresh_venv=0
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    fresh_venv=1
fi
if [ -n "${TORCH_INDEX_URL:-}" ]; then
    .venv/bin/pip install -q -c constraints.txt --index-url "$TORCH_INDEX_URL" torch
fi
install_project() {
    # pip byte-compiles what it installs one file at a time (torch has thousands: about half of a
    # fresh install here); compileall does the same on every core afterwards.
    .venv/bin/pip install -q --no-compile --disable-pip-version-check -c constraints.txt -e "$1"
    if [ "$fresh_venv" = 1 ]; then
        .venv/bin/python -m compileall -q -j 0 .venv/lib >/dev/null || true
    fi
}
