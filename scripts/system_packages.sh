#!/usr/bin/env bash
# Checks the system packages deepscope needs and installs the missing ones.
# As root it runs apt-get; otherwise it prints exactly what to install and
# exits with status 1. Fast when everything is present (no apt calls).
set -euo pipefail

need=()

# The Fashion-MNIST files (unless the user points FASHION_MNIST_DIR at a copy).
if [[ -z "${FASHION_MNIST_DIR:-}" && ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
  need+=(dataset-fashion-mnist)
fi
# torch-sys compiles a C++ wrapper around libtorch.
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
# The browser test of JupyterLab (driven by Playwright, which brings no browser).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The project's .venv.
if ! command -v python3 >/dev/null 2>&1; then
  need+=(python3 python3-venv)
elif ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  need+=(python3-venv)
fi

# The cluster tests start a one-node Slurm (slurmctld, slurmd, munge) and
# submit studies to it; its plugins for accounting databases and the like
# are recommendations, not installed.
lean=()
command -v sbatch >/dev/null 2>&1 || lean+=(slurm-client)
[[ -x /usr/sbin/slurmctld ]] || lean+=(slurmctld)
[[ -x /usr/sbin/slurmd ]] || lean+=(slurmd)
[[ -x /usr/sbin/munged ]] || lean+=(munge)

# Nothing optional: cells are linked by the rust-lld that rustup ships
# (rustc's default on x86-64 Linux since 1.90), as fast here as mold (0.1 s
# for a cell) and 5x faster than GNU ld; evcxr's `mold -run` wrapper does
# not reach it, so mold is not installed.

if ((${#need[@]} + ${#lean[@]})) && [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing system packages: ${need[*]} ${lean[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if ((${#need[@]})); then
    apt-get install -y -qq -o Dpkg::Use-Pty=0 "${need[@]}" >/dev/null
  fi
  if ((${#lean[@]})); then
    apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "${lean[@]}" >/dev/null
  fi
  need=()
  lean=()
fi
need+=("${lean[@]}")
if ((${#need[@]})); then
  echo "setup: missing system packages: ${need[*]}" >&2
  echo "setup: install them with:  sudo apt-get install -y ${need[*]}" >&2
  echo "setup: (Fashion-MNIST can instead come from FASHION_MNIST_DIR, a folder with its four .gz files)" >&2
  exit 1
fi

# Rust: tch 0.26 and image 0.25 need rustc 1.88 or newer; rustup provides it.
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: no Rust toolchain: install rustup (https://rustup.rs), then run make again" >&2
  exit 1
fi
rustc_minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
if ((rustc_minor < 88)); then
  echo "setup: $(rustc --version) is older than the 1.88 deepscope needs: run 'rustup update stable'" >&2
  exit 1
fi
