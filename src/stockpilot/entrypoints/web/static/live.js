// Live overview: every few seconds, fetch the overview's sections (rendered by the server with the same
// templates) and swap them in. Pauses while the tab is hidden; a lost session sends the reader to sign in.
(function () {
  "use strict";
  var EVERY_MS = 5000;
  var status = document.querySelector("[data-live-status]");
  var announce = document.querySelector("[data-live-announce]");
  var timer = null;

  function stamp(text, stale) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("stale", !!stale);
  }

  function refresh() {
    fetch("/live/overview", { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) { window.location.href = "/signin?next=/"; return null; }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        if (!data) return;
        var changed = false;
        Object.keys(data.sections).forEach(function (name) {
          var target = document.querySelector('[data-live-section="' + name + '"]');
          if (target && target.innerHTML !== data.sections[name]) {
            target.innerHTML = data.sections[name];
            if (name === "counters") changed = true;
          }
        });
        // Screen readers hear about a change of the headline figures, not every poll.
        if (changed && announce) announce.textContent = "Overview figures changed at " + data.at.slice(11, 16) + " UTC";
        stamp("Live · updated " + data.at.slice(11, 19) + " UTC", false);
      })
      .catch(function () { stamp("Not updating: connection lost, retrying", true); })
      .finally(schedule);
  }

  function schedule() {
    clearTimeout(timer);
    if (!document.hidden) timer = setTimeout(refresh, EVERY_MS);
  }

  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
  schedule();
})();
