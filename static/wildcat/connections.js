// Connection page: polls the admin's live JSON view and updates status, QR, pairing code, actions and timeline in place.
(function () {
  "use strict";
  var root = document.getElementById("wc-connection");
  if (!root) { return; }
  var url = root.getAttribute("data-live-url");
  var FAST = 1500, SLOW = 8000;
  // Server time minus browser time, so relative times and the QR countdown ignore a wrong browser clock.
  var skew = Date.parse(root.getAttribute("data-now")) - Date.now() || 0;
  var byId = function (id) { return document.getElementById(id); };

  function serverNow() { return Date.now() + skew; }

  function ago(iso) {
    var s = Math.max(0, Math.round((serverNow() - Date.parse(iso)) / 1000));
    if (s < 5) { return "just now"; }
    if (s < 60) { return s + " s ago"; }
    if (s < 3600) { return Math.floor(s / 60) + " min ago"; }
    if (s < 86400) { return Math.floor(s / 3600) + " h ago"; }
    return Math.floor(s / 86400) + " d ago";
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text) { node.textContent = text; }
    return node;
  }

  function icon(name) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    var use = document.createElementNS(ns, "use");
    use.setAttribute("href", "#wc-i-" + name);
    svg.appendChild(use);
    var span = el("span", "wc-tl__icon");
    span.appendChild(svg);
    return span;
  }

  function renderTimeline(events) {
    var list = byId("wc-timeline");
    var items = events.map(function (event) {
      var item = el("li", "wc-tl wc-tl--" + event.tone);
      item.setAttribute("data-kind", event.kind_code);
      item.appendChild(icon(event.icon));
      var body = el("div", "wc-tl__body");
      var head = el("div", "wc-tl__head");
      head.appendChild(el("strong", "", event.title));
      head.appendChild(document.createTextNode(" "));
      var time = el("time", "", ago(event.created_at));
      time.setAttribute("datetime", event.created_at);
      time.title = event.created_at;
      head.appendChild(time);
      body.appendChild(head);
      if (event.summary) { body.appendChild(el("div", "wc-tl__summary", event.summary)); }
      item.appendChild(body);
      return item;
    });
    if (!items.length) { items = [el("li", "wc-tl__empty", "Nothing yet.")]; }
    list.replaceChildren.apply(list, items);
  }

  function refreshTimes() {
    document.querySelectorAll("#wc-timeline time").forEach(function (time) {
      time.textContent = ago(time.getAttribute("datetime"));
    });
    var countdown = byId("wc-qr-countdown");
    var expires = countdown.getAttribute("data-expires");
    if (expires) {
      var left = Math.round((Date.parse(expires) - serverNow()) / 1000);
      countdown.textContent = left > 0 ? "It refreshes by itself in " + left + " s." : "Refreshing…";
    } else {
      countdown.textContent = "It refreshes by itself.";
    }
  }

  function noQrText(data) {
    if (data.status === "ready" || data.status === "authenticated") { return "Linked. Nothing to scan."; }
    if (data.desired_state !== "running") { return "Start the connection to get a QR code."; }
    return "Waiting for the session to show a QR code…";
  }

  function renderLink(data) {
    var img = byId("wc-qr");
    if (data.qr_png && img.getAttribute("src") !== data.qr_png) { img.setAttribute("src", data.qr_png); }
    byId("wc-qr-box").hidden = !data.qr_png;
    byId("wc-qr-countdown").setAttribute("data-expires", data.qr_expires_at || "");
    var none = byId("wc-qr-none");
    none.hidden = !!data.qr_png;
    none.textContent = noQrText(data);
    byId("wc-pair").hidden = !data.pair_code;
    byId("wc-pair-code").textContent = data.pair_code;
    var pairForm = byId("wc-pair-form");
    if (!pairForm.querySelector(".errorlist")) { pairForm.hidden = !data.actions.pair_code; }
  }

  function render(data) {
    var badge = document.querySelector("#wc-status .wc-badge");
    badge.className = "wc-badge wc-badge--" + data.status;
    badge.setAttribute("data-status", data.status);
    badge.textContent = data.status_display;
    byId("wc-step").textContent = data.step || "–";
    byId("wc-desired").textContent = data.desired_state;
    byId("wc-account").hidden = !data.phone_number;
    byId("wc-phone").textContent = data.phone_number;
    byId("wc-profile").textContent = data.profile_name;
    var error = byId("wc-error");
    error.textContent = data.error;
    error.hidden = !data.error;
    document.querySelectorAll(".wc-action").forEach(function (button) {
      var name = button.getAttribute("data-action");
      if (name in data.actions) { button.disabled = !data.actions[name]; }
    });
    renderLink(data);
    Object.keys(data.fields).forEach(function (name) {
      var cell = document.querySelector(".field-" + name + " .readonly");
      if (cell) { cell.textContent = data.fields[name]; }
    });
    root.setAttribute("data-status", data.status);
    renderTimeline(data.events);
    refreshTimes();
  }

  var timer = null;

  function schedule(delay) {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, delay);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data) {
          skew = Date.parse(data.now) - Date.now() || skew;
          render(data);
        }
        var busy = data && data.desired_state === "running" && data.status !== "ready";
        schedule(busy ? FAST : SLOW);
      })
      .catch(function () { schedule(SLOW); });
  }

  // Action buttons post in the background: the page stays, shows the answer and keeps updating itself.
  function showMessages(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html").querySelector(".messagelist");
    var current = document.querySelector(".messagelist");
    if (current) { current.remove(); }
    if (fresh) { byId("content").before(fresh); }
  }

  function actInPlace(event) {
    event.preventDefault();
    var form = event.currentTarget;
    form.querySelector("button").disabled = true;
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(showMessages)
      .catch(function () { showMessages('<ul class="messagelist"><li class="error">The console could not reach Wildcat; try again.</li></ul>'); })
      .then(function () { schedule(0); });
  }

  document.querySelectorAll(".wc-conn__actions form").forEach(function (form) {
    form.addEventListener("submit", actInPlace);
  });
  byId("wc-qr-none").textContent = noQrText({ status: root.getAttribute("data-status"), desired_state: byId("wc-desired").textContent });
  refreshTimes();
  window.setInterval(refreshTimes, 1000);
  schedule(FAST);
})();
