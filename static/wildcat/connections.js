// Connection detail page: polls the admin's live JSON view and updates status, QR and timeline in place.
(function () {
  "use strict";
  var root = document.getElementById("wc-connection");
  if (!root) { return; }
  var url = root.getAttribute("data-live-url");
  var FAST = 2000, SLOW = 10000;

  function text(tag, value, className) {
    var el = document.createElement(tag);
    el.textContent = value;
    if (className) { el.className = className; }
    return el;
  }

  function renderTimeline(events) {
    var list = document.getElementById("wc-timeline");
    list.replaceChildren();
    if (!events.length) { list.appendChild(text("li", "Nothing yet.", "wc-timeline__empty")); return; }
    events.forEach(function (event) {
      var item = text("li", "", "wc-timeline__item wc-timeline__item--" + event.kind_code);
      var time = text("time", event.created_at.replace("T", " ").slice(0, 19));
      time.setAttribute("datetime", event.created_at);
      item.appendChild(time);
      item.appendChild(text("strong", event.kind));
      if (event.to_status) { item.appendChild(text("span", " " + (event.from_status || "–") + " → " + event.to_status)); }
      if (event.detail && Object.keys(event.detail).length) { item.appendChild(text("code", JSON.stringify(event.detail))); }
      list.appendChild(item);
    });
  }

  function render(data) {
    var badge = document.querySelector("#wc-status .wc-badge");
    badge.className = "wc-badge wc-badge--" + data.status;
    badge.textContent = data.status_display;
    document.getElementById("wc-step").textContent = data.step;
    document.getElementById("wc-desired").textContent = data.desired_state;
    var error = document.getElementById("wc-error");
    error.textContent = data.error;
    error.hidden = !data.error;
    var box = document.getElementById("wc-qr-box");
    var img = document.getElementById("wc-qr");
    if (data.qr_png) {
      if (img.getAttribute("src") !== data.qr_png) { img.setAttribute("src", data.qr_png); }
      box.hidden = false;
    } else {
      box.hidden = true;
    }
    root.setAttribute("data-status", data.status);
    renderTimeline(data.events);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data) { render(data); }
        var busy = data && (data.status === "pending" || data.desired_state === "running" && data.status !== "ready");
        window.setTimeout(poll, busy ? FAST : SLOW);
      })
      .catch(function () { window.setTimeout(poll, SLOW); });
  }

  window.setTimeout(poll, FAST);
})();
