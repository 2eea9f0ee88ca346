# iproute2 only, no mvtopo: two private macvlans never talk, even through a hairpin switch.
ip link set eth0 up
ip netns add a
ip netns add b
ip link add mva link eth0 address 02:00:00:00:01:01 netns a type macvlan mode private
ip link add mvb link eth0 address 02:00:00:00:01:02 netns b type macvlan mode private
ip -n a addr add 10.9.0.1/24 dev mva
ip -n b addr add 10.9.0.2/24 dev mvb
ip -n a link set mva up
ip -n b link set mvb up
