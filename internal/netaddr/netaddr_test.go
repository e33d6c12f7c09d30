package netaddr

import (
	"net"
	"strings"
	"testing"
)

func ipnet(s string) net.Addr {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

func tcp(s string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}

func TestAdvertised(t *testing.T) {
	lo4, lo6 := ipnet("127.0.0.1/8"), ipnet("::1/128")
	eth4, eth4b := ipnet("192.0.2.2/24"), ipnet("198.51.100.7/24")
	eth6, link6 := ipnet("fd00::2/64"), ipnet("fe80::1/64")
	link4 := ipnet("169.254.1.1/16")
	typical := []net.Addr{lo4, lo6, eth4, eth6, link6}
	v6first := []net.Addr{lo6, link6, eth6, lo4, eth4}
	tests := []struct {
		name                     string
		listen, bound, advertise string
		ifaces                   []net.Addr
		want                     string
	}{
		{"specific IPv4 bind is kept", "10.1.2.3:0", "10.1.2.3:4000", "", typical, "10.1.2.3:4000"},
		{"loopback bind is kept", "127.0.0.1:0", "127.0.0.1:4000", "", typical, "127.0.0.1:4000"},
		{"specific IPv6 bind is kept", "[fd00::2]:0", "[fd00::2]:4000", "", typical, "[fd00::2]:4000"},
		{"0.0.0.0 bound as [::] picks the IPv4 interface", "0.0.0.0:0", "[::]:4000", "", typical, "192.0.2.2:4000"},
		{"0.0.0.0 prefers IPv4 listed after IPv6", "0.0.0.0:7070", "[::]:7070", "", v6first, "192.0.2.2:7070"},
		{"0.0.0.0 bound as 0.0.0.0", "0.0.0.0:0", "0.0.0.0:4000", "", typical, "192.0.2.2:4000"},
		{"first usable address wins", "0.0.0.0:0", "[::]:4000", "", []net.Addr{lo4, eth4b, eth4}, "198.51.100.7:4000"},
		{"empty host is a wildcard preferring IPv4", ":7070", "[::]:7070", "", v6first, "192.0.2.2:7070"},
		{"[::] prefers IPv6", "[::]:0", "[::]:4000", "", typical, "[fd00::2]:4000"},
		{"[::] without IPv6 takes IPv4", "[::]:0", "[::]:4000", "", []net.Addr{lo4, lo6, link6, eth4}, "192.0.2.2:4000"},
		{"0.0.0.0 without IPv4 takes IPv6", "0.0.0.0:0", "[::]:4000", "", []net.Addr{lo4, lo6, eth6}, "[fd00::2]:4000"},
		{"link-local addresses are skipped", "0.0.0.0:0", "[::]:4000", "", []net.Addr{link4, link6, eth4}, "192.0.2.2:4000"},
		{"only loopback: 127.0.0.1", "0.0.0.0:0", "[::]:4000", "", []net.Addr{lo4, lo6}, "127.0.0.1:4000"},
		{"no interfaces: 127.0.0.1", ":0", "[::]:4000", "", nil, "127.0.0.1:4000"},
		{"[::] with only loopback: ::1", "[::]:0", "[::]:4000", "", []net.Addr{lo4, lo6}, "[::1]:4000"},
		{"IPAddr interfaces are understood", "0.0.0.0:0", "[::]:4000", "", []net.Addr{&net.IPAddr{IP: net.ParseIP("192.0.2.9")}}, "192.0.2.9:4000"},
		{"advertise wins over a wildcard bind", "0.0.0.0:0", "[::]:4000", "203.0.113.5:9000", typical, "203.0.113.5:9000"},
		{"advertise wins over a specific bind", "10.1.2.3:0", "10.1.2.3:4000", "203.0.113.5:9000", typical, "203.0.113.5:9000"},
		{"advertise port 0 takes the bound port", "0.0.0.0:0", "[::]:4000", "worker-1.example:0", typical, "worker-1.example:4000"},
		{"advertise IPv6", "[::]:0", "[::]:4000", "[2001:db8::5]:0", typical, "[2001:db8::5]:4000"},
		{"advertise port is normalised", "0.0.0.0:0", "[::]:4000", "h:0080", typical, "h:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Advertised(tt.listen, tcp(tt.bound), tt.advertise, tt.ifaces)
			if err != nil {
				t.Fatalf("Advertised(%q, %q, %q): %v", tt.listen, tt.bound, tt.advertise, err)
			}
			if got != tt.want {
				t.Errorf("Advertised(%q, %q, %q) = %q, want %q", tt.listen, tt.bound, tt.advertise, got, tt.want)
			}
			if err := Dialable(got); err != nil {
				t.Errorf("result is not dialable: %v", err)
			}
		})
	}
}

func TestAdvertisedRejectsBadAdvertise(t *testing.T) {
	tests := []struct{ advertise, want string }{
		{"worker-1", "want HOST:PORT"},
		{"worker-1:", "port \"\""},
		{":7070", "not a wildcard"},
		{"0.0.0.0:7070", "not a wildcard"},
		{"[::]:0", "not a wildcard"},
		{"h:70000", "from 0 to 65535"},
		{"h:-1", "from 0 to 65535"},
		{"h:http", "from 0 to 65535"},
		{"[fd00::1:7070", "want HOST:PORT"},
	}
	for _, tt := range tests {
		_, err := Advertised("0.0.0.0:0", tcp("[::]:4000"), tt.advertise, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "advertise address") {
			t.Errorf("advertise %q: err %v, want one naming the advertise address and containing %q", tt.advertise, err, tt.want)
		}
	}
	if _, err := Advertised("0.0.0.0:0", nil, "", nil); err == nil {
		t.Error("nil bound address: no error")
	}
}

func TestIsWildcard(t *testing.T) {
	for host, want := range map[string]bool{"": true, "0.0.0.0": true, "::": true, "0:0::0": true,
		"127.0.0.1": false, "::1": false, "localhost": false, "10.0.0.1": false, "example.com": false} {
		if got := IsWildcard(host); got != want {
			t.Errorf("IsWildcard(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestDialable(t *testing.T) {
	for addr, ok := range map[string]bool{"10.0.0.1:7070": true, "[fd00::2]:1": true, "h.example:65535": true,
		"[::]:7070": false, "0.0.0.0:7070": false, ":7070": false, "10.0.0.1:0": false, "10.0.0.1": false, "h:x": false} {
		if err := Dialable(addr); (err == nil) != ok {
			t.Errorf("Dialable(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}

// TestForListenerRealSockets binds real wildcard listeners and checks that
// the advertised address is specific and accepts a connection.
func TestForListenerRealSockets(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", "[::]:0", ":0", "127.0.0.1:0"} {
		lis, err := net.Listen("tcp", listen)
		if err != nil {
			if strings.Contains(listen, "::") {
				t.Logf("%s: %v (no IPv6 here)", listen, err)
				continue
			}
			t.Fatal(err)
		}
		addr, err := ForListener(listen, lis, "")
		if err != nil {
			lis.Close()
			t.Fatal(err)
		}
		if err := Dialable(addr); err != nil {
			t.Errorf("listen %s (bound %s): %v", listen, lis.Addr(), err)
		}
		accepted := make(chan error, 1)
		go func() {
			c, err := lis.Accept()
			if err == nil {
				c.Close()
			}
			accepted <- err
		}()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Errorf("listen %s: dial advertised %s: %v", listen, addr, err)
			lis.Close()
			<-accepted
			continue
		}
		c.Close()
		if err := <-accepted; err != nil {
			t.Errorf("listen %s: accept: %v", listen, err)
		}
		lis.Close()
	}
}
