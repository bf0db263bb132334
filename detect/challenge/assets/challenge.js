// botwarden challenge: solve the SHA-256 proof of work, take the JavaScript
// detection readings (signals.js, bwSignals), post both. Inline, no
// third-party assets. The server judges the readings; nothing here decides.
(function () {
  "use strict";
  var form = document.getElementById("bw-form");
  var status = document.getElementById("bw-status");
  var nonce = form.elements.n.value;
  var bits = parseInt(form.getAttribute("data-difficulty"), 10) || 0;

  function say(text) { if (status) status.textContent = text; }

  function add(name, value) {
    var i = document.createElement("input");
    i.type = "hidden";
    i.name = name;
    i.value = String(value);
    form.appendChild(i);
  }

  // --- SHA-256 proof of work ---------------------------------------------
  function leadingZeroBits(b) {
    var n = 0;
    for (var i = 0; i < b.length; i++) {
      if (b[i] === 0) { n += 8; continue; }
      var x = b[i];
      while ((x & 0x80) === 0) { n++; x <<= 1; }
      break;
    }
    return n;
  }

  var enc = bwSignals.enc, sha256 = bwSignals.sha256;

  // crypto.subtle exists only in secure contexts (https, localhost,
  // 127.0.0.1); hash in batches there so the promise overhead is shared.
  function solveSubtle() {
    var batch = 256, base = 0;
    function round() {
      var jobs = [];
      for (var j = 0; j < batch; j++) jobs.push(crypto.subtle.digest("SHA-256", enc.encode(nonce + (base + j))));
      return Promise.all(jobs).then(function (hashes) {
        for (var j = 0; j < hashes.length; j++) {
          if (leadingZeroBits(new Uint8Array(hashes[j])) >= bits) return base + j;
        }
        base += batch;
        if (base % 4096 === 0) say("Working… " + base + " hashes");
        return round();
      });
    }
    return round();
  }

  function solvePlain() {
    return new Promise(function (resolve) {
      var i = 0;
      (function chunk() {
        // Yield to the page every 20k hashes so it stays responsive.
        for (var end = i + 20000; i < end; i++) {
          if (leadingZeroBits(sha256(enc.encode(nonce + i))) >= bits) { resolve(i); return; }
        }
        say("Working… " + i + " hashes");
        setTimeout(chunk, 0);
      })();
    });
  }

  say("Working…");
  var work = (window.crypto && crypto.subtle && crypto.subtle.digest) ? solveSubtle() : solvePlain();
  Promise.all([work, bwSignals.collect(nonce)]).then(function (r) {
    add("c", r[0]);
    for (var k in r[1]) add(k, r[1][k]);
    say("Done, continuing…");
    form.submit();
  });
})();
