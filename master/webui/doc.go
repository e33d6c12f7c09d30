// Package webui holds the master's web UI: plain HTML, CSS and
// JavaScript embedded in the binary (no build step, no CDN), served at
// the master's HTTP address. The pages read the master's REST API
// (docs/openapi.yaml) and poll it for live updates; docs/ui.md describes
// them.
package webui
