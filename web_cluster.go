package main

import (
	"context"

	"github.com/pastmon/pastmon/store"
)

// startCluster starts what the web node runs beside its HTTP server: its own sensor and its etcd registration.
func startCluster(ctx context.Context, cfg *webConfig, db *store.DB) (stop func(), err error) {
	return func() {}, nil
}
