package pipeline

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// ListenAddr is a TCP address to listen on, host:port. An empty host (":9464")
// means every interface, as with net.Listen.
type ListenAddr string

var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// ParseListenAddr checks the form of a listen address without resolving or
// binding it: host (empty, an IP address or a host name) and a port number.
func ParseListenAddr(s string) (ListenAddr, error) {
	bad := func(why string) (ListenAddr, error) {
		return "", fmt.Errorf("invalid address %q: %s, for example 127.0.0.1:9464 or localhost:9464", s, why)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return bad("want host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return bad("the port must be a number from 0 to 65535")
	}
	if _, err := netip.ParseAddr(host); host != "" && err != nil && !hostnameRE.MatchString(host) {
		return bad("the host must be an IP address or a host name")
	}
	return ListenAddr(s), nil
}

// EveryInterface reports whether the address binds every interface: an
// empty host, 0.0.0.0 or ::.
func (a ListenAddr) EveryInterface() bool {
	host, _, err := net.SplitHostPort(string(a))
	if err != nil {
		return false
	}
	if host == "" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsUnspecified()
}

func (v *ListenAddr) decodeNode(d *decoder, n *yaml.Node, path string) {
	decodeParsed(d, n, path, "an address", v, ParseListenAddr)
}
