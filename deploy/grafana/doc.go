// Package grafana holds botwarden's Grafana dashboard (botwarden.json,
// embedded as JSON) and reads its panel queries, so that tests here and in
// deploy/prometheus can check them against a live botwarden and a real
// Prometheus.
package grafana
