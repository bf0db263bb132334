// botwarden invisible JavaScript detection: the script tag the Wasm filter
// adds to HTML pages loads this (after signals.js, bwSignals). It asks for
// a ticket bound to this client and session, takes the readings bound to
// it, and posts them; the answer's Set-Cookie records the result in the
// session cookie, so the next request carries it. No interstitial, no
// visible effect, nothing decided here.
(function () {
  "use strict";
  if (!window.fetch || !window.URLSearchParams) return;
  var me = document.currentScript && document.currentScript.src;
  var prefix = me ? me.replace(/\/jsd\.js(\?.*)?$/, "") : "/.well-known/botwarden";
  var opts = { method: "POST", credentials: "same-origin", cache: "no-store" };
  fetch(prefix + "/jsd/ticket", opts).then(function (r) {
    if (!r.ok) throw new Error("ticket " + r.status);
    return r.text();
  }).then(function (ticket) {
    return bwSignals.collect(ticket).then(function (fields) {
      var body = new URLSearchParams();
      body.set("n", ticket);
      body.set("c", "0");
      for (var k in fields) body.set(k, fields[k]);
      return fetch(prefix + "/jsd", {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: body.toString()
      });
    });
  }).catch(function () {});
})();
