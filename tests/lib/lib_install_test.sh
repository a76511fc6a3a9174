#!/usr/bin/env bash
# The installed package as an embedder meets it:
#   1. `cmake --install` into a temporary prefix;
#   2. each public header compiles on its own, from the prefix only (C17 and C++);
#   3. examples/hello-node builds out of tree with find_package(nodenet) (shared and static)
#      and with pkg-config;
#   4. each build runs: two nodes from one config, an RPC service, a call to the peer.
#   lib_install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd)
tmp=$(mktemp -d /tmp/nn-lib-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
# Extra compile and link flags for the embedders (the sanitizer runtime of the library).
flags=${NN_EMBED_FLAGS:-}

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
echo "ok: installed to a temporary prefix"
test -f "$prefix/include/nodenet/nodenet.h"
pcdir=$(dirname "$(find "$prefix" -name nodenet.pc | head -1)")

for h in nodenet rpc security mysql version; do
    printf '#include <nodenet/%s.h>\nint main(void) { return 0; }\n' "$h" >"$tmp/h_$h.c"
    cc -std=c17 -Wall -Wextra -Werror -pedantic -Wno-gnu-zero-variadic-macro-arguments \
        -I"$prefix/include" $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags libprotobuf-c) \
        -c "$tmp/h_$h.c" -o "$tmp/h_$h.o"
    if command -v c++ >/dev/null; then
        c++ -x c++ -Wall -Wextra -Werror -I"$prefix/include" -c "$tmp/h_$h.c" -o "$tmp/hpp_$h.o"
    fi
done
echo "ok: every public header compiles alone from the prefix"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
config() {
    mkdir -p "$tmp/$1"
    cat >"$tmp/$1/cluster.yaml" <<YAML
cluster: { name: hello, id: 1 }
nodes:
  - { name: n1, host: 127.0.0.1, mysql_port: $(port), rpc_port: $(port) }
  - { name: n2, host: 127.0.0.1, mysql_port: $(port), rpc_port: $(port) }
security: { rpc_tls: off }
node: { workers: 1, data_dir: data/%n }
YAML
    echo "$tmp/$1/cluster.yaml"
}
run() {
    local name=$1 bin=$2
    local out
    if ! out=$("$bin" "$(config "$name")" 2>"$tmp/$name.err"); then
        echo "FAIL: $name"; tail -30 "$tmp/$name.err"; exit 1
    fi
    echo "$out" | grep -q '^hello n1 from n2' || { echo "FAIL: $name said: $out"; exit 1; }
    echo "ok: $name: $out"
}

cmake -S "$src/examples/hello-node" -B "$tmp/b-cmake" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" \
    >"$tmp/cmake.log" || { cat "$tmp/cmake.log"; exit 1; }
cmake --build "$tmp/b-cmake" >"$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
echo "ok: hello-node built with find_package(nodenet)"
run find_package "$tmp/b-cmake/hello-node"
run find_package_static "$tmp/b-cmake/hello-node-static"

export PKG_CONFIG_PATH=$pcdir
cc -std=c17 -Wall -Wextra -Werror $flags $(pkg-config --cflags nodenet) \
    "$src/examples/hello-node/hello_node.c" -o "$tmp/hello-pc" \
    $(pkg-config --libs nodenet) -lpthread -Wl,-rpath,"$(pkg-config --variable=libdir nodenet)"
echo "ok: hello-node built with pkg-config ($(pkg-config --modversion nodenet))"
run pkg_config "$tmp/hello-pc"

# BoringSSL missing at run time: a clear error from nn_node_new, never a crash.
if NODENET_BORINGSSL=/nonexistent/libssl.so.0 "$tmp/b-cmake/hello-node" "$(config missing)" \
    >"$tmp/missing.out" 2>"$tmp/missing.err"; then
    echo "FAIL: hello-node ran without BoringSSL"; exit 1
fi
grep -q 'cannot load BoringSSL: /nonexistent/libssl.so.0' "$tmp/missing.err" ||
    { echo "FAIL: no clear error without BoringSSL:"; cat "$tmp/missing.err"; exit 1; }
echo "ok: without BoringSSL: $(grep -o 'cannot load BoringSSL[^;]*' "$tmp/missing.err" | head -1)"
