// The queue's keyboard: j/k select the next/previous row, Enter opens it, c claims it,
// ? shows the shortcuts. Keys typed into a field (the search box, a form) are left alone.
//
// The selection is remembered by escalation id, not by row element: the live refresh
// (console.js) replaces the rows, and the selected one keeps its mark if it is still there.
(function () {
  "use strict";

  let selectedId = null;

  function rows() {
    return Array.from(document.querySelectorAll("#queue-rows tr[data-escalation-id]"));
  }

  function selectedRow() {
    return rows().find(function (row) {
      return row.dataset.escalationId === selectedId;
    });
  }

  function mark() {
    rows().forEach(function (row) {
      const on = row.dataset.escalationId === selectedId;
      row.classList.toggle("selected", on);
      if (on) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    });
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const at = all.indexOf(selectedRow());
    const next = at === -1 ? (step > 0 ? 0 : all.length - 1) : Math.min(Math.max(at + step, 0), all.length - 1);
    selectedId = all[next].dataset.escalationId;
    mark();
    all[next].scrollIntoView({ block: "nearest" });
  }

  function typing(target) {
    if (!target || !target.tagName) return false;
    return ["INPUT", "TEXTAREA", "SELECT"].indexOf(target.tagName) !== -1 || target.isContentEditable;
  }

  function toggleHelp() {
    const help = document.getElementById("shortcuts-help");
    if (!help) return;
    if (help.open) help.close();
    else help.showModal();
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) return;
    const help = document.getElementById("shortcuts-help");
    if (help && help.open && event.key !== "?") return; // the dialog has the keys (Esc closes it)
    const row = selectedRow();
    if (event.key === "j") {
      move(1);
    } else if (event.key === "k") {
      move(-1);
    } else if (event.key === "?") {
      toggleHelp();
    } else if (event.key === "Enter" && row && !event.target.closest("a, button")) {
      // On a focused link or button Enter keeps its own meaning.
      location.assign(row.querySelector("td.reason a").href);
    } else if (event.key === "c" && row) {
      const claim = row.querySelector("form.claim-form");
      if (claim) claim.requestSubmit();
    } else {
      return;
    }
    event.preventDefault();
  });

  // The live refresh swaps #queue-rows for a new one: put the mark back on it.
  const main = document.querySelector("main");
  if (main) new MutationObserver(mark).observe(main, { childList: true });
})();
