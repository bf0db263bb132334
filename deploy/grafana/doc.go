// Package grafana holds botwarden's Grafana dashboard (botwarden.json); its
// test checks every query against what a live botwarden exports.
package grafana
