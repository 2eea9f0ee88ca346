# NixOS VM test: two machines on one virtual LAN; the module applies a topology at boot that
# puts a bridge-mode macvlan on eth1 into namespace "red" on `lab`, and it reaches `peer`.
# Not evaluated on this project's machines (no nixpkgs there): see vm-tests/README.md.
{
  pkgs,
  module,
}:
pkgs.testers.runNixOSTest {
  name = "mvtopo-macvlan";

  nodes = {
    lab =
      { lib, ... }:
      {
        imports = [ module ];
        virtualisation.vlans = [ 1 ];
        networking.interfaces.eth1.ipv4.addresses = lib.mkForce [
          {
            address = "192.168.1.1";
            prefixLength = 24;
          }
        ];
        services.mvtopo = {
          enable = true;
          name = "vmtest";
          destroyOnStop = true;
          topology = {
            namespace.red = { };
            parent.eth1 = { };
            macvlan = [
              {
                name = "mv0";
                parent = "eth1";
                namespace = "red";
                mode = "bridge";
                mac = "02:00:00:00:00:01";
                addresses = [ "192.168.1.100/24" ];
              }
            ];
          };
        };
      };

    peer =
      { lib, ... }:
      {
        virtualisation.vlans = [ 1 ];
        networking.interfaces.eth1.ipv4.addresses = lib.mkForce [
          {
            address = "192.168.1.2";
            prefixLength = 24;
          }
        ];
      };
  };

  testScript = ''
    start_all()
    lab.wait_for_unit("mvtopo.service")
    peer.wait_for_unit("network.target")

    with subtest("the topology is applied at boot and in sync"):
        lab.succeed("mvtopo plan --detailed-exitcode /etc/mvtopo/vmtest.toml")
        lab.succeed("ip -n red -d link show mv0 | grep -q 'macvlan mode bridge'")
        lab.succeed("ip -n red addr show mv0 | grep -q 192.168.1.100/24")

    with subtest("the macvlan in namespace red reaches the other node, and back"):
        lab.wait_until_succeeds("ip netns exec red ping -c 1 -W 2 192.168.1.2", timeout=60)
        peer.succeed("ping -c 1 -W 2 192.168.1.100")

    with subtest("stopping the unit destroys what the topology owns, never eth1"):
        lab.succeed("systemctl stop mvtopo.service")
        lab.succeed("test ! -e /run/netns/red")
        lab.succeed("ip link show eth1")
        peer.fail("ping -c 1 -W 2 192.168.1.100")
  '';
}
