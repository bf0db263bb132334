// Package prometheus holds botwarden's Prometheus alerting rules
// (alerts.yaml) and their unit tests (alerts_test.yaml); its Go test runs
// Debian's prometheus and promtool against them and a live botwarden.
package prometheus
