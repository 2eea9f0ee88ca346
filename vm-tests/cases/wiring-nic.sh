# iproute2 only, no mvtopo: the guest's own NIC with a static address reaches the switch.
ip addr add 10.9.0.50/24 dev eth0
ip link set eth0 up
