// The console's live updates: one websocket per tab, pages refreshed from the server.
//
// The server renders every page; this script only knows which parts of a page
// may change (elements with data-live-region and an id) and asks the server
// for the page again when an event says they changed, then swaps those parts.
// So a new escalation lands at the right place for the page's own filters and
// sort, counts stay right, and there is one rendering of a row, not two.
//
// Missed events are not lost: the page is rendered with the id of the newest
// event it reflects (data-last-event-id on <body>); the socket asks for what
// came after it on every (re)connect, and a refresh covers all of them. When
// too much was missed the server says "reload" and the page is fetched again.
(function () {
  "use strict";

  const body = document.body;
  if (!body.dataset.liveSocket) return;

  let lastEventId = Number(body.dataset.lastEventId || 0);
  const escalationId = Number(body.dataset.escalationId || 0); // set on a detail page
  const userName = body.dataset.userName || "";
  // Reports (history, insights, audit) keep the socket for presence and toasts only.
  const refreshes = body.dataset.liveRefresh !== "off";
  const baseTitle = document.title;
  let unseenCritical = 0;
  let socket = null;
  let retryDelay = 500;
  let refreshTimer = null;
  let refreshing = false;
  let refreshAgain = false;
  let pingTimer = null;
  // Presence expires after 60 s without news from a socket (supervisors.presence); a ping keeps it.
  const PING_INTERVAL_MS = 20000;
  // Close codes the server uses to say "do not come back" (supervisors/consumers.py); any other
  // close (a restart, the network) is worth a retry.
  const CLOSE_SIGNED_OUT = 4401;
  const CLOSE_NO_ACCESS = 4403;
  const LOGIN_PATH = "/console/login/"; // settings.LOGIN_URL

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + body.dataset.liveSocket);
    socket.addEventListener("open", function () {
      retryDelay = 500;
      setStatus("live");
      socket.send(JSON.stringify({ type: "resume", after: lastEventId }));
      clearInterval(pingTimer);
      pingTimer = setInterval(heartbeat, PING_INTERVAL_MS);
    });
    socket.addEventListener("message", function (message) {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      handle(data);
    });
    socket.addEventListener("close", function (closed) {
      clearInterval(pingTimer);
      if (closed.code === CLOSE_SIGNED_OUT) {
        signedOut();
        return;
      }
      if (closed.code === CLOSE_NO_ACCESS) {
        setStatus("stopped");
        showNotice(
          "You are no longer a member of the teams this page shows, so it stopped updating. " +
            "Ask a team owner if this is a mistake."
        );
        return;
      }
      setStatus("reconnecting");
      // Back off up to 15 s; the resume on reconnect fetches what was missed.
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 15000);
    });
  }

  // Signed out (here or in another tab), deactivated, or the password changed: retrying would
  // only be refused again. To the login page, which brings the person back here after; unless
  // they are typing an answer, which a page change would throw away.
  function signedOut() {
    setStatus("stopped");
    const typing = Array.from(document.querySelectorAll("textarea")).some(function (box) {
      return box.value.trim() !== "";
    });
    if (typing) {
      showNotice("You were signed out. Copy what you typed, then sign in again to send it.");
      return;
    }
    location.assign(LOGIN_PATH + "?next=" + encodeURIComponent(location.pathname + location.search));
  }

  // The heartbeat keeps this user online, and also asks again for anything after the newest
  // event the page reflects: the channel layer can drop a message silently while the socket
  // stays open, and without a later event nothing else would notice. Any event that does
  // arrive refreshes the page from the server, which covers every earlier one; so this
  // catch-up bounds how long a dropped event can leave the page wrong (one interval).
  function heartbeat() {
    if (socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ type: "ping" }));
    socket.send(JSON.stringify({ type: "resume", after: lastEventId }));
  }

  function handle(data) {
    if (data.type === "event") {
      if (data.id <= lastEventId) return; // already reflected (a replay overlapping a live message)
      lastEventId = data.id;
      onEvent(data);
    } else if (data.type === "reload") {
      scheduleRefresh(0);
    } else if (data.type === "presence") {
      document.querySelectorAll('[data-presence-team="' + data.team_id + '"]').forEach(function (node) {
        node.textContent = String(data.online);
      });
      // Coverage moves with presence (someone on duty came or went); absent when unknown.
      if (typeof data.uncovered === "boolean") {
        document.querySelectorAll('[data-uncovered-team="' + data.team_id + '"]').forEach(function (node) {
          node.hidden = !data.uncovered;
        });
      }
    }
  }

  function onEvent(event) {
    const escalation = (event.data && event.data.escalation) || {};
    if (event.event_type === "escalation.created" && escalation.severity === "critical") {
      alertCritical(escalation);
    }
    const timerNews = ["escalation.reminder", "escalation.sla_breached", "escalation.escalated"];
    if (timerNews.indexOf(event.event_type) !== -1) {
      toast(timerText(event, escalation), "/console/escalations/" + event.escalation_id + "/");
    }
    if (escalationId && event.escalation_id === escalationId) {
      const actor = (event.data && event.data.actor) || {};
      if (actor.user && actor.user !== userName) {
        showNotice(describe(event, actor.user));
      } else if (event.event_type === "escalation.released" && event.data.reason === "claim expired") {
        showNotice("The claim expired: this escalation is back in the queue.");
      } else if (event.data && event.data.automatic) {
        showNotice("Nobody answered in time: this escalation was closed automatically.");
      }
    }
    scheduleRefresh(150);
  }

  function describe(event, who) {
    const verbs = {
      "escalation.claimed": "claimed this escalation",
      "escalation.released": "released this escalation",
      "escalation.resolved": "answered this escalation",
      "escalation.dismissed": "dismissed this escalation",
    };
    return who + " just " + (verbs[event.event_type] || "changed this escalation") + ".";
  }

  // Events often come in bursts: one refresh for all of them.
  function scheduleRefresh(delay) {
    if (!refreshes || refreshTimer) return;
    refreshTimer = setTimeout(function () {
      refreshTimer = null;
      refresh();
    }, delay);
  }

  async function refresh() {
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    try {
      const response = await fetch(location.href, {
        headers: { "X-Requested-With": "live-refresh" },
        credentials: "same-origin",
      });
      if (response.ok) {
        swapRegions(new DOMParser().parseFromString(await response.text(), "text/html"));
      }
    } catch (error) {
      // The next event or reconnect tries again.
    } finally {
      refreshing = false;
      if (refreshAgain) {
        refreshAgain = false;
        scheduleRefresh(0);
      }
    }
  }

  function swapRegions(fresh) {
    const shownRows = new Set(
      Array.from(document.querySelectorAll("tr[data-escalation-id]")).map(function (row) {
        return row.dataset.escalationId;
      })
    );
    document.querySelectorAll("[data-live-region][id]").forEach(function (region) {
      const replacement = fresh.getElementById(region.id);
      if (!replacement) return;
      // Never throw away what a person is typing: keep the form, disable what no longer applies.
      if (region.contains(document.activeElement) && document.activeElement.tagName === "TEXTAREA") {
        keepTypedText(region, replacement);
        return;
      }
      region.replaceWith(replacement);
    });
    // Draw the eye to rows that just arrived.
    document.querySelectorAll("tr[data-escalation-id]").forEach(function (row) {
      if (!shownRows.has(row.dataset.escalationId)) row.classList.add("arrived");
    });
    const freshBody = fresh.body;
    if (freshBody && freshBody.dataset.lastEventId) {
      lastEventId = Math.max(lastEventId, Number(freshBody.dataset.lastEventId));
    }
  }

  function keepTypedText(region, replacement) {
    const stillPossible = new Set(
      Array.from(replacement.querySelectorAll("button[name], button[value]")).map(function (b) {
        return b.name + "=" + b.value;
      })
    );
    region.querySelectorAll("button").forEach(function (button) {
      if (!stillPossible.has(button.name + "=" + button.value)) button.disabled = true;
    });
  }

  function timerText(event, escalation) {
    const target = (event.data && event.data.target) === "resolution" ? "answer" : "claim";
    const what = "#" + event.escalation_id + (escalation.reason ? " “" + escalation.reason + "”" : "");
    if (event.event_type === "escalation.sla_breached") {
      return what + " is past its time to " + target + ".";
    }
    if (event.event_type === "escalation.escalated") {
      return what + " is still unclaimed: escalated to level " + event.data.level + ".";
    }
    return "Reminder: " + what + " is still waiting for someone to " + target + " it.";
  }

  // Timer news stacks in a corner; each one links to its escalation and goes away on its own.
  function toast(text, href) {
    const shelf = document.getElementById("live-toasts");
    if (!shelf) return;
    const item = document.createElement("a");
    item.className = "toast";
    item.href = href;
    item.textContent = text;
    shelf.appendChild(item);
    setTimeout(function () {
      item.remove();
    }, 30000);
  }

  function showNotice(text) {
    const notice = document.getElementById("live-notice");
    if (!notice) return;
    notice.textContent = text;
    notice.hidden = false;
  }

  function setStatus(state) {
    const status = document.getElementById("live-status");
    if (!status) return;
    status.dataset.state = state;
    status.textContent = { live: "Live", stopped: "Not updating" }[state] || "Reconnecting…";
  }

  function alertCritical(escalation) {
    // Until the person looks (the tab comes back, or they click or type).
    unseenCritical += 1;
    document.title = "(" + unseenCritical + ") Critical · " + baseTitle;
    if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
      new Notification("Critical escalation", { body: escalation.reason || "" });
    }
  }

  function seen() {
    if (!unseenCritical) return;
    unseenCritical = 0;
    document.title = baseTitle;
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) seen();
  });
  document.addEventListener("click", seen);
  document.addEventListener("keydown", seen);

  const notify = document.getElementById("enable-notifications");
  if (notify && "Notification" in window && Notification.permission === "default") {
    notify.hidden = false;
    notify.addEventListener("click", function () {
      Notification.requestPermission().then(function () {
        notify.hidden = true;
      });
    });
  }

  connect();
})();
