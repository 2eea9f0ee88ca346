# iproute2 only: a passthru macvlan on eth0 (takes eth0's MAC).
ip link set eth0 up
ip netns add a
ip link add pt0 link eth0 netns a type macvlan mode passthru
ip -n a addr add 10.9.0.1/24 dev pt0
ip -n a link set pt0 up
