// CloudTrail-Tracker portal: the only script, and an optional one — every
// page works without it. It adds "search this page" to event tables (hides
// rows that do not contain the text). Served from /static/portal.js; the
// Content-Security-Policy allows no other script.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var box = document.querySelector(".page-search");
  var input = document.getElementById("page-search");
  var table = document.querySelector("table.events");
  if (!box || !input || !table) {
    return;
  }
  table.id = table.id || "events-table";
  box.hidden = false;
  input.addEventListener("input", function () {
    var needle = input.value.trim().toLowerCase();
    table.querySelectorAll("tbody tr").forEach(function (row) {
      row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) === -1;
    });
  });
});
