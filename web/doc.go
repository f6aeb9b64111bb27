// Package web is the web node's HTTP side: login and sessions, the HTML
// pages, the JSON API, the ingest API sensors post window batches to,
// /metrics and /healthz; and Client, the ingest client sensors use.
//
// It stores nothing itself (package store does) and captures nothing
// (package capture does); templates and static files come from package
// assets.
package web
