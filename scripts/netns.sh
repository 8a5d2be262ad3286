# Sourced by the media scripts: a network namespace of the script's own with a veth pair on
# 10.77.0.1 (Janus gathers no ICE candidates on loopback, and test traffic must never reach
# the machine's external address), and a cleanup that kills what runs in it and removes it.
# In: $ns (its name), $data (a directory to remove too). Out: run CMD... (inside it).
cleanup() {
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT
ip netns add "$ns"
run() { ip netns exec "$ns" "$@"; }
run ip link set lo up
run ip link add mv0 type veth peer name mv1
run ip addr add 10.77.0.1/24 dev mv0
run ip link set mv0 up
run ip link set mv1 up
