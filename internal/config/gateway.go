package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// maxHostEntryLen bounds one gateway.hosts entry (a DNS name is at most 253).
const maxHostEntryLen = 260

// hostnamePattern is a DNS host name: dot-separated labels of letters, digits
// and '-', neither starting nor ending with '-'.
var hostnamePattern = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// SplitHostEntry splits a gateway.hosts entry into its host (lower case, IPv6
// without brackets, no trailing dot) and port ("" = any port). An entry is a
// host name ("steward.home.lan"), an IP address ("192.168.1.20", "fd00::1",
// "[fd00::1]") or either with a port ("steward.home.lan:8443",
// "[fd00::1]:6767"). The gateway matches request Host headers with it.
func SplitHostEntry(entry string) (host, port string, err error) {
	if entry == "" {
		return "", "", errors.New("is empty")
	}
	if len(entry) > maxHostEntryLen {
		return "", "", fmt.Errorf("is longer than %d characters", maxHostEntryLen)
	}
	if strings.Contains(entry, "://") || strings.ContainsAny(entry, "/?#@ ") {
		return "", "", errors.New(`must be a host name or address, optionally with ":port" (no scheme, path or spaces)`)
	}
	host = entry
	if h, p, splitErr := net.SplitHostPort(entry); splitErr == nil {
		host, port = h, p
		if n, convErr := strconv.Atoi(port); convErr != nil || n < 1 || n > 65535 {
			return "", "", fmt.Errorf("has an invalid port %q (want 1-65535)", port)
		}
	} else if strings.HasPrefix(entry, "[") && strings.HasSuffix(entry, "]") {
		host = entry[1 : len(entry)-1]
	}
	if ip := net.ParseIP(host); ip != nil {
		return strings.ToLower(host), port, nil
	}
	if strings.Contains(host, ":") || strings.Contains(entry, "[") {
		return "", "", errors.New("is not a valid IP address (write IPv6 addresses as [addr] or [addr]:port)")
	}
	host = strings.TrimSuffix(host, ".")
	if !hostnamePattern.MatchString(host) {
		return "", "", errors.New("is not a valid host name (letters, digits, '-' and dots; no wildcards)")
	}
	return strings.ToLower(host), port, nil
}

// gatewayHosts reads gateway.hosts: the host names, besides loopback, that the
// gateway answers to (see SplitHostEntry).
func (p *parser) gatewayHosts(o *obj, cfg *Config) {
	n := o.get("hosts")
	list, ok := p.texts(n, o.key("hosts"))
	if !ok {
		return
	}
	d := deref(n)
	for i, s := range list {
		if _, _, err := SplitHostEntry(s); err != nil {
			p.errAt(d.Content[i], indexKey(o.key("hosts"), i),
				"%s %v (e.g. steward.home.lan, steward.home.lan:6767 or 192.168.1.20)", quoteShort(s), err)
			continue
		}
		cfg.Gateway.Hosts = append(cfg.Gateway.Hosts, s)
	}
}

// gatewayTLS reads gateway.tls_cert and gateway.tls_key: PEM file paths, both
// or neither. The files are read when the gateway starts.
func (p *parser) gatewayTLS(o *obj, cfg *Config) {
	var set [2]bool
	for i, name := range []string{"tls_cert", "tls_key"} {
		n := o.get(name)
		if p.isNull(n) {
			continue
		}
		set[i] = true
		s, ok := p.text(n, o.key(name))
		if !ok {
			continue
		}
		if strings.TrimSpace(s) == "" {
			p.errAt(deref(n), o.key(name), "must not be empty (it is the path of a PEM file)")
			continue
		}
		if i == 0 {
			cfg.Gateway.TLSCert = s
		} else {
			cfg.Gateway.TLSKey = s
		}
	}
	switch {
	case set[0] && !set[1]:
		p.errAt(o.keyNode("tls_cert"), o.key("tls_cert"), "is set but gateway.tls_key is not: set both "+
			"(the PEM certificate and its private key) to serve HTTPS, or neither")
	case set[1] && !set[0]:
		p.errAt(o.keyNode("tls_key"), o.key("tls_key"), "is set but gateway.tls_cert is not: set both "+
			"(the PEM certificate and its private key) to serve HTTPS, or neither")
	}
	if set[0] != set[1] {
		cfg.Gateway.TLSCert, cfg.Gateway.TLSKey = "", ""
	}
}
