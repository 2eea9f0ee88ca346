# iproute2 only, no mvtopo: a source macvlan that accepts frames from ext's MAC alone.
ip link set eth0 up
ip netns add a
ip link add src0 link eth0 address 02:00:00:00:01:01 netns a type macvlan mode source macaddr add 02:00:00:00:00:aa
ip -n a addr add 10.9.0.1/24 dev src0
ip -n a link set src0 up
