// Tell the server the browser's time zone once, so pages show local times.
// The server falls back to its own zone until the cookie is set (first visit).
(function () {
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  if (!zone) return;
  var current = document.cookie.split("; ").find(function (c) { return c.indexOf("tz=") === 0; });
  if (current !== "tz=" + encodeURIComponent(zone)) {
    document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
  }
})();
