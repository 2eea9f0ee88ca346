# iproute2 only: bridge macvlans on eth0.10.
ip link set eth0 up
ip link add link eth0 name eth0.10 type vlan id 10
ip link set eth0.10 up
ip netns add va
ip netns add vb
ip link add mva link eth0.10 address 02:00:00:00:0a:01 netns va type macvlan mode bridge
ip link add mvb link eth0.10 address 02:00:00:00:0a:02 netns vb type macvlan mode bridge
ip -n va addr add 10.10.0.1/24 dev mva
ip -n vb addr add 10.10.0.2/24 dev mvb
ip -n va link set mva up
ip -n vb link set mvb up
