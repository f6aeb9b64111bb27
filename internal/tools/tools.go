//go:build tools

// This file pins the modules the packages of this repository use, so that
// work on one package never has to edit go.mod under another.
package tools

import (
	_ "github.com/DataDog/sketches-go/ddsketch"
	_ "github.com/chromedp/chromedp"
	_ "github.com/go-chi/chi/v5"
	_ "github.com/gopacket/gopacket/layers"
	_ "github.com/gopacket/gopacket/pcapgo"
	_ "go.etcd.io/etcd/client/v3"
	_ "go.etcd.io/etcd/client/v3/concurrency"
	_ "go.etcd.io/etcd/server/v3/embed"
	_ "golang.org/x/crypto/bcrypt"
	_ "golang.org/x/net/bpf"
	_ "golang.org/x/sys/unix"
	_ "modernc.org/sqlite"
)
