#!/usr/bin/env bash
# Build llama.cpp's llama-server and llama-bench from the same llama-cpp-python source
# distribution that corral installs, with the CPU options llama-cpp-python's own build uses.
#
#   bash bench/build_llama.sh          # prints the directory holding the two binaries
#
# Cached under bench/.cache/: a second run with the same version and options does nothing.
# Environment: LLAMA_CPP_PYTHON_VERSION (default: the pin in pyproject.toml), CMAKE_ARGS (extra
# cmake options, as llama-cpp-python honours them, e.g. -DGGML_CUDA=on), BENCH_JOBS (default 2).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cache="$here/.cache"
python="${PYTHON:-python}"

version="${LLAMA_CPP_PYTHON_VERSION:-$(sed -n 's/.*"llama-cpp-python==\([^"]*\)".*/\1/p' "$root/pyproject.toml")}"
if [[ -z "$version" ]]; then
    echo "build_llama.sh: no llama-cpp-python pin found in pyproject.toml; set LLAMA_CPP_PYTHON_VERSION" >&2
    exit 2
fi
jobs="${BENCH_JOBS:-2}"

# llama-cpp-python's CMakeLists.txt (and scikit-build-core's default Release build) fix these;
# GGML_NATIVE stays at llama.cpp's default (ON when not cross-compiling, as in a pip build).
# Only the two tools are built: no tests, examples, web UI download or curl.
options=(
    -DCMAKE_BUILD_TYPE=Release
    -DBUILD_SHARED_LIBS=ON
    -DLLAMA_BUILD_COMMON=ON
    -DLLAMA_CURL=OFF
    -DGGML_NATIVE=ON
    -DLLAMA_BUILD_TOOLS=ON
    -DLLAMA_BUILD_SERVER=ON
    -DLLAMA_BUILD_TESTS=OFF
    -DLLAMA_BUILD_EXAMPLES=OFF
    -DLLAMA_BUILD_UI=OFF
    -DLLAMA_USE_PREBUILT_UI=OFF
)
# shellcheck disable=SC2206
extra=(${CMAKE_ARGS:-})

build="$cache/build-$version"
bin="$build/bin"
stamp="$build/.bench-stamp"
want="$version ${options[*]} ${extra[*]}"
if [[ -x "$bin/llama-server" && -x "$bin/llama-bench" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$bin"
    exit 0
fi

src="$cache/src"
sdist="$src/llama_cpp_python-$version.tar.gz"
tree="$src/llama_cpp_python-$version"
mkdir -p "$src"
if [[ ! -f "$sdist" ]]; then
    echo "downloading llama-cpp-python==$version (source distribution)" >&2
    "$python" -m pip download --quiet --no-binary :all: --no-deps \
        "llama-cpp-python==$version" -d "$src" >&2
fi
if [[ ! -f "$tree/vendor/llama.cpp/CMakeLists.txt" ]]; then
    tar -xzf "$sdist" -C "$src"
fi

generator=()
if command -v ninja >/dev/null 2>&1; then
    generator=(-G Ninja)
fi
rm -f "$stamp"
echo "configuring llama.cpp from llama-cpp-python==$version in $build" >&2
cmake -S "$tree/vendor/llama.cpp" -B "$build" "${generator[@]}" "${options[@]}" "${extra[@]}" >&2
echo "building llama-server and llama-bench with -j$jobs (several minutes on 2 cores)" >&2
cmake --build "$build" --target llama-server llama-bench -j "$jobs" >&2
printf '%s' "$want" > "$stamp"
echo "$bin"
