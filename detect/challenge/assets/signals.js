// botwarden JavaScript detection: the readings the challenge page and the
// invisible detection (jsd.js) take, bound to a ticket. First-party, no
// third-party code. The server judges the readings; nothing here decides.
var bwSignals = (function () {
  "use strict";
  var started = Date.now();
  var enc = new TextEncoder();

  function safe(f, fallback) {
    try { var v = f(); return v === undefined ? fallback : v; } catch (e) { return "err"; }
  }


  // --- JavaScript detection signals -----------------------------------
  function signals() {
    var s = {}, n = navigator, w = window;
    s.wd = safe(function () { return n.webdriver === true ? 1 : (n.webdriver === false ? 0 : "u"); }, "u");
    s.ua = safe(function () { return n.userAgent; }, "");
    s.av = safe(function () { return n.appVersion; }, "");
    s.br = safe(function () {
      return n.userAgentData ? n.userAgentData.brands.map(function (b) { return b.brand + "/" + b.version; }).join(",") : "n/a";
    }, "n/a");
    s.pf = safe(function () { return n.userAgentData ? n.userAgentData.platform : "n/a"; }, "n/a");
    s.mob = safe(function () { return n.userAgentData ? (n.userAgentData.mobile ? 1 : 0) : "n/a"; }, "n/a");
    s.ch = safe(function () { return typeof w.chrome; }, "err");
    s.pl = safe(function () { return n.plugins ? n.plugins.length : -1; }, -1);
    s.mt = safe(function () { return n.mimeTypes ? n.mimeTypes.length : -1; }, -1);
    s.lg = safe(function () { return (n.languages || []).join(","); }, "");
    s.np = safe(function () { return typeof Notification === "undefined" ? "n/a" : Notification.permission; }, "n/a");
    s.ps = safe(function () { return n.productSub; }, "");
    s.hc = safe(function () { return n.hardwareConcurrency; }, 0);
    s.tz = safe(function () { return Intl.DateTimeFormat().resolvedOptions().timeZone; }, "");
    s.sw = safe(function () { return screen.width; }, 0);
    s.sh = safe(function () { return screen.height; }, 0);
    s.aw = safe(function () { return screen.availWidth; }, 0);
    s.ah = safe(function () { return screen.availHeight; }, 0);
    s.ow = safe(function () { return w.outerWidth; }, 0);
    s.oh = safe(function () { return w.outerHeight; }, 0);
    s.iw = safe(function () { return w.innerWidth; }, 0);
    s.ih = safe(function () { return w.innerHeight; }, 0);
    s.npf = safe(function () { return n.platform; }, "");
    s.dpr = safe(function () { return w.devicePixelRatio; }, 0);
    // The media query is answered by the layout engine, screen.width by a
    // property a patch can redefine: they disagree when it does.
    s.mq = safe(function () { return w.matchMedia("(device-width: " + screen.width + "px)").matches ? 1 : 0; }, "err");
    var gl = safe(function () {
      var c = document.createElement("canvas");
      var g = c.getContext("webgl") || c.getContext("experimental-webgl");
      if (!g) return ["none", "none"];
      var d = g.getExtension("WEBGL_debug_renderer_info");
      return d ? [g.getParameter(d.UNMASKED_VENDOR_WEBGL), g.getParameter(d.UNMASKED_RENDERER_WEBGL)]
               : [g.getParameter(g.VENDOR), g.getParameter(g.RENDERER)];
    }, ["err", "err"]);
    s.gv = gl[0];
    s.gr = gl[1];
    // Globals and attributes that automation frameworks leave behind
    // (Selenium, ChromeDriver's cdc_ arrays, PhantomJS, Nightmare,
    // Playwright, Puppeteer).
    s.ag = safe(function () {
      var found = [];
      var names = ["__webdriver_evaluate", "__selenium_evaluate", "__webdriver_script_function", "__webdriver_script_func",
        "__webdriver_script_fn", "__fxdriver_evaluate", "__driver_unwrapped", "__webdriver_unwrapped", "__driver_evaluate",
        "__selenium_unwrapped", "__fxdriver_unwrapped", "_Selenium_IDE_Recorder", "_selenium", "calledSelenium",
        "__$webdriverAsyncExecutor", "__lastWatirAlert", "__lastWatirConfirm", "__lastWatirPrompt", "domAutomation",
        "domAutomationController", "callPhantom", "_phantom", "phantom", "__nightmare", "__playwright__binding__",
        "__pwInitScripts", "__puppeteer_evaluation_script__", "_WEBDRIVER_ELEM_CACHE", "wdioElectron"];
      for (var i = 0; i < names.length; i++) if (names[i] in w || names[i] in document) found.push(names[i]);
      var own = Object.getOwnPropertyNames(w);
      for (var j = 0; j < own.length; j++) {
        if (/^\$?cdc_|^([a-z]){3}_.*_(Array|Promise|Symbol)$/.test(own[j])) found.push(own[j]);
      }
      var attrs = ["webdriver", "selenium", "driver"];
      for (var k = 0; k < attrs.length; k++) {
        if (document.documentElement.getAttribute(attrs[k]) !== null) found.push("attr:" + attrs[k]);
      }
      return found.join(",");
    }, "err");
    // An attached DevTools protocol client with the Runtime domain enabled
    // (Puppeteer, Playwright, chromedp, CDP-driven "undetected" browsers)
    // serialises console arguments, which reads an Error's stack property.
    s.dt = safe(function () {
      var hit = 0, e = new Error("bw");
      Object.defineProperty(e, "stack", { configurable: true, get: function () { hit = 1; return ""; } });
      console.debug(e);
      return hit;
    }, "err");
    return s;
  }

  function permissionState() {
    try {
      if (!navigator.permissions || !navigator.permissions.query) return Promise.resolve("n/a");
      return navigator.permissions.query({ name: "notifications" })
        .then(function (p) { return p.state; }, function () { return "err"; });
    } catch (e) { return Promise.resolve("err"); }
  }

  // --- What a stealth patch has trouble keeping consistent --------------
  // Patches run as page JavaScript before this script: they can redefine
  // what the main thread reads, but a replaced getter or function has the
  // shape of JavaScript, not of the browser's own code, and a worker is a
  // fresh realm they do not reach.

  // Frames of a stack trace in script code that is neither this page's
  // nor this script's: an injected wrapper (a Proxy trap, an
  // evaluate-on-new-document script) shows up as one. The browser's own
  // built-ins have no line and column. Inlined (the challenge page) this
  // code's frames carry the page's URL; loaded as jsd.js (the invisible
  // detection, injected into the site's pages) they carry the script's,
  // which only document.currentScript knows, and only while it loads.
  var here = location.href.split("#")[0];
  var self = safe(function () { return (document.currentScript && document.currentScript.src) || ""; }, "");
  function foreignFrames(stack) {
    var lines = String(stack || "").split("\n"), n = 0;
    for (var i = 1; i < lines.length; i++) {
      var l = lines[i];
      if (!/^\s+at /.test(l) || !/:\d+:\d+\)?$/.test(l)) continue;
      if (l.indexOf(here) < 0 && (self === "" || self === "err" || l.indexOf(self) < 0)) n++;
    }
    return n;
  }

  function tampering() {
    var found = [];
    var fts = Function.prototype.toString;
    function src(f) { try { return fts.call(f); } catch (e) { return "err"; } }
    // Function.prototype.toString itself, and what it says of itself.
    if (!/^function toString\(\) \{\s*\[native code\]\s*\}$/.test(src(fts))) found.push("fn:toString");
    try { fts.call(null); found.push("noerr:toString"); } catch (e) { if (foreignFrames(e.stack)) found.push("stack:toString"); }
    var proto = Object.getPrototypeOf(navigator);
    var props = ["webdriver", "languages", "plugins", "mimeTypes", "hardwareConcurrency", "userAgent", "appVersion", "platform", "vendor", "permissions", "deviceMemory"];
    for (var i = 0; i < props.length; i++) {
      var name = props[i];
      var d = Object.getOwnPropertyDescriptor(proto, name);
      if (!d) {
        // Every Chromium and Firefox has webdriver on Navigator.prototype;
        // a patch that deletes it to hide "true" leaves a hole.
        if (name === "webdriver" && (/Chrome\/|Firefox\//.test(navigator.userAgent))) found.push("missing:webdriver");
        continue;
      }
      if (!d.get) { found.push("value:" + name); continue; }
      if (!new RegExp("^function get " + name + "\\(\\) \\{\\s*\\[native code\\]\\s*\\}$").test(src(d.get))) found.push("getter:" + name);
      try { d.get.call(Object.create(null)); found.push("noerr:" + name); } catch (e) { if (foreignFrames(e.stack)) found.push("stack:" + name); }
    }
    var own = Object.getOwnPropertyNames(navigator);
    for (var j = 0; j < own.length; j++) found.push("own:" + own[j]);
    var fns = [["query", window.Permissions && Permissions.prototype.query], ["getParameter", window.WebGLRenderingContext && WebGLRenderingContext.prototype.getParameter],
      ["toDataURL", HTMLCanvasElement.prototype.toDataURL], ["getContext", HTMLCanvasElement.prototype.getContext]];
    for (var k = 0; k < fns.length; k++) {
      if (typeof fns[k][1] !== "function") continue;
      if (!new RegExp("^function " + fns[k][0] + "\\(\\) \\{\\s*\\[native code\\]\\s*\\}$").test(src(fns[k][1]))) found.push("fn:" + fns[k][0]);
    }
    return found.join(",");
  }

  // The same navigator readings in a dedicated worker (inline, from a
  // blob: URL the page's CSP allows), and its WebGL renderer through an
  // OffscreenCanvas.
  function workerSignals() {
    return new Promise(function (resolve) {
      var done = false, w, url, got = { st: "timeout" };
      function finish() {
        if (done) return;
        done = true;
        try { if (w) w.terminate(); if (url) URL.revokeObjectURL(url); } catch (e) {}
        resolve(got);
      }
      try {
        var code = "var n=self.navigator,o={st:'ok'};function g(f,d){try{var v=f();return v===undefined?d:v}catch(e){return 'err'}}" +
          "o.ua=g(function(){return n.userAgent},'');o.lg=g(function(){return (n.languages||[]).join(',')},'');" +
          "o.hc=g(function(){return n.hardwareConcurrency},0);o.pf=g(function(){return n.platform},'');" +
          "o.br=g(function(){return n.userAgentData?n.userAgentData.brands.map(function(b){return b.brand+'/'+b.version}).join(','):'n/a'},'n/a');" +
          "postMessage(o);" +
          // WebGL second: without a GPU process creating a context can take
          // long, and the navigator readings must not wait for it.
          "postMessage({gr:g(function(){if(typeof OffscreenCanvas==='undefined')return 'n/a';var c=new OffscreenCanvas(1,1),x=c.getContext('webgl');if(!x)return 'none';" +
          "var d=x.getExtension('WEBGL_debug_renderer_info');return d?x.getParameter(d.UNMASKED_RENDERER_WEBGL):x.getParameter(x.RENDERER)},'err')});";
        url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
        w = new Worker(url);
        w.onmessage = function (e) {
          var d = e.data || {};
          if (d.st) { got = d; return; }
          got.gr = d.gr;
          finish();
        };
        w.onerror = function () { got = { st: "error" }; finish(); };
        setTimeout(finish, 3000);
      } catch (e) { got = { st: "unsupported" }; finish(); }
    });
  }

  // Input events while the page runs: a person may not touch anything in
  // a second, so none is fine; events the page did not get from the
  // window system (isTrusted false) are a script's.
  var events = { t: 0, u: 0 };
  var evNames = ["mousemove", "mousedown", "keydown", "touchstart", "pointerdown", "wheel", "scroll"];
  for (var ei = 0; ei < evNames.length; ei++) {
    window.addEventListener(evNames[ei], function (e) { if (e.isTrusted) events.t++; else events.u++; }, { capture: true, passive: true });
  }

  // Binds the signals to this page's ticket: a digest over the ticket and
  // every s_ field, which the server recomputes, so an answer's readings
  // cannot be posted with another ticket.
  function hex(b) {
    var out = "";
    for (var i = 0; i < b.length; i++) out += (b[i] < 16 ? "0" : "") + b[i].toString(16);
    return out;
  }
  function binding(sig, nonce) {
    var keys = [];
    for (var k in sig) keys.push("s_" + k);
    keys.sort();
    var text = nonce;
    for (var i = 0; i < keys.length; i++) text += "\n" + keys[i] + "=" + sig[keys[i].slice(2)];
    var bytes = enc.encode(text);
    if (window.crypto && crypto.subtle && crypto.subtle.digest) {
      return crypto.subtle.digest("SHA-256", bytes).then(function (h) { return hex(new Uint8Array(h)); });
    }
    return Promise.resolve(hex(sha256(bytes)));
  }


  // A small pure-JavaScript SHA-256 for plain-http pages.
  var K = [0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2];
  var W = new Int32Array(64);
  function sha256(msg) {
    var len = msg.length, total = ((len + 9 + 63) >> 6) << 6;
    var m = new Uint8Array(total);
    m.set(msg);
    m[len] = 0x80;
    var bitsLen = len * 8;
    m[total - 4] = bitsLen >>> 24; m[total - 3] = bitsLen >>> 16; m[total - 2] = bitsLen >>> 8; m[total - 1] = bitsLen;
    var h0 = 0x6a09e667, h1 = 0xbb67ae85, h2 = 0x3c6ef372, h3 = 0xa54ff53a,
        h4 = 0x510e527f, h5 = 0x9b05688c, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
    for (var off = 0; off < total; off += 64) {
      for (var i = 0; i < 16; i++) {
        W[i] = (m[off + 4 * i] << 24) | (m[off + 4 * i + 1] << 16) | (m[off + 4 * i + 2] << 8) | m[off + 4 * i + 3];
      }
      for (i = 16; i < 64; i++) {
        var x = W[i - 15], y = W[i - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
      }
      var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
      for (i = 0; i < 64; i++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
    }
    var out = new Uint8Array(32), hs = [h0, h1, h2, h3, h4, h5, h6, h7];
    for (i = 0; i < 8; i++) {
      out[4 * i] = hs[i] >>> 24; out[4 * i + 1] = hs[i] >>> 16; out[4 * i + 2] = hs[i] >>> 8; out[4 * i + 3] = hs[i];
    }
    return out;
  }

  // collect takes every reading and resolves to the s_ fields to post,
  // s_bd (the binding to ticket) included.
  function collect(ticket) {
    var sig = signals();
    sig.tp = safe(tampering, "err");
    return Promise.all([permissionState(), workerSignals()]).then(function (r) {
      sig.pq = r[0];
      var wk = r[1] || {};
      sig.wst = wk.st || "empty";
      sig.wua = wk.ua === undefined ? "" : wk.ua;
      sig.wlg = wk.lg === undefined ? "" : wk.lg;
      sig.whc = wk.hc === undefined ? "" : wk.hc;
      sig.wpf = wk.pf === undefined ? "" : wk.pf;
      sig.wbr = wk.br === undefined ? "" : wk.br;
      sig.wgr = wk.gr === undefined ? "" : wk.gr;
      sig.evt = events.t;
      sig.evu = events.u;
      sig.ms = Date.now() - started;
      for (var k in sig) sig[k] = String(sig[k]).slice(0, 500);
      return binding(sig, ticket).then(function (bd) {
        var out = {};
        for (var k in sig) out["s_" + k] = sig[k];
        out.s_bd = bd;
        return out;
      });
    });
  }

  return { collect: collect, sha256: sha256, enc: enc };
})();
