# iproute2 only: the host shim, a bridge macvlan in the guest's own namespace.
ip link set eth0 up
ip link add shim0 link eth0 address 02:00:00:00:01:32 type macvlan mode bridge
ip addr add 10.9.0.50/24 dev shim0
ip link set shim0 up
ip netns add a
ip netns add b
ip link add mva link eth0 address 02:00:00:00:01:01 netns a type macvlan mode bridge
ip link add mvb link eth0 address 02:00:00:00:01:02 netns b type macvlan mode bridge
ip -n a addr add 10.9.0.1/24 dev mva
ip -n b addr add 10.9.0.2/24 dev mvb
ip -n a link set mva up
ip -n b link set mvb up
