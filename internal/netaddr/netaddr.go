package netaddr

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// Advertised returns the HOST:PORT a daemon advertises.
//
//   - listen is the address as the operator typed it (e.g. "0.0.0.0:0",
//     ":7070", "[::]:0", "10.0.0.5:7070"); only its host matters, to tell
//     which address family the operator asked for.
//   - bound is the listener's actual address (listener.Addr()).
//   - advertise is the operator's advertise address ("" when not set). It
//     must be HOST:PORT with a host that is not a wildcard; the host may be
//     a DNS name. Port 0 means "the bound port", so one advertise host
//     serves daemons listening on ephemeral ports.
//   - ifaces are the host's interface addresses ([InterfaceAddrs] in
//     production; *net.IPNet and *net.IPAddr values are understood).
//
// The rules, in order: a set advertise address wins (its port 0 replaced
// by the bound port); else a bound address with a specific host is
// returned as is; else (a wildcard bind) the first non-loopback,
// non-link-local unicast interface address, preferring IPv4 when the
// listen host was 0.0.0.0 or empty and IPv6 when it was [::]; else the
// loopback address of that family (127.0.0.1, or ::1 for [::]). The result
// is never an unspecified address.
func Advertised(listen string, bound net.Addr, advertise string, ifaces []net.Addr) (string, error) {
	if bound == nil {
		return "", errors.New("netaddr: no bound address")
	}
	bhost, bport, err := net.SplitHostPort(bound.String())
	if err != nil {
		return "", fmt.Errorf("netaddr: bound address %q: %w", bound.String(), err)
	}
	if advertise != "" {
		host, port, err := ParseAdvertise(advertise)
		if err != nil {
			return "", err
		}
		if port == "0" {
			port = bport
		}
		return net.JoinHostPort(host, port), nil
	}
	if !IsWildcard(bhost) {
		return net.JoinHostPort(bhost, bport), nil
	}
	lhost := listen
	if h, _, err := net.SplitHostPort(listen); err == nil {
		lhost = h
	}
	return net.JoinHostPort(WildcardHost(lhost, ifaces).String(), bport), nil
}

// ParseAdvertise validates an advertise address and returns its host and
// port: HOST:PORT, a host that is not empty and not a wildcard (0.0.0.0,
// ::), and a port from 0 to 65535 (0: the bound port).
func ParseAdvertise(advertise string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(advertise)
	if err != nil {
		return "", "", fmt.Errorf("netaddr: advertise address %q: want HOST:PORT (HOST:0 to keep the listening port): %w", advertise, err)
	}
	if host == "" || IsWildcard(host) {
		return "", "", fmt.Errorf("netaddr: advertise address %q: the host must be an address or name other hosts can dial, not a wildcard", advertise)
	}
	n, perr := strconv.ParseUint(port, 10, 16)
	if perr != nil {
		return "", "", fmt.Errorf("netaddr: advertise address %q: port %q is not a number from 0 to 65535", advertise, port)
	}
	return host, strconv.FormatUint(n, 10), nil
}

// IsWildcard reports whether host binds every interface: empty, or an
// unspecified IP address (0.0.0.0, ::).
func IsWildcard(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// WildcardHost returns the IP to advertise for a daemon bound to the
// wildcard listenHost: the first non-loopback, non-link-local unicast
// address of ifaces, preferring IPv6 when listenHost is an IPv6 wildcard
// (::) and IPv4 otherwise, and falling back to the other family, then to
// the loopback address of the preferred family.
func WildcardHost(listenHost string, ifaces []net.Addr) net.IP {
	wantV6 := false
	if ip := net.ParseIP(listenHost); ip != nil && ip.To4() == nil {
		wantV6 = true
	}
	var other net.IP
	for _, a := range ifaces {
		ip := ipOf(a)
		if ip == nil || ip.IsLoopback() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() ||
			ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || ip.Equal(net.IPv4bcast) {
			continue
		}
		isV6 := ip.To4() == nil
		if isV6 == wantV6 {
			return ip
		}
		if other == nil {
			other = ip
		}
	}
	if other != nil {
		return other
	}
	if wantV6 {
		return net.IPv6loopback
	}
	return net.IPv4(127, 0, 0, 1).To4()
}

func ipOf(a net.Addr) net.IP {
	switch v := a.(type) {
	case *net.IPNet:
		return v.IP
	case *net.IPAddr:
		return v.IP
	case *net.TCPAddr:
		return v.IP
	case *net.UDPAddr:
		return v.IP
	}
	return nil
}

// Dialable checks that addr is a HOST:PORT another host can dial: a host
// that is not a wildcard and a port that is not 0. The master uses it to
// refuse registrations of unspecified addresses such as [::]:7070.
func Dialable(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("netaddr: address %q: want HOST:PORT: %w", addr, err)
	}
	if IsWildcard(host) {
		return fmt.Errorf("netaddr: address %q is a wildcard no other host can dial (set an advertise address)", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("netaddr: address %q: port %q is not a number from 1 to 65535", addr, port)
	}
	return nil
}

// InterfaceAddrs returns the addresses of the interfaces that are up, for
// the ifaces argument of [Advertised] and [WildcardHost].
func InterfaceAddrs() ([]net.Addr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("netaddr: list interfaces: %w", err)
	}
	var out []net.Addr
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("netaddr: addresses of interface %s: %w", ifc.Name, err)
		}
		out = append(out, addrs...)
	}
	return out, nil
}

// ForListener is [Advertised] with the listener's address and the
// addresses of the interfaces that are up. An error listing interfaces is
// not fatal: the loopback fallback applies.
func ForListener(listen string, lis net.Listener, advertise string) (string, error) {
	ifaces, _ := InterfaceAddrs()
	return Advertised(listen, lis.Addr(), advertise, ifaces)
}

// GossipHost returns the host a daemon's gossip member advertises
// (membership.Config.Advertise): the host of the daemon's advertised
// address when the operator set an advertise address or when gossip binds
// a wildcard, else "" (gossip advertises the specific address it is bound
// to).
func GossipHost(gossipBind, advertised string, advertiseSet bool) string {
	if !advertiseSet && !IsWildcard(gossipBind) {
		return ""
	}
	host, _, err := net.SplitHostPort(advertised)
	if err != nil {
		return ""
	}
	return host
}
