# NixOS VM test: two machines on one virtual LAN (VLAN 1), each with mvtopo topologies applied
# at boot on its eth1: on `a`, bridge-mode macvlans in namespaces br1 and br2 (topology
# "bridged") and a vepa-mode one in vp1 (topology "vepa"); on `b`, vepa-mode macvlans in vp1
# and vp2. They ping across the LAN, in both directions and between modes.
# Run with `nix flake check` (or `nix build .#checks.x86_64-linux.vm-macvlan`).
{
  pkgs,
  module,
}:
let
  # The LAN's own addresses are on eth1 of each machine; macvlans get the rest of 192.168.1.0/24.
  lan =
    address:
    { lib, ... }:
    {
      imports = [ module ];
      virtualisation.vlans = [ 1 ];
      networking.interfaces.eth1.ipv4.addresses = lib.mkForce [
        {
          inherit address;
          prefixLength = 24;
        }
      ];
    };
  macvlan = namespace: mode: mac: address: {
    name = "mv0";
    parent = "eth1";
    inherit namespace mode mac;
    addresses = [ "${address}/24" ];
  };
in
pkgs.testers.runNixOSTest {
  name = "mvtopo-macvlan";

  nodes = {
    a = {
      imports = [ (lan "192.168.1.1") ];
      services.mvtopo = {
        enable = true;
        topologies.bridged = {
          destroyOnStop = true;
          settings = {
            namespace.br1 = { };
            namespace.br2 = { };
            parent.eth1 = { };
            macvlan = [
              (macvlan "br1" "bridge" "02:00:00:00:0a:01" "192.168.1.11")
              (macvlan "br2" "bridge" "02:00:00:00:0a:02" "192.168.1.12")
            ];
          };
        };
        topologies.vepa.settings = {
          namespace.vp1 = { };
          parent.eth1 = { };
          macvlan = [ (macvlan "vp1" "vepa" "02:00:00:00:0a:03" "192.168.1.13") ];
        };
      };
    };

    b = {
      imports = [ (lan "192.168.1.2") ];
      services.mvtopo = {
        enable = true;
        topologies.vepa.settings = {
          namespace.vp1 = { };
          namespace.vp2 = { };
          parent.eth1 = { };
          macvlan = [
            (macvlan "vp1" "vepa" "02:00:00:00:0b:01" "192.168.1.21")
            (macvlan "vp2" "vepa" "02:00:00:00:0b:02" "192.168.1.22")
          ];
        };
      };
    };
  };

  testScript = ''
    start_all()
    for m in (a, b):
        m.wait_for_unit("network.target")
    a.wait_for_unit("mvtopo-bridged.service")
    a.wait_for_unit("mvtopo-vepa.service")
    b.wait_for_unit("mvtopo-vepa.service")

    with subtest("each topology is applied at boot, in sync, in its mode"):
        a.succeed("mvtopo plan --detailed-exitcode /etc/mvtopo/bridged.toml")
        a.succeed("mvtopo plan --detailed-exitcode /etc/mvtopo/vepa.toml")
        b.succeed("mvtopo plan --detailed-exitcode /etc/mvtopo/vepa.toml")
        a.succeed("ip -n br1 -d link show mv0 | grep -q 'macvlan mode bridge'")
        a.succeed("ip -n vp1 -d link show mv0 | grep -q 'macvlan mode vepa'")
        b.succeed("ip -n vp2 -d link show mv0 | grep -q 'macvlan mode vepa'")

    def ping(machine, ns, address):
        machine.wait_until_succeeds(f"ip netns exec {ns} ping -c 1 -W 2 {address}", timeout=60)

    with subtest("bridge-mode macvlans reach the other machine's vepa-mode ones, and back"):
        ping(a, "br1", "192.168.1.21")
        ping(a, "br2", "192.168.1.22")
        ping(b, "vp1", "192.168.1.11")
        ping(b, "vp2", "192.168.1.12")

    with subtest("vepa-mode macvlans on both machines reach each other and the LAN"):
        ping(a, "vp1", "192.168.1.21")
        ping(b, "vp2", "192.168.1.13")
        ping(b, "vp1", "192.168.1.1")
        a.succeed("ping -c 1 -W 2 192.168.1.22")

    with subtest("bridge-mode siblings talk on the machine itself"):
        ping(a, "br1", "192.168.1.12")

    with subtest("reload applies again and changes nothing"):
        a.succeed("systemctl reload mvtopo-bridged.service")
        a.succeed("mvtopo plan --detailed-exitcode /etc/mvtopo/bridged.toml")

    with subtest("stopping a destroyOnStop topology deletes what it owns, nothing else"):
        a.succeed("systemctl stop mvtopo-bridged.service")
        a.succeed("test ! -e /run/netns/br1")
        a.succeed("test -e /run/netns/vp1")
        a.succeed("ip link show eth1")
        b.fail("ping -c 1 -W 2 192.168.1.11")
        ping(b, "vp1", "192.168.1.13")
  '';
}
