// Package dashboard drives real Chromium through the Bots dashboard on the
// admin listener after known traffic went through the in-repo gateway, and
// checks the numbers it shows against the traffic sent and that a user
// agent carrying markup is shown as text and runs nothing.
package dashboard
