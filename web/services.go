package web

import (
	"slices"
	"strconv"
	"strings"
)

// wellKnown maps server ports to the service usually found there. It is a
// guess shown to people, never used to decide anything.
var wellKnown = map[uint16]string{
	21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 53: "dns", 80: "http", 88: "kerberos",
	110: "pop3", 111: "rpcbind", 135: "msrpc", 139: "netbios", 143: "imap", 179: "bgp",
	389: "ldap", 443: "https", 445: "smb", 465: "smtps", 514: "syslog", 587: "submission",
	631: "ipp", 636: "ldaps", 853: "dns-over-tls", 873: "rsync", 993: "imaps", 995: "pop3s",
	1433: "mssql", 1521: "oracle", 1883: "mqtt", 2049: "nfs", 2379: "etcd", 2380: "etcd-peer",
	3000: "http-dev", 3128: "http-proxy", 3306: "mysql", 3389: "rdp", 4222: "nats",
	5000: "http-alt", 5432: "postgresql", 5672: "amqp", 5900: "vnc", 6379: "redis",
	6443: "kubernetes-api", 8000: "http-alt", 8080: "http-alt", 8443: "https-alt",
	8883: "mqtts", 9000: "http-alt", 9042: "cassandra", 9090: "prometheus", 9092: "kafka",
	9200: "elasticsearch", 9300: "elasticsearch-transport", 10250: "kubelet", 11211: "memcached",
	15672: "rabbitmq-admin", 27017: "mongodb",
}

// serviceGuess names the service usually listening on port.
func serviceGuess(port uint16) string {
	if s, ok := wellKnown[port]; ok {
		return s
	}
	return "port " + strconv.Itoa(int(port))
}

// servicePorts are the ports whose service guess holds q (case-insensitive),
// so that a filter finds servers by the service name the pages show: the
// well-known names, and "port N" for the others.
func servicePorts(q string) []uint16 {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" {
		return nil
	}
	var ports []uint16
	for port, name := range wellKnown {
		if strings.Contains(name, q) {
			ports = append(ports, port)
		}
	}
	if n, err := strconv.ParseUint(strings.TrimPrefix(q, "port "), 10, 16); err == nil && strings.HasPrefix(q, "port ") {
		if _, known := wellKnown[uint16(n)]; !known {
			ports = append(ports, uint16(n))
		}
	}
	slices.Sort(ports)
	return ports
}
