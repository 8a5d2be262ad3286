#!/usr/bin/env bash
# Token throughput: Admit's sign/s and verify/s beside the floor (HMAC-SHA256 over the
# same signing input with the key schedule precomputed, OpenSSL) and peer libraries,
# all on the seed's payload, one thread each, pinned to one core, in one run.
# Usage: Benchmarks/run.sh        (needs gcc, libssl-dev, python3 with PyJWT; go optional)
set -euo pipefail
cd "$(dirname "$0")/.."
out=Benchmarks/out
mkdir -p "$out"
secret=8f2a5c0b1d9e4f7a6b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a
apikey=1b7f3e0c-4f5d-4d3a-9a51-7c9e2a6f0b42
pin=""
command -v taskset >/dev/null && pin="taskset -c $(($(nproc) - 1))"

echo "building (release)..." >&2
swift build -c release --product admit-bench >&2
bench="$(swift build -c release --show-bin-path)/admit-bench"
gcc -O2 -o "$out/hmac_floor" Benchmarks/floor/hmac_floor.c -lcrypto
gcc -O2 -shared -fPIC -o "$out/malloc_count.so" Benchmarks/floor/malloc_count.c

input=$("$bench" --signing-input)
results="$out/token-results.txt"
{
  $pin "$out/hmac_floor" "$secret" "$input"
  $pin "$bench"
  LD_PRELOAD="$PWD/$out/malloc_count.so" "$bench" --allocations
  $pin python3 Benchmarks/peers/pyjwt_bench.py "$secret" "$apikey"
  if command -v go >/dev/null && [ -d /usr/share/gocode/src/github.com/golang-jwt/jwt ]; then
    (cd Benchmarks/peers/golang-jwt && GO111MODULE=off GOPATH=/usr/share/gocode go build -o "../../out/golang-jwt-bench" .)
    $pin "$out/golang-jwt-bench" "$secret" "$apikey"
  fi
} | tee "$results" >&2

awk '
  / hmac\/s / { floor = $3 }
  / verify\/s / { verify[$1] = $3; order[++n] = $1 }
  / sign\/s / { sign[$1] = $3 }
  /allocations\/verify/ { av = $3 } /allocations\/sign/ { as = $3 }
  END {
    printf "\n%-12s %14s %9s %14s %9s\n", "", "verify/s", "of floor", "sign/s", "of floor"
    printf "%-12s %14d %8.0f%%\n", "floor", floor, 100
    for (i = 1; i <= n; i++) {
      k = order[i]
      printf "%-12s %14d %8.1f%% %14d %8.1f%%\n", k, verify[k], 100 * verify[k] / floor, sign[k], 100 * sign[k] / floor
    }
    printf "\nadmit heap allocations: %s per verify, %s per sign\n", av, as
  }' "$results"
