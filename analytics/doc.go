// Package analytics keeps what botwarden decided so people can look at it:
// every ext_authz decision joined with the access-log entry of the same
// request, the behavioural verdicts published and feedback reports, in an
// embedded DuckDB store behind one small interface (Store). One filter
// language serves the JSON API on the admin listener (/api/v1), the Bots
// dashboard (package dashboard) and `botwarden analytics`; any filter also
// becomes the CEL policy expression that selects the same traffic, and a
// draft rule can be replayed over the stored traffic through the policy's
// own compiler. Writes are batched and asynchronous, never on the Check
// path. README.md has the details.
package analytics
