// mgstore web view: small enhancements over plain links (every page works without this).
"use strict";

// Open and close scopes in the picture in place: fetch the new SVG instead of a whole page.
function pictureLinks(container) {
  container.addEventListener("click", async (event) => {
    const link = event.target.closest("a");
    if (!link || !container.contains(link)) return;
    const box = link.closest("g.scope");
    if (!box) return; // an op: follow the link to its page
    event.preventDefault();
    const href = link.getAttribute("href");
    const svgUrl = href.replace(/^\/version\?/, "/picture.svg?").replace(/^\/diff\?/, "/diff.svg?");
    const response = await fetch(svgUrl);
    if (!response.ok) { window.location.href = href; return; }
    container.innerHTML = await response.text();
    history.replaceState(null, "", href);
    applyZoom(container);
  });
}

let zoom = 1;
function applyZoom(container) {
  const svg = container.querySelector("svg");
  if (!svg) return;
  const box = svg.viewBox.baseVal;
  svg.setAttribute("width", Math.round(box.width * zoom));
  svg.setAttribute("height", Math.round(box.height * zoom));
}

// Open sub-scopes of the scope tree in place.
function treeToggles(root) {
  root.addEventListener("click", async (event) => {
    const toggle = event.target.closest("a.toggle");
    if (!toggle) return;
    event.preventDefault();
    const item = toggle.parentElement;
    const open = item.querySelector(":scope > ul");
    if (open) { open.remove(); item.classList.remove("open"); return; }
    const response = await fetch(toggle.dataset.tree);
    if (!response.ok) { window.location.href = toggle.href; return; }
    item.insertAdjacentHTML("beforeend", await response.text());
    item.classList.add("open");
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const picture = document.getElementById("picture");
  if (picture) {
    pictureLinks(picture);
    document.querySelectorAll("button[data-zoom]").forEach((button) => {
      button.hidden = false;
      button.addEventListener("click", () => {
        zoom = Math.min(4, Math.max(0.1, zoom * Number(button.dataset.zoom)));
        applyZoom(picture);
      });
    });
  }
  document.querySelectorAll("aside").forEach(treeToggles);
});
